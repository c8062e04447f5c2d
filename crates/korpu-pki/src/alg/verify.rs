//! Verifying a signature value with a [`SignatureAlgorithm`] and a public key: ring where it
//! has the combination, RustCrypto (`rsa`, `p256`, `p384`, `p521`) for the rest.
//!
//! Whether an algorithm or key size is acceptable is not decided here: [`Verified`] tells the
//! caller what was checked.

use super::key::{Curve, KeyKind, PublicKey, MAX_RSA_BITS};
use super::{AlgError, EcdsaEncoding, HashAlg, SignatureAlgorithm};
use der::Decode;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

impl SignatureAlgorithm {
    /// Verifies `sig` over `msg` with the key in `spki_der` (a SubjectPublicKeyInfo).
    pub fn verify(&self, spki_der: &[u8], msg: &[u8], sig: &[u8]) -> Result<Verified, AlgError> {
        let key = PublicKey::from_spki_der(spki_der)?;
        self.verify_key(&key, msg, sig)
    }

    /// As [`SignatureAlgorithm::verify`] with an already parsed key.
    pub fn verify_key(
        &self,
        key: &PublicKey<'_>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        if let Some(r) = self.verify_ring(key, msg, sig) {
            return r.map(|()| self.verified(key));
        }
        match self {
            Self::Ed25519 => unreachable_ed25519(key),
            _ => self.verify_prehashed_key(key, &self.hash().digest(msg), sig),
        }
    }

    /// Verifies `sig` over a `digest` the caller computed with [`SignatureAlgorithm::hash`]
    /// (Ed25519 signs the message itself, so it has no prehashed form and is unsupported here).
    pub fn verify_prehashed(
        &self,
        spki_der: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        let key = PublicKey::from_spki_der(spki_der)?;
        self.verify_prehashed_key(&key, digest, sig)
    }

    /// As [`SignatureAlgorithm::verify_prehashed`] with an already parsed key.
    pub fn verify_prehashed_key(
        &self,
        key: &PublicKey<'_>,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        if digest.len() != self.hash().output_len() {
            return Err(AlgError::Malformed(format!(
                "{} digest of {} bytes",
                self.hash().name(),
                digest.len()
            )));
        }
        match (self, key.kind) {
            (Self::RsaPkcs1 { hash }, KeyKind::Rsa { .. }) => {
                rsa_verify(key, rsa_pkcs1_scheme(*hash), digest, sig)?
            }
            (
                Self::RsaPss {
                    hash,
                    mgf1_hash,
                    salt_len,
                },
                KeyKind::Rsa { .. },
            ) => {
                if hash != mgf1_hash {
                    return Err(AlgError::Unsupported(format!(
                        "RSA-PSS with MGF1-{} for a {} digest",
                        mgf1_hash.name(),
                        hash.name()
                    )));
                }
                rsa_verify(key, rsa_pss_scheme(*hash, *salt_len), digest, sig)?
            }
            (Self::Ecdsa { encoding, .. }, KeyKind::Ec { curve }) => {
                ecdsa_verify_prehash(curve, key.raw, digest, sig, *encoding)?
            }
            (Self::Ed25519, KeyKind::Ed25519) => {
                return Err(AlgError::Unsupported(
                    "Ed25519 over a digest (it signs the message itself)".into(),
                ))
            }
            (alg, kind) => {
                return Err(AlgError::Unsupported(format!(
                    "{} with a {} key",
                    alg.name(),
                    kind.name()
                )))
            }
        }
        Ok(self.verified(key))
    }

    fn verified(&self, key: &PublicKey<'_>) -> Verified {
        Verified {
            algorithm: *self,
            key: key.kind,
        }
    }

    /// ring's verdict where ring has this combination, `None` where it has not.
    fn verify_ring(
        &self,
        key: &PublicKey<'_>,
        msg: &[u8],
        sig: &[u8],
    ) -> Option<Result<(), AlgError>> {
        use ring::signature as rs;
        let params: &'static dyn rs::VerificationAlgorithm = match (*self, key.kind) {
            (Self::RsaPkcs1 { hash }, KeyKind::Rsa { bits }) => match (hash, bits) {
                (HashAlg::Sha256, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA256,
                (HashAlg::Sha384, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA384,
                (HashAlg::Sha512, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA512,
                (HashAlg::Sha1, 1024..=8192) => &rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                (HashAlg::Sha256, 1024..=2047) => {
                    &rs::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (HashAlg::Sha512, 1024..=2047) => {
                    &rs::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                }
                _ => return None,
            },
            (
                Self::RsaPss {
                    hash,
                    mgf1_hash,
                    salt_len,
                },
                KeyKind::Rsa { bits: 2048..=8192 },
            ) if hash == mgf1_hash && salt_len == hash.output_len() => match hash {
                HashAlg::Sha256 => &rs::RSA_PSS_2048_8192_SHA256,
                HashAlg::Sha384 => &rs::RSA_PSS_2048_8192_SHA384,
                HashAlg::Sha512 => &rs::RSA_PSS_2048_8192_SHA512,
                HashAlg::Sha1 => return None,
            },
            (Self::Ecdsa { hash, encoding }, KeyKind::Ec { curve }) => {
                match (curve, hash, encoding) {
                    (Curve::P256, HashAlg::Sha256, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P256_SHA256_ASN1
                    }
                    (Curve::P256, HashAlg::Sha384, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P256_SHA384_ASN1
                    }
                    (Curve::P384, HashAlg::Sha256, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P384_SHA256_ASN1
                    }
                    (Curve::P384, HashAlg::Sha384, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P384_SHA384_ASN1
                    }
                    (Curve::P256, HashAlg::Sha256, EcdsaEncoding::Raw) => {
                        &rs::ECDSA_P256_SHA256_FIXED
                    }
                    (Curve::P384, HashAlg::Sha384, EcdsaEncoding::Raw) => {
                        &rs::ECDSA_P384_SHA384_FIXED
                    }
                    _ => return None,
                }
            }
            (Self::Ed25519, KeyKind::Ed25519) => &rs::ED25519,
            _ => return None,
        };
        let ok = rs::UnparsedPublicKey::new(params, key.raw)
            .verify(msg, sig)
            .is_ok();
        if ok {
            return Some(Ok(()));
        }
        // ring does not say why it refused. Its refusal of a well-formed signature is a
        // mismatch; RustCrypto then gives the precise class (malformed value, odd exponent),
        // and for Ed25519 the only other reason is a malformed value.
        match (self, key.kind) {
            (Self::Ed25519, _) => Some(if sig.len() == 64 {
                Err(AlgError::BadSignature(
                    "Ed25519 signature does not match the key and data".into(),
                ))
            } else {
                Err(AlgError::Malformed(format!(
                    "Ed25519 signature of {} bytes",
                    sig.len()
                )))
            }),
            _ => None,
        }
    }
}

fn unreachable_ed25519(key: &PublicKey<'_>) -> Result<Verified, AlgError> {
    // verify_ring answers every Ed25519 key; reaching here means the key is of another type.
    Err(AlgError::Unsupported(format!(
        "Ed25519 with a {} key",
        key.kind.name()
    )))
}

/// What was verified, for a policy to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The scheme.
    pub algorithm: SignatureAlgorithm,
    /// The key's type and size.
    pub key: KeyKind,
}

pub(super) fn rsa_pkcs1_scheme(hash: HashAlg) -> rsa::Pkcs1v15Sign {
    match hash {
        HashAlg::Sha1 => rsa::Pkcs1v15Sign::new::<Sha1>(),
        HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
    }
}

pub(super) fn rsa_pss_scheme(hash: HashAlg, salt_len: usize) -> rsa::Pss {
    match hash {
        HashAlg::Sha1 => rsa::Pss::new_with_salt::<Sha1>(salt_len),
        HashAlg::Sha256 => rsa::Pss::new_with_salt::<Sha256>(salt_len),
        HashAlg::Sha384 => rsa::Pss::new_with_salt::<Sha384>(salt_len),
        HashAlg::Sha512 => rsa::Pss::new_with_salt::<Sha512>(salt_len),
    }
}

fn rsa_verify<S: rsa::traits::SignatureScheme>(
    key: &PublicKey<'_>,
    scheme: S,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), AlgError> {
    let pk = rsa::pkcs1::RsaPublicKey::from_der(key.raw)
        .map_err(|e| AlgError::Malformed(format!("RSA key: {e}")))?;
    let n = rsa::BigUint::from_bytes_be(pk.modulus.as_bytes());
    let e = rsa::BigUint::from_bytes_be(pk.public_exponent.as_bytes());
    let key = rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
        .map_err(|e| AlgError::Unsupported(format!("RSA key: {e}")))?;
    match key.verify(scheme, digest, sig) {
        Ok(()) => Ok(()),
        Err(rsa::Error::Verification) => Err(AlgError::BadSignature(
            "RSA signature does not match the key and data".into(),
        )),
        Err(e) => Err(AlgError::BadSignature(format!("RSA signature: {e}"))),
    }
}

fn ecdsa_verify_prehash(
    curve: Curve,
    point: &[u8],
    digest: &[u8],
    sig: &[u8],
    encoding: EcdsaEncoding,
) -> Result<(), AlgError> {
    use ecdsa::signature::hazmat::PrehashVerifier;
    let bad_key = |e: ecdsa::Error| AlgError::Malformed(format!("{} key: {e}", curve.name()));
    let bad_sig = |e: ecdsa::Error| {
        AlgError::Malformed(format!("{} ECDSA signature value: {e}", curve.name()))
    };
    let mismatch = |_| {
        AlgError::BadSignature(format!(
            "ECDSA {} signature does not match the key and data",
            curve.name()
        ))
    };
    // A digest shorter than the group order is used as an integer as it is (FIPS 186-4
    // §6.4); the RustCrypto verifier wants at least half the field, so pad on the left, which
    // leaves that integer unchanged.
    let field = curve.bits().div_ceil(8);
    let mut padded = vec![0u8; field.saturating_sub(digest.len())];
    padded.extend_from_slice(digest);
    macro_rules! run {
        ($vk:ty, $sig:ty) => {{
            let vk = <$vk>::from_sec1_bytes(point).map_err(bad_key)?;
            let s = match encoding {
                EcdsaEncoding::Der => <$sig>::from_der(sig).map_err(bad_sig)?,
                EcdsaEncoding::Raw => <$sig>::from_slice(sig).map_err(bad_sig)?,
            };
            vk.verify_prehash(&padded, &s).map_err(mismatch)
        }};
    }
    match curve {
        Curve::P256 => run!(p256::ecdsa::VerifyingKey, p256::ecdsa::Signature),
        Curve::P384 => run!(p384::ecdsa::VerifyingKey, p384::ecdsa::Signature),
        Curve::P521 => run!(p521::ecdsa::VerifyingKey, p521::ecdsa::Signature),
    }
}
