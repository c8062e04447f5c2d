//! registry.db holds the members, their certificates and the admin token hashes: it and its
//! -wal/-shm are created 0600 and a wider mode is refused, naming the chmod (issue 13, item 15).
use korpu_central::store::Store;
use korpu_testkit::files::assert_private_sqlite;

#[tokio::test]
async fn registry_db_and_its_wal_are_owner_only_and_a_wider_one_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let open = |url: String| async move { Store::open(&url).await };
    assert_private_sqlite(t.path(), "central", "registry.db", false, 0o640, open).await;
}
