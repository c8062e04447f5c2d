//! The registry's listeners drop connections that never make a request: a TCP connection
//! that sends nothing or a partial request head (public HTTP listener), and one that never
//! finishes its TLS handshake (management API), each within its configured timeout.

use std::time::Duration;

use korpu_central::CentralConfig;
use korpu_net::test_util::{closed_within, get_and_close};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn half_open_and_slow_connections_are_closed_on_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let config = CentralConfig {
        data_dir: dir.path().to_owned(),
        management_listen: "127.0.0.1:0".parse().unwrap(),
        public_listen: "127.0.0.1:0".parse().unwrap(),
        tls_handshake_timeout_secs: 1,
        header_read_timeout_secs: 1,
        ..CentralConfig::default()
    };
    korpu_central::init(&config).await.unwrap();
    let central = korpu_central::start(&config).await.unwrap();
    let limit = Duration::from_secs(6);

    // Public endpoints (plain HTTP): nothing at all, then a request head that stops.
    let mut idle = TcpStream::connect(central.public_addr).await.unwrap();
    let mut partial = TcpStream::connect(central.public_addr).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Management API (TLS): no ClientHello, and half a ClientHello.
    let mut no_hello = TcpStream::connect(central.management_addr).await.unwrap();
    let mut half_hello = TcpStream::connect(central.management_addr).await.unwrap();
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    for (what, s) in [
        ("an idle public connection", &mut idle),
        ("a partial request head", &mut partial),
        ("a connection without a ClientHello", &mut no_hello),
        ("a half ClientHello", &mut half_hello),
    ] {
        let took = closed_within(s, limit).await;
        assert!(
            took.is_some(),
            "{what} was still open after {limit:?} with 1 s timeouts"
        );
    }

    // A request in time is still served.
    let out = get_and_close(central.public_addr, "/health").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    central.shutdown().await;
}
