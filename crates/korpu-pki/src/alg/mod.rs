//! Signature and digest algorithms as the world uses them: one verifier for CMS SignerInfos,
//! X.509 certificates, OCSP responses, RFC 3161 tokens and XML signatures.
//!
//! [`SignatureAlgorithm`] is parsed from an AlgorithmIdentifier (plus, for CMS, the SignerInfo's
//! digest algorithm when the signature OID names only the key type, as `rsaEncryption` and
//! `id-ecPublicKey` do) and verifies against a SubjectPublicKeyInfo. Supported: RSA PKCS#1 v1.5
//! and RSASSA-PSS with SHA-1/256/384/512, ECDSA on P-256, P-384 and P-521 (the curve is read
//! from the key, never assumed) with any of those digests, DER or raw `r||s` signatures, and
//! Ed25519. SHA-1 and RSA keys under 2048 bits verify here too: whether they are acceptable is a
//! policy question for the caller, which [`Verified`] gives what it needs to answer (algorithm,
//! key type and size).
//!
//! Errors keep three outcomes apart, because validation reports must ([`AlgError`]): the check
//! was computed and failed (a forgery or an alteration), the algorithm, key or parameters are
//! not supported (undecided), or the input is malformed.
//!
//! ring does the work where it has the combination (it is several times faster and constant
//! time); RustCrypto (`rsa`, `p256`, `p384`, `p521`) covers the rest: PSS salt lengths other
//! than the digest length, prehashed digests, P-521, and digests of another size than the curve.
//! Not here: DSA, RSA keys over 16384 bits, Ed448, brainpool curves (all reported unsupported).
//!
//! Algorithm identifiers are read and written in `identifier`, keys parsed in `key`, signature
//! values checked in `verify`; the types they share are here.

mod identifier;
mod key;
mod verify;

pub use key::{key_kind, Curve, KeyKind, PublicKey};
pub use verify::Verified;

use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::asn1::ObjectIdentifier;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;

/// ecdsa-with-SHA1 (RFC 3279 §2.2.3), absent from the const-oid database's rfc5912 module.
pub const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
/// id-Ed25519 (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A verification outcome other than success, in the three classes a validator must keep apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlgError {
    /// The signature was computed over and does not match the key and data: TOTAL_FAILED.
    #[error("the signature value does not verify: {0}")]
    BadSignature(String),
    /// The algorithm, its parameters or the key type/size is one this module cannot check:
    /// INDETERMINATE, never failed.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// The key, the parameters or the signature are not well-formed: FORMAT_FAILURE.
    #[error("malformed {0}")]
    Malformed(String),
}

/// Digest algorithms accepted for signatures and message digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1: verifiable for legacy input; policy decides whether it is acceptable.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The algorithm named by a digest OID, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA_1 => Some(Self::Sha1),
            ID_SHA_256 => Some(Self::Sha256),
            ID_SHA_384 => Some(Self::Sha384),
            ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Its OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ID_SHA_1,
            Self::Sha256 => ID_SHA_256,
            Self::Sha384 => ID_SHA_384,
            Self::Sha512 => ID_SHA_512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The digest of several pieces, as if concatenated (a PDF's ByteRange).
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// "SHA-256" etc., for reports and policy files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The AlgorithmIdentifier (parameters absent, RFC 5754 §2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// The digest algorithm named by a digest AlgorithmIdentifier's OID.
pub fn hash_from_oid(oid: &ObjectIdentifier) -> Result<HashAlg, AlgError> {
    HashAlg::from_oid(oid).ok_or_else(|| AlgError::Unsupported(format!("digest algorithm {oid}")))
}

/// How an ECDSA signature value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdsaEncoding {
    /// DER `Ecdsa-Sig-Value` (X.509, CMS, OCSP).
    Der,
    /// Fixed-width big-endian `r || s` (XML-DSig, RFC 4050 / XMLDSig 1.1 §6.4.3, JWS).
    Raw,
}

