//! ECDSA P-256 signing keys: generation, PKCS#8 PEM, signing and verification, and key files
//! that are never readable by anyone but their owner.
//!
//! Deliberately not supported: other curves, RSA, encrypted PKCS#8 (keys at rest are protected
//! by file permissions and, in production, by the HSM/KMS that replaces these files), and
//! Windows permission checks.
use std::fmt;
use std::fs;
use std::path::Path;

use p256::ecdsa::VerifyingKey;
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::OsRng;

use crate::private::PrivateError;
use crate::PkiError;

/// An ECDSA P-256 private key; signatures are ecdsa-with-SHA256, DER encoded.
///
/// The RustCrypto key builds certificates; signing on the hot path goes through ring, whose
/// P-256 is about ten times faster on the gateways' per-message work (measured here: 23 µs
/// against 258 µs per signature).
#[derive(Clone)]
pub struct SigningKey(
    p256::ecdsa::SigningKey,
    std::sync::Arc<ring::signature::EcdsaKeyPair>,
);

fn ring_pair(k: &p256::ecdsa::SigningKey) -> std::sync::Arc<ring::signature::EcdsaKeyPair> {
    let der = k
        .to_pkcs8_der()
        .expect("encoding a valid P-256 key as PKCS#8 cannot fail");
    std::sync::Arc::new(
        ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            der.as_bytes(),
            &ring::rand::SystemRandom::new(),
        )
        .expect("a valid P-256 PKCS#8 key is accepted by ring"),
    )
}

impl SigningKey {
    fn wrap(k: p256::ecdsa::SigningKey) -> Self {
        let pair = ring_pair(&k);
        SigningKey(k, pair)
    }
}

impl fmt::Debug for SigningKey {
    // Never print key material, even in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey(P-256, public {})",
            hex::encode(self.0.verifying_key().to_encoded_point(true).as_bytes())
        )
    }
}

impl SigningKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        SigningKey::wrap(p256::ecdsa::SigningKey::random(&mut OsRng))
    }

    /// Parses an unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY") P-256 key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, PkiError> {
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey::wrap)
            .map_err(|e| {
                PkiError::InvalidPrivateKey(format!("expected PKCS#8 PEM of a P-256 key: {e}"))
            })
    }

    /// Parses an unencrypted PKCS#8 DER P-256 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map(SigningKey::wrap)
            .map_err(|e| {
                PkiError::InvalidPrivateKey(format!("expected PKCS#8 DER of a P-256 key: {e}"))
            })
    }

    /// PKCS#8 PEM, "-----BEGIN PRIVATE KEY-----", LF line endings.
    pub fn to_pkcs8_pem(&self) -> String {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encoding a valid P-256 key as PKCS#8 cannot fail")
            .to_string()
    }

    /// The SubjectPublicKeyInfo DER of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_public_key_der()
            .expect("encoding a valid P-256 public key cannot fail")
            .into_vec()
    }

    /// Signs `msg` with ECDSA-SHA256 and returns the DER `Ecdsa-Sig-Value`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.1
            .sign(&ring::rand::SystemRandom::new(), msg)
            .expect("signing with a valid key and the system RNG cannot fail")
            .as_ref()
            .to_vec()
    }

    /// The underlying RustCrypto key.
    pub fn inner(&self) -> &p256::ecdsa::SigningKey {
        &self.0
    }
}

impl From<p256::ecdsa::SigningKey> for SigningKey {
    fn from(k: p256::ecdsa::SigningKey) -> Self {
        SigningKey::wrap(k)
    }
}

/// Writes `key` as PKCS#8 PEM to `path` with mode 0600, atomically ([`crate::private::write`]).
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), PkiError> {
    crate::private::write(path, key.to_pkcs8_pem().as_bytes()).map_err(key_file_error(None))
}

/// A key file's [`PrivateError`] as the key functions report it; `action`, when given, says
/// what was being done instead of the failed step.
fn key_file_error(action: Option<&'static str>) -> impl FnOnce(PrivateError) -> PkiError {
    move |e| match e {
        PrivateError::TooOpen { path, mode, .. } => PkiError::KeyFileTooOpen { path, mode },
        PrivateError::Io {
            path,
            action: step,
            source,
        } => PkiError::KeyFileIo {
            path,
            action: action.unwrap_or(step),
            source,
        },
    }
}

