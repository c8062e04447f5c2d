//! The message-id and data-subject indexes (keyed hashes of the ids, never the ids), and the
//! lookups through them: [`Ledger::find`] and [`Ledger::subject_accesses`].
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::{blocking, lock, rfc3339_ms, LeafFile, Ledger, SignedCheckpoint};
use crate::merkle::{inclusion_proof_from, leaf_hash, Hash};
use crate::record::ExchangeRecord;
use crate::LedgerError;

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

/// A page of [`Ledger::subject_accesses`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPage {
    /// The accesses, newest first.
    pub entries: Vec<SubjectAccess>,
    /// The checkpoint every proof leads to (`None` before the first checkpoint).
    pub checkpoint: Option<SignedCheckpoint>,
    /// The cursor for the next (older) page, when there is one.
    pub next: Option<u64>,
}

impl SubjectPage {
    /// The page in the data tracker's JSON shape (see the gateway's `Recorder`):
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

/// keyed hash of a data subject id → the indexes of the entries naming it, ascending.
pub(super) type SubjectIndex = HashMap<u64, Vec<u64>, KeyIsHash>;

/// The index key of a data subject: domain-separated from message ids, which share the hasher.
pub(super) fn subject_key(hasher: &RandomState, subject: &str) -> u64 {
    hasher.hash_one(("data-subject", subject))
}

/// message id → entry indexes, keyed by a keyed hash of the id (collisions are resolved by
/// reading the candidates), in two maps because almost every id occurs once.
#[derive(Default)]
pub(super) struct MessageIndex {
    pub(super) first: HashMap<u64, u64, KeyIsHash>,
    pub(super) more: HashMap<u64, Vec<u64>, KeyIsHash>,
}

/// The index keys are already outputs of a per-process keyed hash, so hashing them again (the
/// writer thread's largest cost after the copy) buys nothing; flooding would need the key.
pub(super) type KeyIsHash = std::hash::BuildHasherDefault<PassThrough>;

#[derive(Default)]
pub(super) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl MessageIndex {
    pub(super) fn insert(&mut self, key: u64, index: u64) {
        match self.first.entry(key) {
            MapEntry::Vacant(v) => {
                v.insert(index);
            }
            MapEntry::Occupied(_) => self.more.entry(key).or_default().push(index),
        }
    }

    pub(super) fn candidates(&self, key: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self.first.get(&key).copied().into_iter().collect();
        if let Some(more) = self.more.get(&key) {
            out.extend_from_slice(more);
        }
        out
    }
}

impl Ledger {
    /// A page of the accesses to `subject`'s data, newest first: the entries whose
    /// `data_subject` is `subject`, below `cursor` (an entry index, exclusive; `None` = from the
    /// newest), at most `limit`, each with its inclusion proof against the latest checkpoint.
    /// Entries newer than that checkpoint are left out until the next one covers them.
    pub async fn subject_accesses(
        &self,
        subject: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<SubjectPage, LedgerError> {
        let Some(cp) = self.latest_checkpoint() else {
            return Ok(SubjectPage {
                entries: Vec::new(),
                checkpoint: None,
                next: None,
            });
        };
        let size = cp.checkpoint.size;
        let below = cursor.map_or(size, |c| c.min(size));
        let key = subject_key(&self.inner.key_hasher, subject);
        // Newest first: candidates below the cursor, with their locations.
        let candidates: Vec<(u64, u64)> = {
            let d = lock(&self.inner.shared.durable);
            match d.subjects.get(&key) {
                None => Vec::new(),
                Some(all) => {
                    let end = all.partition_point(|&i| i < below);
                    all[..end]
                        .iter()
                        .rev()
                        .map(|&i| (i, d.offsets[i as usize]))
                        .collect()
                }
            }
        };
        let shared = self.inner.shared.clone();
        let wanted = subject.to_string();
        let limit = limit.max(1);
        let (entries, next) = blocking(move || {
            let mut out = Vec::new();
            let mut next = None;
            for (index, loc) in candidates {
                let record = shared.read_entry(index, loc)?;
                // The key is a 64-bit hash: a colliding subject is skipped here.
                if record.data_subject.as_deref() != Some(wanted.as_str()) {
                    continue;
                }
                if out.len() == limit {
                    next = out.last().map(|a: &SubjectAccess| a.index);
                    break;
                }
                let tree = shared.tree_covering(size)?;
                let proof =
                    inclusion_proof_from(&tree.with_store(&LeafFile(&shared.leaves)), index, size)?;
                out.push(SubjectAccess {
                    index,
                    record,
                    proof,
                });
            }
            Ok((out, next))
        })
        .await?;
        Ok(SubjectPage {
            entries,
            checkpoint: Some(cp),
            next,
        })
    }

    /// Indexes of the entries with this `X-Road-Id`, ascending.
    pub async fn find(&self, message_id: &str) -> Result<Vec<u64>, LedgerError> {
        let key = self.inner.key_hasher.hash_one(message_id);
        let candidates: Vec<(u64, u64)> = {
            let d = lock(&self.inner.shared.durable);
            d.index
                .candidates(key)
                .into_iter()
                .map(|i| (i, d.offsets[i as usize]))
                .collect()
        };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let shared = self.inner.shared.clone();
        let wanted = message_id.to_string();
        blocking(move || {
            let mut found = Vec::new();
            for (index, offset) in candidates {
                if shared.read_entry(index, offset)?.message_id == wanted {
                    found.push(index);
                }
            }
            found.sort_unstable();
            Ok(found)
        })
        .await
    }
}
