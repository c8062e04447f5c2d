//! One record's proof as a C2SP tlog-proof file: written from a real ledger, parsed
//! back, verified, and refused when the record, the index, a proof hash or the key differ.

use korpu_ledger::proof::{TlogProof, TlogProofError, TLOG_PROOF_HEADER};
use korpu_ledger::{Ledger, NoteSigner};
use korpu_xroad::record::verify_proof;

mod common;
use common::ExchangeRecord;

const ORIGIN: &str = "proof.gw1.korpu.test/v1";

fn rec(i: u64) -> ExchangeRecord {
    ExchangeRecord {
        data_subject: Some("AZ7654321".into()),
        ..common::record(format!("msg-{i}"), 1_700_000_000_000 + i)
    }
}

#[tokio::test]
async fn tlog_proof_round_trip_and_tampering() {
    let dir = common::private_dir();
    let signer = common::signer(ORIGIN);
    let cfg = common::quiet_config(dir.path(), ORIGIN, 1 << 20);
    let ledger = Ledger::open(cfg, signer.clone()).await.unwrap();
    common::append_all(&ledger, (0..13).map(rec)).await;
    let cp = ledger.checkpoint().await.unwrap();
    // What the gateway's evidence package turns into this file: the entry's bytes, its index,
    // its inclusion proof and the checkpoint note.
    let proof = TlogProof {
        extra: Some(ledger.entry(5).await.unwrap()),
        index: 5,
        proof: ledger.inclusion_proof(5, cp.checkpoint.size).await.unwrap(),
        checkpoint: cp.note.clone(),
    };
    let text = proof.to_text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(TLOG_PROOF_HEADER));
    assert!(lines.next().unwrap().starts_with("extra "));
    assert_eq!(lines.next(), Some("index 5"));
    assert!(text.ends_with(&cp.note));
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed, proof);
    let keys = [signer.verifier()];
    let (record, cp) = verify_proof(&parsed, &keys).unwrap();
    assert_eq!(record, rec(5));
    assert_eq!(cp.size, 13);

    // Another record in the extra line.
    let mut other = parsed.clone();
    other.extra = Some(rec(6).leaf_bytes());
    assert!(matches!(
        verify_proof(&other, &keys),
        Err(TlogProofError::NotIncluded { index: 5, .. })
    ));
    // Another index.
    let moved = text.replace("index 5\n", "index 6\n");
    assert!(matches!(
        verify_proof(&TlogProof::parse(&moved).unwrap(), &keys),
        Err(TlogProofError::NotIncluded { index: 6, .. })
    ));
    // A changed proof hash.
    let mut bent = parsed.clone();
    bent.proof[0][0] ^= 1;
    assert!(verify_proof(&bent, &keys).is_err());
    // Another key.
    let stranger = [NoteSigner::generate(ORIGIN).unwrap().verifier()];
    assert!(matches!(
        verify_proof(&parsed, &stranger),
        Err(TlogProofError::Checkpoint(_))
    ));
    // Malformed text.
    for bad in [
        text.replacen(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2", 1),
        text.replace("index 5\n", "index 05\n"),
        text.replacen("\n\n", "\n", 1),
    ] {
        assert!(
            matches!(TlogProof::parse(&bad), Err(TlogProofError::Malformed(_))),
            "{bad}"
        );
    }
    ledger.close().await.unwrap();
}
