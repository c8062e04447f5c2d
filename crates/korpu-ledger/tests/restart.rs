//! Restart from the persisted state: open reads only the frames written after the last
//! state; a missing or damaged state, run, key or derived file makes open rebuild from the
//! segments and answer exactly as before; lookups span several index runs and merges.
use std::fs;
use std::path::Path;

use korpu_ledger::{Ledger, LedgerConfig, NoteSigner, SignedCheckpoint};

mod common;
use common::ExchangeRecord;
use common::Records;

const ORIGIN: &str = "restart.gw1.korpu.test/v1";

/// Every 4th record names nobody; the others cycle through five subjects.
fn rec(i: u64) -> ExchangeRecord {
    ExchangeRecord {
        data_subject: (i % 4 != 3).then(|| format!("AZ{:07}", i % 5)),
        // A few message ids occur twice (a client and a provider side, say).
        ..common::record(
            format!("msg-{}", i - u64::from(i % 97 == 1)),
            1_700_000_000_000 + i,
        )
    }
}

fn config(dir: &Path) -> LedgerConfig {
    // Small segments, so the log spans many; a state at every checkpoint.
    let mut c = common::quiet_config(dir, ORIGIN, 64 * 1024);
    c.state_every = 1;
    c
}

async fn open(dir: &Path, signer: &NoteSigner) -> Ledger {
    Ledger::open(config(dir), signer.clone()).await.unwrap()
}

async fn append_range(ledger: &Ledger, from: u64, to: u64) {
    common::append_all(ledger, (from..to).map(rec)).await;
}

fn run_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index.") && n.ends_with(".run"))
        .collect();
    names.sort();
    names
}

/// What a ledger answers, for comparing two opens of the same log.
#[derive(Debug, PartialEq)]
struct Answers {
    found: Vec<Vec<u64>>,
    subjects: Vec<Vec<u64>>,
    proofs: Vec<Vec<[u8; 32]>>,
    checkpoints: Vec<SignedCheckpoint>,
}

