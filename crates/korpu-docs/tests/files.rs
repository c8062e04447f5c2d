//! The document store: docs.db (and its -wal/-shm) created 0600, the blob directory 0700, and
//! wider modes refused naming the chmod (issue 13, item 15).
use korpu_docs::blobs::Blobs;
use korpu_docs::store::Store;
use korpu_testkit::files::{assert_names_chmod, assert_private_sqlite, mode, set_mode};

#[tokio::test]
async fn docs_db_and_blob_directory_are_owner_only_and_wider_ones_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let open = |url: String| async move { Store::open(&url).await };
    let dir = assert_private_sqlite(t.path(), "docs", "docs.db", false, 0o604, open).await;

    let blobs = dir.join("blobs");
    Blobs::open("", &blobs).unwrap();
    assert_eq!(mode(&blobs), 0o700);
    set_mode(&blobs, 0o755);
    let e = Blobs::open("", &blobs)
        .err()
        .expect("a 0755 blob directory is refused");
    assert_names_chmod(&e, "700", &blobs);
}

#[test]
fn an_api_token_file_others_can_read_is_refused_naming_the_chmod() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("api-token");
    let token = korpu_docs::server::ensure_token(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(korpu_docs::server::ensure_token(&path).unwrap(), token);
    set_mode(&path, 0o644);
    let e = korpu_docs::server::ensure_token(&path).unwrap_err();
    assert_names_chmod(&e, "600", &path);
}
