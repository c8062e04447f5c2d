//! The portal's listener drops connections that never make a request: one that sends nothing
//! and one that stops in the middle of a request head, within `header_read_timeout_secs`.

use std::time::{Duration, SystemTime};

use korpu_net::test_util::{closed_within, get_and_close};
use korpu_pki::ca::{IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;
use korpu_portal::config::PortalConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// An anchor the portal can load (nothing is ever verified against it here).
fn anchor(dir: &std::path::Path) -> std::path::PathBuf {
    let key = SigningKey::generate();
    let spki = key.public_key_der();
    let now = SystemTime::now();
    let cert = korpu_pki::ca::self_signed(
        &key,
        IssueRequest {
            subject: Subject::cn("test root"),
            public_key_der: &spki,
            profile: Profile::Root,
            not_before: now,
            not_after: now + Duration::from_secs(3600),
            ocsp_url: None,
        },
        &korpu_pki::ca::random_serial(),
    )
    .unwrap();
    let a = korpu_conf::Anchor::new(
        "AZ".parse().unwrap(),
        "http://127.0.0.1:9/conf".into(),
        &[cert],
    )
    .unwrap();
    let path = dir.join("anchor.json");
    std::fs::write(&path, serde_json::to_vec(&a).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn half_open_and_slow_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PortalConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        anchor: anchor(dir.path()),
        gateway_url: "http://127.0.0.1:9".into(),
        client: "AZ/GOV/1400004/mygov".into(),
        dev_idp: true,
        header_read_timeout_secs: 1,
        ..PortalConfig::default()
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
