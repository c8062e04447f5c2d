//! Checks the portal shows beside evidence: a signed PDF's signatures (PAdES, via korpu-sign,
//! against the platform roots from the global configuration) and a data-tracker entry's
//! inclusion proof and checkpoint signature (via korpu-tlog, against the gateway's ledger key
//! from the global configuration). Pure functions over bytes the caller fetched.

use std::sync::Arc;

use korpu_conf::GlobalConf;
use serde_json::Value;

/// Validates every signature of a PDF; returns the signer(s) when all pass.
pub fn verify_pdf(conf: &Option<Arc<GlobalConf>>, pdf: &[u8]) -> Result<String, String> {
    let conf = conf.as_ref().ok_or("no global configuration yet")?;
    verify_pdf_against(&conf.pki.root_certs, pdf)
}

/// Validates every signature of a PDF against the given root certificates (PEM).
pub fn verify_pdf_against(roots_pem: &[String], pdf: &[u8]) -> Result<String, String> {
    let anchors = roots_pem
        .iter()
        .filter_map(|p| korpu_pki::cert::Certificate::from_pem(p).ok())
        .collect::<Vec<_>>();
    let report = korpu_sign::pdf::validate(
        pdf,
        &anchors,
        std::time::SystemTime::now(),
        &korpu_sign::pdf::Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    if report.signatures.is_empty() {
        return Err("the document is not signed".into());
    }
    let mut signers = Vec::new();
    for s in &report.signatures {
        if s.report.indication != korpu_sign::validate::Indication::TotalPassed {
            return Err(format!(
                "{}: {}",
                s.report.sub_indication.clone().unwrap_or_default(),
                s.report.reason.clone().unwrap_or_default()
            ));
        }
        if let Some(m) = &s.modified_after {
            return Err(format!("changed after signing: {m}"));
        }
        signers.push(format!("{} ({})", s.report.signer, s.report.level));
    }
    Ok(signers.join("; "))
}

/// A data-tracker entry as far as it is proven: the record parsed from the leaf bytes the
/// entry carries (`None` when there are none or they are not a record) and the verdict on
/// those bytes (the checkpoint's tree size, or why they are not proven).
#[derive(Debug)]
pub struct CheckedEntry {
    /// The record, parsed from exactly the bytes that were hashed. Nothing else of the entry
    /// is to be shown: the gateway's convenience fields beside the bytes prove nothing.
    pub record: Option<korpu_xroad::record::ExchangeRecord>,
    /// `Ok(tree size)` when the bytes are in the signed tree and name `subject`.
    pub verdict: Result<u64, String>,
}

/// Verifies a data-tracker entry as Certificate Transparency verifies a log entry: the RFC 9162
/// leaf hash is recomputed from the record's bytes (`leaf`, base64), proven by the inclusion
/// proof to be in the tree whose root the checkpoint states, the checkpoint is signed by
/// `ledger_key`, and the record's data subject is `subject`. `leaf_hash`, `purpose`, `client`
/// and every other field carried beside the bytes are ignored.
pub fn verify_entry(entry: &Value, ledger_key: &str, subject: &str) -> CheckedEntry {
    use base64::Engine;
    let bytes = match entry["leaf"]
        .as_str()
        .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
    {
        Some(Ok(b)) => b,
        Some(Err(_)) => return unproven(None, "the record's bytes are not base64"),
        None => return unproven(None, "the entry carries no record bytes, only claims"),
    };
    let record = match korpu_xroad::record::ExchangeRecord::from_leaf_bytes(&bytes) {
        Ok(r) => r,
        Err(e) => return unproven(None, &format!("the record's bytes are not a record: {e}")),
    };
    let verdict =
        verify_leaf(entry, &korpu_tlog::merkle::leaf_hash(&bytes), ledger_key).and_then(|size| {
            if record.data_subject.as_deref() == Some(subject) {
                Ok(size)
            } else {
                Err("the record is about someone else".into())
            }
        });
    CheckedEntry {
        record: Some(record),
        verdict,
    }
}

fn unproven(record: Option<korpu_xroad::record::ExchangeRecord>, why: &str) -> CheckedEntry {
    CheckedEntry {
        record,
        verdict: Err(why.to_owned()),
    }
}

/// Checks that `leaf` is at the entry's `index` in the tree of the entry's signed checkpoint.
fn verify_leaf(entry: &Value, leaf: &[u8; 32], ledger_key: &str) -> Result<u64, String> {
    let hash = |v: &Value| -> Result<[u8; 32], String> {
        let s = v.as_str().ok_or("a hash is missing")?;
        hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{s:?} is not a SHA-256 hash in hex"))
    };
    let index = entry["index"].as_u64().ok_or("no index")?;
    let proof = &entry["proof"];
    let size = proof["tree_size"].as_u64().ok_or("no tree_size")?;
    let path = proof["hashes"]
        .as_array()
        .ok_or("no proof hashes")?
        .iter()
        .map(hash)
        .collect::<Result<Vec<_>, _>>()?;
    let note = proof["checkpoint"].as_str().ok_or("no checkpoint")?;
    let verifier = korpu_tlog::checkpoint::NoteVerifier::from_vkey(ledger_key)
        .map_err(|e| format!("the registered ledger key: {e}"))?;
    let body = korpu_tlog::checkpoint::verify_note(note, &[verifier])
        .map_err(|e| format!("the checkpoint signature: {e}"))?;
    let cp = korpu_tlog::checkpoint::Checkpoint::parse_body(&body).map_err(|e| e.to_string())?;
    if cp.size != size {
        return Err(format!(
            "the proof is for {size} leaves, the checkpoint for {}",
            cp.size
        ));
    }
    korpu_tlog::merkle::verify_inclusion(index, size, leaf, &path, &cp.root)
        .map_err(|e| format!("the inclusion proof: {e:?}"))?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use korpu_tlog::checkpoint::{sign_note, Checkpoint, NoteSigner};
    use korpu_tlog::merkle::{leaf_hash, node_hash};
    use serde_json::json;

    pub(crate) const SUBJECT: &str = "AZ7654321";

    /// A record of the social ministry reading `SUBJECT`'s family composition.
    pub(crate) fn record(purpose: &str) -> korpu_xroad::record::ExchangeRecord {
        serde_json::from_value(json!({
            "message_id": "m-1", "time_unix_ms": 1_700_000_000_123u64,
            "client": "AZ/GOV/1400003/benefits",
            "service": "AZ/GOV/1400001/population/familyComposition",
            "gateway": "AZ/GOV/1400001/gw1", "role": "provider",
            "user_id": "AZ1234567", "data_subject": SUBJECT, "purpose": purpose,
            "request_digest": "00", "request_signature": "MEUC",
            "request_signer_cert_sha256": "ab",
        }))
        .unwrap()
    }

    /// A two-leaf log whose leaf 0 is `rec`, signed by `signer`, and its tracker entry in the
    /// gateway's shape (the leaf bytes, and the convenience fields beside them).
    pub(crate) fn entry_for(
        rec: &korpu_xroad::record::ExchangeRecord,
        signer: &NoteSigner,
    ) -> Value {
        use base64::Engine;
        let bytes = rec.leaf_bytes();
        let (l0, l1) = (leaf_hash(&bytes), leaf_hash(b"record 1"));
        let cp = Checkpoint {
            origin: "korpu/AZ/GOV/1/gw1".into(),
            size: 2,
            root: node_hash(&l0, &l1),
        };
        let note = sign_note(&cp.to_body(), signer).unwrap();
        json!({"index": 0, "leaf": base64::engine::general_purpose::STANDARD.encode(&bytes),
               "leaf_hash": hex::encode(l0), "client": rec.client, "service": rec.service,
               "purpose": rec.purpose, "time": "2023-11-14T22:13:20.123Z",
               "proof": {"tree_size": 2, "hashes": [hex::encode(l1)], "checkpoint": note}})
    }

    fn entry(signer: &NoteSigner) -> Value {
        entry_for(&record("benefit-eligibility"), signer)
    }

    #[test]
    fn a_tracker_entry_verifies_only_with_its_proof_and_key() {
        let signer = NoteSigner::generate("korpu/AZ/GOV/1/gw1").unwrap();
        let key = signer.verifier().to_vkey();
        let good = entry(&signer);
        let checked = verify_entry(&good, &key, SUBJECT);
        assert_eq!(checked.verdict, Ok(2));
        assert_eq!(checked.record.unwrap(), record("benefit-eligibility"));

        let mut wrong_size = good.clone();
        wrong_size["proof"]["tree_size"] = json!(3);
        assert!(verify_entry(&wrong_size, &key, SUBJECT).verdict.is_err());

        // A checkpoint signed by another key (a forged log) is refused.
        let other = NoteSigner::generate("korpu/AZ/GOV/1/gw1").unwrap();
        assert!(verify_entry(&entry(&other), &key, SUBJECT)
            .verdict
            .unwrap_err()
            .contains("checkpoint signature"));

        // Someone else's record, proven or not, is not this citizen's.
        assert!(verify_entry(&good, &key, "AZ0000001").verdict.is_err());
    }

    /// What is shown as verified is what was hashed: a purpose altered inside the record's
    /// bytes fails the proof; one altered beside them is not what the entry yields.
    #[test]
    fn an_altered_purpose_is_never_verified_nor_shown() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let signer = NoteSigner::generate("korpu/AZ/GOV/1/gw1").unwrap();
        let key = signer.verifier().to_vkey();
        let good = entry(&signer);

        let mut inside = good.clone();
        inside["leaf"] = json!(b64.encode(record("tax-audit").leaf_bytes()));
        let checked = verify_entry(&inside, &key, SUBJECT);
        assert!(
            checked.verdict.unwrap_err().contains("inclusion proof"),
            "altered bytes must fail the proof"
        );

        let mut beside = good.clone();
        beside["purpose"] = json!("tax-audit");
        beside["client"] = json!("AZ/GOV/9999999/anyone");
        let checked = verify_entry(&beside, &key, SUBJECT);
        assert_eq!(checked.verdict, Ok(2));
        let rec = checked.record.unwrap();
        assert_eq!(rec.purpose.as_deref(), Some("benefit-eligibility"));
        assert_eq!(rec.client, "AZ/GOV/1400003/benefits");

        // An entry with claims and a proof but without the bytes proves nothing.
        let mut claims_only = good.clone();
        claims_only.as_object_mut().unwrap().remove("leaf");
        let checked = verify_entry(&claims_only, &key, SUBJECT);
        assert!(checked.verdict.is_err() && checked.record.is_none());
    }

    #[test]
    fn nothing_verifies_before_the_platform_roots_are_known() {
        assert!(verify_pdf(&None, b"%PDF-1.4").is_err());
    }

    /// A decision signed by a member certificate of the platform PKI verifies and names the
    /// signer; the same file with one byte of its content changed, or checked against another
    /// platform's roots, does not.
    /// A new key and its certificate for `cn`, valid from a day ago to a day ahead, issued by
    /// `issuer` (self-signed when `None`).
    fn issued(
        issuer: Option<(&korpu_pki::cert::Certificate, &korpu_pki::key::SigningKey)>,
        cn: &str,
        profile: korpu_pki::ca::Profile,
    ) -> (korpu_pki::key::SigningKey, korpu_pki::cert::Certificate) {
        use korpu_pki::ca::{self, IssueRequest, Subject};
        let now = std::time::SystemTime::now();
        let day = std::time::Duration::from_secs(86_400);
        let key = korpu_pki::key::SigningKey::generate();
        let spki = key.public_key_der();
        let req = IssueRequest {
            subject: Subject::cn(cn),
            public_key_der: &spki,
            profile,
            not_before: now - day,
            not_after: now + day,
            ocsp_url: None,
        };
        let cert = match issuer {
            Some((cert, key)) => ca::issue(cert, key, req, &ca::random_serial()),
            None => ca::self_signed(&key, req, &ca::random_serial()),
        };
        (key, cert.unwrap())
    }

    #[test]
    fn a_signed_decision_verifies_and_a_tampered_one_does_not() {
        use korpu_pki::ca::Profile;
        let now = std::time::SystemTime::now();
        let (root_key, root) = issued(None, "Root", Profile::Root);
        let (ca_key, issuing) = issued(Some((&root, &root_key)), "Issuing", Profile::IssuingCa);
        let (key, cert) = issued(
            Some((&issuing, &ca_key)),
            "AZ/GOV/1400003",
            Profile::MemberSigning,
        );
        let chain = [issuing.clone()];
        let signer = korpu_sign::cades::Signer {
            key: &key,
            cert: &cert,
            chain: &chain,
        };
        let signed = korpu_sign::pdf::sign(
            &korpu_sign::pdf::text_page(&["Decision".to_owned()]),
            &signer,
            now,
            None,
            &korpu_sign::pdf::Limits::default(),
        )
        .unwrap();

        // A decision with no revocation data proves nothing about its signer's certificate
        // (INDETERMINATE/TRY_LATER): the portal does not show it as valid.
        let roots = vec![root.to_pem()];
        let err = verify_pdf_against(&roots, &signed).unwrap_err();
        assert!(err.starts_with("TRY_LATER"), "{err}");
        // With the signer's OCSP response in the document (as the demo's ministry signs) it is.
        let responder = korpu_pki::ocsp::Responder::new(
            issuing.clone(),
            issuing.clone(),
            ca_key.clone(),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let ocsp =
            korpu_sign::LocalOcsp::new(responder, |_: &str| korpu_pki::ocsp::CertStatus::Good);
        let signed = korpu_sign::pdf::add_validation_data(
            &signed,
            &ocsp,
            &korpu_sign::pdf::Limits::default(),
        )
        .unwrap();
        let who = verify_pdf_against(&roots, &signed).unwrap();
        assert!(who.contains("AZ/GOV/1400003"), "{who}");

        let mut tampered = signed.clone();
        let at = tampered.windows(8).position(|w| w == b"Decision").unwrap();
        tampered[at] = b'X';
        assert!(verify_pdf_against(&roots, &tampered).is_err());

        let (_, other) = issued(None, "Other", Profile::Root);
        assert!(verify_pdf_against(&[other.to_pem()], &signed).is_err());
    }
}
