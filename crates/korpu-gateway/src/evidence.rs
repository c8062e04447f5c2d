//! Evidence for one exchange, checkable by a third party offline: the record, its RFC 9162
//! inclusion proof, the C2SP signed checkpoint the proof leads to, and the RFC 3161 time-stamp
//! over that checkpoint.
//!
//! A verifier needs, out of band, the log's public key (a C2SP vkey) and the platform roots
//! that the time-stamping authority chains to; nothing in the package is trusted by itself.
//! The package also carries the certificates that made the exchange's two signatures (the
//! gateway keeps every signing certificate its records name); given them, the verifier checks
//! each signature over the digest the record keeps, that the signer chains to the platform
//! roots at the record's time, and that it is the member the record says signed.
//!
//! The package is the gateway's, not the ledger's: the ledger proves that some bytes are in
//! its log ([`korpu_ledger::Ledger::inclusion_proof`], checkpoints, time-stamps), and what
//! those bytes say — who signed which request — is the exchange record's business, checked
//! here. [`Evidence::tlog_proof`] gives the same evidence as a C2SP tlog-proof file.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_pki::cert::Certificate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use korpu_ledger::Ledger;
use korpu_tlog::proof::{TlogProof, TlogProofError};
use korpu_tlog::{merkle, verify_note, Checkpoint, NoteVerifier};

use crate::ledger::ReadError;
use crate::record::ExchangeRecord;

/// The `format` value of evidence packages.
pub const EVIDENCE_FORMAT: &str = "korpu-evidence/1";

/// Evidence that one record is in a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Always [`EVIDENCE_FORMAT`].
    pub format: String,
    /// The exchange record, as logged.
    pub record: ExchangeRecord,
    /// Its position in the log.
    pub leaf_index: u64,
    /// The inclusion proof, hex hashes, leaf side first (RFC 9162 §2.1.3).
    pub inclusion_proof: Vec<String>,
    /// The C2SP signed note of the checkpoint the proof leads to.
    pub checkpoint: String,
    /// Base64 DER RFC 3161 TimeStampResp over SHA-256 of the checkpoint note.
    pub timestamp: Option<String>,
    /// The log's public key as the log itself states it (informative: verify with your own).
    pub log_key: String,
    /// PEM certificates: the signers of the record's request and response and the CAs that
    /// issued them (never trusted by themselves: they must chain to the verifier's roots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
}

/// What verified evidence establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceReport {
    /// The exchange's `X-Road-Id`.
    pub message_id: String,
    /// The record's position in the log.
    pub leaf_index: u64,
    /// The size of the checkpointed tree that includes it.
    pub tree_size: u64,
    /// The log's origin (which gateway's ledger).
    pub origin: String,
    /// When the time-stamping authority saw the checkpoint, if the package is time-stamped.
    pub timestamped_at: Option<SystemTime>,
    /// The exchange signatures checked (request and response): the member whose key made each.
    pub signed_by: Vec<String>,
}

/// Why evidence was refused; each says which part failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The package does not parse.
    #[error("not a Körpü evidence package: {0}")]
    Malformed(String),
    /// The checkpoint's signature does not verify with the verifier's key.
    #[error("the checkpoint is not signed by the given log key: {0}")]
    Checkpoint(String),
    /// The inclusion proof does not lead from the record to the checkpoint's root.
    #[error("record {index} (message {message_id}) is not in the checkpointed tree: {detail}")]
    NotIncluded {
        /// The claimed position.
        index: u64,
        /// The record's message id.
        message_id: String,
        /// What failed.
        detail: String,
    },
    /// The time-stamp is not over this checkpoint, or not by a trusted authority.
    #[error("the time-stamp is not over this checkpoint or not trusted: {0}")]
    Timestamp(String),
    /// An exchange signature in the record does not verify, or its signer is not trusted.
    #[error("the {which} signature of record {index}: {detail}")]
    Signature {
        /// "request" or "response".
        which: &'static str,
        /// The record's position.
        index: u64,
        /// What failed.
        detail: String,
    },
}

