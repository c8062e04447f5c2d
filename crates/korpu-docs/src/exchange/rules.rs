//! The exchange's rules as plain functions and types: the metadata a sender signs
//! (`document.json`), the document a local user sends, the status order, document ids and
//! deadlines, and the checks a delivered container's metadata must pass. No I/O: the
//! [`Exchange`](super::Exchange) reads and writes, these decide.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_id::SubsystemId;
use korpu_sign::asice;
use korpu_sign::validate::Indication;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::retention::Retention;
use crate::store::AttRow;
use crate::DocsError;

/// The metadata file inside every container.
pub const META_FILE: &str = "document.json";

/// The metadata a sender signs, as `document.json` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMeta {
    /// 32 hex digits, chosen by the sender.
    pub id: String,
    /// Sending subsystem.
    pub from: String,
    /// Receiving subsystem.
    pub to: String,
    /// Title.
    pub title: String,
    /// Document type.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The number in the sender's register.
    pub register_no: String,
    /// Answer expected by, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// The document this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Retention class.
    pub retention: String,
    /// RFC 3339.
    pub created: String,
    /// The attachments, in order.
    pub attachments: Vec<AttachmentMeta>,
}

/// One attachment in [`DocumentMeta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentMeta {
    /// File name in the container.
    pub name: String,
    /// Media type.
    pub mime_type: String,
    /// Hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// A document to send, as the local API takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Recipient subsystem, e.g. `AZ/GOV/1400001/docs`.
    pub to: String,
    /// Title (required).
    pub title: String,
    /// Document type (required), e.g. `letter`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The number in the sender's register (required).
    pub register_no: String,
    /// `YYYY-MM-DD` (end of that day, UTC) or RFC 3339; must be in the future.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The document this one answers.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Retention class; default from the configuration.
    #[serde(default)]
    pub retention: Option<String>,
    /// At least one.
    pub attachments: Vec<Attachment>,
}

/// An attachment in a [`SendRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// Media type; default `application/octet-stream`.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The bytes, base64.
    pub content: String,
}

impl Attachment {
    /// An attachment of `content`, named `name`.
    pub fn from_bytes(name: &str, mime_type: Option<String>, content: &[u8]) -> Self {
        Attachment {
            name: name.to_owned(),
            mime_type,
            content: B64.encode(content),
        }
    }
}

/// A local action on a received document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read it.
    Open,
    /// Sign it: the container gets this organisation's signature too.
    Sign,
    /// Refuse it.
    Reject,
}

impl Action {
    pub(super) fn status(self) -> &'static str {
        match self {
            Action::Open => "opened",
            Action::Sign => "signed",
            Action::Reject => "rejected",
        }
    }
}

/// Whether status `new` may follow `current`.
pub fn may_follow(current: &str, new: &str) -> bool {
    match new {
        "delivered" => current == "sent",
        "opened" => current == "delivered",
        "signed" | "rejected" => matches!(current, "delivered" | "opened"),
        "answered" => matches!(current, "delivered" | "opened" | "signed" | "rejected"),
        _ => false,
    }
}

pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
}

/// Parses `YYYY-MM-DD` (end of that day, UTC) or RFC 3339 into Unix seconds.
pub fn parse_deadline(s: &str) -> Result<i64, DocsError> {
    let full = if s.len() == 10 {
        format!("{s}T23:59:59Z")
    } else {
        s.to_owned()
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|e| {
        DocsError::Invalid(format!(
            "deadline {s:?}: {e}; give YYYY-MM-DD or an RFC 3339 time"
        ))
    })?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0))
}

pub(super) fn random_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

pub(super) fn check_id(id: &str) -> Result<(), DocsError> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(DocsError::Invalid(format!(
            "document id {id:?} is not 32 lowercase hex digits"
        )))
    }
}

/// Checks a delivered document's signed metadata against who sent it, who receives it and the
/// files the container holds (`files` includes `document.json`; pure: the signature itself is
/// checked before), and returns its
/// retention class.
pub fn check_delivery(
    meta: &DocumentMeta,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    client: &SubsystemId,
    me: &SubsystemId,
    max_attachments: usize,
) -> Result<Retention, DocsError> {
    check_id(&meta.id)?;
    if meta.from != client.to_string() {
        return Err(DocsError::Invalid(format!(
            "{META_FILE} says it is from {}, but {client} sent it",
            meta.from
        )));
    }
    if meta.to != me.to_string() {
        return Err(DocsError::Invalid(format!(
            "the document is addressed to {}, this is {}",
            meta.to, me
        )));
    }
    if meta.title.trim().is_empty() {
        return Err(DocsError::Invalid("the document has no title".into()));
    }
    if meta.attachments.len() + 1 != files.len() {
        return Err(DocsError::Invalid(format!(
            "{META_FILE} lists {} attachments, the container holds {} files besides it",
            meta.attachments.len(),
            files.len().saturating_sub(1)
        )));
    }
    if meta.attachments.len() > max_attachments {
        return Err(DocsError::Invalid(format!(
            "{} attachments, more than this server's limit of {}",
            meta.attachments.len(),
            max_attachments
        )));
    }
    for a in &meta.attachments {
        let content = files.get(&a.name).ok_or_else(|| {
            DocsError::Invalid(format!("attachment {:?} is not in the container", a.name))
        })?;
        if hex::encode(Sha256::digest(content)) != a.sha256 {
            return Err(DocsError::Invalid(format!(
                "attachment {:?} does not match the digest in {META_FILE}",
                a.name
            )));
        }
    }
    Retention::parse(&meta.retention).map_err(DocsError::Invalid)
}

