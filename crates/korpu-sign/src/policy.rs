//! The validation policy's cryptographic constraints, in the spirit of the EU DSS constraint
//! file: which digest and signature algorithms, and which key sizes, are acceptable until which
//! date. A JSON file (`korpu doc verify --policy FILE`); the embedded default
//! ([`Policy::default`], `default_policy.json` beside this file) follows ETSI TS 119 312's
//! dates: SHA-1 acceptable for signatures until 2012-08-01, RSA keys under 2048 bits until
//! 2013-01-01 (1536 bits until 2016-01-01), everything else in the supported set without expiry.
//!
//! The rule (ETSI EN 319 102-1 §5.2.8, §5.6.2.5): an algorithm acceptable at the validation
//! time passes; one expired by then passes only if a proof of existence (a signature
//! time-stamp) dates the signature before the expiry; otherwise INDETERMINATE with
//! CRYPTO_CONSTRAINTS_FAILURE_NO_POE when there is no proof of existence at all, or
//! CRYPTO_CONSTRAINTS_FAILURE when there is one but it is itself after the expiry. An algorithm
//! the policy does not list is never acceptable (CRYPTO_CONSTRAINTS_FAILURE_NO_POE).
//!
//! Not here: constraints on anything but cryptography (signature policies, qualified status).
use std::time::SystemTime;

use korpu_pki::alg::{HashAlg, KeyKind, Verified};
use serde::{Deserialize, Serialize};

/// The policy shipped with Körpü.
const DEFAULT_POLICY: &str = include_str!("default_policy.json");

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("validation policy: {0}")]
pub struct PolicyError(String);

/// An entry for a digest algorithm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestRule {
    /// "SHA-1", "SHA-256", "SHA-384" or "SHA-512".
    pub algorithm: String,
    /// Acceptable until this date (YYYY-MM-DD, end of the day excluded); absent: no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// An entry for a key type from a minimum size on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    /// "RSA", "EC" or "Ed25519".
    pub key: String,
    /// The smallest key size (bits) this entry covers; the entry with the largest `min_bits`
    /// not above a key's size applies to it.
    pub min_bits: usize,
    /// Acceptable until this date (YYYY-MM-DD); absent: no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Cryptographic constraints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A name shown in reports.
    pub name: String,
    /// Digest algorithms (of the message digest and inside the signature).
    pub digests: Vec<DigestRule>,
    /// Signature keys by type and size.
    pub keys: Vec<KeyRule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_json(DEFAULT_POLICY).expect("the embedded default policy is valid")
    }
}

/// The embedded default, parsed once.
pub(crate) fn embedded() -> &'static Policy {
    static P: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    P.get_or_init(Policy::default)
}

/// What a failed constraint means for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoFailure {
    /// CRYPTO_CONSTRAINTS_FAILURE_NO_POE or CRYPTO_CONSTRAINTS_FAILURE.
    pub sub_indication: &'static str,
    /// What was not acceptable and since when.
    pub reason: String,
}

