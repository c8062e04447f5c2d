//! Checks of the owner-only file rule (data directories 0700, files 0600, wider modes refused
//! naming the `chmod`) that every service with a SQLite store repeats for its own database.
//!
//! Not the rule itself: that is `korpu_pki::private`, and each service's own open path.
use std::fmt::Display;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The permission bits of `p`.
pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Sets the permission bits of `p` to `mode`.
pub fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `e` tells the user to run `chmod MODE PATH` (octal, as the refusal names it).
pub fn assert_names_chmod(e: &impl Display, mode: &str, path: &Path) {
    let fix = format!("run `chmod {mode} {}`", path.display());
    assert!(e.to_string().contains(&fix), "{e}");
}

/// A service's SQLite store `FILE` in the new directory `dir` (under `parent`) is private:
/// `open(sqlite:PATH)` creates the directory 0700 and the database 0600, and its -wal and
/// -shm 0600 (all of them when `wal_required`, else those that exist); once the database is
/// widened to `wider`, `open` is refused naming `chmod 600`. Returns the directory.
pub async fn assert_private_sqlite<S, E, Fut>(
    parent: &Path,
    dir: &str,
    file: &str,
    wal_required: bool,
    wider: u32,
    open: impl Fn(String) -> Fut,
) -> PathBuf
where
    E: Display,
    Fut: Future<Output = Result<S, E>>,
{
    let dir = parent.join(dir);
    let db = dir.join(file);
    let url = format!("sqlite:{}", db.display());
    let store = open(url.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mode(&dir), 0o700);
    for name in [
        file.to_string(),
        format!("{file}-wal"),
        format!("{file}-shm"),
    ] {
        let p = dir.join(&name);
        if wal_required || name == file || p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
    drop(store);
    set_mode(&db, wider);
    let Err(e) = open(url).await else {
        panic!("a {wider:o} {file} is refused");
    };
    assert_names_chmod(&e, "600", &db);
    dir
}