/// Why no evidence package could be made.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The ledger could not be read.
    #[error("{0}")]
    Read(#[from] ReadError),
    /// The ledger has no record of the message.
    #[error("no record of message {0:?} in this ledger")]
    NotFound(String),
    /// The ledger has issued no checkpoint yet.
    #[error("the ledger has no checkpoint yet")]
    NoCheckpoint,
    /// A record is newer than the latest checkpoint.
    #[error(
        "record {index} is newer than the latest checkpoint (size {size}); wait for the next one"
    )]
    NotYetCheckpointed {
        /// The record's index.
        index: u64,
        /// The latest checkpoint's tree size.
        size: u64,
    },
}

/// Evidence for every record of `message_id` in `ledger` covered by the latest checkpoint.
pub async fn evidence(ledger: &Ledger, message_id: &str) -> Result<Vec<Evidence>, PackageError> {
    let records = crate::ledger::find(ledger, message_id).await?;
    if records.is_empty() {
        return Err(PackageError::NotFound(message_id.to_owned()));
    }
    let cp = ledger
        .latest_checkpoint()
        .ok_or(PackageError::NoCheckpoint)?;
    let mut out = Vec::new();
    for (index, record) in records {
        if index >= cp.checkpoint.size {
            return Err(PackageError::NotYetCheckpointed {
                index,
                size: cp.checkpoint.size,
            });
        }
        let proof = ledger
            .inclusion_proof(index, cp.checkpoint.size)
            .await
            .map_err(ReadError::from)?;
        out.push(Evidence {
            format: EVIDENCE_FORMAT.into(),
            record,
            leaf_index: index,
            inclusion_proof: proof.iter().map(hex::encode).collect(),
            checkpoint: cp.note.clone(),
            timestamp: cp.timestamp.as_ref().map(|t| B64.encode(t)),
            log_key: ledger.verifier().to_string(),
            certificates: Vec::new(),
        });
    }
    Ok(out)
}

impl Evidence {
    /// The tlog-proof for this package's record: its canonical bytes as the `extra` line, the
    /// entry index, the inclusion proof and the checkpoint note.
    pub fn tlog_proof(&self) -> Result<TlogProof, TlogProofError> {
        let proof = self
            .inclusion_proof
            .iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| TlogProofError::Malformed(format!("{h:?} is not a hash")))
            })
            .collect::<Result<Vec<merkle::Hash>, _>>()?;
        Ok(TlogProof {
            extra: Some(self.record.leaf_bytes()),
            index: self.leaf_index,
            proof,
            checkpoint: self.checkpoint.clone(),
        })
    }
}

