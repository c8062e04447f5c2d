//! The durable ledger end to end: concurrent group-committed appends, reopen, proofs against
//! checkpoints, torn-write recovery, tampering, SIGKILL durability, and time-stamped checkpoints
//! judged by `openssl ts -verify`.
//!
//! The openssl test fails (it does not skip) when openssl is missing: interop is part of the
//! contract. Set `OPENSSL` to use a binary other than `/usr/bin/openssl`.
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use korpu_ledger::merkle::{verify_consistency, verify_inclusion};
use korpu_ledger::timestamp::{LocalTsa, Timestamper, TsaClient};
use korpu_ledger::{
    verify_note, Checkpoint, Ledger, LedgerConfig, LedgerError, NoteSigner, SignedCheckpoint,
};
use korpu_pki::cert::Certificate;
use korpu_pki::tsa::Authority;
use sha2::{Digest, Sha256};

mod common;
use common::ExchangeRecord;
use common::Records;

const ORIGIN: &str = "ledger.gw1.korpu.test/v1";

fn rec(message_id: &str) -> ExchangeRecord {
    ExchangeRecord {
        user_id: Some("AZ1234567".into()),
        data_subject: Some("AZ7654321".into()),
        purpose: Some("benefit-eligibility".into()),
        request_digest: hex::encode(Sha256::digest(message_id.as_bytes())),
        request_signature: "MEUCIQDx".into(),
        request_signer_cert_sha256: "ab".repeat(32),
        ..common::record(message_id, 1_700_000_000_000)
    }
}

/// No checkpoints unless a test asks for them.
fn config(dir: &Path) -> LedgerConfig {
    // Small segments: every open zero-fills one, and rolling over gets exercised.
    common::quiet_config(dir, ORIGIN, 1 << 20)
}

fn signer() -> NoteSigner {
    common::signer(ORIGIN)
}

async fn check_inclusion(ledger: &Ledger, index: u64, cp: &Checkpoint) {
    let record = ledger.record(index).await.unwrap();
    let proof = ledger.inclusion_proof(index, cp.size).await.unwrap();
    verify_inclusion(index, cp.size, &record.leaf_hash(), &proof, &cp.root)
        .unwrap_or_else(|e| panic!("entry {index} in tree {}: {e}", cp.size));
}

async fn check_consistency(ledger: &Ledger, old: &Checkpoint, new: &Checkpoint) {
    if old.size == 0 {
        return;
    }
    let proof = ledger.consistency_proof(old.size, new.size).await.unwrap();
    verify_consistency(old.size, new.size, &old.root, &new.root, &proof)
        .unwrap_or_else(|e| panic!("tree {} -> {}: {e}", old.size, new.size));
}

