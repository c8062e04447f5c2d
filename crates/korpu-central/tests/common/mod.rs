//! What the registry's test files share: the settings a test registry runs with, and one
//! request through its router in process.
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use korpu_central::pki::CentralPki;
use korpu_central::registry::RegistrySettings;
use korpu_central::store::Store;
use korpu_central::Registry;

/// A registry of instance AZ over `store` and `pki`: certificates valid a day, configurations
/// ten minutes, its public URL a closed loopback port.
pub fn registry(store: Store, pki: CentralPki) -> Registry {
    Registry {
        store,
        pki,
        settings: RegistrySettings {
            instance: "AZ".parse().unwrap(),
            leaf_cert_validity: Duration::from_secs(86_400),
            conf_validity: Duration::from_secs(600),
            public_url: "http://127.0.0.1:9".into(),
        },
    }
}

/// `req` through `router`, in process: the answer's status and body (at most 16 MiB).
pub async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20).await;
    (status, body.unwrap().to_vec())
}