/// A signature scheme, with everything needed to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1 {
        /// The digest in the DigestInfo.
        hash: HashAlg,
    },
    /// RSASSA-PSS (RFC 4055) with MGF1.
    RsaPss {
        /// The message digest.
        hash: HashAlg,
        /// The digest MGF1 uses.
        mgf1_hash: HashAlg,
        /// The salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA on the key's curve.
    Ecdsa {
        /// The message digest.
        hash: HashAlg,
        /// How the signature value is encoded.
        encoding: EcdsaEncoding,
    },
    /// Ed25519 (pure EdDSA, RFC 8032).
    Ed25519,
}

#[cfg(test)]
mod tests {
    use super::verify::{rsa_pkcs1_scheme, rsa_pss_scheme};
    use super::*;
    use const_oid::db::rfc5912::{ID_RSASSA_PSS, RSA_ENCRYPTION};
    use der::Encode;
    use pkcs8::EncodePublicKey;

    fn p384_key() -> (p384::ecdsa::SigningKey, Vec<u8>) {
        let k = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let spki = k.verifying_key().to_public_key_der().unwrap().into_vec();
        (k, spki)
    }

    fn rsa_key(bits: usize) -> (rsa::RsaPrivateKey, Vec<u8>) {
        let k = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
        let spki = k.to_public_key().to_public_key_der().unwrap().into_vec();
        (k, spki)
    }

    #[test]
    fn rsa_pkcs1_and_pss_with_every_digest_and_salt() {
        let (k, spki) = rsa_key(2048);
        for hash in [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            let d = hash.digest(b"doc");
            let sig = k.sign(rsa_pkcs1_scheme(hash), &d).unwrap();
            let alg = SignatureAlgorithm::RsaPkcs1 { hash };
            let v = alg.verify(&spki, b"doc", &sig).unwrap();
            assert_eq!(v.key, KeyKind::Rsa { bits: 2048 });
            alg.verify_prehashed(&spki, &d, &sig).unwrap();
            let mut bad = sig.clone();
            let n = bad.len();
            bad[n - 3] ^= 1;
            assert!(matches!(
                alg.verify(&spki, b"doc", &bad),
                Err(AlgError::BadSignature(_))
            ));
            assert!(matches!(
                alg.verify(&spki, b"dox", &sig),
                Err(AlgError::BadSignature(_))
            ));
            // Salt as long as the digest (ring's path) and the maximum (pyHanko's choice).
            for salt_len in [hash.output_len(), 256 - hash.output_len() - 2] {
                let sig = k
                    .sign_with_rng(&mut rand_core::OsRng, rsa_pss_scheme(hash, salt_len), &d)
                    .unwrap();
                let alg = SignatureAlgorithm::RsaPss {
                    hash,
                    mgf1_hash: hash,
                    salt_len,
                };
                alg.verify(&spki, b"doc", &sig).unwrap();
                let mut bad = sig.clone();
                bad[10] ^= 1;
                assert!(matches!(
                    alg.verify(&spki, b"doc", &bad),
                    Err(AlgError::BadSignature(_))
                ));
            }
        }
    }

    #[test]
    fn legacy_rsa_1024_verifies_and_reports_its_size() {
        let (k, spki) = rsa_key(1024);
        let d = HashAlg::Sha1.digest(b"old");
        let sig = k.sign(rsa_pkcs1_scheme(HashAlg::Sha1), &d).unwrap();
        let v = SignatureAlgorithm::RsaPkcs1 {
            hash: HashAlg::Sha1,
        }
        .verify(&spki, b"old", &sig)
        .unwrap();
        assert_eq!(v.key.bits(), 1024);
    }

