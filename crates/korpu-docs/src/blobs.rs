//! Content-addressed blob storage: every attachment and container is stored once, under the
//! hex SHA-256 of its bytes (`sha256/ab/abcd…`), in an `object_store` — a local directory by
//! default, S3 with the `s3` cargo feature and an `s3://bucket` URL.
//!
//! A local write is made durable (file and directory fsynced) before [`Blobs::put`] returns,
//! so a document is never acknowledged while its bytes could still be lost. Reads check the
//! digest, so a blob altered at rest is reported rather than served. Reference counting is
//! not here: the caller removes a blob only when no remaining document names it.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::DocsError;

/// A content-addressed blob store.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The local root, when the store is a directory (for fsync).
    local: Option<PathBuf>,
}

fn blob_err(e: impl std::fmt::Display) -> DocsError {
    DocsError::Blob(e.to_string())
}

impl Blobs {
    /// Opens the store named by `spec` (see [`crate::DocsConfig::object_store`]); `default_dir`
    /// is used when `spec` is empty.
    pub fn open(spec: &str, default_dir: &std::path::Path) -> Result<Self, DocsError> {
        if spec.starts_with("s3://") {
            return Self::open_s3(spec);
        }
        if spec.contains("://") {
            return Err(DocsError::Config(format!(
                "object_store {spec:?}: only a directory or s3://bucket is supported"
            )));
        }
        let dir = if spec.is_empty() {
            default_dir.to_owned()
        } else {
            PathBuf::from(spec)
        };
        // Documents are personal data: the directory is the owner's only, from creation on
        // (object_store writes its files with the process umask; a 0700 directory keeps them
        // unreachable whatever their mode).
        korpu_pki::private::create_dir(&dir).map_err(|e| DocsError::Config(e.to_string()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| DocsError::Config(format!("object store {}: {e}", dir.display())))?;
        Ok(Blobs {
            store: Arc::new(store),
            local: Some(dir),
        })
    }

    #[cfg(feature = "s3")]
    fn open_s3(url: &str) -> Result<Self, DocsError> {
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .map_err(|e| DocsError::Config(format!("object store {url}: {e}")))?;
        Ok(Blobs {
            store: Arc::new(store),
            local: None,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(url: &str) -> Result<Self, DocsError> {
        Err(DocsError::Config(format!(
            "object store {url}: this build has no S3 support; rebuild with the korpu-docs feature `s3`"
        )))
    }

    fn path(sha256_hex: &str) -> ObjPath {
        ObjPath::from(format!("sha256/{}/{}", &sha256_hex[..2], sha256_hex))
    }

    /// Stores `bytes` and returns their hex SHA-256. Storing the same bytes again is a no-op
    /// that returns the same name.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, DocsError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = Self::path(&sha);
        if self.store.head(&path).await.is_ok() {
            return Ok(sha);
        }
        self.store
            .put(&path, PutPayload::from(bytes.to_vec()))
            .await
            .map_err(blob_err)?;
        if let Some(root) = &self.local {
            // object_store renames a temporary file into place but does not fsync; do it here
            // so an acknowledged document survives a power cut.
            let file = root.join(path.as_ref());
            let sync = move || -> std::io::Result<()> {
                std::fs::File::open(&file)?.sync_all()?;
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                    if let Some(up) = dir.parent() {
                        std::fs::File::open(up)?.sync_all()?;
                    }
                }
                Ok(())
            };
            tokio::task::spawn_blocking(sync)
                .await
                .map_err(blob_err)?
                .map_err(blob_err)?;
        }
        Ok(sha)
    }

    /// Reads the blob named `sha256_hex`, checking that its content still has that digest.
    pub async fn get(&self, sha256_hex: &str) -> Result<Vec<u8>, DocsError> {
        if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DocsError::Blob(format!(
                "{sha256_hex:?} is not a SHA-256 name"
            )));
        }
        let got = self
            .store
            .get(&Self::path(sha256_hex))
            .await
            .map_err(blob_err)?
            .bytes()
            .await
            .map_err(blob_err)?;
        if hex::encode(Sha256::digest(&got)) != sha256_hex {
            return Err(DocsError::Blob(format!(
                "blob {sha256_hex} was altered at rest: its content has another digest"
            )));
        }
        Ok(got.to_vec())
    }

    /// Removes a blob (absent is fine).
    pub async fn delete(&self, sha256_hex: &str) -> Result<(), DocsError> {
        match self.store.delete(&Self::path(sha256_hex)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(blob_err(e)),
        }
    }

    /// Whether a blob is present.
    pub async fn exists(&self, sha256_hex: &str) -> bool {
        self.store.head(&Self::path(sha256_hex)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_addressed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let b = Blobs::open("", &dir.path().join("blobs")).unwrap();
        let sha = b.put(b"hello").await.unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(b"hello")));
        assert_eq!(b.put(b"hello").await.unwrap(), sha);
        assert_eq!(b.get(&sha).await.unwrap(), b"hello");
        // Altered at rest: refused.
        let file = dir
            .path()
            .join(format!("blobs/sha256/{}/{}", &sha[..2], sha));
        std::fs::write(&file, b"jello").unwrap();
        assert!(b
            .get(&sha)
            .await
            .unwrap_err()
            .to_string()
            .contains("altered"));
        b.delete(&sha).await.unwrap();
        assert!(!b.exists(&sha).await);
        b.delete(&sha).await.unwrap();
        assert!(Blobs::open("s3://bucket", dir.path()).is_err() || cfg!(feature = "s3"));
    }
}
