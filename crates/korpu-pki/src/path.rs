//! Certification path building (RFC 5280 §6, RFC 4158): from a target certificate through
//! candidate issuers to a trust anchor, trying every candidate whose subject matches the
//! issuer name (RFC 5280 §7.1 matching, [`crate::name`]) until one path holds.
//!
//! Why a search and not a walk: a signature may bring several certificates with the same
//! subject (a re-keyed CA, a cross-certificate, or one planted to mislead), and only one of them
//! holds the key that made the signature. Candidates whose subjectKeyIdentifier equals the
//! child's authorityKeyIdentifier are tried first; the search is bounded in depth and in the
//! number of candidate checks, so a pool of hostile certificates cannot make it run long.
//!
//! Each link checks the signature, that the issuer is a CA (basicConstraints cA, keyUsage
//! keyCertSign when key usage is present), pathLenConstraint, and validity at the time given.
//! The target is checked for its intended [`Usage`]. Not done: certificate policies, name
//! constraints and policy mappings (refused only when marked critical by the caller's
//! higher-level rules — none here), and revocation, which the caller checks on the path
//! returned (korpu-sign's validator, the gateway's stapled OCSP).
use std::time::SystemTime;

use const_oid::db::rfc5280::{
    ANY_EXTENDED_KEY_USAGE, ID_KP_CLIENT_AUTH, ID_KP_CODE_SIGNING, ID_KP_OCSP_SIGNING,
    ID_KP_SERVER_AUTH, ID_KP_TIME_STAMPING,
};
use const_oid::AssociatedOid;
use der::Decode;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsages, SubjectKeyIdentifier};

use crate::cert::Certificate;
use crate::name::names_match;
use crate::PkiError;

/// What the target certificate is about to be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// No check on the target beyond the chain (TLS peers, time-stamping units, whose callers
    /// check their own extended key usage).
    Any,
    /// Signing documents: keyUsage, when present, must allow digitalSignature or
    /// nonRepudiation, and an extended key usage, when present, must not limit the key to other
    /// purposes (see [`check_usage`]).
    DocumentSigning,
}

/// Bounds of the search.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most certificates in a path, target and anchor included.
    pub max_depth: usize,
    /// Most candidate issuers checked (each costs a signature verification) in one search.
    pub max_attempts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Real-world document-signing chains are 2 to 4 certificates; bridges and
        // cross-certificates add one or two.
        Limits {
            max_depth: 8,
            max_attempts: 64,
        }
    }
}

/// Builds a path from `target` to one of `anchors` with certificates from `pool`, every one
/// valid at `at`. Returns it target first, anchor last. A target that is itself an anchor is
/// trusted directly (pinning).
///
/// Errors: the target's own [`PkiError::Expired`] / [`PkiError::NotYetValid`] or unsuitable
/// usage ([`PkiError::WrongCertificateUsage`]) as such; when no path holds, the most telling
/// failure of the search: an issuer whose signature matched but that is out of its validity
/// period or not allowed to issue (returned as that error), else [`PkiError::Untrusted`].
pub fn build_path(
    target: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
    usage: Usage,
    limits: Limits,
) -> Result<Vec<Certificate>, PkiError> {
    target.check_validity(at)?;
    check_usage(target, usage)?;
    let mut search = Search {
        pool,
        anchors,
        at,
        limits,
        attempts: 0,
        best: None,
    };
    let mut chain = vec![target.clone()];
    if search.extend(&mut chain) {
        return Ok(chain);
    }
    Err(match search.best {
        Some(Failure { error, rank }) if rank >= Rank::IssuerConstraint => error,
        Some(Failure { error, .. }) => PkiError::Untrusted {
            subject: target.subject(),
            reason: error.to_string(),
        },
        None => PkiError::Untrusted {
            subject: target.subject(),
            reason: format!(
                "no issuer for \"{}\" among the given certificates",
                target.issuer()
            ),
        },
    })
}