impl Policy {
    /// Parses and checks a policy (every algorithm name and date must be understood).
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let p: Policy = serde_json::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        for d in &p.digests {
            hash_by_name(&d.algorithm)
                .ok_or_else(|| PolicyError(format!("unknown digest \"{}\"", d.algorithm)))?;
            parse_until(&d.until)?;
        }
        for k in &p.keys {
            if !matches!(k.key.as_str(), "RSA" | "EC" | "Ed25519") {
                return Err(PolicyError(format!(
                    "unknown key type \"{}\" (RSA, EC or Ed25519)",
                    k.key
                )));
            }
            parse_until(&k.until)?;
        }
        Ok(p)
    }

    /// Reads a policy file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| PolicyError(format!("{}: {}", path.display(), e.0)))
    }

    /// Until when `h` is acceptable: `None` not listed, `Some(None)` no expiry.
    fn digest_until(&self, h: HashAlg) -> Option<Option<SystemTime>> {
        self.digests
            .iter()
            .find(|d| hash_by_name(&d.algorithm) == Some(h))
            .map(|d| parse_until(&d.until).ok().flatten())
    }

    fn key_until(&self, k: &KeyKind) -> Option<Option<SystemTime>> {
        let (ty, bits) = match k {
            KeyKind::Rsa { bits } => ("RSA", *bits),
            KeyKind::Ec { curve } => ("EC", curve.bits()),
            KeyKind::Ed25519 => ("Ed25519", 256),
        };
        self.keys
            .iter()
            .filter(|r| r.key == ty && r.min_bits <= bits)
            .max_by_key(|r| r.min_bits)
            .map(|r| parse_until(&r.until).ok().flatten())
    }

    /// Judges the algorithms of one signature: `digest` is the message digest algorithm,
    /// `verified` the signature algorithm and key, `at` the validation time and `poe` the
    /// earliest proof of existence of the signature (its time-stamp), if any.
    pub fn check(
        &self,
        digest: HashAlg,
        verified: &Verified,
        at: SystemTime,
        poe: Option<SystemTime>,
    ) -> Result<(), CryptoFailure> {
        let mut checks = vec![
            (digest.name().to_string(), self.digest_until(digest)),
            (
                format!("{} key", verified.key.name()),
                self.key_until(&verified.key),
            ),
        ];
        let sig_hash = verified.algorithm.hash();
        if sig_hash != digest && !matches!(verified.key, KeyKind::Ed25519) {
            checks.push((sig_hash.name().to_string(), self.digest_until(sig_hash)));
        }
        self.judge(checks, at, poe)
    }

    /// Judges the certificates of a certification path (leaf first, anchor last): the digest
    /// each certificate is signed with and its issuer's key. The anchor's own signature is not
    /// judged (it is trusted by configuration, not by its signature).
    pub fn check_path(
        &self,
        chain: &[korpu_pki::cert::Certificate],
        at: SystemTime,
        poe: Option<SystemTime>,
    ) -> Result<(), CryptoFailure> {
        for pair in chain.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let (Ok(alg), Ok(key)) = (
                korpu_pki::alg::SignatureAlgorithm::from_x509(&cert.parsed().signature_algorithm),
                issuer.key_kind(),
            ) else {
                // The path was verified, so both parse; nothing to judge otherwise.
                continue;
            };
            let of = |what: String| format!("{what} (certificate \"{}\")", cert.subject());
            let mut checks = vec![(of(format!("{} key", key.name())), self.key_until(&key))];
            if !matches!(key, KeyKind::Ed25519) {
                checks.push((of(alg.hash().name().into()), self.digest_until(alg.hash())));
            }
            self.judge(checks, at, poe)?;
        }
        Ok(())
    }

    fn judge(
        &self,
        checks: Vec<(String, Option<Option<SystemTime>>)>,
        at: SystemTime,
        poe: Option<SystemTime>,
    ) -> Result<(), CryptoFailure> {
        for (what, until) in checks {
            match until {
                None => {
                    return Err(CryptoFailure {
                        sub_indication: "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                        reason: format!(
                            "{what} is not acceptable under the validation policy \"{}\"",
                            self.name
                        ),
                    })
                }
                Some(None) => {}
                Some(Some(expiry)) if at <= expiry => {}
                Some(Some(expiry)) => match poe {
                    Some(p) if p <= expiry => {}
                    Some(p) => {
                        return Err(CryptoFailure {
                            sub_indication: "CRYPTO_CONSTRAINTS_FAILURE",
                            reason: format!(
                                "{what} is acceptable only until {} under the validation policy \
                                 \"{}\", and the signature is proven to exist only from {}",
                                crate::rfc3339(expiry),
                                self.name,
                                crate::rfc3339(p)
                            ),
                        })
                    }
                    None => {
                        return Err(CryptoFailure {
                            sub_indication: "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                            reason: format!(
                                "{what} is acceptable only until {} under the validation policy \
                                 \"{}\", and no time-stamp proves the signature existed before",
                                crate::rfc3339(expiry),
                                self.name
                            ),
                        })
                    }
                },
            }
        }
        Ok(())
    }
}

fn hash_by_name(name: &str) -> Option<HashAlg> {
    [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ]
    .into_iter()
    .find(|h| h.name().eq_ignore_ascii_case(name))
}

