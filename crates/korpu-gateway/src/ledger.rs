//! What the gateway keeps in the evidence ledger and how it reads it back: each exchange
//! record as one opaque ledger entry (its canonical bytes), found by its message id and its
//! data subject ([`MESSAGE_ID`], [`DATA_SUBJECT`]: the keys [`entry`] names and [`indexer`]
//! gives again for bytes read back), and the data tracker's answer ([`SubjectPage`]).
//!
//! The ledger stores those keys as 64-bit keyed hashes, so a lookup may hand back an entry of
//! another id that shares a hash; every reader here decodes the entry and drops those that do
//! not name what was asked for.
//!
//! Deliberately not here: storage, proofs and checkpoints (`korpu-ledger`), the record's
//! encoding (`korpu_xroad::record`), evidence packages ([`crate::evidence`]).
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_ledger::{Entry, IndexKey, Indexer, KeySpace, Ledger, LedgerError, SignedCheckpoint};
use korpu_tlog::merkle::{leaf_hash, Hash};
use korpu_xroad::record::rfc3339_ms;
use serde::Deserialize;

use crate::record::ExchangeRecord;

/// The key space of exchanges' `X-Road-Id`s.
pub const MESSAGE_ID: KeySpace = KeySpace::new("message-id");
/// The key space of data subjects (whose data an exchange concerns).
pub const DATA_SUBJECT: KeySpace = KeySpace::new("data-subject");

/// Why a record could not be read back from the ledger.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The ledger refused (no such entry, a damaged segment, …).
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    /// The entry's bytes are not the canonical encoding of an exchange record.
    #[error("entry {index} is not an exchange record: {detail}")]
    NotARecord {
        /// The entry's index.
        index: u64,
        /// What the decoder said.
        detail: String,
    },
}

/// The keys a record is found by: its message id, and its data subject when it names one.
pub fn record_keys(rec: &ExchangeRecord) -> Vec<IndexKey<'_>> {
    let mut keys = vec![IndexKey::new(MESSAGE_ID, rec.message_id.as_str())];
    if let Some(s) = rec.data_subject.as_deref() {
        keys.push(IndexKey::new(DATA_SUBJECT, s));
    }
    keys
}

/// The ledger entry of `rec`: its canonical bytes ([`ExchangeRecord::leaf_bytes`]) and
/// [`record_keys`].
pub fn entry(rec: &ExchangeRecord) -> Entry<'_> {
    Entry {
        bytes: rec.leaf_bytes(),
        keys: record_keys(rec),
    }
}

/// The [`Indexer`] a ledger of exchange records is opened with: [`record_keys`] of the
/// entry's bytes, reading only the two fields (the bytes were checked against their leaf hash
/// and written by [`entry`]).
pub fn indexer() -> Indexer {
    #[derive(Deserialize)]
    struct Ids<'a> {
        #[serde(borrow)]
        message_id: std::borrow::Cow<'a, str>,
        #[serde(borrow, default)]
        data_subject: Option<std::borrow::Cow<'a, str>>,
    }
    Indexer::new(|bytes| {
        let ids: Ids = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut keys = vec![IndexKey::new(MESSAGE_ID, ids.message_id)];
        if let Some(s) = ids.data_subject {
            keys.push(IndexKey::new(DATA_SUBJECT, s));
        }
        Ok(keys)
    })
}

/// Decodes entry `index`'s bytes as a record.
pub fn decode(index: u64, bytes: &[u8]) -> Result<ExchangeRecord, ReadError> {
    ExchangeRecord::from_leaf_bytes(bytes).map_err(|e| ReadError::NotARecord {
        index,
        detail: e.to_string(),
    })
}

/// The record at `index`.
pub async fn record(ledger: &Ledger, index: u64) -> Result<ExchangeRecord, ReadError> {
    decode(index, &ledger.entry(index).await?)
}

/// The records with this `X-Road-Id` (both sides' records when one gateway served both),
/// ascending by index.
pub async fn find(
    ledger: &Ledger,
    message_id: &str,
) -> Result<Vec<(u64, ExchangeRecord)>, ReadError> {
    let wanted = message_id.to_owned();
    ledger
        .lookup(
            &IndexKey::new(MESSAGE_ID, message_id),
            move |index, bytes| {
                // The key is a 64-bit hash: a record of a colliding id is dropped here.
                keep_if(index, bytes, |r| r.message_id == wanted)
            },
        )
        .await?
        .into_iter()
        .map(|(index, rec)| Ok((index, rec?)))
        .collect()
}

