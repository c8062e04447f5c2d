//! Secret files (administrator and API tokens, keys a service writes for itself): written
//! whole or not at all, readable by their owner only from their first byte.
//!
//! [`write`] writes a temporary file beside the target with mode 0600, syncs it, renames it over
//! the target and syncs the directory, so that a crash leaves either the old file or the new one,
//! never a truncated secret, and the rename itself survives a power cut. [`create_dir`] makes
//! private directories (0700) and refuses an existing one others can enter;
//! [`create_missing_dir`] only creates (for a data directory the operator may share). The modes and the refusal of files others can read come from
//! [`korpu_pki::private`], which every store shares; this module adds only the atomic write.
//!
//! Deliberately not here: reading secrets (each caller checks the file with
//! [`korpu_pki::private::check`] and parses its own format) and private keys, which
//! `korpu_pki::key` writes in PKCS#8.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use korpu_pki::private::{create_dir, create_missing_dir, PrivateError};

/// Writes `bytes` to `path` atomically with mode 0600, replacing any file there.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), PrivateError> {
    let tmp = temporary_beside(path)?;
    let result = (|| {
        let mut f = korpu_pki::private::file_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("rename into place", path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(path)
}

/// A name in `path`'s directory that no other writer picks: `.NAME.tmp-PID-N`.
fn temporary_beside(path: &Path) -> Result<PathBuf, PrivateError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| PrivateError::Io {
        path: path.to_path_buf(),
        action: "write",
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

/// Syncs the directory holding `path`, so that a rename into it is durable.
fn sync_dir(path: &Path) -> Result<(), PrivateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PrivateError {
    let path = path.to_path_buf();
    move |source| PrivateError::Io {
        path,
        action,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_owner_only_and_replace_the_old_file_whole() {
        let t = tempfile::tempdir().unwrap();
        let token = t.path().join("secrets/more/token");
        create_dir(token.parent().unwrap()).unwrap();
        write(&token, b"first").unwrap();
        write(&token, b"second").unwrap();
        assert_eq!(std::fs::read(&token).unwrap(), b"second");
        for (path, want) in [
            ("secrets", 0o700),
            ("secrets/more", 0o700),
            ("secrets/more/token", 0o600),
        ] {
            assert_eq!(mode(&t.path().join(path)), want, "{path}");
        }
        let entries = std::fs::read_dir(token.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_failed_write_names_the_path_and_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("missing-dir/token");
        let e = write(&f, b"x").unwrap_err().to_string();
        assert!(e.contains("missing-dir"), "{e}");
        assert!(!t.path().join("missing-dir").exists());
    }
}
