//! The subject index as the gateway uses the ledger's: a data subject's accesses, newest
//! first, paginated, each with an inclusion proof against the latest checkpoint, in the data
//! tracker's JSON; rebuilt from the segments (through the gateway's indexer) when the ledger
//! is reopened after a crash; and entries whose keys collide dropped by the gateway.

use korpu_gateway::ledger::{entry, find, subject_accesses, SubjectPage, DATA_SUBJECT, MESSAGE_ID};
use korpu_gateway::record::{ledger_config, ExchangeRecord};
use korpu_ledger::merkle::verify_inclusion;
use korpu_ledger::{Entry, IndexKey, Ledger, LedgerConfig, NoteSigner};

const ORIGIN: &str = "subjects.gw1.korpu.test/v1";

fn rec(i: u64) -> ExchangeRecord {
    ExchangeRecord {
        message_id: format!("msg-{i:05}"),
        time_unix_ms: 1_700_000_000_123 + i * 1000,
        client: format!("AZ/GOV/140000{}/benefits", i % 2),
        service: "AZ/GOV/1400001/population/familyComposition".into(),
        gateway: "AZ/GOV/1400003/gw1".into(),
        role: korpu_gateway::record::Role::Client,
        // Every 5th names nobody; the others cycle through three subjects.
        data_subject: (i % 5 != 4).then(|| format!("AZ{:07}", i % 3)),
        purpose: Some("benefit-eligibility".into()),
        request_digest: "00".repeat(32),
        response_status: Some(200),
        ..ExchangeRecord::default()
    }
}

/// The gateway's ledger configuration, issuing checkpoints only when the test asks.
fn config(dir: &std::path::Path) -> LedgerConfig {
    let mut c = ledger_config(dir, ORIGIN.into());
    c.checkpoint_interval = std::time::Duration::from_secs(3600);
    c.checkpoint_every = u64::MAX;
    c.segment_bytes = 16384;
    c
}

fn expected(subject: u64, below: u64) -> Vec<u64> {
    (0..below)
        .rev()
        .filter(|i| i % 5 != 4 && i % 3 == subject)
        .collect()
}

/// Reads every page and checks each proof.
async fn all_pages(ledger: &Ledger, subject: &str, limit: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page: SubjectPage = subject_accesses(ledger, subject, cursor, limit)
            .await
            .unwrap();
        assert!(page.entries.len() <= limit);
        let cp = page.checkpoint.as_ref().unwrap().checkpoint.clone();
        for a in &page.entries {
            assert_eq!(a.record.data_subject.as_deref(), Some(subject));
            verify_inclusion(a.index, cp.size, &a.record.leaf_hash(), &a.proof, &cp.root).unwrap();
            got.push(a.index);
        }
        match page.next {
            Some(n) => {
                assert_eq!(
                    page.entries.len(),
                    limit,
                    "a full page before a next cursor"
                );
                cursor = Some(n);
            }
            None => break,
        }
    }
    got
}