/// `tasks` appenders, each appending `each` records named by `id` one after the other; each
/// task answers the (index, message id) pairs it was acknowledged.
fn concurrent_appends(
    ledger: &Ledger,
    tasks: usize,
    each: usize,
    id: fn(usize, usize) -> String,
) -> Vec<tokio::task::JoinHandle<Vec<(u64, String)>>> {
    (0..tasks)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..each {
                    let id = id(t, i);
                    got.push((ledger.append(common::entry(&rec(&id))).await.unwrap(), id));
                }
                got
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_reopen_and_prove() {
    let dir = tempfile::tempdir().unwrap();
    let s = signer();
    let ledger = Ledger::open(config(dir.path()), s.clone()).await.unwrap();
    let mut by_index: HashMap<u64, String> = HashMap::new();
    for t in concurrent_appends(&ledger, 50, 200, |t, i| format!("msg-{t}-{i}")) {
        for (index, id) in t.await.unwrap() {
            assert!(
                by_index.insert(index, id).is_none(),
                "index {index} given twice"
            );
        }
    }
    assert_eq!(by_index.len(), 10_000);
    assert!(by_index.keys().all(|&i| i < 10_000));
    assert_eq!(ledger.size(), 10_000);

    let first = ledger.checkpoint().await.unwrap();
    assert_eq!(first.checkpoint.size, 10_000);
    // Nothing new: the same checkpoint comes back rather than a duplicate.
    assert_eq!(ledger.checkpoint().await.unwrap(), first);
    for i in 0..1000 {
        let id = format!("late-{i}");
        let index = ledger.append(common::entry(&rec(&id))).await.unwrap();
        by_index.insert(index, id);
    }
    let second = ledger.checkpoint().await.unwrap();
    assert_eq!(second.checkpoint.size, 11_000);
    ledger.close().await.unwrap();

    let ledger = Ledger::open(config(dir.path()), s.clone()).await.unwrap();
    assert_eq!(ledger.size(), 11_000);
    assert_eq!(ledger.recovery_report().entry_bytes_truncated, 0);
    assert_eq!(ledger.recovery_report().leaf_hashes_rewritten, 0);
    for (&index, id) in &by_index {
        assert_eq!(
            &ledger.record(index).await.unwrap(),
            &rec(id),
            "entry {index}"
        );
    }
    assert_eq!(ledger.find("msg-7-123").await.unwrap().len(), 1);
    assert!(ledger.find("no-such-message").await.unwrap().is_empty());

    let latest = ledger.latest_checkpoint().unwrap();
    assert_eq!(latest, second);
    let body = verify_note(&latest.note, &[ledger.verifier()]).unwrap();
    assert_eq!(Checkpoint::parse_body(&body).unwrap(), latest.checkpoint);
    for index in (0..11_000)
        .step_by(97)
        .chain([0, 255, 256, 9_999, 10_000, 10_999])
    {
        check_inclusion(&ledger, index, &latest.checkpoint).await;
        if index < first.checkpoint.size {
            check_inclusion(&ledger, index, &first.checkpoint).await;
        }
    }
    check_consistency(&ledger, &first.checkpoint, &second.checkpoint).await;
    let all = ledger.checkpoints().await.unwrap();
    assert_eq!(all, vec![first, second]);

    // Requests that make no sense are refused with the reason.
    assert!(matches!(
        ledger.record(11_000).await,
        Err(LedgerError::NoSuchEntry { .. })
    ));
    assert!(ledger.inclusion_proof(5, 5).await.is_err());
    assert!(matches!(
        ledger.inclusion_proof(5, 11_001).await,
        Err(LedgerError::BeyondTree { .. })
    ));
    assert!(ledger.consistency_proof(0, 10).await.is_err());
    assert!(ledger.consistency_proof(10, 9).await.is_err());
    ledger.close().await.unwrap();
}

#[tokio::test]
async fn duplicate_message_ids_are_all_found() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    let a = ledger.append(common::entry(&rec("same"))).await.unwrap();
    ledger.append(common::entry(&rec("other"))).await.unwrap();
    let mut provider_side = rec("same");
    provider_side.role = common::Role::Provider;
    let b = ledger.append(common::entry(&provider_side)).await.unwrap();
    assert_eq!(ledger.find("same").await.unwrap(), vec![a, b]);
    ledger.close().await.unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.find("same").await.unwrap(), vec![a, b]);
}

