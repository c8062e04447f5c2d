//! The signing certificates behind a gateway's evidence records.
//!
//! A record names the certificates that made its two signatures by SHA-256 fingerprint only;
//! an evidence package years later must carry the certificates themselves, so that a third
//! party can check the signatures with nothing but the platform's root. Every signing
//! certificate a gateway accepts (and its own) is therefore kept here, as
//! `DATA_DIR/certs/{sha256}.pem`, written durably before the first record that names it.
//!
//! It does not judge certificates (the gateway verified them before they arrive here) and
//! never deletes any: a certificate that has expired or been revoked still explains the
//! records made while it was good.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use korpu_pki::cert::Certificate;

/// Where a gateway keeps the certificates its records refer to.
pub struct CertStore {
    dir: PathBuf,
    known: Mutex<HashSet<String>>,
}

impl CertStore {
    /// Opens (creating) `DATA_DIR/certs`.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("certs");
        std::fs::create_dir_all(&dir)?;
        let known = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".pem"))
                    .map(str::to_owned)
            })
            .collect();
        Ok(Self {
            dir,
            known: Mutex::new(known),
        })
    }

    /// Keeps `cert` unless it is already kept. The file is complete and synced before this
    /// returns, so a record made afterwards never names a certificate that a crash lost.
    pub fn keep(&self, cert: &Certificate) -> std::io::Result<()> {
        let fp = cert.sha256_fingerprint_hex();
        if self.known.lock().expect("lock").contains(&fp) {
            return Ok(());
        }
        let path = self.dir.join(format!("{fp}.pem"));
        // Several exchanges can bring a new certificate at once: each writes its own temporary
        // file (same content) and renames it into place, so none renames another's away.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{fp}.pem.{}.{n}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(cert.to_pem().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.known.lock().expect("lock").insert(fp);
        Ok(())
    }

    /// The kept certificate with this SHA-256 fingerprint (hex), if any.
    pub fn get(&self, sha256_hex: &str) -> Option<Certificate> {
        load(&self.dir, sha256_hex)
    }
}

/// Reads a kept certificate from a gateway's data directory without opening the store (for
/// tools working on a stopped gateway).
pub fn load_from(data_dir: &Path, sha256_hex: &str) -> Option<Certificate> {
    load(&data_dir.join("certs"), sha256_hex)
}

/// The kept certificates with these fingerprints and, transitively, the kept CAs that issued
/// them: what an evidence package needs to show who signed (roots excluded: a verifier brings
/// its own).
pub fn chains_from(data_dir: &Path, sha256_hex: &[&str]) -> Vec<Certificate> {
    let all: Vec<Certificate> = std::fs::read_dir(data_dir.join("certs"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".pem")?.to_owned();
            load(&data_dir.join("certs"), &name)
        })
        .collect();
    let mut out: Vec<Certificate> = Vec::new();
    let mut todo: Vec<Certificate> = sha256_hex
        .iter()
        .filter_map(|fp| {
            all.iter()
                .find(|c| c.sha256_fingerprint_hex().eq_ignore_ascii_case(fp))
                .cloned()
        })
        .collect();
    while let Some(c) = todo.pop() {
        if out.iter().any(|o| o.der() == c.der()) || c.verify_issued_by(&c).is_ok() {
            continue;
        }
        if let Some(issuer) = all
            .iter()
            .find(|i| i.der() != c.der() && c.verify_issued_by(i).is_ok())
        {
            todo.push(issuer.clone());
        }
        out.push(c);
    }
    out
}

fn load(dir: &Path, sha256_hex: &str) -> Option<Certificate> {
    // Only a fingerprint's characters reach the file system.
    if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pem = std::fs::read_to_string(dir.join(format!("{}.pem", sha256_hex.to_ascii_lowercase())))
        .ok()?;
    let cert = Certificate::from_pem(&pem).ok()?;
    (cert.sha256_fingerprint_hex() == sha256_hex.to_ascii_lowercase()).then_some(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_certificates_survive_reopening_and_foreign_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = korpu_pki::key::SigningKey::generate();
        let pk = key.public_key_der();
        let now = std::time::SystemTime::now();
        let req = korpu_pki::ca::IssueRequest {
            subject: korpu_pki::ca::Subject::cn("Test Root"),
            public_key_der: &pk,
            profile: korpu_pki::ca::Profile::Root,
            not_before: now,
            not_after: now + std::time::Duration::from_secs(3600),
            ocsp_url: None,
        };
        let cert = korpu_pki::ca::self_signed(&key, req, &korpu_pki::ca::random_serial()).unwrap();
        let fp = cert.sha256_fingerprint_hex();
        let store = CertStore::open(dir.path()).unwrap();
        assert!(store.get(&fp).is_none());
        store.keep(&cert).unwrap();
        store.keep(&cert).unwrap();
        let again = CertStore::open(dir.path()).unwrap();
        assert_eq!(again.get(&fp).unwrap().der(), cert.der());
        assert_eq!(load_from(dir.path(), &fp).unwrap().der(), cert.der());
        assert!(load_from(dir.path(), "../../etc/passwd").is_none());
        // A file whose content is not the certificate its name says is not returned.
        std::fs::copy(
            dir.path().join(format!("certs/{fp}.pem")),
            dir.path().join(format!("certs/{}.pem", "0".repeat(64))),
        )
        .unwrap();
        assert!(load_from(dir.path(), &"0".repeat(64)).is_none());
    }
}