#[tokio::test]
async fn accesses_newest_first_paginated_with_proofs_and_rebuilt_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let ledger = Ledger::open(config(dir.path()), signer.clone())
        .await
        .unwrap();
    // Before any checkpoint nothing can be proven, so nothing is listed.
    ledger.append(entry(&rec(0))).await.unwrap();
    let page = subject_accesses(&ledger, "AZ0000000", None, 10)
        .await
        .unwrap();
    assert!(page.entries.is_empty() && page.checkpoint.is_none() && page.next.is_none());
    for i in 1..100 {
        ledger.append(entry(&rec(i))).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
    // Entries after the checkpoint wait for the next one.
    for i in 100..110 {
        ledger.append(entry(&rec(i))).await.unwrap();
    }
    for subject in 0..3 {
        let id = format!("AZ{subject:07}");
        assert_eq!(
            all_pages(&ledger, &id, 4).await,
            expected(subject, 100),
            "{id}"
        );
    }
    assert_eq!(
        all_pages(&ledger, "AZ0000001", 1000).await,
        expected(1, 100)
    );
    assert!(subject_accesses(&ledger, "AZ9999999", None, 5)
        .await
        .unwrap()
        .entries
        .is_empty());
    // A cursor starts below the given index.
    let page = subject_accesses(&ledger, "AZ0000002", Some(50), 3)
        .await
        .unwrap();
    let idx: Vec<u64> = page.entries.iter().map(|a| a.index).collect();
    assert_eq!(idx, expected(2, 50)[..3].to_vec());
    assert_eq!(page.next, Some(idx[2]));
    // The data tracker's JSON.
    let json = page.to_tracker_json();
    let e = &json["entries"][0];
    assert_eq!(e["index"], idx[0]);
    assert_eq!(e["message_id"], format!("msg-{:05}", idx[0]));
    assert_eq!(e["proof"]["tree_size"], 100);
    assert_eq!(json["next"], idx[2]);
    // The exact leaf bytes travel with the proof: they are the record the proof proves.
    use base64::Engine;
    let leaf = base64::engine::general_purpose::STANDARD
        .decode(e["leaf"].as_str().unwrap())
        .unwrap();
    assert_eq!(leaf, page.entries[0].record.leaf_bytes());
    assert_eq!(
        e["leaf_hash"],
        hex::encode(korpu_ledger::merkle::leaf_hash(&leaf))
    );
    let t0 = rec(0).time_unix_ms; // 2023-11-14T22:13:20.123Z
    let secs = (rec(idx[0]).time_unix_ms - t0) / 1000 + 20;
    assert_eq!(
        e["time"],
        format!("2023-11-14T22:{:02}:{:02}.123Z", 13 + secs / 60, secs % 60)
    );

    // A crash: the ledger is dropped without closing (no final checkpoint), then reopened.
    drop(ledger);
    let ledger = Ledger::open(config(dir.path()), signer).await.unwrap();
    assert_eq!(ledger.size(), 110);
    assert_eq!(ledger.recovery_report().entries, 110);
    // Still proven against the checkpoint of 100 until a new one is issued.
    assert_eq!(all_pages(&ledger, "AZ0000000", 7).await, expected(0, 100));
    ledger.checkpoint().await.unwrap();
    for subject in 0..3 {
        let id = format!("AZ{subject:07}");
        assert_eq!(
            all_pages(&ledger, &id, 5).await,
            expected(subject, 110),
            "{id}"
        );
    }
    // Appends after reopening are indexed too.
    for i in 110..120 {
        ledger.append(entry(&rec(i))).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
    assert_eq!(all_pages(&ledger, "AZ0000001", 6).await, expected(1, 120));
    ledger.close().await.unwrap();
}

/// The ledger's keys are 64-bit hashes, so a lookup can hand back an entry of another id: the
/// gateway decodes each candidate and drops those that do not name what was asked. Entries
/// here are appended under keys their records do not name, as a colliding hash would file them.
#[tokio::test]
async fn entries_filed_under_a_colliding_key_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(config(dir.path()), NoteSigner::generate(ORIGIN).unwrap())
        .await
        .unwrap();
    let honest = rec(0); // names AZ0000000
    ledger.append(entry(&honest)).await.unwrap();
    let stray = rec(1); // names AZ0000001, filed under AZ0000000 and msg-00000 as well
    let keys = vec![
        IndexKey::new(MESSAGE_ID, stray.message_id.as_str()),
        IndexKey::new(MESSAGE_ID, "msg-00000"),
        IndexKey::new(DATA_SUBJECT, "AZ0000001"),
        IndexKey::new(DATA_SUBJECT, "AZ0000000"),
    ];
    ledger
        .append(Entry {
            bytes: stray.leaf_bytes(),
            keys,
        })
        .await
        .unwrap();
    ledger.checkpoint().await.unwrap();
    // The ledger itself hands both over...
    let candidates = ledger
        .lookup(&IndexKey::new(DATA_SUBJECT, "AZ0000000"), |i, _| Some(i))
        .await
        .unwrap();
    assert_eq!(candidates.len(), 2);
    // ...the gateway keeps only the record that names the subject (or the message id).
    let page = subject_accesses(&ledger, "AZ0000000", None, 10)
        .await
        .unwrap();
    let found: Vec<u64> = page.entries.iter().map(|a| a.index).collect();
    assert_eq!(found, vec![0]);
    let found = find(&ledger, "msg-00000").await.unwrap();
    assert_eq!(found, vec![(0, honest)]);
    let page = subject_accesses(&ledger, "AZ0000001", None, 10)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].record, stray);
    ledger.close().await.unwrap();
}