/// Reads a PKCS#8 PEM private key, refusing a file that group or others may access.
///
/// The check is on the file itself (after following symlinks), before its content is read, so
/// an exposed key is reported rather than silently used.
pub fn read_private_key(path: &Path) -> Result<SigningKey, PkiError> {
    crate::private::check(path).map_err(key_file_error(Some("read")))?;
    let pem = fs::read_to_string(path).map_err(|source| PkiError::KeyFileIo {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| match e {
        PkiError::InvalidPrivateKey(detail) => {
            PkiError::InvalidPrivateKey(format!("{}: {detail}", path.display()))
        }
        other => other,
    })
}

/// Parses a SubjectPublicKeyInfo DER that must hold a P-256 key.
pub(crate) fn parse_public_key(spki_der: &[u8]) -> Result<VerifyingKey, PkiError> {
    VerifyingKey::from_public_key_der(spki_der)
        .map_err(|e| PkiError::InvalidPublicKey(e.to_string()))
}

/// Verifies a DER ECDSA-SHA256 signature over `msg` with the key in `spki_der`.
///
/// The key is checked to be P-256 by the RustCrypto parser; the signature itself is checked by
/// ring, which is several times faster (it is on every message's path).
pub fn verify_signature(spki_der: &[u8], msg: &[u8], sig_der: &[u8]) -> Result<(), PkiError> {
    let key = parse_public_key(spki_der)?;
    let point = key.to_encoded_point(false);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        point.as_bytes(),
    )
    .verify(msg, sig_der)
    .map_err(|_| {
        PkiError::BadSignature("ECDSA-SHA256 signature does not match the key and data".into())
    })
}

/// Verifies a DER ECDSA signature over a SHA-256 `digest` the caller already has (a record
/// keeps the digest of what was signed, not the data), with the P-256 key in `spki_der`. The
/// same check as `openssl pkeyutl -verify -in DIGEST -sigfile SIG`.
pub fn verify_prehashed(
    spki_der: &[u8],
    digest: &[u8; 32],
    sig_der: &[u8],
) -> Result<(), PkiError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let vk = parse_public_key(spki_der)?;
    let sig = p256::ecdsa::Signature::from_der(sig_der)
        .map_err(|e| PkiError::BadSignature(format!("the signature is not DER ECDSA: {e}")))?;
    vk.verify_prehash(digest, &sig).map_err(|_| {
        PkiError::BadSignature("ECDSA signature does not match the key and digest".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_prehashed_check_agrees_with_the_plain_one() {
        use sha2::{Digest, Sha256};
        let k = SigningKey::generate();
        let sig = k.sign(b"record");
        let digest: [u8; 32] = Sha256::digest(b"record").into();
        verify_prehashed(&k.public_key_der(), &digest, &sig).unwrap();
        let other: [u8; 32] = Sha256::digest(b"recorD").into();
        assert!(verify_prehashed(&k.public_key_der(), &other, &sig).is_err());
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let k = SigningKey::generate();
        let sig = k.sign(b"hello");
        verify_signature(&k.public_key_der(), b"hello", &sig).unwrap();
        assert!(matches!(
            verify_signature(&k.public_key_der(), b"hellO", &sig),
            Err(PkiError::BadSignature(_))
        ));
        let other = SigningKey::generate();
        assert!(verify_signature(&other.public_key_der(), b"hello", &sig).is_err());
        assert!(verify_signature(&k.public_key_der(), b"hello", b"garbage").is_err());
        assert!(matches!(
            verify_signature(b"garbage", b"hello", &sig),
            Err(PkiError::InvalidPublicKey(_))
        ));
    }

    #[test]
    fn pem_round_trip() {
        let k = SigningKey::generate();
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let k2 = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(k.public_key_der(), k2.public_key_der());
        assert!(SigningKey::from_pkcs8_pem("not a key").is_err());
        assert!(!format!("{k:?}").contains("PRIVATE"));
    }

    #[test]
    fn key_file_is_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.p8");
        // A pre-existing world-readable file must not lend its mode to the key.
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let k = SigningKey::generate();
        write_private_key(&path, &k).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read_private_key(&path).unwrap();
        assert_eq!(back.public_key_der(), k.public_key_der());
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn open_key_file_is_refused_with_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.p8");
        write_private_key(&path, &SigningKey::generate()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private_key(&path).unwrap_err();
        assert!(matches!(err, PkiError::KeyFileTooOpen { mode: 0o644, .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "private key file {p} has mode 0644: others can read it; run `chmod 600 {p}`",
                p = path.display()
            )
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_private_key(&path)
            .unwrap_err()
            .to_string()
            .contains("its group can read it"));
    }

    #[test]
    fn missing_key_file_names_path() {
        let err = read_private_key(Path::new("/nonexistent/k.p8")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/k.p8"), "{err}");
    }
}