fn parse_until(until: &Option<String>) -> Result<Option<SystemTime>, PolicyError> {
    let Some(text) = until else { return Ok(None) };
    let bad = || PolicyError(format!("date \"{text}\" is not YYYY-MM-DD"));
    let mut parts = text.splitn(3, '-');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next()?, next()?, next()?);
    let dt = der::DateTime::new(y, m as u8, d as u8, 0, 0, 0).map_err(|_| bad())?;
    Ok(Some(dt.to_system_time()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use korpu_pki::alg::{Curve, EcdsaEncoding, SignatureAlgorithm};
    use std::time::Duration;

    fn rsa(bits: usize, hash: HashAlg) -> Verified {
        Verified {
            algorithm: SignatureAlgorithm::RsaPkcs1 { hash },
            key: KeyKind::Rsa { bits },
        }
    }

    fn date(s: &str) -> SystemTime {
        parse_until(&Some(s.into())).unwrap().unwrap()
    }

    #[test]
    fn the_default_accepts_the_matrix_and_expires_sha1_and_short_rsa() {
        let p = Policy::default();
        let now = date("2026-12-07");
        for bits in [2048, 3072, 4096] {
            for h in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
                p.check(h, &rsa(bits, h), now, None).unwrap();
            }
        }
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let v = Verified {
                algorithm: SignatureAlgorithm::Ecdsa {
                    hash: HashAlg::Sha512,
                    encoding: EcdsaEncoding::Der,
                },
                key: KeyKind::Ec { curve },
            };
            p.check(HashAlg::Sha256, &v, now, None).unwrap();
        }
        let ed = Verified {
            algorithm: SignatureAlgorithm::Ed25519,
            key: KeyKind::Ed25519,
        };
        p.check(HashAlg::Sha512, &ed, now, None).unwrap();

        let e = p
            .check(HashAlg::Sha1, &rsa(2048, HashAlg::Sha1), now, None)
            .unwrap_err();
        assert_eq!(e.sub_indication, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE");
        let e = p
            .check(HashAlg::Sha256, &rsa(1024, HashAlg::Sha256), now, None)
            .unwrap_err();
        assert_eq!(e.sub_indication, "CRYPTO_CONSTRAINTS_FAILURE_NO_POE");
        // A time-stamp from before the expiry keeps an old signature acceptable...
        p.check(
            HashAlg::Sha1,
            &rsa(2048, HashAlg::Sha1),
            now,
            Some(date("2010-05-01")),
        )
        .unwrap();
        // ...one from after it cannot help.
        let e = p
            .check(
                HashAlg::Sha1,
                &rsa(2048, HashAlg::Sha1),
                now,
                Some(date("2020-01-01")),
            )
            .unwrap_err();
        assert_eq!(e.sub_indication, "CRYPTO_CONSTRAINTS_FAILURE");
        // Validated at a time before the expiry, SHA-1 passes.
        p.check(
            HashAlg::Sha1,
            &rsa(2048, HashAlg::Sha1),
            date("2011-01-01"),
            None,
        )
        .unwrap();
        assert!(date("2026-01-02") > date("2026-01-01") + Duration::from_secs(86_399));
    }

    #[test]
    fn a_policy_file_is_checked_when_read() {
        assert!(Policy::from_json("{}").is_err());
        let e = Policy::from_json(r#"{"name":"x","digests":[{"algorithm":"MD5"}],"keys":[]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("MD5"), "{e}");
        let e = Policy::from_json(
            r#"{"name":"x","digests":[{"algorithm":"SHA-256","until":"soon"}],"keys":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        // Unlisted means unacceptable: a policy without EC refuses an EC signature.
        let p = Policy::from_json(
            r#"{"name":"RSA only","digests":[{"algorithm":"SHA-256"}],
                "keys":[{"key":"RSA","min_bits":2048}]}"#,
        )
        .unwrap();
        let ec = Verified {
            algorithm: SignatureAlgorithm::Ecdsa {
                hash: HashAlg::Sha256,
                encoding: EcdsaEncoding::Der,
            },
            key: KeyKind::Ec { curve: Curve::P256 },
        };
        assert!(p
            .check(HashAlg::Sha256, &ec, SystemTime::now(), None)
            .is_err());
    }
}