#[tokio::test]
async fn an_announced_append_joins_the_commit_of_those_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_batch_delay = Duration::from_secs(5);
    let ledger = Ledger::open(cfg, signer()).await.unwrap();
    let before = ledger.stats().commits;
    // Announced, then an append arrives: the writer waits for the announced one.
    let announced = ledger.announce();
    let first = tokio::spawn({
        let ledger = ledger.clone();
        async move { ledger.append(common::entry(&rec("first"))).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !first.is_finished(),
        "the commit did not wait for the announced append"
    );
    let second = ledger
        .append_announced(announced, common::entry(&rec("second")))
        .await
        .unwrap();
    assert_eq!((first.await.unwrap(), second), (0, 1));
    assert_eq!(ledger.stats().commits - before, 1, "{:?}", ledger.stats());

    // An announcement dropped unused holds nothing back.
    drop(ledger.announce());
    let started = std::time::Instant::now();
    ledger.append(common::entry(&rec("third"))).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn close_refuses_later_appends_and_checkpoints_everything() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    let other = ledger.clone();
    for i in 0..10 {
        ledger
            .append(common::entry(&rec(&format!("m{i}"))))
            .await
            .unwrap();
    }
    ledger.close().await.unwrap();
    assert!(matches!(
        other.append(common::entry(&rec("late"))).await,
        Err(LedgerError::Closed)
    ));
    assert_eq!(other.latest_checkpoint().unwrap().checkpoint.size, 10);
}

#[tokio::test]
async fn checkpoints_follow_count_and_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_every = 100;
    let ledger = Ledger::open(cfg, signer()).await.unwrap();
    for i in 0..250 {
        ledger
            .append(common::entry(&rec(&format!("c{i}"))))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.latest_checkpoint().map_or(0, |c| c.checkpoint.size) < 200 {
        assert!(Instant::now() < deadline, "no checkpoint after 100 entries");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ledger.close().await.unwrap();

    let mut cfg = config(dir.path());
    cfg.checkpoint_interval = Duration::from_millis(50);
    let ledger = Ledger::open(cfg, signer()).await.unwrap();
    ledger.append(common::entry(&rec("tick"))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.latest_checkpoint().map_or(0, |c| c.checkpoint.size) < 251 {
        assert!(
            Instant::now() < deadline,
            "no checkpoint after the interval"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = ledger.checkpoints().await.unwrap();
    for pair in all.windows(2) {
        check_consistency(&ledger, &pair[0].checkpoint, &pair[1].checkpoint).await;
    }
}

#[tokio::test]
async fn origin_and_key_name_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let other = NoteSigner::generate("someone.else/log").unwrap();
    assert!(matches!(
        Ledger::open(config(dir.path()), other).await,
        Err(LedgerError::InvalidKey(_))
    ));
    // A directory written under one origin is not reopened under another.
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    ledger.append(common::entry(&rec("x"))).await.unwrap();
    ledger.close().await.unwrap();
    let mut cfg = config(dir.path());
    cfg.origin = "ledger.gw2.korpu.test/v1".into();
    let s2 = NoteSigner::generate("ledger.gw2.korpu.test/v1").unwrap();
    assert!(matches!(
        Ledger::open(cfg, s2).await,
        Err(LedgerError::WrongOrigin { .. })
    ));
}

fn segment(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("entries.{n:06}.log"))
}

/// (offset, length) of each frame in a segment file, read with the documented frame format
/// (`len: u32 LE | index: u64 LE | record | 32-byte leaf hash`) up to the zero padding.
fn frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 || pos + 12 + len + 32 > bytes.len() {
            break;
        }
        out.push((pos, 12 + len + 32));
        pos += 12 + len + 32;
    }
    out
}

fn write_at(p: &Path, offset: usize, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .write_all_at(bytes, offset as u64)
        .unwrap();
}

fn append_bytes(p: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .append(true)
        .open(p)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn all_zero_from(p: &Path, offset: usize) -> bool {
    fs::read(p).unwrap()[offset..].iter().all(|&b| b == 0)
}

/// Appends `n` records named `{prefix}{i}`.
async fn fill(ledger: &Ledger, prefix: &str, n: usize) {
    for i in 0..n {
        ledger
            .append(common::entry(&rec(&format!("{prefix}{i}"))))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn torn_tail_is_cut_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let seg0 = segment(dir.path(), 0);
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    fill(&ledger, "a", 100).await;
    let cp1 = ledger.checkpoint().await.unwrap();
    fill(&ledger, "b", 50).await;
    let cp2 = ledger.checkpoint().await.unwrap();
    fill(&ledger, "c", 20).await;
    // A crash: no close, no final checkpoint.
    common::crash(ledger).await;

    // The last write was torn: the second half of the last frame never reached the disk.
    let all = frames(&seg0);
    assert_eq!(all.len(), 170);
    let (start, len) = all[169];
    write_at(&seg0, start + len / 2, &vec![0; len - len / 2]);

    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.size(), 169);
    assert_eq!(ledger.recovery_report().entries, 169);
    assert_eq!(
        ledger.recovery_report().entry_bytes_truncated,
        (len / 2) as u64
    );
    assert!(all_zero_from(&seg0, start), "the torn frame is zeroed");
    assert_eq!(ledger.record(168).await.unwrap(), rec("c18"));
    assert!(ledger.find("c19").await.unwrap().is_empty());
    assert!(matches!(
        ledger.record(169).await,
        Err(LedgerError::NoSuchEntry { .. })
    ));
    // Appends continue with the next index, and the tree extends every earlier checkpoint.
    assert_eq!(ledger.append(common::entry(&rec("d0"))).await.unwrap(), 169);
    let cp3 = ledger.checkpoint().await.unwrap();
    assert_eq!(cp3.checkpoint.size, 170);
    check_consistency(&ledger, &cp1.checkpoint, &cp3.checkpoint).await;
    check_consistency(&ledger, &cp2.checkpoint, &cp3.checkpoint).await;
    check_inclusion(&ledger, 169, &cp3.checkpoint).await;
    check_inclusion(&ledger, 42, &cp1.checkpoint).await;
    ledger.close().await.unwrap();

    // Garbage after the last complete frame (pages of a write that never completed), and a
    // torn checkpoint frame.
    let checkpoints = dir.path().join("checkpoints.log");
    let end = frames(&seg0).last().map(|(o, l)| o + l).unwrap();
    write_at(&seg0, end, &[0xA5; 100]);
    let cps_len = fs::metadata(&checkpoints).unwrap().len();
    append_bytes(&checkpoints, &[0x10, 0, 0, 0, 1, 2, 3]);
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.size(), 170);
    assert_eq!(ledger.recovery_report().entry_bytes_truncated, 100);
    assert_eq!(ledger.recovery_report().checkpoint_bytes_truncated, 7);
    assert!(all_zero_from(&seg0, end));
    assert_eq!(fs::metadata(&checkpoints).unwrap().len(), cps_len);
    assert_eq!(ledger.checkpoints().await.unwrap().len(), 3);
    assert_eq!(ledger.append(common::entry(&rec("e0"))).await.unwrap(), 170);
    common::crash(ledger).await;

    // A file system that lost the end of the file after a crash: the segment is now shorter
    // than it was, ending inside the last (never checkpointed) frame.
    let end = frames(&seg0).last().map(|(o, l)| o + l).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&seg0)
        .unwrap()
        .set_len(end as u64 - 5)
        .unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.size(), 170);
    assert_eq!(
        ledger
            .append(common::entry(&rec("e0-again")))
            .await
            .unwrap(),
        170
    );
    ledger.close().await.unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.record(170).await.unwrap(), rec("e0-again"));
    assert_eq!(ledger.recovery_report().entry_bytes_truncated, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_segments_roll_over_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 16 * 1024;
    let ledger = Ledger::open(cfg.clone(), signer()).await.unwrap();
    let mut acked = Vec::new();
    for t in concurrent_appends(&ledger, 20, 100, |t, i| format!("s{t}-{i}")) {
        acked.extend(t.await.unwrap());
    }
    let cp1 = ledger.checkpoint().await.unwrap();
    let stats = ledger.stats();
    assert_eq!(stats.appends, 2000);
    assert!(stats.segments >= 60, "{stats:?}");
    assert!(stats.commits < 2000, "no group commit happened: {stats:?}");
    // 2000 appends over some hundred fdatasyncs: the writer's time on them is counted.
    assert!(stats.commit_micros > 0, "{stats:?}");
    fill(&ledger, "tail", 30).await;
    common::crash(ledger).await;

    // Tear the last frame of the last segment with data, and leave garbage in the next one.
    let mut last = 0;
    while segment(dir.path(), last + 1).exists()
        && !frames(&segment(dir.path(), last + 1)).is_empty()
    {
        last += 1;
    }
    let seg = segment(dir.path(), last);
    let (start, len) = *frames(&seg).last().unwrap();
    write_at(&seg, start + 20, &[0xFF; 8]);
    let next = segment(dir.path(), last + 1);
    if next.exists() {
        write_at(&next, 4000, b"stale");
    }

    let ledger = Ledger::open(cfg.clone(), signer()).await.unwrap();
    assert_eq!(ledger.size(), 2029);
    assert!(ledger.recovery_report().entry_bytes_truncated >= len as u64);
    for (index, id) in &acked {
        assert_eq!(&ledger.record(*index).await.unwrap().message_id, id);
    }
    assert_eq!(ledger.record(2028).await.unwrap(), rec("tail28"));
    fill(&ledger, "more", 100).await;
    let cp2 = ledger.checkpoint().await.unwrap();
    check_consistency(&ledger, &cp1.checkpoint, &cp2.checkpoint).await;
    for i in (0..2129).step_by(37) {
        check_inclusion(&ledger, i, &cp2.checkpoint).await;
    }
    // A record that cannot fit in one segment is refused up front.
    let mut huge = rec("huge");
    huge.error = Some("x".repeat(20_000));
    assert!(matches!(
        ledger.append(common::entry(&huge)).await,
        Err(LedgerError::RecordTooLarge { .. })
    ));
    ledger.close().await.unwrap();
    let ledger = Ledger::open(cfg, signer()).await.unwrap();
    assert_eq!(ledger.size(), 2129);
    assert_eq!(ledger.recovery_report().entry_bytes_truncated, 0);
}

