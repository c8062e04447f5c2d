//! `GatewayBuilder` owns the evidence ledger's lifetime: it opens the ledger before the
//! gateway, closes it after the drain, and closes it again when the start fails, so the next
//! start finds it free (its writer lock released).

mod common;

use common::*;
use korpu_gateway::gateway::StartError;
use korpu_gateway::record::open_ledger;
use korpu_gateway::GatewayBuilder;

/// A time-stamper for reopening the ledger in a test: none is needed to open it.
struct NoTimestamps;

impl korpu_ledger::Timestamper for NoTimestamps {
    async fn timestamp(&self, _: &[u8; 32]) -> Result<Vec<u8>, korpu_ledger::LedgerError> {
        Err(korpu_ledger::LedgerError::Timestamp(
            "not in this test".into(),
        ))
    }
}

fn on_free_ports(cfg: &mut korpu_gateway::GatewayConfig) {
    cfg.client_listen = "127.0.0.1:0".parse().expect("an address");
    cfg.server_listen = "127.0.0.1:0".parse().expect("an address");
}

#[tokio::test]
async fn the_running_gateway_closes_its_ledger_after_the_drain() {
    let platform = Platform::new();
    let cfg = platform.gateway_config(GATEWAY, on_free_ports);
    let running = GatewayBuilder::new(cfg.clone())
        .start()
        .await
        .expect("the gateway starts without a reachable registry");
    assert!(running.ledger().is_some());
    assert_ne!(running.client_addr.port(), 0);
    running.shutdown().await.expect("the ledger closes");
    // Closed: another writer may open it now.
    let ledger = open_ledger(&cfg, NoTimestamps)
        .await
        .expect("the ledger is free");
    ledger.close().await.expect("closed again");
}

#[tokio::test]
async fn a_failed_start_closes_the_ledger_it_opened() {
    let platform = Platform::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address");
    let cfg = platform.gateway_config(GATEWAY, |c| {
        on_free_ports(c);
        c.server_listen = addr;
    });
    let Err(e) = GatewayBuilder::new(cfg.clone()).start().await else {
        panic!("started on a taken port");
    };
    assert!(
        matches!(e, StartError::Listen { addr: a, .. } if a == addr),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("cannot listen on {addr}: ")),
        "{e}"
    );
    let ledger = open_ledger(&cfg, NoTimestamps)
        .await
        .expect("the ledger was closed after the failed start");
    ledger.close().await.expect("closed again");
}
