//! Set-up shared by the exchange tests and the `send` benchmark: a test CA that issues member
//! signing certificates, an organisation's files and configuration, and the loopback relay
//! that stands in for a gateway pair for the `dx` service (it routes
//! `POST /r1/{subsystem}/dx/{path}` to that subsystem's `dx` listener with the `X-Road-Client`
//! header, and does nothing else a gateway does).
// Each test target uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use korpu_docs::DocsConfig;
use korpu_pki::ca::{Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_testkit::{pki, DAY};

/// A root CA for one test.
pub struct Ca {
    pub root: Certificate,
    pub key: SigningKey,
}

/// A fresh root CA, valid from yesterday for a year.
pub fn ca() -> Ca {
    let now = SystemTime::now();
    let (root, key) = pki::self_signed_root(Subject::cn("Test Root"), now - DAY, now + 365 * DAY);
    Ca { root, key }
}

impl Ca {
    /// A member signing key and its certificate (common name `cn`, the member), valid from
    /// yesterday for 30 days.
    pub fn member(&self, cn: &str) -> (SigningKey, Certificate) {
        let now = SystemTime::now();
        let (cert, key) = pki::issue(
            &self.root,
            &self.key,
            Subject::cn(cn),
            Profile::MemberSigning,
            now - DAY,
            now + 30 * DAY,
            None,
        );
        (key, cert)
    }

    /// Writes what the document exchange of subsystem `sub` reads from `dir` (its member's
    /// signing key and certificate, this CA as the trust anchor) and returns its
    /// configuration, with loopback listeners on free ports and `gateway` as its gateway.
    pub fn org_files(&self, sub: &str, dir: &Path, gateway: SocketAddr) -> DocsConfig {
        let member = sub.rsplit_once('/').unwrap().0;
        let (key, cert) = self.member(member);
        korpu_pki::key::write_private_key(&dir.join("sign.p8"), &key).unwrap();
        std::fs::write(dir.join("sign.pem"), cert.to_pem()).unwrap();
        std::fs::write(dir.join("trust.pem"), self.root.to_pem()).unwrap();
        DocsConfig {
            subsystem: sub.into(),
            gateway_url: format!("http://{gateway}"),
            api_listen: "127.0.0.1:0".parse().unwrap(),
            dx_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_owned(),
            ..DocsConfig::default()
        }
    }
}

/// Which subsystem's `dx` listener is where.
pub type Routes = Arc<Mutex<HashMap<String, SocketAddr>>>;

/// Starts the relay on a free loopback port; returns its address and its routes, which the
/// caller fills as the servers start.
pub async fn spawn_relay() -> (SocketAddr, Routes) {
    let routes: Routes = Arc::default();
    let app = Router::new()
        .route("/r1/{*rest}", post(relay))
        .with_state((routes.clone(), reqwest::Client::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, routes)
}

/// Routes `/r1/{subsystem}/dx/{path}` to the subsystem's dx listener, like a gateway pair.
async fn relay(
    State((routes, http)): State<(Routes, reqwest::Client)>,
    UrlPath(rest): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let parts: Vec<&str> = rest.splitn(6, '/').collect();
    let target = parts[..4.min(parts.len())].join("/");
    let addr = routes.lock().unwrap().get(&target).copied();
    let Some(addr) = addr else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({
                "type": "Server.ClientProxy.UnknownService",
                "message": format!("no such subsystem {target}")})),
        )
            .into_response();
    };
    let path = parts.get(5).copied().unwrap_or("");
    let resp = http
        .post(format!("http://{addr}/dx/{path}"))
        .header(
            "X-Road-Client",
            headers.get("x-road-client").unwrap().to_str().unwrap(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (status, resp.bytes().await.unwrap()).into_response()
}
