//! The exchange record: what each gateway logs about one exchange (the protocol's evidence
//! format), and its canonical byte encoding, the Merkle leaf of the gateway's evidence ledger.
//!
//! The encoding is compact JSON with the fields in declaration order and every optional field
//! present (as `null` when absent) but the last four, which are left out when absent; the same
//! record always gives the same bytes, and [`ExchangeRecord::from_leaf_bytes`] refuses bytes
//! that do not re-encode identically. ARCHITECTURE.md ("The exchange record's canonical
//! encoding") specifies it byte by byte, so an auditor can re-derive a leaf hash with any JSON
//! library that keeps key order; `tests/record_golden.rs` pins it with records written by the
//! code before the record moved here. Adding a field is a format change: append it at the end
//! and bump the log origin.
//!
//! The identifiers stay in the text form the gateway validated (with `korpu-id`) and signed:
//! the signature bases state them as text, and a record must re-encode to exactly the bytes
//! it was logged as, which a re-printed identifier need not. Digests stay lowercase hex text.
//!
//! Deliberately not here: the request and response bodies (only their digests; the bodies are
//! personal data and stay with the members), storage and lookups (the gateway's ledger).
use serde::{Deserialize, Serialize};

use korpu_tlog::merkle::{leaf_hash, Hash};
use korpu_tlog::proof::{TlogProof, TlogProofError};
use korpu_tlog::{Checkpoint, NoteVerifier};

/// Which side of the exchange recorded it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The caller's gateway (`"client"`).
    #[default]
    Client,
    /// The provider's gateway (`"provider"`).
    Provider,
}

impl Role {
    /// The encoded form: `client` or `provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Provider => "provider",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One exchange as recorded by one gateway.
///
/// `Default` is the empty record (empty strings, time 0, role client, every option absent):
/// not a record to log, but the base that writers fill with struct-update syntax
/// (`..Default::default()`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRecord {
    /// The `X-Road-Id` of the exchange.
    pub message_id: String,
    /// When the recording gateway saw the request, Unix milliseconds.
    pub time_unix_ms: u64,
    /// Client subsystem, `ClientId` text form, e.g. `AZ/GOV/1400003/benefits`.
    pub client: String,
    /// Called service, `ServiceId` text form.
    pub service: String,
    /// The recording gateway, `GatewayId` text form.
    pub gateway: String,
    /// `client` when recorded by the caller's gateway, `provider` by the provider's.
    pub role: Role,
    /// `X-Road-UserId`, the end user on whose behalf the client called.
    pub user_id: Option<String>,
    /// Whose personal data the exchange concerns, when the service declares one.
    pub data_subject: Option<String>,
    /// The declared purpose of access.
    pub purpose: Option<String>,
    /// Hex SHA-256 of the request as signed.
    pub request_digest: String,
    /// Hex SHA-256 of the response as signed.
    pub response_digest: Option<String>,
    /// HTTP status of the response.
    pub response_status: Option<u16>,
    /// Base64 DER ECDSA signature over the request by the client member's key.
    pub request_signature: String,
    /// Hex SHA-256 of the certificate that verifies `request_signature`.
    pub request_signer_cert_sha256: String,
    /// Base64 DER ECDSA signature over the response by the provider member's key.
    pub response_signature: Option<String>,
    /// Hex SHA-256 of the certificate that verifies `response_signature`.
    pub response_signer_cert_sha256: Option<String>,
    /// Why the exchange failed, in the X-Road error form, when it did.
    pub error: Option<String>,
    /// Hex SHA-256 of the request body, when the service keeps bodies (the body is then in the
    /// gateway's encrypted body store under this name). Absent otherwise, and then not encoded,
    /// so records of services that keep no bodies are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_sha256: Option<String>,
    /// Hex SHA-256 of the response body, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_sha256: Option<String>,
    /// The request's signature base, verbatim (`korpu-request/2`: length-prefixed fields,
    /// see [`signature_base_fields`]): its SHA-256 is `request_digest`, and its fields state the
    /// message id, creation time, client, service, user, purpose and data subject that were
    /// signed, so a verifier checks this record's own fields against what the signature
    /// covers. Absent in records of the first format (whose signatures covered less), and
    /// then not encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signed: Option<String>,
    /// The response's signature base (`korpu-response/2`), likewise for `response_digest`:
    /// the request digest it answers, the status and the `X-Road-Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_signed: Option<String>,
}

