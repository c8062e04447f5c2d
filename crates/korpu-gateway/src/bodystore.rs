//! Request and response bodies, kept only for services that ask for it, encrypted at rest.
//!
//! Exchange records hold only the SHA-256 of each body (`request_body_sha256`,
//! `response_body_sha256`); a [`BodyStore`] keeps the bytes themselves, each in a file named by that
//! digest (`<hex>.body`), sealed with AES-256-GCM under a key file ([`BodyKey`]). A file is
//! `nonce (12 bytes) | ciphertext | tag (16 bytes)`; the digest is the AEAD's associated data,
//! so a body moved to another name fails to open, and [`BodyStore::get`] checks that the
//! plaintext hashes to the digest asked for. Nonces are random (96 bits): fine for far fewer
//! than 2^32 bodies per key, which a key rotation per year keeps us well under.
//!
//! The key file must be readable by its owner only (as `korpu-pki` demands of private keys):
//! a key others can read is refused, not used.
//!
//! Deliberately not here: which services keep bodies (`keep_bodies` in the configuration),
//! retention and deletion schedules, and key rotation (a new key file and a new store
//! directory). Not in the evidence ledger either: the ledger proves records, and bodies are
//! personal data kept beside it, under the gateway's data directory (`bodies/`, `body.key`).
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Why a body or its key could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// A file operation failed: what was being done (with the path), and the system's error.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The key file or directory may be reached by others (its message names the `chmod`).
    #[error(transparent)]
    Private(#[from] korpu_pki::private::PrivateError),
    /// No usable key: wrong length, no randomness, or the cipher refused.
    #[error("invalid body key: {0}")]
    Key(String),
    /// The name asked for is not a hex SHA-256.
    #[error("{0:?} is not a hex SHA-256")]
    NotADigest(String),
    /// A stored body does not open as the body asked for.
    #[error("{file} is corrupt: {detail}")]
    Corrupt {
        /// The body file.
        file: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl BodyError {
    /// Maps an I/O error to [`BodyError::Io`] saying what was being done.
    fn io(what: String) -> impl FnOnce(std::io::Error) -> BodyError {
        move |source| BodyError::Io(what, source)
    }
}

/// An AES-256 key for bodies at rest.
pub struct BodyKey(LessSafeKey);

impl std::fmt::Debug for BodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyKey(..)")
    }
}

impl BodyKey {
    /// Reads the 32-byte key at `path`, creating it (mode 0600, random) when missing.
    /// Refuses a key file that group or others may access.
    pub fn load_or_create(path: &Path) -> Result<Self, BodyError> {
        match fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| BodyError::Key("no randomness for a body key".into()))?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(BodyError::io(format!("creating {}", path.display())))?;
                f.write_all(&key)
                    .and_then(|()| f.sync_all())
                    .map_err(BodyError::io(format!("writing {}", path.display())))?;
                Self::from_bytes(&key)
            }
            Err(e) => Err(BodyError::io(format!("reading {}", path.display()))(e)),
            Ok(_) => {
                korpu_pki::private::check(path)?;
                let bytes =
                    fs::read(path).map_err(BodyError::io(format!("reading {}", path.display())))?;
                Self::from_bytes(&bytes).map_err(|_| {
                    BodyError::Key(format!(
                        "{} holds {} bytes, not a 32-byte AES-256 key",
                        path.display(),
                        bytes.len()
                    ))
                })
            }
        }
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self, BodyError> {
        let k = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| BodyError::Key("an AES-256 key is 32 bytes".into()))?;
        Ok(BodyKey(LessSafeKey::new(k)))
    }
}

/// Encrypted bodies in a directory, named by the SHA-256 of their plaintext.
#[derive(Debug)]
pub struct BodyStore {
    dir: PathBuf,
    key: BodyKey,
    rng: SystemRandom,
}

