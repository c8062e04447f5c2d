//! Documents sent per second between two document exchange servers in one process, on SQLite:
//! each send builds and signs an ASiC-E container, stores it (fsynced blobs, committed rows),
//! crosses a loopback relay standing in for the gateway pair, is validated, stored and
//! answered with a signed receipt that the sender verifies and stores. The gateways' own cost
//! (mTLS, their signatures, the ledger) is not in this figure.
//!
//! `cargo bench -p korpu-docs --bench send` (`DOCS_BENCH_N`, default 200; `DOCS_BENCH_KIB`,
//! the attachment size, default 10).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use korpu_docs::exchange::Attachment;
use korpu_docs::{Exchange, SendRequest};

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
    let ca = common::ca();
    let (gw, routes) = common::spawn_relay().await;
    let mut dirs = Vec::new();
    let mut exs = Vec::new();
    for sub in ["AZ/GOV/1400001/docs", "AZ/GOV/1400002/docs"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ca.org_files(sub, dir.path(), gw);
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