#[tokio::test]
async fn leaf_file_is_rebuilt_from_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    fill(&ledger, "l", 700).await;
    ledger.close().await.unwrap();
    let leaves = dir.path().join("leaves.bin");

    // Lost entirely.
    fs::remove_file(&leaves).unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.recovery_report().leaf_hashes_rewritten, 700);
    let cp = ledger.latest_checkpoint().unwrap().checkpoint;
    check_inclusion(&ledger, 3, &cp).await;
    ledger.close().await.unwrap();

    // Damaged in the middle and short at the end.
    let mut bytes = fs::read(&leaves).unwrap();
    bytes[300 * 32] ^= 1;
    bytes.truncate(650 * 32);
    fs::write(&leaves, &bytes).unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(ledger.recovery_report().leaf_hashes_rewritten, 400);
    for i in [0, 299, 300, 301, 699] {
        check_inclusion(&ledger, i, &cp).await;
    }
}

/// A writable open without the persisted state, which checks every frame (with it, open skips
/// the frames the state's checkpoint covers: they were checked when it was written).
async fn open_checking_every_frame(cfg: &LedgerConfig) -> Result<Ledger, LedgerError> {
    let _ = fs::remove_file(cfg.dir.join("state.bin"));
    Ledger::open(cfg.clone(), signer()).await
}

