//! Offline archive verification throughput (MB/s of archive): a ledger fills and seals one
//! default-sized (64 MiB) segment with realistic records, archives it to a local directory,
//! and `verify_archive` checks the archive several times (framing, every leaf hash, the tree
//! recomputed from the frontier, every checkpoint signature and root).
//!
//!     cargo bench -p korpu-ledger --bench verify
//!
//! Measured on the 2-core development VM while other builds ran (load ≈ 5): 67 MB archive of
//! 68,140 records verified in 0.112 s, ≈ 600 MB/s (one thread; SHA-256 of every record is
//! most of it).
//!
//! Checkpoints here carry no RFC 3161 time-stamp: one costs one CMS verification per
//! checkpoint, a few per archive, negligible next to hashing 64 MiB.
use std::time::{Duration, Instant};

use korpu_ledger::{verify_archive, Ledger, LedgerConfig, NoteSigner};

#[path = "../tests/common/mod.rs"]
mod common;

const ORIGIN: &str = "bench.korpu.test/verify";
const ROUNDS: usize = 5;

fn main() {
    let rt = common::bench_runtime();
    let dir = tempfile::tempdir().expect("temporary directory");
    let archive_dir = dir.path().join("archive");
    let signer = NoteSigner::generate(ORIGIN).expect("signer");
    let verifier = signer.verifier();
    let bytes = rt.block_on(async {
        let mut cfg = LedgerConfig::new(dir.path().join("ledger"), ORIGIN);
        cfg.indexer = Some(common::indexer());
        cfg.checkpoint_interval = Duration::from_secs(3600);
        cfg.checkpoint_every = 25_000;
        cfg.archive = Some(archive_dir.to_str().expect("utf-8 path").to_string());
        let segment = cfg.segment_bytes;
        let ledger = Ledger::open(cfg, signer).await.expect("open");
        let frame = common::numbered_record(0).leaf_bytes().len() as u64 + 44;
        let n = segment / frame + 10;
        common::append_concurrently(&ledger, n, 64).await;
        ledger.checkpoint().await.expect("checkpoint");
        let done = ledger.archive_sealed().await.expect("archive");
        ledger.close().await.expect("close");
        println!("appended {n} records; archived segments {done:?}");
        std::fs::read(archive_dir.join(korpu_ledger::ArchiveStore::object_name(0)))
            .expect("archive of segment 0")
    });
    let mb = bytes.len() as f64 / 1e6;
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let report =
            verify_archive(&bytes, std::slice::from_ref(&verifier), &[]).expect("verifies");
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        assert!(report.records > 0);
    }
    println!(
        "verify_archive: {mb:.1} MB archive, best of {ROUNDS}: {:.3} s = {:.0} MB/s",
        best,
        mb / best
    );
}
