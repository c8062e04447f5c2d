//! The portal's listener drops connections that never make a request: one that sends nothing
//! and one that stops in the middle of a request head, within `header_read_timeout_secs`.

mod support;

use std::time::Duration;

use korpu_net::test_util::{assert_all_closed, get_and_close, idle_and_partial};
use korpu_portal::config::PortalConfig;

#[tokio::test(flavor = "multi_thread")]
async fn half_open_and_slow_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PortalConfig {
        header_read_timeout_secs: 1,
        ..support::config(dir.path())
    };
    let portal = korpu_portal::start(cfg).await.unwrap();
    let limit = Duration::from_secs(6);
    let mut conns = idle_and_partial(portal.addr, "/").await;
    assert_all_closed(&mut conns, limit, "with a 1 s timeout").await;
    // A request in time is still answered.
    let out = get_and_close(portal.addr, "/health").await;
    assert!(out.starts_with("HTTP/1.1 "), "{out}");
    portal.shutdown().await;
}

/// Stopping closes the database: SQLite removes its write-ahead log when the last connection
/// closes, so a `-wal` file left after `shutdown` means connections were still open.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_the_database_within_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PortalConfig {
        shutdown_grace_secs: 2,
        ..support::config(dir.path())
    };
    let data = cfg.data_dir.clone();
    let portal = korpu_portal::start(cfg).await.unwrap();
    let out = get_and_close(portal.addr, "/health").await;
    assert!(out.starts_with("HTTP/1.1 "), "{out}");
    let wal = data.join("portal.db-wal");
    assert!(wal.exists(), "the portal's database runs in WAL mode");
    let started = std::time::Instant::now();
    portal.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!wal.exists(), "connections were left open after shutdown");
}