    #[test]
    fn ed25519_verifies_and_a_flipped_bit_is_a_bad_signature() {
        use ring::signature::KeyPair;
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: ID_ED25519,
                parameters: None,
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(kp.public_key().as_ref())
                .unwrap(),
        }
        .to_der()
        .unwrap();
        let sig = kp.sign(b"m");
        SignatureAlgorithm::Ed25519
            .verify(&spki, b"m", sig.as_ref())
            .unwrap();
        let mut bad = sig.as_ref().to_vec();
        bad[3] ^= 1;
        assert!(matches!(
            SignatureAlgorithm::Ed25519.verify(&spki, b"m", &bad),
            Err(AlgError::BadSignature(_))
        ));
    }

    #[test]
    fn the_curve_comes_from_the_key_not_the_hash() {
        use ecdsa::signature::hazmat::PrehashSigner;
        let (k, spki) = p384_key();
        // P-384 key, SHA-256 digest: the combination the old verifier handed to P-256.
        for hash in [
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
            HashAlg::Sha1,
        ] {
            let mut d = vec![0u8; 48usize.saturating_sub(hash.output_len())];
            d.extend(hash.digest(b"doc"));
            let sig: p384::ecdsa::Signature = k.sign_prehash(&d).unwrap();
            let alg = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Der,
            };
            let v = alg.verify(&spki, b"doc", sig.to_der().as_bytes()).unwrap();
            assert_eq!(v.key, KeyKind::Ec { curve: Curve::P384 });
            let raw = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Raw,
            };
            raw.verify(&spki, b"doc", &sig.to_bytes()).unwrap();
            assert!(matches!(
                alg.verify(&spki, b"dox", sig.to_der().as_bytes()),
                Err(AlgError::BadSignature(_))
            ));
        }
    }

    #[test]
    fn p521_with_a_short_digest_verifies() {
        use ecdsa::signature::hazmat::PrehashSigner;
        let k = p521::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let vk = p521::ecdsa::VerifyingKey::from(&k);
        let spki = p521::PublicKey::from_sec1_bytes(vk.to_encoded_point(false).as_bytes())
            .unwrap()
            .to_public_key_der()
            .unwrap()
            .into_vec();
        for hash in [HashAlg::Sha256, HashAlg::Sha512] {
            let mut d = vec![0u8; 66 - hash.output_len()];
            d.extend(hash.digest(b"x"));
            let sig: p521::ecdsa::Signature = k.sign_prehash(&d).unwrap();
            let alg = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Der,
            };
            alg.verify(&spki, b"x", sig.to_der().as_bytes()).unwrap();
            assert!(matches!(
                alg.verify(&spki, b"y", sig.to_der().as_bytes()),
                Err(AlgError::BadSignature(_))
            ));
        }
    }

    #[test]
    fn unknown_algorithms_are_unsupported_not_bad() {
        let alg = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"), // dsa-with-sha1
            parameters: None,
        };
        assert!(matches!(
            SignatureAlgorithm::from_x509(&alg),
            Err(AlgError::Unsupported(_))
        ));
        let (_, spki) = p384_key();
        // An RSA scheme with an EC key is undecidable, not a forgery.
        assert!(matches!(
            SignatureAlgorithm::RsaPkcs1 {
                hash: HashAlg::Sha256
            }
            .verify(&spki, b"x", &[0; 256]),
            Err(AlgError::Unsupported(_))
        ));
        assert!(matches!(
            PublicKey::from_spki_der(b"junk"),
            Err(AlgError::Malformed(_))
        ));
    }

    #[test]
    fn rsa_encryption_takes_the_digest_from_the_signer_info() {
        let alg = AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: None,
        };
        assert_eq!(
            SignatureAlgorithm::from_cms(&alg, Some(&ID_SHA_384)).unwrap(),
            SignatureAlgorithm::RsaPkcs1 {
                hash: HashAlg::Sha384
            }
        );
        assert!(matches!(
            SignatureAlgorithm::from_x509(&alg),
            Err(AlgError::Unsupported(_))
        ));
    }

    #[test]
    fn pss_parameters_round_trip() {
        let a = SignatureAlgorithm::RsaPss {
            hash: HashAlg::Sha384,
            mgf1_hash: HashAlg::Sha384,
            salt_len: 222,
        };
        let id = a.algorithm_identifier().unwrap();
        assert_eq!(SignatureAlgorithm::from_x509(&id).unwrap(), a);
        // Absent parameters are RFC 4055's defaults.
        let bare = AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: None,
        };
        assert_eq!(
            SignatureAlgorithm::from_x509(&bare).unwrap(),
            SignatureAlgorithm::RsaPss {
                hash: HashAlg::Sha1,
                mgf1_hash: HashAlg::Sha1,
                salt_len: 20
            }
        );
    }
}
