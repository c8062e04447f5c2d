//! Document signing keys of every kind a member's qualified key may be: RSA (PKCS#1 v1.5 by
//! default, RSASSA-PSS on request), ECDSA P-256 and P-384, each from an unencrypted PKCS#8 file.
//!
//! [`SignatureKey`] is what [`crate::cades::Signer`] holds: the platform's P-256
//! [`korpu_pki::key::SigningKey`] implements it (so existing callers are unchanged), and so does
//! [`DocumentKey`], which `korpu doc sign` reads from a key file. Every signature made here uses
//! SHA-256 as its digest, so the CMS digestAlgorithm, the message digest a caller computed and
//! the signature algorithm always agree; a P-384 key signs with ecdsa-with-SHA256.
//!
//! ring signs (constant time, RSA 2048–4096 bits). Not here: encrypted PKCS#8, hardware tokens
//! (PKCS#11), Ed25519 signing (no CAdES profile requires it; it verifies, see `korpu_pki::alg`).
use std::path::Path;

use korpu_pki::alg::{EcdsaEncoding, HashAlg, SignatureAlgorithm};

use crate::SignError;

/// A private key that signs CMS signed attributes.
pub trait SignatureKey: std::fmt::Debug + Send + Sync {
    /// The SubjectPublicKeyInfo DER, compared with the signer certificate's.
    fn public_key_der(&self) -> Vec<u8>;
    /// The scheme its signatures use (hash SHA-256).
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Signs `msg` (hashing it with SHA-256 inside the scheme).
    fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl SignatureKey for korpu_pki::key::SigningKey {
    fn public_key_der(&self) -> Vec<u8> {
        korpu_pki::key::SigningKey::public_key_der(self)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::Ecdsa {
            hash: HashAlg::Sha256,
            encoding: EcdsaEncoding::Der,
        }
    }

    fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.sign(msg))
    }
}

/// RSA signature padding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5 (sha256WithRSAEncryption): what every verifier accepts.
    #[default]
    Pkcs1,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 4055).
    Pss,
}

enum Inner {
    Rsa(ring::signature::RsaKeyPair, RsaPadding),
    P256(ring::signature::EcdsaKeyPair),
    /// ring signs P-384 only with SHA-384; CMS wants the signature's hash to be the
    /// digestAlgorithm (SHA-256 here), so RustCrypto signs the SHA-256 digest.
    P384(p384::ecdsa::SigningKey),
}

/// A signing key read from PKCS#8: RSA, P-256 or P-384.
pub struct DocumentKey {
    inner: Inner,
    spki: Vec<u8>,
    algorithm: SignatureAlgorithm,
    label: String,
}

impl std::fmt::Debug for DocumentKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DocumentKey({})", self.label)
    }
}

fn invalid(detail: impl std::fmt::Display) -> SignError {
    SignError::Pki(korpu_pki::PkiError::InvalidPrivateKey(detail.to_string()))
}

impl DocumentKey {
    /// Parses an unencrypted PKCS#8 DER key; `padding` applies to RSA keys.
    pub fn from_pkcs8_der(der: &[u8], padding: RsaPadding) -> Result<Self, SignError> {
        use ring::signature::{self as rs, KeyPair};
        let info = pkcs8_algorithm(der)?;
        let rng = ring::rand::SystemRandom::new();
        let (inner, public, algorithm, label) = match info {
            KeyType::Rsa => {
                let pair = rs::RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| invalid(format!("RSA key refused ({e}); 2048 to 4096 bits")))?;
                let bits = pair.public().modulus_len() * 8;
                let algorithm = match padding {
                    RsaPadding::Pkcs1 => SignatureAlgorithm::RsaPkcs1 {
                        hash: HashAlg::Sha256,
                    },
                    RsaPadding::Pss => SignatureAlgorithm::RsaPss {
                        hash: HashAlg::Sha256,
                        mgf1_hash: HashAlg::Sha256,
                        salt_len: 32,
                    },
                };
                let spki = rsa_spki(pair.public().as_ref())?;
                (
                    Inner::Rsa(pair, padding),
                    spki,
                    algorithm,
                    format!("RSA-{bits}"),
                )
            }
            KeyType::Ec(curve) => {
                let (inner, spki, label) = match curve {
                    Curve::P256 => {
                        let pair = rs::EcdsaKeyPair::from_pkcs8(
                            &rs::ECDSA_P256_SHA256_ASN1_SIGNING,
                            der,
                            &rng,
                        )
                        .map_err(|e| invalid(format!("P-256 key refused: {e}")))?;
                        let spki = ec_spki(curve, pair.public_key().as_ref())?;
                        (Inner::P256(pair), spki, "P-256")
                    }
                    Curve::P384 => {
                        use pkcs8::DecodePrivateKey;
                        let k = p384::ecdsa::SigningKey::from_pkcs8_der(der)
                            .map_err(|e| invalid(format!("P-384 key refused: {e}")))?;
                        let point = k.verifying_key().to_encoded_point(false);
                        let spki = ec_spki(curve, point.as_bytes())?;
                        (Inner::P384(k), spki, "P-384")
                    }
                };
                (
                    inner,
                    spki,
                    SignatureAlgorithm::Ecdsa {
                        hash: HashAlg::Sha256,
                        encoding: EcdsaEncoding::Der,
                    },
                    label.to_string(),
                )
            }
        };
        Ok(DocumentKey {
            inner,
            spki: public,
            algorithm,
            label,
        })
    }

    /// Parses an unencrypted PKCS#8 PEM key ("BEGIN PRIVATE KEY").
    pub fn from_pkcs8_pem(pem: &str, padding: RsaPadding) -> Result<Self, SignError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| invalid(format!("expected PKCS#8 PEM: {e}")))?;
        if label != "PRIVATE KEY" {
            return Err(invalid(format!(
                "expected a \"PRIVATE KEY\" (PKCS#8) block, found \"{label}\"; convert with \
                 `openssl pkcs8 -topk8 -nocrypt`"
            )));
        }
        Self::from_pkcs8_der(&der, padding)
    }

    /// "RSA-3072", "P-384", ...
    pub fn describe(&self) -> &str {
        &self.label
    }
}