/// The store's rows for the attachments `atts` lists.
pub(super) fn att_rows(atts: &[AttachmentMeta]) -> Vec<AttRow> {
    atts.iter()
        .map(|a| AttRow {
            name: a.name.clone(),
            mime_type: a.mime_type.clone(),
            sha256: a.sha256.clone(),
            size: a.size as i64,
        })
        .collect()
}

/// The current time in Unix seconds (for `expire` without a given time).
pub fn unix_now() -> i64 {
    now_secs()
}

/// Whether a container's signatures are good enough to accept a delivery: every signature
/// intact and trusted, where "revocation not established" (INDETERMINATE/TRY_LATER, the verdict
/// of a B-B/B-T signature with no revocation data) is accepted. The exchange validates offline
/// and at once, as it did when such signatures were reported "revocation not checked"; a
/// revoked signer (TOTAL_FAILED/REVOKED, or REVOKED_NO_POE) is still refused, and the receiving
/// organisation can establish revocation later with `korpu doc verify --fetch-revocation`.
pub(super) fn accepted(report: &asice::ContainerReport) -> bool {
    !report.signatures.is_empty()
        && report.signatures.iter().all(|s| {
            s.report.indication == Indication::TotalPassed || s.report.lacks_only_revocation()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_order() {
        assert!(may_follow("sent", "delivered"));
        assert!(may_follow("delivered", "opened"));
        assert!(may_follow("opened", "signed"));
        assert!(may_follow("delivered", "rejected"));
        assert!(may_follow("signed", "answered"));
        assert!(!may_follow("sent", "opened"));
        assert!(!may_follow("signed", "rejected"));
        assert!(!may_follow("rejected", "signed"));
        assert!(!may_follow("opened", "opened"));
        assert!(!may_follow("sent", "answered"));
    }

    #[test]
    fn delivery_checks() {
        let a: SubsystemId = "AZ/GOV/1400001/docs".parse().unwrap();
        let b: SubsystemId = "AZ/GOV/1400002/docs".parse().unwrap();
        let mut files = std::collections::BTreeMap::new();
        files.insert(META_FILE.to_owned(), b"{}".to_vec());
        files.insert("x.txt".to_owned(), b"x".to_vec());
        let meta = DocumentMeta {
            id: "ab".repeat(16),
            from: a.to_string(),
            to: b.to_string(),
            title: "t".into(),
            doc_type: "letter".into(),
            register_no: "1".into(),
            deadline: None,
            reply_to: None,
            retention: "1y".into(),
            created: "2026-01-01T00:00:00Z".into(),
            attachments: vec![AttachmentMeta {
                name: "x.txt".into(),
                mime_type: "text/plain".into(),
                sha256: hex::encode(Sha256::digest(b"x")),
                size: 1,
            }],
        };
        assert!(check_delivery(&meta, &files, &a, &b, 5).is_ok());
        let err = |m: &DocumentMeta, f: &std::collections::BTreeMap<String, Vec<u8>>, lim| {
            check_delivery(m, f, &a, &b, lim).unwrap_err().to_string()
        };
        assert!(err(&meta, &files, 0).contains("limit of 0"));
        assert!(err(
            &DocumentMeta {
                from: b.to_string(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("says it is from"));
        assert!(err(
            &DocumentMeta {
                to: a.to_string(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("addressed to"));
        assert!(err(
            &DocumentMeta {
                title: " ".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("no title"));
        assert!(err(
            &DocumentMeta {
                id: "X".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("32 lowercase hex"));
        assert!(err(
            &DocumentMeta {
                retention: "never".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("retention"));
        let mut altered = files.clone();
        altered.insert("x.txt".into(), b"y".to_vec());
        assert!(err(&meta, &altered, 5).contains("does not match the digest"));
        let mut extra = files.clone();
        extra.insert("unlisted.txt".into(), b"z".to_vec());
        assert!(err(&meta, &extra, 5).contains("lists 1 attachments"));
        let mut renamed = files.clone();
        renamed.remove("x.txt");
        renamed.insert("y.txt".into(), b"x".to_vec());
        assert!(err(&meta, &renamed, 5).contains("not in the container"));
    }

    #[test]
    fn deadlines() {
        assert_eq!(parse_deadline("1970-01-02").unwrap(), 86_400 + 86_399);
        assert_eq!(parse_deadline("1970-01-01T00:01:00Z").unwrap(), 60);
        assert!(parse_deadline("tomorrow").is_err());
    }
}
