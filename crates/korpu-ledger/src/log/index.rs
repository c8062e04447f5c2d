//! The message-id and data-subject indexes (keyed hashes of the ids, never the ids), and the
//! lookups through them: [`Ledger::find`] and [`Ledger::subject_accesses`].
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

use ring::hmac;
use sha2::{Digest, Sha256};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::segment::replace_file;
use super::{blocking, lock, read, rfc3339_ms, LeafFile, Ledger, Shared, SignedCheckpoint};
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

/// The secret behind the index keys, kept 0600 in `index.key` so that the index runs stay
/// valid across restarts. The keys are HMAC-SHA-256 of the id (truncated to 64 bits), so a
/// reader of the runs without the secret learns only which entries share an id, never an id.
pub(super) struct IndexKey {
    key: hmac::Key,
    fingerprint: String,
}

impl IndexKey {
    /// Reads `index.key` in `dir`, making one when it is missing or unreadable (the runs made
    /// with the old one then no longer match the state's fingerprint and are rebuilt).
    pub(super) fn load(dir: &Path) -> Result<IndexKey, LedgerError> {
        let path = dir.join(KEY_FILE);
        match fs::read(&path) {
            Ok(secret) if secret.len() == KEY_BYTES => return Ok(IndexKey::from_secret(&secret)),
            Ok(_) => tracing::warn!("{KEY_FILE} is not {KEY_BYTES} bytes; making a new one"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LedgerError::io(format!("reading {}", path.display()))(e)),
        }
        let secret = random_secret()?;
        replace_file(dir, KEY_FILE, &secret, true)?;
        Ok(IndexKey::from_secret(&secret))
    }

    /// A key for this process only: a read-only open indexes in memory and reads no secret.
    pub(super) fn ephemeral() -> Result<IndexKey, LedgerError> {
        Ok(IndexKey::from_secret(&random_secret()?))
    }

    fn from_secret(secret: &[u8]) -> IndexKey {
        let mut h = Sha256::new();
        h.update(b"korpu-ledger index key fingerprint\n");
        h.update(secret);
        IndexKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            fingerprint: hex::encode(&h.finalize()[..8]),
        }
    }

    /// Names the key without revealing it: a state records it, so that runs made with another
    /// key are never searched with this one.
    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The index key of a message id.
    pub(super) fn message(&self, message_id: &str) -> u64 {
        self.hash(b"message-id", message_id)
    }

    /// The index key of a data subject: domain-separated from message ids, which share runs.
    pub(super) fn subject(&self, subject: &str) -> u64 {
        self.hash(b"data-subject", subject)
    }

    fn hash(&self, domain: &[u8], id: &str) -> u64 {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain);
        ctx.update(&[0]);
        ctx.update(id.as_bytes());
        let tag = ctx.sign();
        u64::from_le_bytes(tag.as_ref()[..8].try_into().expect("a tag has 32 bytes"))
    }
}

/// The file of the index key's secret.
pub(super) const KEY_FILE: &str = "index.key";

fn random_secret() -> Result<[u8; KEY_BYTES], LedgerError> {
    let mut secret = [0u8; KEY_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| LedgerError::InvalidKey("the system gave no randomness".into()))?;
    Ok(secret)
}
const KEY_BYTES: usize = 32;

/// The index of the entries no run holds yet (those after the persisted state): message ids
/// in two maps because almost every id occurs once, and data subjects → entry indexes,
/// ascending. Collisions of the 64-bit keys are resolved by reading the candidates.
#[derive(Default)]
pub(super) struct RecentIndex {
    first: HashMap<u64, u64, KeyIsHash>,
    more: HashMap<u64, Vec<u64>, KeyIsHash>,
    subjects: HashMap<u64, Vec<u64>, KeyIsHash>,
}

/// The index keys are already outputs of a keyed hash, so hashing them again (the writer
/// thread's largest cost after the copy) buys nothing; flooding would need the key.
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

impl RecentIndex {
    /// Records entry `index`, with its message key and subject key if it names a subject.
    pub(super) fn insert(&mut self, index: u64, message: u64, subject: Option<u64>) {
        match self.first.entry(message) {
            MapEntry::Vacant(v) => {
                v.insert(index);
            }
            MapEntry::Occupied(_) => self.more.entry(message).or_default().push(index),
        }
        if let Some(s) = subject {
            self.subjects.entry(s).or_default().push(index);
        }
    }

    fn candidates(&self, key: u64, kind: Kind) -> Vec<u64> {
        match kind {
            Kind::Message => {
                let mut out: Vec<u64> = self.first.get(&key).copied().into_iter().collect();
                out.extend(self.more.get(&key).into_iter().flatten());
                out
            }
            Kind::Subject => self.subjects.get(&key).cloned().unwrap_or_default(),
        }
    }

    /// The (key, index) pairs of the entries below `end`, sorted: the next run.
    pub(super) fn pairs_below(&self, end: u64) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = self
            .first
            .iter()
            .map(|(&k, &i)| (k, i))
            .chain(
                self.more
                    .iter()
                    .chain(&self.subjects)
                    .flat_map(|(&k, all)| all.iter().map(move |&i| (k, i))),
            )
            .filter(|&(_, i)| i < end)
            .collect();
        out.sort_unstable();
        out
    }

    /// Drops the entries below `end`, which a run now holds.
    pub(super) fn forget_below(&mut self, end: u64) {
        self.first.retain(|_, i| *i >= end);
        for map in [&mut self.more, &mut self.subjects] {
            map.retain(|_, all| {
                all.retain(|&i| i >= end);
                !all.is_empty()
            });
        }
    }
}

/// Which index a key belongs to (they share runs, told apart by the key's domain).
#[derive(Clone, Copy)]
enum Kind {
    Message,
    Subject,
}

impl Shared {
    /// Every entry index stored under `key`, in memory or in a run, ascending, each once.
    fn lookup(&self, key: u64, kind: Kind) -> Result<Vec<u64>, LedgerError> {
        // One lock for both, so that a run replacing recent entries is seen exactly once.
        let (mut found, runs) = {
            let d = lock(&self.durable);
            (d.recent.candidates(key, kind), read(&self.runs).clone())
        };
        for run in runs.iter() {
            found.extend(run.lookup(key)?);
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
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
        let key = self.inner.shared.keys.subject(subject);
        let shared = self.inner.shared.clone();
        let wanted = subject.to_string();
        let limit = limit.max(1);
        let (entries, next) = blocking(move || {
            let mut candidates = shared.lookup(key, Kind::Subject)?;
            // Newest first, below the cursor.
            candidates.truncate(candidates.partition_point(|&i| i < below));
            let mut out = Vec::new();
            let mut next = None;
            for index in candidates.into_iter().rev() {
                let record = shared.read_entry(index, shared.offsets.get(index)?)?;
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
        let key = self.inner.shared.keys.message(message_id);
        let shared = self.inner.shared.clone();
        let wanted = message_id.to_string();
        blocking(move || {
            let mut found = Vec::new();
            for index in shared.lookup(key, Kind::Message)? {
                if shared
                    .read_entry(index, shared.offsets.get(index)?)?
                    .message_id
                    == wanted
                {
                    found.push(index);
                }
            }
            Ok(found)
        })
        .await
    }
}
