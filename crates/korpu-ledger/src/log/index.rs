//! The lookup index: keyed hashes of the ids callers name for each entry (never the ids), and
//! the lookups through them: [`Ledger::lookup`] and [`Ledger::lookup_page`].
//!
//! Keys live in caller-named spaces ([`KeySpace`]), domain-separated in the keyed hash, so
//! one id in two spaces gives unrelated keys. The keys are 64-bit truncations: a lookup gives
//! every entry stored under the key's hash, which may include an entry of another id; only
//! the caller, who can read its entries, can drop those (the `keep` function of the lookups).
use std::borrow::Cow;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use ring::hmac;
use sha2::{Digest, Sha256};

use super::segment::replace_file;
use super::{blocking, lock, read, LeafFile, Ledger, Shared, SignedCheckpoint};
use crate::merkle::{inclusion_proof_from, Hash};
use crate::LedgerError;

/// A namespace of lookup keys, named by the caller (`message-id`, `data-subject`): its label
/// goes into the keyed hash before the id, so equal ids in two spaces never share a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeySpace(&'static str);

impl KeySpace {
    /// A key space labelled `label` (no NUL byte: the label ends at one in the hashed input).
    pub const fn new(label: &'static str) -> KeySpace {
        let bytes = label.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(bytes[i] != 0, "a key space label holds no NUL byte");
            i += 1;
        }
        KeySpace(label)
    }

    /// The label.
    pub const fn label(self) -> &'static str {
        self.0
    }
}

/// One id an entry is found by: an id in a [`KeySpace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey<'a> {
    /// Which kind of id.
    pub space: KeySpace,
    /// The id, as the caller names it.
    pub id: Cow<'a, str>,
}

impl<'a> IndexKey<'a> {
    /// The key of `id` in `space`.
    pub fn new(space: KeySpace, id: impl Into<Cow<'a, str>>) -> IndexKey<'a> {
        IndexKey {
            space,
            id: id.into(),
        }
    }
}

/// What [`Ledger::append`] takes: the caller's bytes, stored and hashed as they are (the Merkle
/// leaf), and the keys to find them by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The entry's bytes: the leaf.
    pub bytes: Vec<u8>,
    /// The ids the entry can be looked up by; the same the [`Indexer`] gives for `bytes`.
    pub keys: Vec<IndexKey<'a>>,
}

type IndexFn = dyn for<'b> Fn(&'b [u8]) -> Result<Vec<IndexKey<'b>>, String> + Send + Sync;

/// The keys of an entry's bytes, as its caller gave them at append: the ledger asks it when it
/// indexes entries it reads back (a rebuild, a read-only open, the entries after the persisted
/// state), because the keys themselves are stored only as hashes. An `Err` marks bytes that
/// are not an entry of the caller's kind.
#[derive(Clone)]
pub struct Indexer(Arc<IndexFn>);

impl Indexer {
    /// An indexer from a function of the entry's bytes.
    pub fn new(
        f: impl for<'b> Fn(&'b [u8]) -> Result<Vec<IndexKey<'b>>, String> + Send + Sync + 'static,
    ) -> Indexer {
        Indexer(Arc::new(f))
    }

    /// The keys of `bytes`.
    pub fn keys<'b>(&self, bytes: &'b [u8]) -> Result<Vec<IndexKey<'b>>, String> {
        (self.0)(bytes)
    }
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Indexer")
    }
}

/// One entry a lookup kept, with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<T> {
    /// The entry's index in the log.
    pub index: u64,
    /// What the caller's `keep` made of its bytes.
    pub entry: T,
    /// RFC 9162 inclusion proof of the entry in the page's checkpoint.
    pub proof: Vec<Hash>,
}

/// A page of [`Ledger::lookup_page`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupPage<T> {
    /// The entries kept, newest first.
    pub found: Vec<Found<T>>,
    /// The checkpoint every proof leads to (`None` before the first checkpoint).
    pub checkpoint: Option<SignedCheckpoint>,
    /// The cursor for the next (older) page, when there is one.
    pub next: Option<u64>,
}

/// The secret behind the index keys, kept 0600 in `index.key` so that the index runs stay
/// valid across restarts. The keys are HMAC-SHA-256 of the id (truncated to 64 bits), so a
/// reader of the runs without the secret learns only which entries share an id, never an id.
pub(super) struct IndexSecret {
    key: hmac::Key,
    fingerprint: String,
}

impl IndexSecret {
    /// Reads `index.key` in `dir`, making one when it is missing or unreadable (the runs made
    /// with the old one then no longer match the state's fingerprint and are rebuilt).
    pub(super) fn load(dir: &Path) -> Result<IndexSecret, LedgerError> {
        let path = dir.join(KEY_FILE);
        match fs::read(&path) {
            Ok(secret) if secret.len() == KEY_BYTES => {
                return Ok(IndexSecret::from_secret(&secret))
            }
            Ok(_) => tracing::warn!("{KEY_FILE} is not {KEY_BYTES} bytes; making a new one"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LedgerError::io(format!("reading {}", path.display()))(e)),
        }
        let secret = random_secret()?;
        replace_file(dir, KEY_FILE, &secret, true)?;
        Ok(IndexSecret::from_secret(&secret))
    }