/// How telling a failed link is: a candidate that really issued the certificate but fails a
/// constraint says more about the path than a same-named certificate whose key does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    NoIssuer,
    WrongKey,
    TooLong,
    IssuerConstraint,
}

struct Failure {
    error: PkiError,
    rank: Rank,
}

struct Search<'a> {
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
    at: SystemTime,
    limits: Limits,
    attempts: usize,
    best: Option<Failure>,
}

impl<'a> Search<'a> {
    fn fail(&mut self, error: PkiError, rank: Rank) {
        if self.best.as_ref().is_none_or(|b| rank > b.rank) {
            self.best = Some(Failure { error, rank });
        }
    }

    /// Depth-first: extends `chain` (whose last element still needs an issuer) to an anchor;
    /// on failure `chain` is as it was given.
    fn extend(&mut self, chain: &mut Vec<Certificate>) -> bool {
        let current = chain.last().expect("a path starts with its target").clone();
        if self.anchors.contains(&current) {
            return true;
        }
        if chain.len() >= self.limits.max_depth {
            self.fail(
                PkiError::Untrusted {
                    subject: chain[0].subject(),
                    reason: format!(
                        "no trust anchor within {} certificates",
                        self.limits.max_depth
                    ),
                },
                Rank::TooLong,
            );
            return false;
        }
        let candidates = self.candidates(&current, chain);
        if candidates.is_empty() {
            self.fail(
                PkiError::Untrusted {
                    subject: chain[0].subject(),
                    reason: format!(
                        "no issuer for \"{}\" among the given certificates",
                        current.subject()
                    ),
                },
                Rank::NoIssuer,
            );
        }
        // CA certificates between the target and the candidate, for pathLenConstraint.
        let cas_below = chain.len() - 1;
        for candidate in candidates {
            if self.attempts >= self.limits.max_attempts {
                self.fail(
                    PkiError::Untrusted {
                        subject: chain[0].subject(),
                        reason: format!(
                            "gave up after checking {} candidate issuers",
                            self.limits.max_attempts
                        ),
                    },
                    Rank::TooLong,
                );
                return false;
            }
            self.attempts += 1;
            if let Err(e) = current.verify_issued_by(candidate) {
                self.fail(e, Rank::WrongKey);
                continue;
            }
            if let Err(e) = check_issuer(candidate, cas_below, self.at) {
                self.fail(e, Rank::IssuerConstraint);
                continue;
            }
            chain.push(candidate.clone());
            if self.extend(chain) {
                return true;
            }
            chain.pop();
        }
        false
    }

