//! The root's CRL about the issuing CA at `/crl/root.crl`: signed by the root, fresh on every
//! request, listing nothing; absent (404) when the root key is kept offline.
mod common;

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use korpu_central::pki::CentralPki;
use korpu_central::store::Store;
use korpu_pki::crl::Crl;
use korpu_pki::ocsp::CertStatus;

async fn get_root_crl(pki: CentralPki, dir: &std::path::Path) -> (StatusCode, Vec<u8>) {
    let store = Store::open(&format!(
        "sqlite:{}",
        dir.join(format!("r{}.db", rand_suffix())).display()
    ))
    .await
    .unwrap();
    let registry = common::registry(store, pki);
    let router = korpu_central::server::test_router(registry).await.unwrap();
    let req = Request::builder().uri("/crl/root.crl").body(Body::empty());
    common::call(&router, req.unwrap()).await
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test]
async fn the_root_publishes_a_fresh_crl_about_the_issuing_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = CentralPki::create(dir.path(), "AZ", &["127.0.0.1".into()], "http://x/ocsp").unwrap();
    let (root, issuing) = (pki.root.clone(), pki.issuing.cert.clone());
    let before = SystemTime::now() - Duration::from_secs(1);
    let (status, der) = get_root_crl(pki, dir.path()).await;
    assert_eq!(status, StatusCode::OK);
    let crl = Crl::from_der(&der).unwrap();
    crl.verify_issued_by(&root).unwrap();
    assert!(crl.this_update() >= before, "signed when asked");
    assert!(crl.next_update().unwrap() > crl.this_update());
    assert_eq!(crl.status(&issuing).unwrap(), CertStatus::Good);

    // The same PKI loaded from disk, with the root key moved away: no CRL, said plainly.
    std::fs::rename(
        dir.path().join("keys/root.p8"),
        dir.path().join("root.p8.offline"),
    )
    .unwrap();
    let pki = CentralPki::load(dir.path()).unwrap();
    assert!(pki.root_key.is_none());
    let (status, body) = get_root_crl(pki, dir.path()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("offline"));
}
