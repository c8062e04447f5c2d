//! Documents sent per second between two document exchange servers in one process, on SQLite:
//! each send builds and signs an ASiC-E container, stores it (fsynced blobs, committed rows),
//! crosses a loopback relay standing in for the gateway pair, is validated, stored and
//! answered with a signed receipt that the sender verifies and stores. The gateways' own cost
//! (mTLS, their signatures, the ledger) is not in this figure.
//!
//! `cargo bench -p korpu-docs --bench send` (`DOCS_BENCH_N`, default 200; `DOCS_BENCH_KIB`,
//! the attachment size, default 10).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use korpu_docs::exchange::Attachment;
use korpu_docs::{DocsConfig, Exchange, SendRequest};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;

type Routes = Arc<Mutex<HashMap<String, SocketAddr>>>;

async fn relay(
    State((routes, http)): State<(Routes, reqwest::Client)>,
    UrlPath(rest): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let parts: Vec<&str> = rest.splitn(6, '/').collect();
    let target = parts[..4.min(parts.len())].join("/");
    let Some(addr) = routes.lock().unwrap().get(&target).copied() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let resp = http
        .post(format!("http://{addr}/dx/{}", parts.get(5).unwrap_or(&"")))
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("DOCS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let kib: usize = std::env::var("DOCS_BENCH_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let root_key = SigningKey::generate();
    let pk = root_key.public_key_der();
    let root = ca::self_signed(
        &root_key,
        IssueRequest {
            subject: Subject::cn("Bench Root"),
            public_key_der: &pk,
            profile: Profile::Root,
            not_before: now - day,
            not_after: now + 30 * day,
            ocsp_url: None,
        },
        &ca::random_serial(),
    )
    .unwrap();
    let routes: Routes = Arc::default();
    let app = Router::new()
        .route("/r1/{*rest}", post(relay))
        .with_state((routes.clone(), reqwest::Client::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    let mut dirs = Vec::new();
    let mut exs = Vec::new();
    for sub in ["AZ/GOV/1400001/docs", "AZ/GOV/1400002/docs"] {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let pk = key.public_key_der();
        let cert = ca::issue(
            &root,
            &root_key,
            IssueRequest {
                subject: Subject::cn(sub.rsplit_once('/').unwrap().0),
                public_key_der: &pk,
                profile: Profile::MemberSigning,
                not_before: now - day,
                not_after: now + 30 * day,
                ocsp_url: None,
            },
            &ca::random_serial(),
        )
        .unwrap();
        korpu_pki::key::write_private_key(&dir.path().join("sign.p8"), &key).unwrap();
        std::fs::write(dir.path().join("sign.pem"), cert.to_pem()).unwrap();
        std::fs::write(dir.path().join("trust.pem"), root.to_pem()).unwrap();
        let cfg = DocsConfig {
            subsystem: sub.into(),
            gateway_url: format!("http://{gw}"),
            api_listen: "127.0.0.1:0".parse().unwrap(),
            dx_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            ..DocsConfig::default()
        };
        let ex = Exchange::open(cfg).await.unwrap();
        let running = korpu_docs::server::start(ex.clone()).await.unwrap();
        routes.lock().unwrap().insert(sub.into(), running.dx_addr);
        std::mem::forget(running);
        dirs.push(dir);
        exs.push(ex);
    }
    let payload = vec![b'x'; kib * 1024];
    let req = |i: usize| SendRequest {
        to: "AZ/GOV/1400002/docs".into(),
        title: format!("Bench letter {i}"),
        doc_type: "letter".into(),
        register_no: format!("B-{i}"),
        attachments: vec![Attachment::from_bytes(
            "letter.txt",
            None,
            &[payload.as_slice(), i.to_string().as_bytes()].concat(),
        )],
        ..SendRequest::default()
    };
    exs[0].send(req(0)).await.unwrap(); // warm-up
    let start = Instant::now();
    for i in 1..=n {
        exs[0].send(req(i)).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {n} documents ({kib} KiB attachment) in {secs:.2} s: {:.1} documents/s, {:.1} ms each (sequential, SQLite, fsync on)",
        n as f64 / secs,
        secs * 1000.0 / n as f64
    );
}
