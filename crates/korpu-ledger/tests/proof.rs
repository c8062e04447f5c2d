//! Evidence for one record as a C2SP tlog-proof file: written from a real ledger, parsed
//! back, verified, and refused when the record, the index, a proof hash or the key differ.
use std::time::Duration;

use korpu_ledger::proof::{TlogProof, TlogProofError, TLOG_PROOF_HEADER};
use korpu_ledger::{ExchangeRecord, Ledger, LedgerConfig, NoteSigner};

const ORIGIN: &str = "proof.gw1.korpu.test/v1";

fn rec(i: u64) -> ExchangeRecord {
    ExchangeRecord {
        message_id: format!("msg-{i}"),
        time_unix_ms: 1_700_000_000_000 + i,
        client: "AZ/GOV/1400003/benefits".into(),
        service: "AZ/GOV/1400001/population/familyComposition".into(),
        gateway: "AZ/GOV/1400003/gw1".into(),
        role: "client".into(),
        user_id: None,
        data_subject: Some("AZ7654321".into()),
        purpose: None,
        request_digest: "00".repeat(32),
        response_digest: None,
        response_status: Some(200),
        request_signature: String::new(),
        request_signer_cert_sha256: String::new(),
        response_signature: None,
        response_signer_cert_sha256: None,
        error: None,
        request_body_sha256: None,
        response_body_sha256: None,
        request_signed: None,
        response_signed: None,
    }
}

#[tokio::test]
async fn tlog_proof_round_trip_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    // A ledger refuses a directory others can enter; tempdirs here are made 0755.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut cfg = LedgerConfig::new(dir.path(), ORIGIN);
    cfg.checkpoint_interval = Duration::from_secs(3600);
    let ledger = Ledger::open(cfg, signer.clone()).await.unwrap();
    for i in 0..13 {
        ledger.append(&rec(i)).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
    let evidence = ledger.evidence("msg-5").await.unwrap().remove(0);
    let proof = evidence.tlog_proof().unwrap();
    let text = proof.to_text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(TLOG_PROOF_HEADER));
    assert!(lines.next().unwrap().starts_with("extra "));
    assert_eq!(lines.next(), Some("index 5"));
    assert!(text.ends_with(&evidence.checkpoint));
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed, proof);
    let keys = [signer.verifier()];
    let (record, cp) = parsed.verify_record(&keys).unwrap();
    assert_eq!(record, rec(5));
    assert_eq!(cp.size, 13);

    // Another record in the extra line.
    let mut other = parsed.clone();
    other.extra = Some(rec(6).leaf_bytes());
    assert!(matches!(
        other.verify_record(&keys),
        Err(TlogProofError::NotIncluded { index: 5, .. })
    ));
    // Another index.
    let moved = text.replace("index 5\n", "index 6\n");
    assert!(matches!(
        TlogProof::parse(&moved).unwrap().verify_record(&keys),
        Err(TlogProofError::NotIncluded { index: 6, .. })
    ));
    // A changed proof hash.
    let mut bent = parsed.clone();
    bent.proof[0][0] ^= 1;
    assert!(bent.verify_record(&keys).is_err());
    // Another key.
    let stranger = [NoteSigner::generate(ORIGIN).unwrap().verifier()];
    assert!(matches!(
        parsed.verify_record(&stranger),
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