    /// The certificates whose subject is `current`'s issuer and that are not on the path yet:
    /// anchors before others, and within each, those whose key identifier matches the
    /// authorityKeyIdentifier first and those whose identifier contradicts it last.
    fn candidates(&self, current: &Certificate, chain: &[Certificate]) -> Vec<&'a Certificate> {
        let issuer = &current.parsed().tbs_certificate.issuer;
        let aki = authority_key_id(current);
        let mut out: Vec<(u8, &'a Certificate)> = self
            .anchors
            .iter()
            .map(|c| (0u8, c))
            .chain(self.pool.iter().map(|c| (3u8, c)))
            .filter(|(_, c)| !chain.contains(c))
            .filter(|(_, c)| names_match(issuer, &c.parsed().tbs_certificate.subject))
            .map(|(base, c)| {
                let key = match (&aki, subject_key_id(c)) {
                    (Some(a), Some(s)) if *a == s => 0,
                    (Some(_), Some(_)) => 2,
                    _ => 1,
                };
                (base + key, c)
            })
            .collect();
        // Stable: among equals, the caller's order (e.g. the signature's own certificates).
        out.sort_by_key(|(k, _)| *k);
        let mut seen: Vec<&'a Certificate> = Vec::with_capacity(out.len());
        for (_, c) in out {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    }
}

/// Whether `issuer` may issue the certificate below it: a CA, allowed to sign certificates,
/// within its path length, and valid at `at`.
fn check_issuer(issuer: &Certificate, cas_below: usize, at: SystemTime) -> Result<(), PkiError> {
    match issuer.basic_constraints() {
        Some((true, max)) => {
            if let Some(max) = max {
                if cas_below > usize::from(max) {
                    return Err(PkiError::WrongCertificateUsage {
                        subject: issuer.subject(),
                        reason: format!(
                            "its pathLenConstraint {max} allows fewer CA certificates below it \
                             than the path has ({cas_below})"
                        ),
                    });
                }
            }
        }
        _ => {
            return Err(PkiError::WrongCertificateUsage {
                subject: issuer.subject(),
                reason: "it issued a certificate but is not a CA (basicConstraints cA is not set)"
                    .into(),
            })
        }
    }
    if let Some(ku) = issuer.key_usage() {
        if !ku.0.contains(KeyUsages::KeyCertSign) {
            return Err(PkiError::WrongCertificateUsage {
                subject: issuer.subject(),
                reason: "it issued a certificate but its keyUsage lacks keyCertSign".into(),
            });
        }
    }
    issuer.check_validity(at)
}

/// Whether `cert` may be used as `usage` says.
///
/// For document signing this follows EU DSS: keyUsage must allow digitalSignature or
/// nonRepudiation (RFC 5280 §4.2.1.3; ETSI EN 319 412-2 puts nonRepudiation in signing
/// certificates, many national e-IDs digitalSignature). DSS's default policy does not
/// constrain the extended key usage of signers, and qualified certificates carry all sorts
/// (emailProtection, documentSigning of RFC 9336, vendor OIDs), so an EKU is refused only when
/// every purpose it lists is another role's: TLS server or client, code signing,
/// time-stamping, OCSP signing. anyExtendedKeyUsage allows everything.
pub fn check_usage(cert: &Certificate, usage: Usage) -> Result<(), PkiError> {
    if usage == Usage::Any {
        return Ok(());
    }
    if let Some(ku) = cert.key_usage() {
        if !ku.0.contains(KeyUsages::DigitalSignature) && !ku.0.contains(KeyUsages::NonRepudiation)
        {
            return Err(PkiError::WrongCertificateUsage {
                subject: cert.subject(),
                reason: "its keyUsage allows neither digitalSignature nor nonRepudiation, so it \
                         is not a signing certificate"
                    .into(),
            });
        }
    }
    if let Some(ekus) = cert.extended_key_usage() {
        const OTHER_ROLES: [const_oid::ObjectIdentifier; 5] = [
            ID_KP_SERVER_AUTH,
            ID_KP_CLIENT_AUTH,
            ID_KP_CODE_SIGNING,
            ID_KP_TIME_STAMPING,
            ID_KP_OCSP_SIGNING,
        ];
        if !ekus.is_empty()
            && !ekus.contains(&ANY_EXTENDED_KEY_USAGE)
            && ekus.iter().all(|e| OTHER_ROLES.contains(e))
        {
            return Err(PkiError::WrongCertificateUsage {
                subject: cert.subject(),
                reason: format!(
                    "its extendedKeyUsage ({}) limits the key to TLS, code signing, \
                     time-stamping or OCSP, not document signing",
                    ekus.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The keyIdentifier of the authorityKeyIdentifier extension.
pub(crate) fn authority_key_id(c: &Certificate) -> Option<Vec<u8>> {
    let (_, v) = c.extension(AuthorityKeyIdentifier::OID)?;
    AuthorityKeyIdentifier::from_der(v)
        .ok()?
        .key_identifier
        .map(|k| k.as_bytes().to_vec())
}

/// The subjectKeyIdentifier.
pub(crate) fn subject_key_id(c: &Certificate) -> Option<Vec<u8>> {
    let (_, v) = c.extension(SubjectKeyIdentifier::OID)?;
    SubjectKeyIdentifier::from_der(v)
        .ok()
        .map(|k| k.0.as_bytes().to_vec())
}