    /// A key for this process only: a read-only open indexes in memory and reads no secret.
    pub(super) fn ephemeral() -> Result<IndexSecret, LedgerError> {
        Ok(IndexSecret::from_secret(&random_secret()?))
    }

    fn from_secret(secret: &[u8]) -> IndexSecret {
        let mut h = Sha256::new();
        h.update(b"korpu-ledger index key fingerprint\n");
        h.update(secret);
        IndexSecret {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            fingerprint: hex::encode(&h.finalize()[..8]),
        }
    }

    /// Names the key without revealing it: a state records it, so that runs made with another
    /// key are never searched with this one.
    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The stored key of `key`: HMAC-SHA-256 of `label || 0x00 || id`, truncated to 64 bits.
    /// (The gateway's labels `message-id` and `data-subject` give the keys this ledger has
    /// always written, so runs made before entries were opaque stay valid.)
    pub(super) fn key(&self, key: &IndexKey<'_>) -> u64 {
        self.hash(key.space.label().as_bytes(), &key.id)
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

/// The index of the entries no run holds yet (those after the persisted state), in two maps
/// because almost every key occurs once (a message id; subjects recur). Collisions of the
/// 64-bit keys are the caller's to resolve.
#[derive(Default)]
pub(super) struct RecentIndex {
    first: HashMap<u64, u64, KeyIsHash>,
    more: HashMap<u64, Vec<u64>, KeyIsHash>,
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
    /// Records entry `index` under each of its stored keys.
    pub(super) fn insert(&mut self, index: u64, keys: &[u64]) {
        for &key in keys {
            match self.first.entry(key) {
                MapEntry::Vacant(v) => {
                    v.insert(index);
                }
                MapEntry::Occupied(_) => self.more.entry(key).or_default().push(index),
            }
        }
    }

    fn candidates(&self, key: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self.first.get(&key).copied().into_iter().collect();
        out.extend(self.more.get(&key).into_iter().flatten());
        out
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
        self.more.retain(|_, all| {
            all.retain(|&i| i >= end);
            !all.is_empty()
        });
    }
}

impl Shared {
    /// Every entry index stored under `key`, in memory or in a run, ascending, each once.
    fn candidates(&self, key: u64) -> Result<Vec<u64>, LedgerError> {
        // One lock for both, so that a run replacing recent entries is seen exactly once.
        let (mut found, runs) = {
            let d = lock(&self.durable);
            (d.recent.candidates(key), read(&self.runs).clone())
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
    /// Every durable entry stored under `key` that `keep` keeps, ascending by index: `keep`
    /// gets each candidate's index and bytes (checked against its leaf hash) and returns what
    /// the caller makes of it, or `None` for an entry that does not name what was asked for
    /// (the stored keys are 64-bit hashes: another id can share one).
    pub async fn lookup<T: Send + 'static>(
        &self,
        key: &IndexKey<'_>,
        mut keep: impl FnMut(u64, &[u8]) -> Option<T> + Send + 'static,
    ) -> Result<Vec<(u64, T)>, LedgerError> {
        let key = self.inner.shared.keys.key(key);
        let shared = self.inner.shared.clone();
        blocking(move || {
            let mut found = Vec::new();
            for index in shared.candidates(key)? {
                let bytes = shared.read_entry(index, shared.offsets.get(index)?)?;
                if let Some(t) = keep(index, &bytes) {
                    found.push((index, t));
                }
            }
            Ok(found)
        })
        .await
    }

    /// A page of the entries stored under `key`, newest first: those `keep` keeps (as in
    /// [`Self::lookup`]) below `cursor` (an entry index, exclusive; `None` = from the newest),
    /// at most `limit`, each with its inclusion proof against the latest checkpoint. Entries
    /// newer than that checkpoint are left out until the next one covers them.
    pub async fn lookup_page<T: Send + 'static>(
        &self,
        key: &IndexKey<'_>,
        cursor: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(u64, &[u8]) -> Option<T> + Send + 'static,
    ) -> Result<LookupPage<T>, LedgerError> {
        let Some(cp) = self.latest_checkpoint() else {
            return Ok(LookupPage {
                found: Vec::new(),
                checkpoint: None,
                next: None,
            });
        };
        let size = cp.checkpoint.size;
        let below = cursor.map_or(size, |c| c.min(size));
        let key = self.inner.shared.keys.key(key);
        let shared = self.inner.shared.clone();
        let limit = limit.max(1);
        let (found, next) = blocking(move || {
            let mut candidates = shared.candidates(key)?;
            // Newest first, below the cursor.
            candidates.truncate(candidates.partition_point(|&i| i < below));
            let mut out: Vec<Found<T>> = Vec::new();
            let mut next = None;
            for index in candidates.into_iter().rev() {
                let bytes = shared.read_entry(index, shared.offsets.get(index)?)?;
                let Some(entry) = keep(index, &bytes) else {
                    continue;
                };
                if out.len() == limit {
                    next = out.last().map(|a| a.index);
                    break;
                }
                let tree = shared.tree_covering(size)?;
                let proof =
                    inclusion_proof_from(&tree.with_store(&LeafFile(&shared.leaves)), index, size)?;
                out.push(Found {
                    index,
                    entry,
                    proof,
                });
            }
            Ok((out, next))
        })
        .await?;
        Ok(LookupPage {
            found,
            checkpoint: Some(cp),
            next,
        })
    }
}