/// Reads a PKCS#8 PEM key file, refusing one that group or others may read (the same rule as
/// [`korpu_pki::key::read_private_key`]).
pub fn read_document_key(path: &Path, padding: RsaPadding) -> Result<DocumentKey, SignError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| {
        SignError::Pki(korpu_pki::PkiError::KeyFileIo {
            path: path.to_path_buf(),
            action: "read",
            source,
        })
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SignError::Pki(korpu_pki::PkiError::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        }));
    }
    let pem = std::fs::read_to_string(path).map_err(io)?;
    DocumentKey::from_pkcs8_pem(&pem, padding)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))
}

impl SignatureKey for DocumentKey {
    fn public_key_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = ring::rand::SystemRandom::new();
        match &self.inner {
            Inner::Rsa(pair, padding) => {
                let scheme: &'static dyn ring::signature::RsaEncoding = match padding {
                    RsaPadding::Pkcs1 => &ring::signature::RSA_PKCS1_SHA256,
                    RsaPadding::Pss => &ring::signature::RSA_PSS_SHA256,
                };
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(scheme, &rng, msg, &mut sig)
                    .map_err(|e| SignError::encoding("RSA signature", e))?;
                Ok(sig)
            }
            Inner::P256(pair) => pair
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| SignError::encoding("ECDSA signature", e)),
            Inner::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                let digest = HashAlg::Sha256.digest(msg);
                let sig: p384::ecdsa::Signature = k
                    .sign_prehash(&digest)
                    .map_err(|e| SignError::encoding("ECDSA signature", e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

enum KeyType {
    Rsa,
    Ec(Curve),
}

fn pkcs8_algorithm(der: &[u8]) -> Result<KeyType, SignError> {
    use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1};
    use der::Decode;
    let info =
        pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| invalid(format!("not PKCS#8: {e}")))?;
    match info.algorithm.oid {
        RSA_ENCRYPTION => Ok(KeyType::Rsa),
        ID_EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
            match curve {
                Some(SECP_256_R_1) => Ok(KeyType::Ec(Curve::P256)),
                Some(SECP_384_R_1) => Ok(KeyType::Ec(Curve::P384)),
                other => Err(invalid(format!(
                    "EC curve {other:?} is not supported for signing (P-256, P-384)"
                ))),
            }
        }
        other => Err(invalid(format!(
            "key type {other} is not supported for signing (RSA, P-256, P-384)"
        ))),
    }
}

fn rsa_spki(pkcs1: &[u8]) -> Result<Vec<u8>, SignError> {
    use der::Encode;
    spki::SubjectPublicKeyInfoRef {
        algorithm: spki::AlgorithmIdentifierRef {
            oid: const_oid::db::rfc5912::RSA_ENCRYPTION,
            parameters: Some(der::asn1::AnyRef::NULL),
        },
        subject_public_key: der::asn1::BitStringRef::from_bytes(pkcs1)
            .map_err(|e| SignError::encoding("public key", e))?,
    }
    .to_der()
    .map_err(|e| SignError::encoding("public key", e))
}

fn ec_spki(curve: Curve, point: &[u8]) -> Result<Vec<u8>, SignError> {
    use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, SECP_256_R_1, SECP_384_R_1};
    use der::Encode;
    let oid = match curve {
        Curve::P256 => SECP_256_R_1,
        Curve::P384 => SECP_384_R_1,
    };
    let params = der::asn1::AnyRef::from(&oid);
    spki::SubjectPublicKeyInfoRef {
        algorithm: spki::AlgorithmIdentifierRef {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(params),
        },
        subject_public_key: der::asn1::BitStringRef::from_bytes(point)
            .map_err(|e| SignError::encoding("public key", e))?,
    }
    .to_der()
    .map_err(|e| SignError::encoding("public key", e))
}