#[tokio::test]
async fn damage_to_checkpointed_entries_is_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let seg0 = segment(dir.path(), 0);
    let mut cfg = config(dir.path());
    cfg.segment_bytes = 64 * 1024;
    let ledger = Ledger::open(cfg.clone(), signer()).await.unwrap();
    fill(&ledger, "t", 10).await;
    ledger.close().await.unwrap();
    let good = fs::read(&seg0).unwrap();
    let all = frames(&seg0);
    let (start9, len9) = all[9];

    // One byte of entry 3's record changed.
    let mut bad = good.clone();
    bad[all[3].0 + 40] ^= 0x20;
    fs::write(&seg0, &bad).unwrap();
    let err = open_checking_every_frame(&cfg).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "entry 3 in entries.000000.log fails its checksum"
    );
    // The readers' open (what `korpu ledger` uses) checks every frame too.
    let err = Ledger::open_read_only(cfg.clone(), signer().verifier())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "entry 3 in entries.000000.log fails its checksum"
    );
    assert_eq!(fs::read(&seg0).unwrap(), bad, "nothing was cut or zeroed");

    // The last, checkpointed entry damaged at its end.
    let mut bad = good.clone();
    bad[start9 + len9 - 10..start9 + len9].fill(0);
    fs::write(&seg0, &bad).unwrap();
    let err = open_checking_every_frame(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("entry 9"), "{err}");

    // A whole checkpointed entry gone.
    let mut bad = good.clone();
    bad[start9..start9 + len9].fill(0);
    fs::write(&seg0, &bad).unwrap();
    let err = open_checking_every_frame(&cfg).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::InconsistentCheckpoint { .. }),
        "{err}"
    );

    // Entries rewritten consistently (a different record in a correct frame): the tree no
    // longer matches the signed checkpoint.
    let mut forged = good[..start9].to_vec();
    let payload = rec("t9-forged").leaf_bytes();
    forged.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    forged.extend_from_slice(&9u64.to_le_bytes());
    forged.extend_from_slice(&payload);
    forged.extend_from_slice(&korpu_ledger::merkle::leaf_hash(&payload));
    forged.resize(good.len(), 0);
    fs::write(&seg0, &forged).unwrap();
    let err = open_checking_every_frame(&cfg).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not match the tree rebuilt from the entry segments"),
        "{err}"
    );

    // A segment missing from the middle of the log.
    fs::write(&seg0, &good).unwrap();
    let _ = fs::remove_file(segment(dir.path(), 1));
    fs::write(segment(dir.path(), 2), vec![0u8; 64 * 1024]).unwrap();
    let err = open_checking_every_frame(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("entries.000001.log"), "{err}");
    fs::remove_file(segment(dir.path(), 2)).unwrap();

    let ledger = open_checking_every_frame(&cfg).await.unwrap();
    assert_eq!(ledger.size(), 10);
}

const KILL9_ENV: &str = "KORPU_LEDGER_KILL9_DIR";

