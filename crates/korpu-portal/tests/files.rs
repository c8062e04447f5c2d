//! portal.db holds names, e-mails, sessions and pending PKCE verifiers: it and its -wal/-shm
//! are created 0600 and a wider mode is refused, naming the chmod (issue 13, item 15).
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use korpu_portal::store::Store;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn portal_db_and_its_wal_are_owner_only_and_a_wider_one_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("portal");
    let db = dir.join("portal.db");
    let url = format!("sqlite:{}", db.display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["portal.db", "portal.db-wal", "portal.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    drop(store);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Store::open(&url)
        .await
        .err()
        .expect("a 0644 portal.db is refused");
    assert!(
        e.to_string()
            .contains(&format!("run `chmod 600 {}`", db.display())),
        "{e}"
    );
}
