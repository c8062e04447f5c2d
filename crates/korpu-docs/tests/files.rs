//! The document store: docs.db (and its -wal/-shm) created 0600, the blob directory 0700, and
//! wider modes refused naming the chmod (issue 13, item 15).
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use korpu_docs::blobs::Blobs;
use korpu_docs::store::Store;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn docs_db_and_blob_directory_are_owner_only_and_wider_ones_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("docs");
    let db = dir.join("docs.db");
    let url = format!("sqlite:{}", db.display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["docs.db", "docs.db-wal", "docs.db-shm"] {
        let p = dir.join(name);
        if name == "docs.db" || p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
    drop(store);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o604)).unwrap();
    let e = Store::open(&url)
        .await
        .err()
        .expect("a 0604 docs.db is refused");
    assert!(e.to_string().contains("chmod 600"), "{e}");

    let blobs = dir.join("blobs");
    Blobs::open("", &blobs).unwrap();
    assert_eq!(mode(&blobs), 0o700);
    std::fs::set_permissions(&blobs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Blobs::open("", &blobs)
        .err()
        .expect("a 0755 blob directory is refused");
    assert!(
        e.to_string()
            .contains(&format!("run `chmod 700 {}`", blobs.display())),
        "{e}"
    );
}

#[test]
fn an_api_token_file_others_can_read_is_refused_naming_the_chmod() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("api-token");
    let token = korpu_docs::server::ensure_token(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(korpu_docs::server::ensure_token(&path).unwrap(), token);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = korpu_docs::server::ensure_token(&path).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("run `chmod 600 {}`", path.display())),
        "{e}"
    );
}