/// Checks `evidence` against the log keys and the platform roots (which the time-stamping
/// authority and the members' signing certificates chain to) that the verifier trusts.
/// Exchange signatures are checked when the package carries certificates; a package without
/// them proves inclusion and time only, and its report names no signer.
pub fn verify_evidence(
    evidence: &Evidence,
    log_keys: &[NoteVerifier],
    tsa_roots: &[Certificate],
) -> Result<EvidenceReport, EvidenceError> {
    if evidence.format != EVIDENCE_FORMAT {
        return Err(EvidenceError::Malformed(format!(
            "format {:?}, expected {EVIDENCE_FORMAT:?}",
            evidence.format
        )));
    }
    let body = verify_note(&evidence.checkpoint, log_keys)
        .map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;
    let cp = Checkpoint::parse_body(&body).map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;
    let proof = evidence
        .inclusion_proof
        .iter()
        .map(|h| {
            let v = hex::decode(h)
                .map_err(|_| EvidenceError::Malformed(format!("proof hash {h:?} is not hex")))?;
            <merkle::Hash>::try_from(v.as_slice())
                .map_err(|_| EvidenceError::Malformed(format!("proof hash {h:?} is not 32 bytes")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(
        evidence.leaf_index,
        cp.size,
        &evidence.record.leaf_hash(),
        &proof,
        &cp.root,
    )
    .map_err(|e| EvidenceError::NotIncluded {
        index: evidence.leaf_index,
        message_id: evidence.record.message_id.clone(),
        detail: format!("{e} (the record, the proof or the checkpoint was altered)"),
    })?;
    let timestamped_at = match &evidence.timestamp {
        None => None,
        Some(t) => {
            let der = B64
                .decode(t)
                .map_err(|_| EvidenceError::Malformed("the time-stamp is not base64".into()))?;
            let digest: [u8; 32] = Sha256::digest(evidence.checkpoint.as_bytes()).into();
            Some(
                korpu_pki::tsa::verify_response(&der, &digest, None, tsa_roots)
                    .map_err(|e| EvidenceError::Timestamp(e.to_string()))?,
            )
        }
    };
    let signed_by = if evidence.certificates.is_empty() {
        Vec::new()
    } else {
        check_signatures(evidence, tsa_roots)?
    };
    Ok(EvidenceReport {
        message_id: evidence.record.message_id.clone(),
        leaf_index: evidence.leaf_index,
        tree_size: cp.size,
        origin: cp.origin,
        timestamped_at,
        signed_by,
    })
}

/// Checks the record's request and response signatures with the package's certificates.
fn check_signatures(
    evidence: &Evidence,
    roots: &[Certificate],
) -> Result<Vec<String>, EvidenceError> {
    let certs = evidence
        .certificates
        .iter()
        .map(|pem| Certificate::from_pem(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EvidenceError::Malformed(format!("a certificate does not parse: {e}")))?;
    let rec = &evidence.record;
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(rec.time_unix_ms);
    // The member part of "INSTANCE/CLASS/MEMBER[/SUBSYSTEM[/SERVICE]]".
    let member_of = |id: &str| id.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let mut checks = Vec::new();
    if !rec.request_signature.is_empty() {
        checks.push((
            "request",
            rec.request_signature.as_str(),
            rec.request_signer_cert_sha256.as_str(),
            rec.request_digest.as_str(),
            member_of(&rec.client),
        ));
    }
    if let (Some(sig), Some(fp), Some(digest)) = (
        rec.response_signature.as_deref(),
        rec.response_signer_cert_sha256.as_deref(),
        rec.response_digest.as_deref(),
    ) {
        checks.push(("response", sig, fp, digest, member_of(&rec.service)));
    }
    let mut signed_by = Vec::new();
    for (which, sig, fp, digest_hex, member) in checks {
        let fail = |detail: String| EvidenceError::Signature {
            which,
            index: evidence.leaf_index,
            detail,
        };
        signed_fields_match(rec, which, digest_hex).map_err(fail)?;
        let signer = certs
            .iter()
            .find(|c| c.sha256_fingerprint_hex().eq_ignore_ascii_case(fp))
            .ok_or_else(|| fail(format!("the package has no certificate with SHA-256 {fp}")))?;
        korpu_pki::cert::verify_chain(signer, &certs, roots, at)
            .map_err(|e| fail(format!("the signer does not chain to a trusted root: {e}")))?;
        if signer.common_name().as_deref() != Some(member.as_str()) {
            return Err(fail(format!(
                "signed by {:?}, but the record says member {member} signed it",
                signer.common_name().unwrap_or_default()
            )));
        }
        let digest: [u8; 32] = hex::decode(digest_hex)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| fail(format!("the digest {digest_hex:?} is not a hex SHA-256")))?;
        // Alone or in a batch (korpu_pki::batch): either way an ECDSA signature over one
        // SHA-256 that the record's digest leads to.
        let sig = korpu_pki::batch::Signature::parse(sig).map_err(|e| fail(e.to_string()))?;
        let signed = sig
            .signed_digest(&digest)
            .map_err(|e| fail(format!("{e} (the record was altered)")))?;
        signer
            .verify_prehashed(&signed, sig.der())
            .map_err(|e| fail(format!("{e} (the record was altered)")))?;
        signed_by.push(member);
    }
    Ok(signed_by)
}

/// Checks that the record states only what its signature covers: the signature base it
/// carries hashes to the signed digest, and each of the record's fields named there has the
/// signed value (the data subject too, when the record names one). Records of the first
/// format carry no base; their signatures are checked over the digest alone.
fn signed_fields_match(rec: &ExchangeRecord, which: &str, digest_hex: &str) -> Result<(), String> {
    let (base, version) = match which {
        "request" => (rec.request_signed.as_deref(), "korpu-request/2"),
        _ => (rec.response_signed.as_deref(), "korpu-response/2"),
    };
    let Some(base) = base else { return Ok(()) };
    if !hex::encode(Sha256::digest(base.as_bytes())).eq_ignore_ascii_case(digest_hex) {
        return Err(format!(
            "the record's {which} signature base does not hash to its digest (the record was altered)"
        ));
    }
    let (v, fields) = korpu_xroad::record::signature_base_fields(base)
        .filter(|(v, _)| *v == version)
        .ok_or_else(|| format!("the record's {which} signature base is not {version}"))?;
    let status = rec.response_status.map(|s| s.to_string());
    let wanted: Vec<(&str, Option<&str>)> = if v == "korpu-request/2" {
        vec![
            ("id", Some(rec.message_id.as_str())),
            ("client", Some(rec.client.as_str())),
            ("service", Some(rec.service.as_str())),
            ("user", Some(rec.user_id.as_deref().unwrap_or(""))),
            ("purpose", Some(rec.purpose.as_deref().unwrap_or(""))),
            // A client's record names no subject; a provider's names the signed one.
            ("subject", rec.data_subject.as_deref()),
        ]
    } else {
        vec![
            ("request", Some(rec.request_digest.as_str())),
            ("status", status.as_deref()),
            ("error", Some(rec.error.as_deref().unwrap_or(""))),
        ]
    };
    for (name, want) in wanted {
        let Some(want) = want else { continue };
        let signed = fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        if signed != Some(want) {
            return Err(format!(
                "the record says {name} {want:?}, but its {which} signature covers {signed:?} (the record was altered)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut String, name: &str, value: &str) {
        out.push_str(&format!("{name}={}:{value}\n", value.len()));
    }

    fn signed_record(subject_signed: &str) -> ExchangeRecord {
        let mut base = String::from("korpu-request/2\n");
        for (n, v) in [
            ("id", "m1"),
            ("created", "1700000000000"),
            ("client", "AZ/GOV/1400003/benefits"),
            ("service", "AZ/GOV/1400002/tax/income"),
            ("user", "AZ1234567"),
            ("purpose", "benefit"),
            ("subject", subject_signed),
            ("covered-sha256", &"ab".repeat(32)),
        ] {
            field(&mut base, n, v);
        }
        ExchangeRecord {
            message_id: "m1".into(),
            time_unix_ms: 1_700_000_000_123,
            client: "AZ/GOV/1400003/benefits".into(),
            service: "AZ/GOV/1400002/tax/income".into(),
            gateway: "AZ/GOV/1400002/gw1".into(),
            role: crate::record::Role::Provider,
            user_id: Some("AZ1234567".into()),
            data_subject: Some("AZ1234567".into()),
            purpose: Some("benefit".into()),
            request_digest: hex::encode(Sha256::digest(base.as_bytes())),
            response_status: Some(200),
            request_signed: Some(base),
            ..ExchangeRecord::default()
        }
    }

    #[test]
    fn a_record_stating_a_subject_or_purpose_its_signature_does_not_cover_fails() {
        let rec = signed_record("AZ1234567");
        assert_eq!(
            signed_fields_match(&rec, "request", &rec.request_digest),
            Ok(())
        );
        // The record names another subject than the signed one.
        let rec = signed_record("AZ7654321");
        let e = signed_fields_match(&rec, "request", &rec.request_digest).unwrap_err();
        assert!(e.contains("subject"), "{e}");
        let mut rec = signed_record("AZ1234567");
        rec.purpose = Some("curiosity".into());
        let e = signed_fields_match(&rec, "request", &rec.request_digest).unwrap_err();
        assert!(e.contains("purpose"), "{e}");
        // A base altered to fit the record no longer hashes to the signed digest.
        let mut rec = signed_record("AZ1234567");
        rec.request_signed = rec.request_signed.map(|b| b.replace("benefit", "curiosi"));
        let e = signed_fields_match(&rec, "request", &rec.request_digest).unwrap_err();
        assert!(e.contains("does not hash"), "{e}");
    }
}
