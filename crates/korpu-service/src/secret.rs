//! Secret files (administrator and API tokens, keys a service writes for itself): written
//! whole or not at all, readable by their owner only from their first byte.
//!
//! [`write`] writes a temporary file beside the target with mode 0600, syncs it, renames it over
//! the target and syncs the directory, so that a crash leaves either the old file or the new one,
//! never a truncated secret, and the rename itself survives a power cut. [`create_dir`] makes
//! private directories (0700) and refuses an existing one others can enter;
//! [`create_missing_dir`] only creates (for a data directory the operator may share). The modes and the refusal of files others can read come from
//! [`korpu_pki::private`], which every store shares, as does the atomic write itself (private
//! keys are written by it too); this module gathers them for the services.
//!
//! Deliberately not here: reading secrets (each caller checks the file with
//! [`korpu_pki::private::check`] and parses its own format) and private keys, which
//! `korpu_pki::key` writes in PKCS#8.

pub use korpu_pki::private::{create_dir, create_missing_dir, write, PrivateError};

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

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
