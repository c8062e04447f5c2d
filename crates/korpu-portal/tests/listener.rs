//! The portal's listener drops connections that never make a request: one that sends nothing
//! and one that stops in the middle of a request head, within `header_read_timeout_secs`.

mod support;

use std::time::Duration;

use korpu_net::test_util::{closed_within, get_and_close};
use korpu_portal::config::PortalConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn half_open_and_slow_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PortalConfig {
        header_read_timeout_secs: 1,
        ..support::config(dir.path())
    };
    let portal = korpu_portal::start(cfg).await.unwrap();
    let limit = Duration::from_secs(6);
    let mut idle = TcpStream::connect(portal.addr).await.unwrap();
    let mut partial = TcpStream::connect(portal.addr).await.unwrap();
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    for (what, s) in [
        ("an idle connection", &mut idle),
        ("a partial request head", &mut partial),
    ] {
        assert!(
            closed_within(s, limit).await.is_some(),
            "{what} was still open after {limit:?} with a 1 s timeout"
        );
    }
    // A request in time is still answered.
    let out = get_and_close(portal.addr, "/health").await;
    assert!(out.starts_with("HTTP/1.1 "), "{out}");
    portal.shutdown().await;
}