async fn answers(ledger: &Ledger) -> Answers {
    let size = ledger.latest_checkpoint().unwrap().checkpoint.size;
    let mut found = Vec::new();
    for i in [0, 1, 2, 96, 97, 98, 500, size - 1, size + 5] {
        found.push(ledger.find(&format!("msg-{i}")).await.unwrap());
    }
    let mut subjects = Vec::new();
    for s in 0..6 {
        let subject = format!("AZ{s:07}");
        let (mut all, mut cursor) = (Vec::new(), None);
        loop {
            let page = ledger.subject_accesses(&subject, cursor, 50).await.unwrap();
            all.extend(page.found.iter().map(|a| a.index));
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        subjects.push(all);
    }
    let mut proofs = Vec::new();
    for i in [0, 255, 256, size / 2, size - 1] {
        proofs.push(ledger.inclusion_proof(i, size).await.unwrap());
    }
    Answers {
        found,
        subjects,
        proofs,
        checkpoints: ledger.checkpoints().await.unwrap(),
    }
}

/// Subjects' entries below `size`, newest first, as the test's records name them.
fn expected_subject(s: u64, size: u64) -> Vec<u64> {
    (0..size)
        .rev()
        .filter(|i| i % 4 != 3 && i % 5 == s)
        .collect()
}

#[tokio::test]
async fn open_reads_only_the_frames_after_the_persisted_state() {
    let dir = tempfile::tempdir().unwrap();
    let signer = common::signer(ORIGIN);
    let ledger = open(dir.path(), &signer).await;
    append_range(&ledger, 0, 3000).await;
    ledger.checkpoint().await.unwrap();
    append_range(&ledger, 3000, 3007).await;
    ledger.close().await.unwrap();
    assert!(
        fs::read_dir(dir.path()).unwrap().count() > 10,
        "the log spans many segments"
    );

    let ledger = open(dir.path(), &signer).await;
    let report = ledger.recovery_report().clone();
    assert_eq!(report.entries, 3007);
    assert_eq!(
        report.frames_scanned, 0,
        "close persisted the state of all 3007"
    );
    let before = answers(&ledger).await;
    assert_eq!(before.found[0], vec![0, 1]);
    assert_eq!(before.subjects[2], expected_subject(2, 3007));
    // Appends after the state, then a crash (no closing checkpoint).
    append_range(&ledger, 3007, 3012).await;
    common::crash(ledger).await;

    let ledger = open(dir.path(), &signer).await;
    let report = ledger.recovery_report().clone();
    assert_eq!(report.entries, 3012);
    assert_eq!(report.frames_scanned, 5, "only the frames after the state");
    assert_eq!(ledger.record(3011).await.unwrap(), rec(3011));
    assert_eq!(ledger.find("msg-3010").await.unwrap(), vec![3010]);
    assert_eq!(
        answers(&ledger).await,
        before,
        "nothing new is checkpointed yet"
    );
    ledger.checkpoint().await.unwrap();
    assert_eq!(
        answers(&ledger).await.subjects[1],
        expected_subject(1, 3012)
    );
    ledger.close().await.unwrap();
}

/// Damage to one derived file at a time; each open must rebuild (reading every frame) and
/// answer as before, and the open after it starts from the state the rebuild persisted.
#[tokio::test]
async fn a_missing_or_damaged_state_run_or_derived_file_is_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let signer = common::signer(ORIGIN);
    let ledger = open(dir.path(), &signer).await;
    for (from, to) in [(0, 300), (300, 400), (400, 450), (450, 700)] {
        append_range(&ledger, from, to).await;
        ledger.checkpoint().await.unwrap();
    }
    ledger.close().await.unwrap();
    let reference = {
        let ledger = open(dir.path(), &signer).await;
        assert_eq!(ledger.recovery_report().frames_scanned, 0);
        let a = answers(&ledger).await;
        ledger.close().await.unwrap();
        a
    };
    assert_eq!(reference.subjects[4], expected_subject(4, 700));

    type Damage = fn(&Path);
    let damages: [(&str, Damage); 8] = [
        ("state.bin deleted", |d| {
            fs::remove_file(d.join("state.bin")).unwrap()
        }),
        ("state.bin flipped", |d| flip_byte(&d.join("state.bin"), 40)),
        ("a run deleted", |d| {
            fs::remove_file(d.join(&run_files(d)[0])).unwrap()
        }),
        ("a run truncated", |d| {
            let path = d.join(&run_files(d)[0]);
            truncate_to(&path, fs::metadata(&path).unwrap().len() - 16)
        }),
        ("index.key replaced", |d| {
            fs::write(d.join("index.key"), [7u8; 32]).unwrap()
        }),
        ("nodes.bin deleted", |d| {
            fs::remove_file(d.join("nodes.bin")).unwrap()
        }),
        ("nodes.bin truncated", |d| {
            truncate_to(&d.join("nodes.bin"), 40)
        }),
        ("offsets.bin truncated", |d| {
            truncate_to(&d.join("offsets.bin"), 80)
        }),
    ];
    for (what, damage) in damages {
        damage(dir.path());
        let ledger = open(dir.path(), &signer).await;
        assert_eq!(
            ledger.recovery_report().frames_scanned,
            700,
            "{what}: open rebuilds from every frame"
        );
        assert_eq!(answers(&ledger).await, reference, "{what}");
        ledger.close().await.unwrap();
        let ledger = open(dir.path(), &signer).await;
        assert_eq!(
            ledger.recovery_report().frames_scanned,
            0,
            "{what}: the rebuild persisted a state"
        );
        assert_eq!(answers(&ledger).await, reference, "{what}, reopened");
        ledger.close().await.unwrap();
    }
}

fn truncate_to(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn lookups_span_several_runs_and_survive_merges() {
    let dir = tempfile::tempdir().unwrap();
    let signer: NoteSigner = common::signer(ORIGIN);
    let ledger = open(dir.path(), &signer).await;
    // Runs of falling sizes stay apart; one as large as the run before it merges with it.
    let mut most_runs = 0;
    let mut merged = false;
    let mut size = 0;
    for step in [400, 150, 60, 20, 20, 300, 5] {
        append_range(&ledger, size, size + step).await;
        size += step;
        ledger.checkpoint().await.unwrap();
        let runs = run_files(dir.path());
        merged |= runs.len() < most_runs;
        most_runs = most_runs.max(runs.len());
        let a = answers(&ledger).await;
        for s in 0..5 {
            assert_eq!(
                a.subjects[s as usize],
                expected_subject(s, size),
                "after {size}"
            );
        }
        assert_eq!(a.found[0], vec![0, 1]);
        assert_eq!(a.found[3], vec![96]);
        assert_eq!(a.found[4], vec![97, 98], "entry 98 repeats the id of 97");
    }
    assert!(most_runs >= 3, "several runs at once ({most_runs})");
    assert!(merged, "runs were merged");
    ledger.close().await.unwrap();
    let ledger = open(dir.path(), &signer).await;
    assert_eq!(ledger.recovery_report().frames_scanned, 0);
    assert_eq!(
        answers(&ledger).await.subjects[3],
        expected_subject(3, size)
    );
    ledger.close().await.unwrap();
}
