//! Signed receipts: a small JSON document saying that an organisation did something with a
//! document (delivered, opened, signed, …), and a detached CAdES signature over exactly those
//! JSON bytes by the organisation's member signing key.
//!
//! Detached CMS was chosen over JWS so that a third party needs nothing but OpenSSL and the
//! instance's root certificate: `openssl cms -verify -binary -inform DER -in receipt.p7s
//! -content receipt.json -CAfile root.pem -purpose any`. The JSON is signed as sent, so it is
//! never re-serialised before verification.
//!
//! This module does not decide which status may follow which; see [`crate::exchange`].

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_pki::cert::Certificate;
use korpu_sign::cades::{self, Signer};
use korpu_sign::validate::{validate_cades, Indication};
use serde::{Deserialize, Serialize};

use crate::DocsError;

/// What a receipt says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The document's identifier.
    pub document: String,
    /// `sent`, `delivered`, `opened`, `signed`, `rejected` or `answered`.
    pub status: String,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The subsystem that issued the receipt.
    pub by: String,
    /// A note (the reason for a rejection, the reply's id for `answered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hex SHA-256 of the container the receipt is about (for `signed`: the container with
    /// the recipient's signature added).
    pub container_sha256: String,
}

/// A receipt as it crosses the bridge and is stored: base64 of the exact JSON bytes, base64
/// of the DER CAdES signature over them, and for `signed` the countersigned container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The receipt JSON, base64.
    pub receipt: String,
    /// Detached CAdES signature over the receipt bytes (DER), base64.
    pub signature: String,
    /// For `signed`: the ASiC-E container with the signer's signature added, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl Envelope {
    /// The receipt JSON bytes and the DER signature, as a verifier such as `openssl cms`
    /// needs them.
    pub fn decode(&self) -> Result<(Vec<u8>, Vec<u8>), DocsError> {
        let json = B64
            .decode(&self.receipt)
            .map_err(|e| DocsError::Invalid(format!("receipt: not base64: {e}")))?;
        let p7s = B64
            .decode(&self.signature)
            .map_err(|e| DocsError::Invalid(format!("receipt signature: not base64: {e}")))?;
        Ok((json, p7s))
    }
}

/// Every status, in the order they can happen.
pub const STATUSES: &[&str] = &[
    "sent",
    "delivered",
    "opened",
    "signed",
    "rejected",
    "answered",
];

/// Signs `r` as `signer` and returns the envelope (without a container).
pub fn sign(r: &Receipt, signer: &Signer<'_>, at: SystemTime) -> Result<Envelope, DocsError> {
    let json = serde_json::to_vec(r).map_err(|e| DocsError::Invalid(e.to_string()))?;
    let p7s = cades::sign(&json, signer, at, None)
        .map_err(|e| DocsError::Config(format!("signing a receipt: {e}")))?;
    Ok(Envelope {
        receipt: B64.encode(&json),
        signature: B64.encode(&p7s),
        container: None,
    })
}

/// The common name in an RFC 4514 subject (`CN=AZ/GOV/1400001,O=…`).
pub(crate) fn common_name(subject: &str) -> Option<&str> {
    subject
        .split(',')
        .find_map(|p| p.trim().strip_prefix("CN="))
}

/// Verifies an envelope's signature against `anchors` and that it was signed by member
/// `member` (its certificate's common name), and returns the receipt.
pub fn verify(env: &Envelope, anchors: &[Certificate], member: &str) -> Result<Receipt, DocsError> {
    let bad = |m: String| DocsError::BadSignature(m);
    let (json, p7s) = env.decode()?;
    let report = validate_cades(&p7s, &json, anchors, SystemTime::now());
    // Receipts are B-B signatures checked when they arrive, without fetching revocation data
    // (as `accepted` says for containers).
    if report.indication != Indication::TotalPassed && !report.lacks_only_revocation() {
        return Err(bad(format!(
            "the receipt's signature is {:?}: {}",
            report.indication,
            report.reason.unwrap_or_default()
        )));
    }
    if common_name(&report.signer) != Some(member) {
        return Err(bad(format!(
            "the receipt is signed by {:?}, not by member {member}",
            report.signer
        )));
    }
    let r: Receipt = serde_json::from_slice(&json)
        .map_err(|e| DocsError::Invalid(format!("receipt JSON: {e}")))?;
    if !STATUSES.contains(&r.status.as_str()) {
        return Err(DocsError::Invalid(format!(
            "receipt status {:?} is not one of {STATUSES:?}",
            r.status
        )));
    }
    Ok(r)
}