/// Not a test on its own: the child process of `acknowledged_appends_survive_kill_9`, which
/// appends as fast as it can and prints every acknowledged index. Does nothing without the
/// environment variable.
#[test]
fn kill9_helper() {
    let Some(dir) = std::env::var_os(KILL9_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut cfg = config(Path::new(&dir));
        // Checkpoints while appending, so the kill can also tear a checkpoint write.
        cfg.checkpoint_every = 500;
        let ledger = Ledger::open(cfg, signer()).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..32 {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let id = format!("k{t}-{i}");
                    let index = ledger.append(common::entry(&rec(&id))).await.unwrap();
                    println!("ack {index} {id}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9_helper", "--nocapture", "--test-threads=1"])
        .env(KILL9_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(u64, String)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some((index, id)) = line
                .strip_prefix("ack ")
                .and_then(|rest| rest.split_once(' '))
            {
                let _ = tx.send((index.parse().unwrap(), id.to_string()));
            }
        }
    });
    let mut acked = Vec::new();
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(first) => acked.push(first),
        Err(_) => {
            let _ = child.kill();
            panic!("the helper acknowledged nothing within 60 s");
        }
    }
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Ok(a) = rx.recv_timeout(Duration::from_millis(10)) {
            acked.push(a);
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    acked.extend(rx.try_iter());
    assert!(
        acked.len() > 100,
        "only {} appends acknowledged in a second",
        acked.len()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
        let max = acked.iter().map(|a| a.0).max().unwrap();
        assert!(
            ledger.size() > max,
            "{} entries, acknowledged up to {max}",
            ledger.size()
        );
        let mut seen = HashSet::new();
        for (index, id) in &acked {
            assert!(seen.insert(*index), "index {index} acknowledged twice");
            assert_eq!(&ledger.record(*index).await.unwrap().message_id, id);
        }
        // Every checkpoint the child stored is extended by the recovered tree.
        let now = ledger.checkpoint().await.unwrap();
        for cp in ledger.checkpoints().await.unwrap() {
            check_consistency(&ledger, &cp.checkpoint, &now.checkpoint).await;
        }
        eprintln!(
            "kill -9: {} acknowledged, {} recovered, {} torn bytes cut",
            acked.len(),
            ledger.size(),
            ledger.recovery_report().entry_bytes_truncated
        );
    });
}

// ---- time-stamps ----------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    root: Certificate,
    tsa: Authority,
}

/// root → issuing CA → TSA, with root.pem and issuing.pem written for openssl.
fn make_pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let common::TestPki { root, issuing, tsa } = common::tsa_pki(true);
    let issuing = issuing.expect("asked for an issuing CA");
    fs::write(dir.path().join("root.pem"), root.to_pem()).unwrap();
    fs::write(dir.path().join("issuing.pem"), issuing.to_pem()).unwrap();
    Pki { dir, root, tsa }
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let bin = std::env::var_os("OPENSSL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/openssl"));
    let out = Command::new(&bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); this test requires openssl",
                bin.display()
            )
        });
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn checkpoint_time_stamps_verify_with_openssl() {
    let pki = make_pki();
    let d = pki.dir.path();
    let ledger_dir = tempfile::tempdir().unwrap();
    let tsa = LocalTsa::new(pki.tsa.clone(), vec![pki.root.clone()]);
    let ledger = Ledger::open_with_timestamper(config(ledger_dir.path()), signer(), tsa)
        .await
        .unwrap();
    fill(&ledger, "ts", 5).await;
    let cp: SignedCheckpoint = ledger.checkpoint().await.unwrap();
    let reply = cp
        .timestamp
        .clone()
        .expect("the checkpoint is time-stamped");
    fs::write(d.join("reply.tsr"), &reply).unwrap();
    fs::write(d.join("checkpoint.note"), &cp.note).unwrap();
    let digest = hex::encode(Sha256::digest(cp.note.as_bytes()));

    let verify = |digest: &str| {
        openssl(
            d,
            &[
                "ts",
                "-verify",
                "-in",
                "reply.tsr",
                "-digest",
                digest,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
            ],
        )
    };
    let (ok, out) = verify(&digest);
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // openssl hashes the note file itself to the same imprint.
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-in",
            "reply.tsr",
            "-data",
            "checkpoint.note",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // A different note does not match the stamp.
    let other = hex::encode(Sha256::digest(cp.note.replace('\n', " ").as_bytes()));
    let (ok, out) = verify(&other);
    assert!(!ok && !out.contains("Verification: OK"), "{out}");

    // Stored and read back with the checkpoint.
    ledger.close().await.unwrap();
    let ledger = Ledger::open(config(ledger_dir.path()), signer())
        .await
        .unwrap();
    let stored = ledger.checkpoints().await.unwrap();
    assert_eq!(stored[0].timestamp.as_deref(), Some(&reply[..]));
    let trust = [pki.root.clone()];
    korpu_pki::tsa::verify_response(
        &reply,
        &Sha256::digest(stored[0].note.as_bytes()).into(),
        None,
        &trust,
    )
    .unwrap();
}