/// The fields of a signature base (`korpu-request/2` or `korpu-response/2`): a version line,
/// then `name=LEN:VALUE\n` fields, LEN the value's length in bytes. `None` when the text is
/// not in that form.
pub fn signature_base_fields(base: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let (version, mut rest) = base.split_once('\n')?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (len, after) = after.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let value = after.get(..len)?;
        rest = after.get(len..)?.strip_prefix('\n')?;
        fields.push((name, value));
    }
    Some((version, fields))
}

impl ExchangeRecord {
    /// The canonical encoding: compact JSON, fields in declaration order, `null` for absent
    /// options. This is the entry stored on disk and the input of the leaf hash.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        // Room for a typical record (two batch signatures, digests, fingerprints, ids: about
        // 1.2 KB) from the start, rather than growing a small buffer four times per record.
        let mut out = Vec::with_capacity(2048);
        serde_json::to_writer(&mut out, self)
            .expect("a struct of strings and integers always serializes");
        out
    }

    /// RFC 9162 leaf hash of [`ExchangeRecord::leaf_bytes`].
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf_bytes())
    }

    /// Decodes [`ExchangeRecord::leaf_bytes`], refusing anything that does not re-encode to
    /// the same bytes, so two different byte strings never stand for one record.
    pub fn from_leaf_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let rec: ExchangeRecord = serde_json::from_slice(bytes)?;
        if rec.leaf_bytes() != bytes {
            return Err(serde::de::Error::custom(
                "the bytes are not the canonical encoding of the record they hold",
            ));
        }
        Ok(rec)
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC), as records'
/// times are shown.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// Verifies a tlog-proof file whose `extra` line carries a record against trusted log keys
/// ([`TlogProof::verify_leaf`] over the record's leaf hash); returns the record and the
/// checkpoint it is included in.
pub fn verify_proof(
    proof: &TlogProof,
    keys: &[NoteVerifier],
) -> Result<(ExchangeRecord, Checkpoint), TlogProofError> {
    let bytes = proof
        .extra
        .as_deref()
        .ok_or_else(|| TlogProofError::Malformed("no extra line carrying the record".into()))?;
    let record = ExchangeRecord::from_leaf_bytes(bytes).map_err(|e| {
        TlogProofError::Malformed(format!("the extra data is not an exchange record: {e}"))
    })?;
    let cp = proof.verify_leaf(&record.leaf_hash(), keys)?;
    Ok((record, cp))
}

#[cfg(any(test, feature = "test-util"))]
impl ExchangeRecord {
    /// A complete client-side record with fixed values (the one the encoding test pins), for
    /// tests elsewhere to start from with struct-update syntax instead of spelling out every
    /// field again.
    pub fn example() -> Self {
        Self {
            message_id: "4b6f7270-0001".into(),
            time_unix_ms: 1_700_000_000_123,
            client: "AZ/GOV/1400003/benefits".into(),
            service: "AZ/GOV/1400001/population/familyComposition".into(),
            gateway: "AZ/GOV/1400003/gw1".into(),
            role: Role::Client,
            user_id: Some("AZ1234567".into()),
            data_subject: Some("AZ7654321".into()),
            purpose: Some("benefit-eligibility".into()),
            request_digest: "00".repeat(32),
            response_status: Some(200),
            request_signature: "MEUCIQ==".into(),
            request_signer_cert_sha256: "11".repeat(32),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_fixed() {
        let r = ExchangeRecord::example();
        let text = String::from_utf8(r.leaf_bytes()).unwrap();
        assert!(text.starts_with(r#"{"message_id":"4b6f7270-0001","time_unix_ms":1700000000123,"client":"AZ/GOV/1400003/benefits","#));
        assert!(text.ends_with(
            r#""response_signature":null,"response_signer_cert_sha256":null,"error":null}"#
        ));
        assert_eq!(ExchangeRecord::from_leaf_bytes(text.as_bytes()).unwrap(), r);
        // Same record, different bytes: refused.
        let spaced = text.replacen(':', ": ", 1);
        assert!(ExchangeRecord::from_leaf_bytes(spaced.as_bytes()).is_err());
        let extra = text.replacen('{', r#"{"x":1,"#, 1);
        assert!(ExchangeRecord::from_leaf_bytes(extra.as_bytes()).is_err());
    }
}