/// What the lookups keep of a candidate: its record when `wanted` says it names what was
/// asked for, nothing when it does not, and the error when it is not a record.
fn keep_if(
    index: u64,
    bytes: &[u8],
    wanted: impl Fn(&ExchangeRecord) -> bool,
) -> Option<Result<ExchangeRecord, ReadError>> {
    match decode(index, bytes) {
        Ok(rec) => wanted(&rec).then_some(Ok(rec)),
        Err(e) => Some(Err(e)),
    }
}

/// One access to a data subject's data, with its proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectAccess {
    /// The entry's index in the log.
    pub index: u64,
    /// The record.
    pub record: ExchangeRecord,
    /// RFC 9162 inclusion proof of the entry in the page's checkpoint.
    pub proof: Vec<Hash>,
}

/// A page of [`subject_accesses`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPage {
    /// The accesses, newest first.
    pub entries: Vec<SubjectAccess>,
    /// The checkpoint every proof leads to (`None` before the first checkpoint).
    pub checkpoint: Option<SignedCheckpoint>,
    /// The cursor for the next (older) page, when there is one.
    pub next: Option<u64>,
}

/// A page of the accesses to `subject`'s data, newest first: the records whose
/// `data_subject` is `subject`, below `cursor` (an entry index, exclusive; `None` = from the
/// newest), at most `limit`, each with its inclusion proof against the latest checkpoint.
/// Records newer than that checkpoint are left out until the next one covers them.
pub async fn subject_accesses(
    ledger: &Ledger,
    subject: &str,
    cursor: Option<u64>,
    limit: usize,
) -> Result<SubjectPage, ReadError> {
    let wanted = subject.to_owned();
    let page = ledger
        .lookup_page(
            &IndexKey::new(DATA_SUBJECT, subject),
            cursor,
            limit,
            move |index, bytes| {
                // The key is a 64-bit hash: a record of a colliding subject is dropped here.
                keep_if(index, bytes, |r| {
                    r.data_subject.as_deref() == Some(wanted.as_str())
                })
            },
        )
        .await?;
    Ok(SubjectPage {
        entries: page
            .found
            .into_iter()
            .map(|f| {
                Ok(SubjectAccess {
                    index: f.index,
                    record: f.entry?,
                    proof: f.proof,
                })
            })
            .collect::<Result<_, ReadError>>()?,
        checkpoint: page.checkpoint,
        next: page.next,
    })
}

impl SubjectPage {
    /// The page in the data tracker's JSON shape (see [`crate::record::Recorder`]):
    /// `{"entries":[{"index","leaf","time","client","service","purpose","message_id",
    /// "leaf_hash","proof":{"tree_size","hashes","checkpoint"}}],"next"}`. `leaf` is the
    /// record's exact leaf bytes ([`ExchangeRecord::leaf_bytes`]) in base64: what the proof
    /// proves. A verifier recomputes the leaf hash from them and shows only what it parses
    /// from them; the other fields (`time` in RFC 3339 UTC, …) are conveniences for tools and
    /// prove nothing.
    pub fn to_tracker_json(&self) -> serde_json::Value {
        let entries: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|a| {
                let leaf = a.record.leaf_bytes();
                serde_json::json!({
                    "index": a.index,
                    "leaf": B64.encode(&leaf),
                    "time": rfc3339_ms(a.record.time_unix_ms),
                    "client": a.record.client,
                    "service": a.record.service,
                    "purpose": a.record.purpose,
                    "message_id": a.record.message_id,
                    "leaf_hash": hex::encode(leaf_hash(&leaf)),
                    "proof": {
                        "tree_size": self.checkpoint.as_ref().map(|c| c.checkpoint.size),
                        "hashes": a.proof.iter().map(hex::encode).collect::<Vec<_>>(),
                        "checkpoint": self.checkpoint.as_ref().map(|c| c.note.clone()),
                    },
                })
            })
            .collect();
        serde_json::json!({ "entries": entries, "next": self.next })
    }
}
