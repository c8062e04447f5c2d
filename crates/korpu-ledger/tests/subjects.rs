//! The subject index: a data subject's accesses, newest first, paginated, each with an
//! inclusion proof against the latest checkpoint; rebuilt from the segments when the ledger
//! is reopened after a crash.

use korpu_ledger::merkle::verify_inclusion;
use korpu_ledger::{ExchangeRecord, Ledger, LedgerConfig, NoteSigner, SubjectPage};

mod common;

const ORIGIN: &str = "subjects.gw1.korpu.test/v1";

fn rec(i: u64) -> ExchangeRecord {
    ExchangeRecord {
        client: format!("AZ/GOV/140000{}/benefits", i % 2),
        // Every 5th names nobody; the others cycle through three subjects.
        data_subject: (i % 5 != 4).then(|| format!("AZ{:07}", i % 3)),
        purpose: Some("benefit-eligibility".into()),
        ..common::record(format!("msg-{i:05}"), 1_700_000_000_123 + i * 1000)
    }
}

fn config(dir: &std::path::Path) -> LedgerConfig {
    common::quiet_config(dir, ORIGIN, 16384)
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
        let page: SubjectPage = ledger
            .subject_accesses(subject, cursor, limit)
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
    ledger.append(&rec(0)).await.unwrap();
    let page = ledger
        .subject_accesses("AZ0000000", None, 10)
        .await
        .unwrap();
    assert!(page.entries.is_empty() && page.checkpoint.is_none() && page.next.is_none());
    for i in 1..100 {
        ledger.append(&rec(i)).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
    // Entries after the checkpoint wait for the next one.
    for i in 100..110 {
        ledger.append(&rec(i)).await.unwrap();
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
    assert!(ledger
        .subject_accesses("AZ9999999", None, 5)
        .await
        .unwrap()
        .entries
        .is_empty());
    // A cursor starts below the given index.
    let page = ledger
        .subject_accesses("AZ0000002", Some(50), 3)
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
        ledger.append(&rec(i)).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
    assert_eq!(all_pages(&ledger, "AZ0000001", 6).await, expected(1, 120));
    ledger.close().await.unwrap();
}
