//! portal.db holds names, e-mails, sessions and pending PKCE verifiers: it and its -wal/-shm
//! are created 0600 and a wider mode is refused, naming the chmod (issue 13, item 15).
use korpu_portal::store::Store;
use korpu_testkit::files::assert_private_sqlite;

#[tokio::test]
async fn portal_db_and_its_wal_are_owner_only_and_a_wider_one_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let open = |url: String| async move { Store::open(&url).await };
    assert_private_sqlite(t.path(), "portal", "portal.db", true, 0o644, open).await;
}
