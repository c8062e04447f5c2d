//! The registry's listeners drop connections that never make a request: a TCP connection
//! that sends nothing or a partial request head (public HTTP listener), and one that never
//! finishes its TLS handshake (management API), each within its configured timeout.

use std::time::Duration;

use korpu_central::CentralConfig;
use korpu_net::test_util::{assert_all_closed, get_and_close, idle_and_partial};
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
    let mut conns = idle_and_partial(central.public_addr, "/health").await;
    // Management API (TLS): no ClientHello, and half a ClientHello.
    let no_hello = TcpStream::connect(central.management_addr).await.unwrap();
    let mut half_hello = TcpStream::connect(central.management_addr).await.unwrap();
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    conns.push(("a connection without a ClientHello", no_hello));
    conns.push(("a half ClientHello", half_hello));
    assert_all_closed(&mut conns, limit, "with 1 s timeouts").await;

    // A request in time is still served.
    let out = get_and_close(central.public_addr, "/health").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    central.shutdown().await;
}
