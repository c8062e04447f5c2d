//! Restart time: how long `Ledger::open` takes on a log of 10,000 and of 100,000 realistic
//! records, from the state persisted by the closing checkpoint (the normal restart) and, for
//! comparison, without it (`state.bin` removed: the rebuild that reads every frame). Plain
//! `Instant` timing, best of a few opens; prints the figures.
//!
//!     cargo bench -p korpu-ledger --bench open
//!
//! `KORPU_BENCH_DIR` picks the directory (default: a temporary one under the system temp dir).
//!
//! Measured on the 2-core development VM while five other builds ran (so ±2×): 10,000 entries
//! open in 428 ms from the state (0 frames read) and 206 ms rebuilding; 100,000 entries in
//! 283 ms from the state (0 frames read) and 3,285 ms rebuilding. From the state the cost does
//! not grow with the log; what remains is mostly reading the unused rest of the current
//! 64 MiB segment to make sure it is zero.
use std::path::Path;
use std::time::{Duration, Instant};

use korpu_ledger::{Ledger, LedgerConfig, NoteSigner};

#[path = "../tests/common/mod.rs"]
mod common;

const ORIGIN: &str = "bench.korpu.test/open";
const OPENS: usize = 3;
const APPENDERS: u64 = 64;

fn config(dir: &Path) -> LedgerConfig {
    let mut cfg = common::quiet_config(dir, ORIGIN, 64 << 20);
    cfg.max_batch_delay = Duration::from_micros(200);
    cfg
}

/// Appends `n` records with concurrent appenders and closes (a final checkpoint and state).
async fn fill(dir: &Path, signer: &NoteSigner, n: u64) {
    let ledger = Ledger::open(config(dir), signer.clone())
        .await
        .expect("open");
    common::append_concurrently(&ledger, n, APPENDERS).await;
    ledger.close().await.expect("close");
}

/// Best of [`OPENS`] opens (each followed by a close); with `rebuild`, each without the state.
async fn time_open(dir: &Path, signer: &NoteSigner, rebuild: bool) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut scanned = 0;
    for _ in 0..OPENS {
        if rebuild {
            std::fs::remove_file(dir.join("state.bin")).expect("a state to remove");
        }
        let t = Instant::now();
        let ledger = Ledger::open(config(dir), signer.clone())
            .await
            .expect("open");
        best = best.min(t.elapsed());
        scanned = ledger.recovery_report().frames_scanned;
        ledger.close().await.expect("close");
    }
    (best, scanned)
}

fn main() {
    let rt = common::bench_runtime();
    rt.block_on(async {
        for n in [10_000u64, 100_000] {
            let dir = common::bench_dir();
            let signer = common::signer(ORIGIN);
            fill(dir.path(), &signer, n).await;
            let (fast, fast_scanned) = time_open(dir.path(), &signer, false).await;
            let (slow, slow_scanned) = time_open(dir.path(), &signer, true).await;
            println!(
                "open of {n} entries: from the state {:.1} ms ({fast_scanned} frames read), \
                 rebuilding {:.1} ms ({slow_scanned} frames read)",
                fast.as_secs_f64() * 1e3,
                slow.as_secs_f64() * 1e3,
            );
        }
    });
}