impl BodyStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>, key: BodyKey) -> Result<Self, BodyError> {
        let dir = dir.into();
        // Bodies are personal data: the directory is the owner's only (the files are 0600).
        korpu_pki::private::create_dir(&dir)?;
        Ok(BodyStore {
            dir,
            key,
            rng: SystemRandom::new(),
        })
    }

    fn path(&self, digest_hex: &str) -> PathBuf {
        self.dir.join(format!("{digest_hex}.body"))
    }

    /// Encrypts and stores `body` durably; returns its hex SHA-256, the value the record keeps.
    pub fn put(&self, body: &[u8]) -> Result<String, BodyError> {
        let digest: [u8; 32] = Sha256::digest(body).into();
        let name = hex::encode(digest);
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| BodyError::Key("no randomness for a nonce".into()))?;
        let mut sealed = body.to_vec();
        self.key
            .0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(digest),
                &mut sealed,
            )
            .map_err(|_| BodyError::Key("AES-GCM refused to seal".into()))?;
        let mut file = nonce.to_vec();
        file.extend_from_slice(&sealed);
        let path = self.path(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let io = BodyError::io(format!("writing {}", path.display()));
        (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&file)?;
            f.sync_data()?;
            fs::rename(&tmp, &path)
        })()
        .map_err(io)?;
        Ok(name)
    }

    /// The body whose hex SHA-256 is `digest_hex`, decrypted and checked against the digest.
    pub fn get(&self, digest_hex: &str) -> Result<Vec<u8>, BodyError> {
        let digest: [u8; 32] = hex::decode(digest_hex)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| BodyError::NotADigest(digest_hex.to_owned()))?;
        let path = self.path(&hex::encode(digest));
        let bytes =
            fs::read(&path).map_err(BodyError::io(format!("reading {}", path.display())))?;
        let corrupt = |detail: &str| BodyError::Corrupt {
            file: path.display().to_string(),
            detail: detail.to_string(),
        };
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(corrupt("too short to be a sealed body"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("the nonce is 12 bytes");
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .0
            .open_in_place(nonce, Aad::from(digest), &mut buf)
            .map_err(|_| {
                corrupt(
                    "does not decrypt with this key: altered, moved, or sealed under another key",
                )
            })?;
        if Sha256::digest(&plain[..])[..] != digest {
            return Err(corrupt("decrypts to bytes with another digest"));
        }
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn body_store_directory_is_created_0700_and_a_wider_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = || BodyKey::from_bytes(&[7u8; 32]).unwrap();
        let bodies = dir.path().join("bodies");
        BodyStore::open(&bodies, key()).unwrap();
        assert_eq!(
            fs::metadata(&bodies).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(&bodies, fs::Permissions::from_mode(0o755)).unwrap();
        let e = BodyStore::open(&bodies, key()).unwrap_err().to_string();
        assert!(e.contains("chmod 700"), "{e}");
    }

    #[test]
    fn bodies_round_trip_encrypted_and_tampering_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("body.key");
        let store = BodyStore::open(
            dir.path().join("bodies"),
            BodyKey::load_or_create(&key_path).unwrap(),
        )
        .unwrap();
        assert_eq!(
            fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let body = br#"{"person":"AZ7654321","children":2}"#;
        let digest = store.put(body).unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(body)));
        // At rest the plaintext does not appear.
        let file = fs::read(dir.path().join("bodies").join(format!("{digest}.body"))).unwrap();
        assert!(!file.windows(9).any(|w| w == b"AZ7654321"));
        assert_eq!(store.get(&digest).unwrap(), body);
        // The same key from its file opens it again.
        let again = BodyStore::open(
            dir.path().join("bodies"),
            BodyKey::load_or_create(&key_path).unwrap(),
        )
        .unwrap();
        assert_eq!(again.get(&digest).unwrap(), body);
        // A flipped ciphertext byte, a body under another name, another key: refused.
        let path = dir.path().join("bodies").join(format!("{digest}.body"));
        let mut bad = file.clone();
        bad[20] ^= 1;
        fs::write(&path, &bad).unwrap();
        assert!(matches!(store.get(&digest), Err(BodyError::Corrupt { .. })));
        fs::write(&path, &file).unwrap();
        let other = store.put(b"another body").unwrap();
        fs::copy(
            dir.path().join("bodies").join(format!("{other}.body")),
            &path,
        )
        .unwrap();
        assert!(matches!(store.get(&digest), Err(BodyError::Corrupt { .. })));
        fs::write(&path, &file).unwrap();
        let stranger = BodyStore::open(
            dir.path().join("bodies"),
            BodyKey::from_bytes(&[7u8; 32]).unwrap(),
        )
        .unwrap();
        assert!(stranger.get(&digest).is_err());
        // A key file others can read is refused.
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = BodyKey::load_or_create(&key_path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
}
