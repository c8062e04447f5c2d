//! Files and directories that only their owner may use: data directories created 0700, data
//! files created 0600 from their first byte, and a refusal, naming the `chmod` to run, for any
//! that group or others can reach. The same rule as for key files ([`crate::key`]), for every
//! store that holds personal data (databases, ledgers, document and body stores).
//!
//! Modes are set when a file or directory is created (`OpenOptions::mode`, `DirBuilder::mode`),
//! never by a chmod afterwards, which would leave a window in which it is readable. Existing
//! files are checked, not silently tightened: a wider mode means someone chose or changed it,
//! and the operator should know.
//!
//! Deliberately not here: ACLs, ownership checks and Windows.
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of data directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of data files.
pub const FILE_MODE: u32 = 0o600;

/// A data file or directory that is too open, or could not be checked or created.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    /// Group or others may use it.
    #[error(
        "{} {} has mode {:04o}: {}; run `chmod {} {}`",
        if *.dir { "data directory" } else { "data file" },
        .path.display(), .mode, crate::error::exposure(.mode),
        if *.dir { "700" } else { "600" }, .path.display()
    )]
    TooOpen {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Whether it is a directory.
        dir: bool,
    },
    /// Creating or inspecting it failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Refuses `path` (a file or directory, symlinks followed) when group or others have any
/// permission on it.
pub fn check(path: &Path) -> Result<(), PrivateError> {
    let meta = std::fs::metadata(path).map_err(|source| PrivateError::Io {
        path: path.to_path_buf(),
        action: "inspect",
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PrivateError::TooOpen {
            path: path.to_path_buf(),
            mode,
            dir: meta.is_dir(),
        });
    }
    Ok(())
}

/// [`check`], passing when `path` does not exist.
pub fn check_if_exists(path: &Path) -> Result<(), PrivateError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        _ => check(path),
    }
}

/// Creates `dir` and any missing parents with mode 0700, then [`check`]s `dir` itself (which
/// may have existed before). Parents that existed are left alone: they are the operator's.
pub fn create_dir(dir: &Path) -> Result<(), PrivateError> {
    create_missing_dir(dir)?;
    check(dir)
}

/// Creates `dir` and any missing parents with mode 0700, without judging an existing `dir`:
/// for a service's data directory, which the operator may share with public files (the
/// stores inside it are checked themselves).
pub fn create_missing_dir(dir: &Path) -> Result<(), PrivateError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| PrivateError::Io {
            path: dir.to_path_buf(),
            action: "create",
            source,
        })
}

/// Open options that create files with mode 0600 (an existing file keeps its mode: [`check`] it).
pub fn file_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Writes `bytes` to `path` atomically with mode 0600, replacing any file there: a temporary
/// file beside it (mode 0600 from its first byte), synced, renamed over `path`, then the
/// directory synced, so that a crash leaves the old file or the new one, never a truncated
/// secret, and the rename survives a power cut. Opening the existing file with `truncate`
/// would keep its old (possibly wider) mode; a chmod afterwards would leave a readable window.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), PrivateError> {
    let tmp = temporary_beside(path)?;
    let result = (|| {
        let mut f = file_options()
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

/// Prepares an SQLite database URL (`sqlite:PATH`, `sqlite://PATH`, with or without `?…`) for
/// opening: its directory is created 0700 when missing (an existing one is the operator's, see
/// [`create_missing_dir`]), the database file is created empty with mode 0600
/// when missing (SQLite takes an empty file as a new database, and gives its `-wal`, `-shm` and
/// `-journal` files the database file's mode), and the directory, the file and any of those
/// companions are checked. Other URLs (PostgreSQL, `sqlite::memory:`) pass untouched.
pub fn prepare_sqlite(url: &str) -> Result<(), PrivateError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
        return Ok(());
    }
    let path = Path::new(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_missing_dir(parent)?;
    }
    match file_options().write(true).create_new(true).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PrivateError::Io {
                path: path.to_path_buf(),
                action: "create",
                source,
            })
        }
    }
    check(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        check_if_exists(Path::new(&companion))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_dirs_and_files_are_owner_only() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&t.path().join("a")), 0o700);
        let f = dir.join("f");
        file_options().write(true).create(true).open(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }

    #[test]
    fn wider_modes_are_refused_with_the_chmod_to_run() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("d");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let e = create_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("mode 0755") && e.contains(&format!("chmod 700 {}", dir.display())));
        let f = t.path().join("f");
        fs::write(&f, b"x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let e = check(&f).unwrap_err().to_string();
        assert!(
            e.contains("its group can read it") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn sqlite_database_is_created_0600_and_companions_are_checked() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("data/x.db");
        prepare_sqlite(&format!("sqlite:{}?mode=rwc", db.display())).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().unwrap()), 0o700);
        let wal = t.path().join("data/x.db-wal");
        fs::write(&wal, b"").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o644)).unwrap();
        let e = prepare_sqlite(&format!("sqlite://{}", db.display())).unwrap_err();
        assert!(e.to_string().contains("x.db-wal"), "{e}");
        prepare_sqlite("sqlite::memory:").unwrap();
        prepare_sqlite("postgres://x/y").unwrap();
    }
}