/// A minimal HTTP/1.1 TSA endpoint: answers each POST with what `answer` makes of its body.
async fn serve_tsa(
    answer: impl Fn(&[u8]) -> (u16, &'static str, Vec<u8>) + Send + Sync + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (p + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let (status, mime, body) = answer(&buf[head_end..head_end + len]);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {mime}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/tsa")
}

#[tokio::test]
async fn tsa_client_over_http() {
    let pki = make_pki();
    let authority = pki.tsa.clone();
    let url = serve_tsa(move |req| {
        (
            200,
            "application/timestamp-reply",
            authority.respond(req, SystemTime::now(), 7),
        )
    })
    .await;
    let client = TsaClient::new(&url, vec![pki.root.clone()], Duration::from_secs(10)).unwrap();
    let digest = [0x42u8; 32];
    let reply = client.timestamp(&digest).await.unwrap();
    korpu_pki::tsa::verify_response(&reply, &digest, None, std::slice::from_ref(&pki.root))
        .unwrap();

    // Anchored elsewhere: the reply does not verify and is not used.
    let stranger = make_pki();
    let client =
        TsaClient::new(&url, vec![stranger.root.clone()], Duration::from_secs(10)).unwrap();
    assert!(matches!(
        client.timestamp(&digest).await,
        Err(LedgerError::Timestamp(_))
    ));

    // A reply for another request (replayed): refused.
    let old_reply = reply.clone();
    let url = serve_tsa(move |_| (200, "application/timestamp-reply", old_reply.clone())).await;
    let client = TsaClient::new(&url, vec![pki.root.clone()], Duration::from_secs(10)).unwrap();
    assert!(client.timestamp(&[0x43u8; 32]).await.is_err());
    assert!(
        client.timestamp(&digest).await.is_err(),
        "the nonce differs"
    );

    // Wrong type or status.
    let url = serve_tsa(|_| (200, "text/html", b"<html>".to_vec())).await;
    let client = TsaClient::new(&url, vec![pki.root.clone()], Duration::from_secs(10)).unwrap();
    assert!(client.timestamp(&digest).await.is_err());
    let url = serve_tsa(|_| (503, "application/timestamp-reply", Vec::new())).await;
    let client = TsaClient::new(&url, vec![pki.root.clone()], Duration::from_secs(10)).unwrap();
    assert!(client.timestamp(&digest).await.is_err());

    // A TSA that is down does not stop checkpoints; they go out without a stamp.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", l.local_addr().unwrap())
    };
    let client = TsaClient::new(down, vec![pki.root.clone()], Duration::from_secs(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_with_timestamper(config(dir.path()), signer(), client)
        .await
        .unwrap();
    ledger.append(common::entry(&rec("x"))).await.unwrap();
    let cp = ledger.checkpoint().await.unwrap();
    assert_eq!(cp.checkpoint.size, 1);
    assert!(cp.timestamp.is_none());
}

/// Every file in `dir` with its bytes, for byte-for-byte comparison.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn a_second_writer_is_refused_naming_the_holder_and_admitted_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(config(dir.path()), signer()).await.unwrap();
    fill(&ledger, "a", 3).await;
    let second = Ledger::open(config(dir.path()), signer())
        .await
        .unwrap_err();
    assert!(matches!(second, LedgerError::InUse { .. }), "{second}");
    let text = second.to_string();
    assert!(
        text.contains(&format!("in use by pid {}", std::process::id())),
        "{text}"
    );
    // The refused open changed nothing: the first writer goes on.
    fill(&ledger, "b", 2).await;
    ledger.close().await.unwrap();
    let again = Ledger::open(config(dir.path()), signer()).await.unwrap();
    assert_eq!(again.size(), 5);
    again.close().await.unwrap();
}

async fn open_read_only(dir: &Path, key: &NoteSigner) -> Ledger {
    Ledger::open_read_only(config(dir), key.verifier())
        .await
        .unwrap()
}

#[tokio::test]
async fn read_only_open_of_a_torn_ledger_leaves_every_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let seg0 = segment(dir.path(), 0);
    let key = signer();
    let ledger = Ledger::open(config(dir.path()), key.clone()).await.unwrap();
    fill(&ledger, "a", 40).await;
    let cp = ledger.checkpoint().await.unwrap();
    fill(&ledger, "b", 10).await;
    common::crash(ledger).await;
    // A torn last frame, stale bytes after it, a torn checkpoint frame, a stale leaves.bin
    // and a segment preparation that never finished: all things a writable open repairs.
    let all = frames(&seg0);
    let (start, len) = all[49];
    write_at(&seg0, start + len / 2, &vec![0; len - len / 2]);
    write_at(&seg0, start + len + 10, &[0xA5; 30]);
    append_bytes(&dir.path().join("checkpoints.log"), &[0x10, 0, 0, 0, 1, 2]);
    append_bytes(&dir.path().join("leaves.bin"), &[9; 32]);
    fs::write(dir.path().join("entries.000007.log.tmp"), b"half").unwrap();
    let before = snapshot(dir.path());

    let ro = open_read_only(dir.path(), &key).await;
    assert_eq!(ro.size(), 49);
    assert_eq!(ro.record(48).await.unwrap(), rec("b8"));
    assert_eq!(ro.latest_checkpoint().unwrap().checkpoint, cp.checkpoint);
    check_inclusion(&ro, 17, &cp.checkpoint).await;
    assert_eq!(ro.find("a3").await.unwrap().len(), 1);
    assert!(matches!(
        ro.append(common::entry(&rec("x"))).await,
        Err(LedgerError::ReadOnly(_))
    ));
    assert!(matches!(
        ro.checkpoint().await,
        Err(LedgerError::ReadOnly(_))
    ));
    ro.close().await.unwrap();
    assert!(
        snapshot(dir.path()) == before,
        "a read-only open changed the ledger's files"
    );
    // A writable open repairs the same state (so the check above would catch a repair).
    let ledger = Ledger::open(config(dir.path()), key).await.unwrap();
    assert!(ledger.recovery_report().entry_bytes_truncated > 0);
    ledger.close().await.unwrap();
    assert!(snapshot(dir.path()) != before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_open_beside_a_running_writer_sees_what_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let key = signer();
    let writer = Ledger::open(config(dir.path()), key.clone()).await.unwrap();
    fill(&writer, "a", 30).await;
    let cp = writer.checkpoint().await.unwrap();
    fill(&writer, "b", 5).await;
    let ro = open_read_only(dir.path(), &key).await;
    assert_eq!(ro.size(), 35);
    assert_eq!(ro.record(34).await.unwrap(), rec("b4"));
    assert_eq!(ro.latest_checkpoint().unwrap().checkpoint, cp.checkpoint);
    check_inclusion(&ro, 29, &cp.checkpoint).await;
    assert_eq!(ro.verifier().to_string(), key.verifier().to_string());
    ro.close().await.unwrap();
    // The writer is undisturbed, and its lock still holds.
    fill(&writer, "c", 5).await;
    assert!(matches!(
        Ledger::open(config(dir.path()), signer()).await,
        Err(LedgerError::InUse { .. })
    ));
    writer.close().await.unwrap();
}

#[tokio::test]
async fn ledger_files_are_created_owner_only_and_wider_ones_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ledger_dir = dir.path().join("ledger");
    let cfg = || {
        let mut c = config(dir.path());
        c.dir = ledger_dir.clone();
        c
    };
    let ledger = Ledger::open(cfg(), signer()).await.unwrap();
    fill(&ledger, "a", 3).await;
    ledger.checkpoint().await.unwrap();
    ledger.close().await.unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ledger_dir), 0o700);
    for (name, _) in snapshot(&ledger_dir) {
        assert_eq!(mode(&ledger_dir.join(&name)), 0o600, "{name}");
    }
    let open = || Ledger::open(cfg(), signer());
    for name in ["checkpoints.log", "leaves.bin", "entries.000000.log"] {
        let path = ledger_dir.join(name);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = open().await.unwrap_err().to_string();
        assert!(
            e.contains(&format!("chmod 600 {}", path.display())),
            "{name}: {e}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::set_permissions(&ledger_dir, fs::Permissions::from_mode(0o750)).unwrap();
    let e = open().await.unwrap_err().to_string();
    assert!(e.contains("chmod 700"), "{e}");
    fs::set_permissions(&ledger_dir, fs::Permissions::from_mode(0o700)).unwrap();
    open().await.unwrap().close().await.unwrap();
}
