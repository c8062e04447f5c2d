//! The durable ledger: group-committed appends, the Merkle tree over them, signed checkpoints.
//!
//! # Files (all in [`LedgerConfig::dir`])
//! * `entries.NNNNNN.log` — the records, in segments of [`LedgerConfig::segment_bytes`], each
//!   created zero-filled to its full size before use. One frame per entry:
//!   `len: u32 LE | index: u64 LE | record (len bytes) | leaf hash (32 bytes)`, where the record
//!   is [`ExchangeRecord::leaf_bytes`] and the leaf hash is its RFC 9162 leaf hash. The trailing
//!   hash is the frame's checksum: a frame is complete only if it is all there and the hash of
//!   its record matches; the index field catches frames that are whole but out of place. A
//!   frame never spans segments: when the next one does not fit, the rest of the segment stays
//!   zero (an all-zero header means "continue in the next segment").
//! * `leaves.bin` — the leaf hashes again, 32 bytes per entry, so proofs read one small range
//!   instead of whole records. Derived data: rebuilt from the segments whenever it disagrees.
//! * `checkpoints.log` — every signed checkpoint ever issued, append-only, one frame each:
//!   `len: u32 LE | JSON {note, timestamp} | SHA-256 of the JSON`.
//!
//! # What is fsync'ed when
//! * A segment, before it is used: a helper thread writes it as `*.tmp` full of zeros, syncs it,
//!   renames it and syncs the directory, while the writer fills the previous one. Writing into
//!   such a file changes no metadata, so the append path's `fdatasync` flushes data only (on
//!   ext4 that halves its latency compared with growing a file).
//! * An append: one writer thread takes every append queued (up to [`LedgerConfig::max_batch`]),
//!   writes all their frames with one positional write, writes their leaf hashes to
//!   `leaves.bin`, and calls `fdatasync` on the segment once (group commit). When a batch
//!   crosses into the next segment, the full segment is synced first. Only after the last sync
//!   returns does any append of the batch resolve, with its index. `leaves.bin` is not synced.
//!   Before committing, the writer waits (up to [`LedgerConfig::max_batch_delay`]) for appends
//!   already under way, including those announced ([`Ledger::announce`]) by a caller that
//!   knows its record is microseconds away: a gateway whose answers arrive in a burst.
//! * A checkpoint: `leaves.bin` is synced, the note is signed and time-stamped, its frame is
//!   appended to `checkpoints.log`, which is synced; only then is the checkpoint returned.
//! * On open: the directory, and anything recovery repaired.
//!
//! # What a crash can leave, and how open recovers
//! A crash mid-batch can leave any subset of the pages of the last unsynced write: a frame cut
//! short or half zero, stale bytes after it. Open reads the segments in order, checking every
//! frame, and stops at the first one that is not complete and in sequence. Everything before it
//! was written before the last successful `fdatasync` or is whole anyway; everything from it on
//! belongs to a batch whose `fdatasync` never returned (a later segment can hold data only if
//! the one before was synced in full), so none of it was acknowledged. Open zeroes the rest of
//! that segment, deletes later segments and continues appending right there. The same holds for
//! `checkpoints.log`, which is cut at its first incomplete frame. `leaves.bin` is compared with
//! the hashes just recomputed and rewritten from the first difference. Last, every stored
//! checkpoint is checked against the rebuilt tree.
//!
//! # Why an acknowledged append is never lost
//! It was acknowledged after `fdatasync` returned for every segment holding its batch, so its
//! frame and every frame before it are on stable storage. Recovery only cuts at the first
//! incomplete frame, which lies after every such frame. A frame covered by a checkpoint is never
//! cut: a bad one there means the disk or someone altered committed data, and open refuses with
//! an error naming the entry rather than silently shortening a log it has signed.
//! One limit: bit rot inside acknowledged frames *after* the last checkpoint is
//! indistinguishable from a torn tail and is cut (and logged); checkpoints every
//! [`LedgerConfig::checkpoint_interval`] keep that window short.
//!
//! # Costs
//! Open reads every entry once (checksums, the message-id index, the tree cache) and the unused
//! rest of the current segment; memory holds 8 bytes of location and about 16 bytes of index
//! per entry, plus the tile cache (32 bytes per 128 entries). An append whose write or sync
//! fails poisons the writer: later appends fail until the ledger is reopened, because after a
//! failed `fsync` the file's state is unknown. Such a failed append may or may not be in the log
//! after reopening; it was never acknowledged.
//!
//! # Sealing and archiving
//! A segment is sealed when the writer moves to the next one. With [`LedgerConfig::archive`]
//! set, after each checkpoint every sealed segment that checkpoint covers is written as one
//! [`crate::archive`] object, and `archive.next` remembers the next segment to archive (losing
//! it only means writing an equivalent object again). Archived segments stay on disk: pruning
//! them is an operator decision this module does not take.
//!
//! # The subject index
//! data subject → entry indexes, in memory, keyed by a per-process keyed hash of the subject
//! id (never the id itself), filled by the writer and rebuilt by the scan that open makes of
//! every entry anyway; so it costs no extra file, cannot disagree with the segments, and no
//! subject id is written anywhere but inside the records.
//!
//! # One writer, any number of readers
//! A writable open takes an exclusive `flock` on `lock` in the directory (and writes its pid
//! there), so a second writer, in this process or another, is refused with
//! [`LedgerError::InUse`] naming the holder; the kernel drops the lock when the holder exits,
//! however it exits. [`Ledger::open_read_only`] takes no lock and never writes: it opens every
//! file read-only, creates nothing, runs no repair (a torn tail is not zeroed but simply where
//! its view ends), keeps the leaf hashes it recomputes in memory instead of fixing
//! `leaves.bin`, and issues no checkpoint, on close or otherwise. So the read-only tools work
//! against a live gateway's ledger, seeing every entry whose frame is complete when they look.
//!
//! # Permissions
//! The directory is created 0700 and every file 0600 (records name citizens and purposes); a
//! writable open refuses a directory or file that group or others can reach, naming the
//! `chmod` to run ([`korpu_pki::private`]).
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, Notify};

use crate::archive::{archive_head, frontier_ranges, ArchiveParts, ArchiveStore};
use crate::checkpoint::{sign_note, split_note, Checkpoint, NoteSigner, NoteVerifier};
use crate::merkle::{
    consistency_proof_from, inclusion_proof_from, leaf_hash, root_from, Hash, HashSource,
    LeafStore, TileCache,
};
use crate::record::ExchangeRecord;
use crate::timestamp::{DynTimestamper, Timestamper};
use crate::LedgerError;

const LEAVES_FILE: &str = "leaves.bin";
const CHECKPOINTS_FILE: &str = "checkpoints.log";
/// The next segment to archive, as decimal text.
const ARCHIVE_NEXT_FILE: &str = "archive.next";
/// The writer's lock file: `flock`ed exclusively while a writable ledger is open; holds its pid.
const LOCK_FILE: &str = "lock";
/// Largest encoded record accepted; larger lengths in a frame header mark it as corrupt.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Largest stored checkpoint frame (note plus time-stamp reply).
const MAX_CHECKPOINT_BYTES: usize = 1 << 20;
const ENTRY_HEADER: usize = 12;
const HASH_LEN: usize = 32;
/// How long the writer naps while waiting for appends under way to reach the queue.
const WAIT_NAP: Duration = Duration::from_micros(20);
/// Buffer for the sequential reads at open.
const SCAN_BUFFER: usize = 1 << 20;
/// Smallest and largest segment size: locations pack the position in 32 bits.
const MIN_SEGMENT_BYTES: u64 = 4096;
const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;

/// File name of entry segment `n`.
fn segment_name(n: u64) -> String {
    format!("entries.{n:06}.log")
}

/// The segment number of a file name made by [`segment_name`].
fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("entries.")?.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An entry's location: segment number in the high 32 bits, byte position in the low 32.
fn location(segment: u64, pos: u64) -> u64 {
    (segment << 32) | pos
}

fn split_location(loc: u64) -> (u64, u64) {
    (loc >> 32, loc & 0xffff_ffff)
}

/// Where and how a ledger runs. [`LedgerConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Directory of the ledger's files; created if missing.
    pub dir: PathBuf,
    /// The log's origin, the first line of its checkpoints; also the signing key's name.
    pub origin: String,
    /// Most appends committed by one write and fsync. Default 4096.
    pub max_batch: usize,
    /// Longest the writer waits for appends already under way (counted, but not yet queued) to
    /// join a batch before it commits. It never waits when none is. Default 2 ms.
    pub max_batch_delay: Duration,
    /// A checkpoint is issued at least this often while entries arrive. Default 10 s.
    pub checkpoint_interval: Duration,
    /// ... and whenever this many entries arrived since the last one. Default 100,000.
    pub checkpoint_every: u64,
    /// Size of each entry segment file, 4 KiB to 4 GiB; also bounds one record. Default 64 MiB.
    pub segment_bytes: u64,
    /// Where sealed segments are archived (see [`crate::archive`]): a directory path, or with
    /// the `s3` feature an `s3://bucket/prefix` URL. Default `None`: no archiving.
    pub archive: Option<String>,
    /// PEM certificates put into every archive: the time-stamping authority's chain, so the
    /// archive is self-contained. Default empty.
    pub archive_certificates: Vec<String>,
}

impl LedgerConfig {
    /// The defaults for a ledger in `dir` with origin `origin`.
    pub fn new(dir: impl Into<PathBuf>, origin: impl Into<String>) -> Self {
        LedgerConfig {
            dir: dir.into(),
            origin: origin.into(),
            max_batch: 4096,
            max_batch_delay: Duration::from_millis(2),
            checkpoint_interval: Duration::from_secs(10),
            checkpoint_every: 100_000,
            segment_bytes: 64 << 20,
            archive: None,
            archive_certificates: Vec::new(),
        }
    }
}

/// A checkpoint as issued: parsed, as signed note text, and with its RFC 3161 time-stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The C2SP signed note whose text is `checkpoint.to_body()`.
    pub note: String,
    /// DER TimeStampResp over SHA-256(note), when a time-stamper is configured and answered.
    pub timestamp: Option<Vec<u8>>,
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

pub use korpu_tlog::record::rfc3339_ms;

/// What [`Ledger::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Complete entries found.
    pub entries: u64,
    /// Bytes of torn or stale data after the last complete entry, zeroed or removed.
    pub entry_bytes_truncated: u64,
    /// Leaf hashes rewritten in leaves.bin.
    pub leaf_hashes_rewritten: u64,
    /// Checkpoints found.
    pub checkpoints: u64,
    /// Bytes of torn tail cut from checkpoints.log.
    pub checkpoint_bytes_truncated: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredCheckpoint {
    note: String,
    timestamp: Option<String>,
}

/// The append-only evidence ledger. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.inner.origin)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

/// Counters since open, for monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Entries committed.
    pub appends: u64,
    /// Group commits (write + fdatasync rounds) that committed them.
    pub commits: u64,
    /// Segments begun.
    pub segments: u64,
    /// Time the writer spent writing, syncing and acknowledging commits, in microseconds:
    /// divided by `commits`, what one group commit takes on this disk.
    pub commit_micros: u64,
    /// Time the writer spent waiting for appends under way to join a commit, in microseconds.
    pub wait_micros: u64,
}

/// State shared with the writer thread.
pub(crate) struct Shared {
    /// Entry segments by number; the writer adds one before acknowledging anything in it.
    segments: RwLock<Vec<Arc<File>>>,
    leaves: Leaves,
    /// Largest encoded record: a frame must fit in one segment.
    max_record: usize,
    appends: AtomicU64,
    commits: AtomicU64,
    segments_begun: AtomicU64,
    commit_micros: AtomicU64,
    wait_micros: AtomicU64,
    durable: Mutex<Durable>,
    tree: RwLock<TileCache>,
    latest: RwLock<Option<SignedCheckpoint>>,
    last_checkpoint_size: AtomicU64,
    /// Appends that started (in `append`) and have not been answered by the writer.
    in_flight: AtomicUsize,
    checkpoint_due: Arc<Notify>,
    checkpoint_every: u64,
}

/// What the writer has made durable.
struct Durable {
    size: u64,
    /// Location of each entry, see [`location`].
    offsets: Vec<u64>,
    /// Leaf hashes of durable entries not yet integrated into the tree.
    pending: Vec<Hash>,
    index: MessageIndex,
    /// Data subject → entry indexes (ascending), keyed like `index`.
    subjects: SubjectIndex,
}

/// keyed hash of a data subject id → the indexes of the entries naming it, ascending.
type SubjectIndex = HashMap<u64, Vec<u64>, KeyIsHash>;

/// The index key of a data subject: domain-separated from message ids, which share the hasher.
fn subject_key(hasher: &RandomState, subject: &str) -> u64 {
    hasher.hash_one(("data-subject", subject))
}

/// message id → entry indexes, keyed by a keyed hash of the id (collisions are resolved by
/// reading the candidates), in two maps because almost every id occurs once.
#[derive(Default)]
struct MessageIndex {
    first: HashMap<u64, u64, KeyIsHash>,
    more: HashMap<u64, Vec<u64>, KeyIsHash>,
}

/// The index keys are already outputs of a per-process keyed hash, so hashing them again (the
/// writer thread's largest cost after the copy) buys nothing; flooding would need the key.
type KeyIsHash = std::hash::BuildHasherDefault<PassThrough>;

#[derive(Default)]
struct PassThrough(u64);

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
    fn insert(&mut self, key: u64, index: u64) {
        match self.first.entry(key) {
            MapEntry::Vacant(v) => {
                v.insert(index);
            }
            MapEntry::Occupied(_) => self.more.entry(key).or_default().push(index),
        }
    }

    fn candidates(&self, key: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self.first.get(&key).copied().into_iter().collect();
        if let Some(more) = self.more.get(&key) {
            out.extend_from_slice(more);
        }
        out
    }
}

struct CheckpointFile {
    /// `None` when opened read-only.
    file: Option<File>,
    len: u64,
    poisoned: Option<String>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    origin: String,
    /// `None` when opened read-only.
    signer: Option<NoteSigner>,
    verifier: NoteVerifier,
    timestamper: Option<Box<dyn DynTimestamper>>,
    /// `None` when opened read-only.
    writer_lock: Mutex<Option<File>>,
    read_only: bool,
    checkpoints: Arc<Mutex<CheckpointFile>>,
    checkpoints_path: PathBuf,
    /// Serializes checkpoint issuance across the await on the time-stamper.
    checkpoint_turn: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    stop_background: Arc<Notify>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    key_hasher: RandomState,
    report: RecoveryReport,
    dir: PathBuf,
    archive: Option<Archiver>,
}

/// Archiving state: the store, what goes into every archive, and the next segment to archive.
struct Archiver {
    store: ArchiveStore,
    certificates: Vec<String>,
    trust: Mutex<Option<Vec<u8>>>,
    /// The next segment to archive; persisted in `archive.next` after each successful put.
    next: tokio::sync::Mutex<u64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_background.notify_one();
    }
}

enum Msg {
    Append(AppendRequest),
    Stop(oneshot::Sender<()>),
}

struct AppendRequest {
    payload: Vec<u8>,
    leaf: Hash,
    key: u64,
    subject: Option<u64>,
    reply: oneshot::Sender<Result<u64, LedgerError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind, still consistent:
    // every critical section here updates it in one step.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs blocking file work off the async threads (for the other modules of the crate).
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, LedgerError> {
    blocking(f).await
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, LedgerError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(LedgerError::Closed),
    }
}

/// Where the leaf hashes are read from: leaves.bin, or (read-only) the hashes recomputed at
/// open, which a read-only open may not write back to a stale leaves.bin.
enum Leaves {
    File(File),
    Memory(Vec<Hash>),
}

/// Leaf hashes read from leaves.bin (or memory, see [`Leaves`]).
pub(crate) struct LeafFile<'a>(&'a Leaves);

impl LeafStore for LeafFile<'_> {
    type Error = LedgerError;
    fn read_leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let file = match self.0 {
            Leaves::File(f) => f,
            Leaves::Memory(all) => {
                return all
                    .get(start as usize..end as usize)
                    .map(<[Hash]>::to_vec)
                    .ok_or(LedgerError::BeyondTree {
                        requested: end,
                        available: all.len() as u64,
                    })
            }
        };
        let mut buf = vec![0u8; ((end - start) as usize) * HASH_LEN];
        file.read_exact_at(&mut buf, start * HASH_LEN as u64)
            .map_err(LedgerError::io(format!(
                "reading leaf hashes {start}..{end} from {LEAVES_FILE}"
            )))?;
        Ok(buf
            .chunks_exact(HASH_LEN)
            .map(|c| c.try_into().expect("chunks_exact gives 32-byte chunks"))
            .collect())
    }
}

impl Shared {
    /// The tree, integrated far enough to hold `size` leaves.
    pub(crate) fn tree_for(
        &self,
        size: u64,
    ) -> Result<RwLockReadGuard<'_, TileCache>, LedgerError> {
        self.tree_covering(size)
    }

    /// The leaf hashes file.
    pub(crate) fn leaf_file(&self) -> LeafFile<'_> {
        LeafFile(&self.leaves)
    }

    /// Moves every durable leaf hash into the tree; returns the tree size.
    fn integrate(&self) -> u64 {
        // Lock order: tree, then durable. The writer takes only durable.
        let mut tree = write(&self.tree);
        let pending = std::mem::take(&mut lock(&self.durable).pending);
        for h in pending {
            tree.push(h);
        }
        tree.size()
    }

    /// The tree, integrated far enough to hold `size` leaves.
    fn tree_covering(&self, size: u64) -> Result<RwLockReadGuard<'_, TileCache>, LedgerError> {
        {
            let tree = read(&self.tree);
            if tree.size() >= size {
                return Ok(tree);
            }
        }
        self.integrate();
        let tree = read(&self.tree);
        if tree.size() >= size {
            Ok(tree)
        } else {
            Err(LedgerError::BeyondTree {
                requested: size,
                available: tree.size(),
            })
        }
    }
}

/// An append that its caller has announced ([`Ledger::announce`]) and will make shortly with
/// [`Ledger::append_announced`]; dropping it unused withdraws it.
pub struct Announcement {
    shared: Arc<Shared>,
    armed: bool,
}

impl Announcement {
    fn hand_over(mut self) {
        self.armed = false;
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        if self.armed {
            self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `cfg.dir`, recovering from any crash, and
    /// starts its writer and its checkpoint schedule. Checkpoints carry no time-stamp.
    pub async fn open(cfg: LedgerConfig, signer: NoteSigner) -> Result<Self, LedgerError> {
        Self::open_inner(cfg, signer, None).await
    }

    /// Like [`Ledger::open`], time-stamping every checkpoint with `timestamper`.
    pub async fn open_with_timestamper<T: Timestamper>(
        cfg: LedgerConfig,
        signer: NoteSigner,
        timestamper: T,
    ) -> Result<Self, LedgerError> {
        Self::open_inner(cfg, signer, Some(Box::new(timestamper))).await
    }

    /// Opens the ledger in `cfg.dir` to read it, alongside its writer if one is running: no
    /// lock is taken, no file is created, written or repaired, and no checkpoint is issued
    /// (appends and checkpoints fail with [`LedgerError::ReadOnly`]; `close` only lets go).
    /// It sees the entries complete when it opens (a torn or unfinished tail ends its view)
    /// and the checkpoints stored by then; proofs are computed from leaf hashes recomputed
    /// from the entries, not from `leaves.bin`. `verifier` is the log's public key, which
    /// [`Ledger::verifier`] then returns. Archiving and `cfg`'s write settings are ignored.
    pub async fn open_read_only(
        cfg: LedgerConfig,
        verifier: NoteVerifier,
    ) -> Result<Self, LedgerError> {
        let key_hasher = RandomState::new();
        let rec = {
            let (cfg, key_hasher) = (cfg.clone(), key_hasher.clone());
            blocking(move || recover(&cfg, &key_hasher, Mode::ReadOnly)).await?
        };
        let latest_size = rec.latest.as_ref().map_or(0, |c| c.checkpoint.size);
        let (tx, _) = mpsc::channel();
        let shared = Arc::new(Shared {
            segments: RwLock::new(rec.segments),
            leaves: rec.leaves,
            max_record: MAX_RECORD_BYTES,
            appends: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            segments_begun: AtomicU64::new(0),
            commit_micros: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            durable: Mutex::new(Durable {
                size: rec.report.entries,
                offsets: rec.offsets,
                pending: Vec::new(),
                index: rec.index,
                subjects: rec.subjects,
            }),
            tree: RwLock::new(rec.tree),
            latest: RwLock::new(rec.latest),
            last_checkpoint_size: AtomicU64::new(latest_size),
            in_flight: AtomicUsize::new(0),
            checkpoint_due: Arc::new(Notify::new()),
            checkpoint_every: u64::MAX,
        });
        let inner = Arc::new(Inner {
            shared,
            tx,
            origin: cfg.origin.clone(),
            signer: None,
            verifier,
            timestamper: None,
            writer_lock: Mutex::new(None),
            read_only: true,
            checkpoints: Arc::new(Mutex::new(CheckpointFile {
                file: None,
                len: rec.checkpoints_len,
                poisoned: None,
            })),
            checkpoints_path: cfg.dir.join(CHECKPOINTS_FILE),
            checkpoint_turn: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(true),
            stop_background: Arc::new(Notify::new()),
            background: Mutex::new(None),
            writer: Mutex::new(None),
            key_hasher,
            report: rec.report,
            dir: cfg.dir.clone(),
            archive: None,
        });
        Ok(Ledger { inner })
    }

    async fn open_inner(
        cfg: LedgerConfig,
        signer: NoteSigner,
        timestamper: Option<Box<dyn DynTimestamper>>,
    ) -> Result<Self, LedgerError> {
        // tlog-checkpoint: the log's key name SHOULD match the origin line; we insist, so a
        // verifier configured with the origin finds the key.
        if signer.name() != cfg.origin {
            return Err(LedgerError::InvalidKey(format!(
                "the signing key is named \"{}\" but the log's origin is \"{}\"; they must match",
                signer.name(),
                cfg.origin
            )));
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&cfg.segment_bytes) {
            return Err(LedgerError::InvalidConfig(format!(
                "segment_bytes {} is not between {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}",
                cfg.segment_bytes
            )));
        }
        let key_hasher = RandomState::new();
        let rec = {
            let (cfg, key_hasher) = (cfg.clone(), key_hasher.clone());
            blocking(move || recover(&cfg, &key_hasher, Mode::Write)).await?
        };
        // After recovery, which holds the writer's lock: archive.next is the writer's.
        let archive = match &cfg.archive {
            None => None,
            Some(target) => Some(Archiver {
                store: ArchiveStore::from_target(target)?,
                certificates: cfg.archive_certificates.clone(),
                trust: Mutex::new(None),
                next: tokio::sync::Mutex::new(read_archive_next(&cfg.dir)?),
            }),
        };
        let checkpoint_due = Arc::new(Notify::new());
        let latest_size = rec.latest.as_ref().map_or(0, |c| c.checkpoint.size);
        let max_record = MAX_RECORD_BYTES.min(cfg.segment_bytes as usize - ENTRY_HEADER - HASH_LEN);
        let current_segment = rec.segments.len() as u64 - 1;
        let current = rec.segments[current_segment as usize].clone();
        let shared = Arc::new(Shared {
            segments: RwLock::new(rec.segments),
            leaves: rec.leaves,
            max_record,
            appends: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            segments_begun: AtomicU64::new(0),
            commit_micros: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            durable: Mutex::new(Durable {
                size: rec.report.entries,
                offsets: rec.offsets,
                pending: Vec::new(),
                index: rec.index,
                subjects: rec.subjects,
            }),
            tree: RwLock::new(rec.tree),
            latest: RwLock::new(rec.latest),
            last_checkpoint_size: AtomicU64::new(latest_size),
            in_flight: AtomicUsize::new(0),
            checkpoint_due: checkpoint_due.clone(),
            checkpoint_every: cfg.checkpoint_every.max(1),
        });
        // The helper that creates the next zero-filled segment while the writer fills this one.
        let (prepare, requests) = mpsc::channel::<u64>();
        let (ready_tx, ready) = mpsc::channel();
        let ready_tx_first = ready_tx.clone();
        let (dir, size) = (cfg.dir.clone(), cfg.segment_bytes);
        std::thread::Builder::new()
            .name("korpu-ledger-segments".into())
            .spawn(move || {
                for n in requests {
                    if ready_tx
                        .send(prepare_segment(&dir, n, size).map(Arc::new))
                        .is_err()
                    {
                        return;
                    }
                }
            })
            .map_err(LedgerError::io("starting the ledger segment thread"))?;
        match rec.next_segment {
            Some(next) => {
                let _ = ready_tx_first.send(Ok(next));
            }
            None => {
                let _ = prepare.send(current_segment + 1);
            }
        }
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            rx,
            shared: shared.clone(),
            segment: current,
            segment_no: current_segment,
            segment_pos: rec.segment_pos,
            segment_bytes: cfg.segment_bytes,
            prepare,
            ready,
            leaves: rec
                .leaves_write
                .expect("a writable recovery opens leaves.bin for appending"),
            next_index: rec.report.entries,
            max_batch: cfg.max_batch.max(1),
            max_delay: cfg.max_batch_delay,
            poisoned: None,
            buf: Vec::new(),
            leaf_buf: Vec::new(),
        };
        let writer = std::thread::Builder::new()
            .name("korpu-ledger-writer".into())
            .spawn(move || writer.run())
            .map_err(LedgerError::io("starting the ledger writer thread"))?;
        let stop_background = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            shared,
            tx,
            origin: cfg.origin.clone(),
            verifier: signer.verifier(),
            signer: Some(signer),
            timestamper,
            writer_lock: Mutex::new(rec.writer_lock),
            read_only: false,
            checkpoints: Arc::new(Mutex::new(CheckpointFile {
                file: rec.checkpoints_write,
                len: rec.checkpoints_len,
                poisoned: None,
            })),
            checkpoints_path: cfg.dir.join(CHECKPOINTS_FILE),
            checkpoint_turn: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            stop_background: stop_background.clone(),
            background: Mutex::new(None),
            writer: Mutex::new(Some(writer)),
            key_hasher,
            report: rec.report,
            dir: cfg.dir.clone(),
            archive,
        });
        let task = tokio::spawn(checkpoint_schedule(
            Arc::downgrade(&inner),
            checkpoint_due,
            stop_background,
            cfg.checkpoint_interval,
        ));
        *lock(&inner.background) = Some(task);
        Ok(Ledger { inner })
    }

    /// Sets the opaque trust blob put into every archive from now on (the gateway puts the
    /// signed global configuration there); `None` removes it.
    pub fn set_archive_trust(&self, trust: Option<Vec<u8>>) {
        if let Some(a) = &self.inner.archive {
            *lock(&a.trust) = trust;
        }
    }

    /// Archives now every sealed segment the latest checkpoint covers and that is not archived
    /// yet (the ledger also does this after each checkpoint); returns their numbers. Without
    /// [`LedgerConfig::archive`] it does nothing.
    pub async fn archive_sealed(&self) -> Result<Vec<u64>, LedgerError> {
        self.inner.archive_sealed().await
    }

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

    /// The archive store, when archiving is configured.
    pub fn archive_store(&self) -> Option<&ArchiveStore> {
        self.inner.archive.as_ref().map(|a| &a.store)
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.inner.shared.clone()
    }

    /// What opening found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The verifier of this ledger's checkpoint notes.
    pub fn verifier(&self) -> NoteVerifier {
        self.inner.verifier.clone()
    }

    /// Number of durable entries.
    pub fn size(&self) -> u64 {
        lock(&self.inner.shared.durable).size
    }

    /// Counters since open.
    pub fn stats(&self) -> LedgerStats {
        let s = &self.inner.shared;
        LedgerStats {
            appends: s.appends.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            segments: s.segments_begun.load(Ordering::Relaxed),
            commit_micros: s.commit_micros.load(Ordering::Relaxed),
            wait_micros: s.wait_micros.load(Ordering::Relaxed),
        }
    }

    /// Appends a record; resolves with its index once it is on stable storage.
    ///
    /// Concurrent appends share one write and one fsync. An error means the record was not
    /// acknowledged; after a [`LedgerError::Poisoned`] it may still appear once the ledger is
    /// reopened.
    pub async fn append(&self, rec: &ExchangeRecord) -> Result<u64, LedgerError> {
        // Counted before encoding, so the writer knows this append is coming.
        self.append_announced(self.announce(), rec).await
    }

    /// Announces an append that will follow in a moment: the writer's group commit, which
    /// waits (up to [`LedgerConfig::max_batch_delay`]) for appends under way, then waits for
    /// this one too. For callers that know a record is coming a few microseconds before they
    /// have it — several answers arriving together, each still being checked — so that they
    /// share one commit instead of each starting its own. Announce only what is that close:
    /// an announcement holds other appends' commit back until it is made or dropped.
    pub fn announce(&self) -> Announcement {
        let shared = self.inner.shared.clone();
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Announcement {
            shared,
            armed: true,
        }
    }

    /// [`Self::append`] for an announced record.
    pub async fn append_announced(
        &self,
        mut announced: Announcement,
        rec: &ExchangeRecord,
    ) -> Result<u64, LedgerError> {
        let inner = &self.inner;
        if !Arc::ptr_eq(&announced.shared, &inner.shared) {
            // Announced on another ledger: that one's count goes back when it drops.
            announced = self.announce();
        }
        if inner.read_only {
            return Err(LedgerError::ReadOnly("appending"));
        }
        if inner.closed.load(Ordering::Acquire) {
            return Err(LedgerError::Closed);
        }
        let payload = rec.leaf_bytes();
        if payload.len() > inner.shared.max_record {
            return Err(LedgerError::RecordTooLarge {
                size: payload.len(),
                max: inner.shared.max_record,
            });
        }
        let leaf = leaf_hash(&payload);
        let key = inner.key_hasher.hash_one(rec.message_id.as_str());
        let subject = rec
            .data_subject
            .as_deref()
            .map(|s| subject_key(&inner.key_hasher, s));
        let (reply, answer) = oneshot::channel();
        inner
            .tx
            .send(Msg::Append(AppendRequest {
                payload,
                leaf,
                key,
                subject,
                reply,
            }))
            .map_err(|_| LedgerError::Closed)?;
        // The writer counts it down once committed.
        announced.hand_over();
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Integrates every durable entry into the tree and issues a signed, time-stamped checkpoint
    /// of it, stored in checkpoints.log before it is returned. Returns the latest checkpoint
    /// unchanged when no entry arrived since.
    pub async fn checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
        self.inner.checkpoint().await
    }

    /// The last checkpoint issued (or found at open).
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        read(&self.inner.shared.latest).clone()
    }

    /// Every checkpoint stored in checkpoints.log, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, LedgerError> {
        let path = self.inner.checkpoints_path.clone();
        let len = lock(&self.inner.checkpoints).len;
        blocking(move || {
            let mut all = Vec::new();
            scan_checkpoints(&path, Some(len), |_, cp| {
                all.push(cp);
                Ok(())
            })?;
            Ok(all)
        })
        .await
    }

    /// The record at `index`, checked against its leaf hash.
    pub async fn record(&self, index: u64) -> Result<ExchangeRecord, LedgerError> {
        let offset = {
            let d = lock(&self.inner.shared.durable);
            *d.offsets
                .get(index as usize)
                .ok_or(LedgerError::NoSuchEntry {
                    index,
                    size: d.size,
                })?
        };
        let shared = self.inner.shared.clone();
        blocking(move || shared.read_entry(index, offset)).await
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

    /// RFC 9162 inclusion proof of entry `index` in the tree of the first `tree_size` entries.
    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        if index >= tree_size {
            return Err(LedgerError::InvalidRequest(format!(
                "entry {index} is not in a tree of size {tree_size}"
            )));
        }
        let shared = self.inner.shared.clone();
        blocking(move || {
            let tree = shared.tree_covering(tree_size)?;
            inclusion_proof_from(
                &tree.with_store(&LeafFile(&shared.leaves)),
                index,
                tree_size,
            )
        })
        .await
    }

    /// RFC 9162 consistency proof from the tree of `old` entries to the tree of `new` entries.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        if old > new {
            return Err(LedgerError::InvalidRequest(format!(
                "old tree size {old} is larger than new tree size {new}"
            )));
        }
        if old == 0 {
            return Err(LedgerError::InvalidRequest(
                "a consistency proof from the empty tree proves nothing (RFC 9162 §2.1.4)".into(),
            ));
        }
        let shared = self.inner.shared.clone();
        blocking(move || {
            let tree = shared.tree_covering(new)?;
            consistency_proof_from(&tree.with_store(&LeafFile(&shared.leaves)), old, new)
        })
        .await
    }

    /// Stops accepting appends, commits the queued ones, stops the checkpoint schedule and
    /// issues a final checkpoint. Other clones get [`LedgerError::Closed`] from then on.
    pub async fn close(self) -> Result<(), LedgerError> {
        let inner = self.inner;
        inner.closed.store(true, Ordering::Release);
        if inner.read_only {
            return Ok(());
        }
        let (done, stopped) = oneshot::channel();
        if inner.tx.send(Msg::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
        let writer = lock(&inner.writer).take();
        if let Some(w) = writer {
            blocking(move || {
                // The writer only panics on a bug; its appends were answered or dropped.
                let _ = w.join();
                Ok(())
            })
            .await?;
        }
        inner.stop_background.notify_one();
        let task = lock(&inner.background).take();
        if let Some(t) = task {
            let _ = t.await;
        }
        let last = inner.checkpoint().await;
        // The files are consistent and synced: another writer may have them now.
        lock(&inner.writer_lock).take();
        last.map(|_| ())
    }
}

impl Inner {
    async fn checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
        let Some(signer) = &self.signer else {
            return Err(LedgerError::ReadOnly("issuing a checkpoint"));
        };
        let _turn = self.checkpoint_turn.lock().await;
        if lock(&self.writer_lock).is_none() {
            // Closed, and the lock given up: another writer may own the files now.
            return Err(LedgerError::Closed);
        }
        let shared = self.shared.clone();
        let (size, root) = blocking(move || {
            let size = shared.integrate();
            // Not needed for safety (open recomputes leaf hashes from entries.log), but it keeps
            // open from rewriting leaves.bin for everything a checkpoint covers.
            if let Leaves::File(leaves) = &shared.leaves {
                leaves
                    .sync_data()
                    .map_err(LedgerError::io(format!("syncing {LEAVES_FILE}")))?;
            }
            let tree = read(&shared.tree);
            let root = root_from(&tree.with_store(&LeafFile(&shared.leaves)), size)?;
            Ok((size, root))
        })
        .await?;
        if let Some(latest) = read(&self.shared.latest).clone() {
            if latest.checkpoint.size == size {
                return Ok(latest);
            }
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = sign_note(&checkpoint.to_body(), signer)?;
        let timestamp = match &self.timestamper {
            None => None,
            Some(ts) => {
                let digest: [u8; 32] = Sha256::digest(note.as_bytes()).into();
                match ts.timestamp_boxed(&digest).await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        // A TSA outage must not stop the log from committing to its entries;
                        // the next checkpoint gets a stamp.
                        tracing::warn!(error = %e, size, "checkpoint issued without a time-stamp");
                        None
                    }
                }
            }
        };
        let signed = SignedCheckpoint {
            checkpoint,
            note,
            timestamp,
        };
        let frame = checkpoint_frame(&signed);
        let file = self.checkpoints.clone();
        blocking(move || append_checkpoint(&mut lock(&file), &frame)).await?;
        *write(&self.shared.latest) = Some(signed.clone());
        self.shared
            .last_checkpoint_size
            .store(size, Ordering::Release);
        if self.archive.is_some() {
            // An archive failure must not fail the checkpoint: the segment stays on disk and
            // the next checkpoint retries.
            if let Err(e) = self.archive_sealed().await {
                tracing::warn!(error = %e, "archiving sealed segments failed; will retry");
            }
        }
        Ok(signed)
    }

    /// Archives every sealed segment that the latest checkpoint covers and that is not
    /// archived yet; returns their numbers.
    async fn archive_sealed(&self) -> Result<Vec<u64>, LedgerError> {
        let Some(archiver) = &self.archive else {
            return Ok(Vec::new());
        };
        let mut next = archiver.next.lock().await;
        let mut done = Vec::new();
        loop {
            let segment = *next;
            let current = read(&self.shared.segments).len() as u64 - 1;
            if segment >= current {
                break;
            }
            let (first, end, end_loc) = {
                let d = lock(&self.shared.durable);
                let seg_of = |loc: &u64| split_location(*loc).0;
                let first = d.offsets.partition_point(|l| seg_of(l) < segment) as u64;
                let end = d.offsets.partition_point(|l| seg_of(l) <= segment) as u64;
                let end_loc = if end > first {
                    Some(d.offsets[end as usize - 1])
                } else {
                    None
                };
                (first, end, end_loc)
            };
            let Some(last_loc) = end_loc else {
                // A segment without entries has nothing to archive.
                *next = segment + 1;
                write_archive_next(&self.dir, *next)?;
                continue;
            };
            let covered = read(&self.shared.latest)
                .as_ref()
                .map_or(0, |c| c.checkpoint.size);
            if covered < end {
                break;
            }
            let (head, records_bytes) = self
                .build_segment_archive(archiver, segment, first, end, last_loc)
                .await?;
            let file = self.dir.join(segment_name(segment));
            archiver
                .store
                .put_segment(segment, head, file, records_bytes)
                .await?;
            *next = segment + 1;
            let dir = self.dir.clone();
            let n = *next;
            blocking(move || write_archive_next(&dir, n)).await?;
            done.push(segment);
        }
        Ok(done)
    }

    async fn build_segment_archive(
        &self,
        archiver: &Archiver,
        segment: u64,
        first: u64,
        end: u64,
        last_loc: u64,
    ) -> Result<(Vec<u8>, u64), LedgerError> {
        let checkpoints_path = self.checkpoints_path.clone();
        let len = lock(&self.checkpoints).len;
        let shared = self.shared.clone();
        let (records_bytes, frontier, checkpoints) = blocking(move || {
            let name = segment_name(segment);
            let file = read(&shared.segments)
                .get(segment as usize)
                .cloned()
                .ok_or_else(|| LedgerError::Archive(format!("{name} is not open")))?;
            let (_, last_pos) = split_location(last_loc);
            let mut header = [0u8; ENTRY_HEADER];
            file.read_exact_at(&mut header, last_pos)
                .map_err(LedgerError::io(format!("reading {name}")))?;
            let (last_len, _) = parse_entry_header(&header);
            let used = last_pos + (ENTRY_HEADER + last_len + HASH_LEN) as u64;
            let mut all = Vec::new();
            scan_checkpoints(&checkpoints_path, Some(len), |_, cp| {
                if cp.checkpoint.size > first {
                    all.push(cp);
                }
                Ok(())
            })?;
            let tree = shared.tree_covering(all.last().map_or(end, |c| c.checkpoint.size))?;
            let leaves = LeafFile(&shared.leaves);
            let source = tree.with_store(&leaves);
            let frontier = frontier_ranges(first)
                .into_iter()
                .map(|(a, b)| source.subtree_hash(a, b))
                .collect::<Result<Vec<_>, _>>()?;
            let mut checkpoints = Vec::new();
            for cp in all {
                let size = cp.checkpoint.size;
                if size <= end {
                    checkpoints.push((cp, Vec::new()));
                } else {
                    let proof = consistency_proof_from(&source, end, size)?;
                    checkpoints.push((cp, proof));
                    break;
                }
            }
            Ok((used, frontier, checkpoints))
        })
        .await?;
        let trust = lock(&archiver.trust).clone();
        let log_key = self.verifier.to_string();
        let head = archive_head(&ArchiveParts {
            origin: &self.origin,
            log_key: &log_key,
            segment,
            first_index: first,
            count: end - first,
            records_bytes,
            frontier,
            checkpoints,
            certificates: archiver.certificates.clone(),
            trust: trust.as_deref(),
        });
        Ok((head, records_bytes))
    }
}

fn read_archive_next(dir: &Path) -> Result<u64, LedgerError> {
    let path = dir.join(ARCHIVE_NEXT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|_| LedgerError::Corrupt {
            file: ARCHIVE_NEXT_FILE.into(),
            offset: 0,
            detail: format!("{text:?} is not a segment number"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(LedgerError::io(format!("reading {}", path.display()))(e)),
    }
}

/// Records the next segment to archive. Losing this write only means archiving a segment
/// again, which replaces the object with an equivalent one; so it is renamed into place but
/// not synced.
fn write_archive_next(dir: &Path, next: u64) -> Result<(), LedgerError> {
    let tmp = dir.join(format!("{ARCHIVE_NEXT_FILE}.tmp"));
    korpu_pki::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(format!("{next}\n").as_bytes()))
        .and_then(|()| fs::rename(&tmp, dir.join(ARCHIVE_NEXT_FILE)))
        .map_err(LedgerError::io(format!("writing {ARCHIVE_NEXT_FILE}")))
}

fn checkpoint_frame(cp: &SignedCheckpoint) -> Vec<u8> {
    let stored = StoredCheckpoint {
        note: cp.note.clone(),
        timestamp: cp.timestamp.as_ref().map(|t| B64.encode(t)),
    };
    let payload = serde_json::to_vec(&stored).expect("strings always serialize");
    let mut frame = Vec::with_capacity(4 + payload.len() + HASH_LEN);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&payload);
    frame.extend_from_slice(&Sha256::digest(&payload));
    frame
}

fn append_checkpoint(cf: &mut CheckpointFile, frame: &[u8]) -> Result<(), LedgerError> {
    if let Some(why) = &cf.poisoned {
        return Err(LedgerError::Poisoned(why.clone()));
    }
    let Some(file) = cf.file.as_mut() else {
        return Err(LedgerError::ReadOnly("appending a checkpoint"));
    };
    let result = file
        .write_all(frame)
        .map_err(|e| format!("appending to {CHECKPOINTS_FILE}: {e}"))
        .and_then(|()| {
            file.sync_data()
                .map_err(|e| format!("syncing {CHECKPOINTS_FILE}: {e}"))
        });
    match result {
        Ok(()) => {
            cf.len += frame.len() as u64;
            Ok(())
        }
        Err(why) => {
            // After a failed write the next frame would follow garbage, and after a failed
            // fsync nothing is known: refuse further checkpoints until reopened.
            let _ = file.set_len(cf.len);
            cf.poisoned = Some(why.clone());
            Err(LedgerError::Poisoned(why))
        }
    }
}

async fn checkpoint_schedule(
    ledger: Weak<Inner>,
    due: Arc<Notify>,
    stop: Arc<Notify>,
    interval: Duration,
) {
    loop {
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = due.notified() => {}
        }
        let Some(inner) = ledger.upgrade() else {
            return;
        };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = inner.checkpoint().await {
            tracing::warn!(error = %e, "scheduled checkpoint failed");
        }
    }
}

/// The single thread that writes entries.
struct Writer {
    rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    /// The segment being filled, its number, and where the next frame goes.
    segment: Arc<File>,
    segment_no: u64,
    segment_pos: u64,
    segment_bytes: u64,
    /// Asks the segment thread for a segment number; `ready` answers, in order.
    prepare: mpsc::Sender<u64>,
    ready: mpsc::Receiver<Result<Arc<File>, LedgerError>>,
    leaves: File,
    next_index: u64,
    max_batch: usize,
    max_delay: Duration,
    poisoned: Option<String>,
    buf: Vec<u8>,
    leaf_buf: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::new();
        loop {
            let stop = match self.rx.recv() {
                Err(_) => return,
                Ok(Msg::Stop(done)) => Some(done),
                Ok(Msg::Append(r)) => {
                    batch.push(r);
                    let started = Instant::now();
                    let stop = self.fill(&mut batch);
                    add_micros(&self.shared.wait_micros, started);
                    stop
                }
            };
            if !batch.is_empty() {
                let started = Instant::now();
                self.commit(&mut batch);
                add_micros(&self.shared.commit_micros, started);
            }
            if let Some(done) = stop {
                let _ = done.send(());
                return;
            }
        }
    }

    /// Adds queued appends to the batch, waiting up to `max_delay` for appends already under
    /// way. Returns a stop request met on the way.
    fn fill(&self, batch: &mut Vec<AppendRequest>) -> Option<oneshot::Sender<()>> {
        let deadline = Instant::now() + self.max_delay;
        while batch.len() < self.max_batch {
            let msg = match self.rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    // Wait only for appends already under way: a caller alone is never delayed,
                    // and callers answered by the previous commit form the next group while
                    // this one syncs (measured faster than merging the groups, see the bench).
                    if self.shared.in_flight.load(Ordering::Acquire) <= batch.len() {
                        return None;
                    }
                    // Napping instead of blocking on the queue spares each arriving append a
                    // wake-up of this thread (a futex call and a context switch).
                    std::thread::sleep(WAIT_NAP.min(deadline - now));
                    continue;
                }
            };
            match msg {
                Msg::Append(r) => batch.push(r),
                Msg::Stop(done) => return Some(done),
            }
        }
        None
    }

    /// Writes `buf` at `start` in the current segment and syncs it.
    fn flush(&mut self, start: u64) -> Result<(), String> {
        let name = segment_name(self.segment_no);
        if !self.buf.is_empty() {
            self.segment
                .write_all_at(&self.buf, start)
                .map_err(|e| format!("writing to {name}: {e}"))?;
            self.buf.clear();
        }
        // The group commit: one fdatasync makes everything written to the segment durable.
        self.segment
            .sync_data()
            .map_err(|e| format!("syncing {name}: {e}"))
    }

    /// Moves on to the next segment, which the segment thread has (or is) preparing.
    fn next_segment(&mut self) -> Result<(), String> {
        let file = match self.ready.recv() {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the segment thread stopped".into()),
        };
        self.segment_no += 1;
        let mut segments = write(&self.shared.segments);
        if segments.len() as u64 != self.segment_no {
            return Err(format!(
                "segment {} follows {} known segments",
                self.segment_no,
                segments.len()
            ));
        }
        segments.push(file.clone());
        drop(segments);
        self.segment = file;
        self.segment_pos = 0;
        self.shared.segments_begun.fetch_add(1, Ordering::Relaxed);
        let _ = self.prepare.send(self.segment_no + 1);
        Ok(())
    }

    /// Writes the batch and makes it durable; returns the location of each frame.
    fn write_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<u64>, String> {
        self.buf.clear();
        self.leaf_buf.clear();
        let mut locations = Vec::with_capacity(batch.len());
        let mut start = self.segment_pos;
        for (i, r) in batch.iter().enumerate() {
            let frame = (ENTRY_HEADER + r.payload.len() + HASH_LEN) as u64;
            if self.segment_pos + frame > self.segment_bytes {
                // Frames never span segments. The full segment is synced before anything goes
                // into the next, so data in a segment implies every earlier one is complete.
                self.flush(start)?;
                self.next_segment()?;
                start = 0;
            }
            locations.push(location(self.segment_no, self.segment_pos));
            self.buf
                .extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
            self.buf
                .extend_from_slice(&(self.next_index + i as u64).to_le_bytes());
            self.buf.extend_from_slice(&r.payload);
            self.buf.extend_from_slice(&r.leaf);
            self.leaf_buf.extend_from_slice(&r.leaf);
            self.segment_pos += frame;
        }
        self.leaves
            .write_all(&self.leaf_buf)
            .map_err(|e| format!("appending to {LEAVES_FILE}: {e}"))?;
        self.flush(start)?;
        Ok(locations)
    }

    fn commit(&mut self, batch: &mut Vec<AppendRequest>) {
        let n = batch.len();
        let result = match &self.poisoned {
            Some(why) => Err(why.clone()),
            None => self.write_batch(batch),
        };
        let locations = match result {
            Ok(l) => l,
            Err(why) => {
                if self.poisoned.is_none() {
                    tracing::error!(error = %why, "ledger writer stops accepting appends");
                    self.poisoned = Some(why.clone());
                }
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(LedgerError::Poisoned(why.clone())));
                }
                self.shared.in_flight.fetch_sub(n, Ordering::AcqRel);
                return;
            }
        };
        let first = self.next_index;
        self.next_index += n as u64;
        {
            let mut d = lock(&self.shared.durable);
            d.offsets.extend_from_slice(&locations);
            for (i, r) in batch.iter().enumerate() {
                d.pending.push(r.leaf);
                d.index.insert(r.key, first + i as u64);
                if let Some(s) = r.subject {
                    d.subjects.entry(s).or_default().push(first + i as u64);
                }
            }
            d.size = self.next_index;
        }
        // Counted before anyone hears of it, so the counters never lag an acknowledgement.
        self.shared.appends.fetch_add(n as u64, Ordering::Relaxed);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        for (i, r) in batch.drain(..).enumerate() {
            let _ = r.reply.send(Ok(first + i as u64));
        }
        self.shared.in_flight.fetch_sub(n, Ordering::AcqRel);
        let since = self.next_index
            - self
                .shared
                .last_checkpoint_size
                .load(Ordering::Acquire)
                .min(self.next_index);
        if since >= self.shared.checkpoint_every {
            self.shared.checkpoint_due.notify_one();
        }
    }
}

fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// Creates segment `n` full of zeros under a temporary name, syncs it, and only then gives it
/// its name, so a segment file with its final name is always whole.
fn prepare_segment(dir: &Path, n: u64, size: u64) -> Result<File, LedgerError> {
    let name = segment_name(n);
    let tmp = dir.join(format!("{name}.tmp"));
    let io = |what: &str| LedgerError::io(format!("{what} {}", tmp.display()));
    let file = korpu_pki::private::file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io("creating"))?;
    let zeros = vec![0u8; SCAN_BUFFER];
    let mut left = size;
    let mut w = &file;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..n]).map_err(io("zero-filling"))?;
        left -= n as u64;
    }
    file.sync_all().map_err(io("syncing"))?;
    fs::rename(&tmp, dir.join(&name)).map_err(io("renaming"))?;
    sync_dir(dir)?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LedgerError::io(format!(
            "syncing the directory {}",
            dir.display()
        )))
}

impl Shared {
    /// Reads one entry at a known location and checks it.
    fn read_entry(&self, index: u64, loc: u64) -> Result<ExchangeRecord, LedgerError> {
        let (segment, pos) = split_location(loc);
        let name = segment_name(segment);
        let file = read(&self.segments)
            .get(segment as usize)
            .cloned()
            .ok_or_else(|| LedgerError::Corrupt {
                file: name.clone(),
                offset: pos,
                detail: format!("entry {index} points into a segment that does not exist"),
            })?;
        let mut header = [0u8; ENTRY_HEADER];
        file.read_exact_at(&mut header, pos)
            .map_err(LedgerError::io(format!(
                "reading entry {index} from {name}"
            )))?;
        let (len, stored_index) = parse_entry_header(&header);
        if stored_index != index || len == 0 || len > MAX_RECORD_BYTES {
            return Err(LedgerError::Corrupt {
                file: name,
                offset: pos,
                detail: format!(
                    "the frame of entry {index} has index {stored_index} and length {len}"
                ),
            });
        }
        let mut body = vec![0u8; len + HASH_LEN];
        file.read_exact_at(&mut body, pos + ENTRY_HEADER as u64)
            .map_err(LedgerError::io(format!(
                "reading entry {index} from {name}"
            )))?;
        if leaf_hash(&body[..len])[..] != body[len..] {
            return Err(LedgerError::Checksum { file: name, index });
        }
        ExchangeRecord::from_leaf_bytes(&body[..len]).map_err(|e| LedgerError::BadRecord {
            index,
            detail: e.to_string(),
        })
    }
}

fn parse_entry_header(h: &[u8; ENTRY_HEADER]) -> (usize, u64) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let index = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
    (len, index)
}

/// Reads until `buf` is full or the end of input; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Everything open needs, found by [`recover`].
struct Recovered {
    segments: Vec<Arc<File>>,
    /// The zero-filled segment after the last one, when a previous run prepared it.
    next_segment: Option<Arc<File>>,
    /// Where the next frame goes in the last segment.
    segment_pos: u64,
    /// `None` when read-only.
    leaves_write: Option<File>,
    leaves: Leaves,
    /// `None` when read-only.
    checkpoints_write: Option<File>,
    /// The writer's lock, held while the ledger is open for writing; `None` when read-only.
    writer_lock: Option<File>,
    checkpoints_len: u64,
    offsets: Vec<u64>,
    index: MessageIndex,
    subjects: SubjectIndex,
    tree: TileCache,
    latest: Option<SignedCheckpoint>,
    report: RecoveryReport,
}

/// Sequential reads through `read_at`, independent of the descriptor's file position.
struct PosReader<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn open_rw(path: &Path) -> Result<File, LedgerError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(LedgerError::io(format!("opening {}", path.display())))
}

fn file_len(file: &File, name: &str) -> Result<u64, LedgerError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(LedgerError::io(format!("reading the size of {name}")))
}

/// Position of the last non-zero byte at or after `from`.
fn last_nonzero(file: &File, from: u64, name: &str) -> Result<Option<u64>, LedgerError> {
    let len = file_len(file, name)?;
    let mut buf = vec![0u8; SCAN_BUFFER];
    let (mut pos, mut last) = (from, None);
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        if let Err(e) = file.read_exact_at(&mut buf[..n], pos) {
            return Err(LedgerError::io(format!("reading {name}"))(e));
        }
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            last = Some(pos + i as u64);
        }
        pos += n as u64;
    }
    Ok(last)
}

/// Zeroes `from..=last` and syncs, so nothing stale can pass for a frame later.
fn zero_range(file: &File, from: u64, last: u64, name: &str) -> Result<(), LedgerError> {
    let zeros = vec![0u8; SCAN_BUFFER];
    let mut pos = from;
    while pos <= last {
        let n = (last + 1 - pos).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], pos)
            .map_err(LedgerError::io(format!("zeroing the torn tail of {name}")))?;
        pos += n as u64;
    }
    file.sync_data()
        .map_err(LedgerError::io(format!("syncing {name}")))
}

fn open_append(path: &Path) -> Result<File, LedgerError> {
    korpu_pki::private::file_options()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(LedgerError::io(format!("opening {}", path.display())))
}

fn open_read(path: &Path) -> Result<File, LedgerError> {
    File::open(path).map_err(LedgerError::io(format!("opening {}", path.display())))
}

/// Cuts a torn tail and makes the cut durable before anything is appended after it.
fn truncate(file: &File, len: u64, name: &str) -> Result<(), LedgerError> {
    file.set_len(len)
        .map_err(LedgerError::io(format!("truncating {name} to {len} bytes")))?;
    file.sync_all()
        .map_err(LedgerError::io(format!("syncing {name}")))
}

/// Reads checkpoints.log frame by frame (up to `limit` bytes when given), calling `each` with
/// the position and the checkpoint. Returns the length of the complete frames and whether
/// something incomplete followed them.
fn scan_checkpoints(
    path: &Path,
    limit: Option<u64>,
    mut each: impl FnMut(usize, SignedCheckpoint) -> Result<(), LedgerError>,
) -> Result<(u64, bool), LedgerError> {
    let file = open_read(path)?;
    let io = |what: &str| LedgerError::io(format!("{what} {CHECKPOINTS_FILE}"));
    let file_len = file.metadata().map_err(io("reading the size of"))?.len();
    let end = limit.map_or(file_len, |l| l.min(file_len));
    let mut r = BufReader::with_capacity(SCAN_BUFFER, file.take(end));
    let mut pos = 0u64;
    let mut number = 0usize;
    loop {
        let mut len_bytes = [0u8; 4];
        let got = read_full(&mut r, &mut len_bytes).map_err(io("reading"))?;
        if got == 0 {
            return Ok((pos, false));
        }
        if got < 4 {
            return Ok((pos, true));
        }
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len == 0 || len > MAX_CHECKPOINT_BYTES {
            return Ok((pos, true));
        }
        let mut body = vec![0u8; len + HASH_LEN];
        if read_full(&mut r, &mut body).map_err(io("reading"))? < body.len() {
            return Ok((pos, true));
        }
        if Sha256::digest(&body[..len])[..] != body[len..] {
            return Ok((pos, true));
        }
        let corrupt = |detail: String| LedgerError::Corrupt {
            file: CHECKPOINTS_FILE.to_string(),
            offset: pos,
            detail,
        };
        let stored: StoredCheckpoint = serde_json::from_slice(&body[..len])
            .map_err(|e| corrupt(format!("checkpoint {number} is not readable: {e}")))?;
        let (text, _) =
            split_note(&stored.note).map_err(|e| corrupt(format!("checkpoint {number}: {e}")))?;
        let checkpoint = Checkpoint::parse_body(text)
            .map_err(|e| corrupt(format!("checkpoint {number}: {e}")))?;
        let timestamp = match stored.timestamp {
            None => None,
            Some(t) => Some(B64.decode(t).map_err(|e| {
                corrupt(format!(
                    "checkpoint {number}: the time-stamp is not base64: {e}"
                ))
            })?),
        };
        each(
            number,
            SignedCheckpoint {
                checkpoint,
                note: stored.note,
                timestamp,
            },
        )?;
        pos += (4 + len + HASH_LEN) as u64;
        number += 1;
    }
}

/// How [`recover`] opens: as the writer (lock, create, repair) or read-only (none of that).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    ReadOnly,
}

/// Takes the writer's lock on `dir`, or names who holds it.
fn take_writer_lock(dir: &Path) -> Result<File, LedgerError> {
    let path = dir.join(LOCK_FILE);
    let file = korpu_pki::private::file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(LedgerError::io(format!("opening {}", path.display())))?;
    korpu_pki::private::check(&path)?;
    use rustix::fs::{flock, FlockOperation};
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut pid = String::new();
            let _ = (&file).read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LedgerError::InUse {
                dir: dir.display().to_string(),
                holder: if pid.is_empty() {
                    "another process".into()
                } else {
                    format!("pid {pid}")
                },
            });
        }
        Err(e) => {
            return Err(LedgerError::io(format!("locking {}", path.display()))(
                std::io::Error::from(e),
            ))
        }
    }
    // Only for the message above: the lock itself is what excludes.
    file.set_len(0)
        .and_then(|()| file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0))
        .map_err(LedgerError::io(format!("writing {}", path.display())))?;
    Ok(file)
}

/// Refuses a file of the ledger that group or others can reach.
fn check_private(path: &Path) -> Result<(), LedgerError> {
    Ok(korpu_pki::private::check_if_exists(path)?)
}

fn recover(
    cfg: &LedgerConfig,
    key_hasher: &RandomState,
    mode: Mode,
) -> Result<Recovered, LedgerError> {
    let dir = &cfg.dir;
    let read_only = mode == Mode::ReadOnly;
    let leaves_path = dir.join(LEAVES_FILE);
    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let (writer_lock, leaves_write, checkpoints_write) = if read_only {
        if !dir.is_dir() {
            return Err(LedgerError::io(format!(
                "opening the ledger {}",
                dir.display()
            ))(std::io::Error::from(
                std::io::ErrorKind::NotFound,
            )));
        }
        (None, None, None)
    } else {
        korpu_pki::private::create_dir(dir)?;
        let writer_lock = take_writer_lock(dir)?;
        for name in [LEAVES_FILE, CHECKPOINTS_FILE, ARCHIVE_NEXT_FILE] {
            check_private(&dir.join(name))?;
        }
        let leaves_write = open_append(&leaves_path)?;
        let checkpoints_write = open_append(&checkpoints_path)?;
        // New files' directory entries must survive a crash too.
        sync_dir(dir)?;
        (
            Some(writer_lock),
            Some(leaves_write),
            Some(checkpoints_write),
        )
    };
    let mut report = RecoveryReport::default();

    // Checkpoints first: they say how much of the log is committed and must not be cut.
    let mut heads: Vec<Checkpoint> = Vec::new();
    let mut latest: Option<SignedCheckpoint> = None;
    let checkpoints_exist = !read_only || checkpoints_path.exists();
    let scanned = if !checkpoints_exist {
        Ok((0, false))
    } else {
        scan_checkpoints(&checkpoints_path, None, |number, cp| {
            if cp.checkpoint.origin != cfg.origin {
                return Err(LedgerError::WrongOrigin {
                    dir: dir.display().to_string(),
                    found: cp.checkpoint.origin.clone(),
                    expected: cfg.origin.clone(),
                });
            }
            if let Some(prev) = heads.last() {
                if cp.checkpoint.size < prev.size {
                    return Err(LedgerError::InconsistentCheckpoint {
                        number,
                        size: cp.checkpoint.size,
                        detail: format!("is smaller than the checkpoint before it ({})", prev.size),
                    });
                }
            }
            heads.push(cp.checkpoint.clone());
            latest = Some(cp);
            Ok(())
        })
    };
    let (checkpoints_len, torn) = scanned?;
    if let (true, Some(checkpoints_write)) = (torn, &checkpoints_write) {
        let file_len = checkpoints_write
            .metadata()
            .map_err(LedgerError::io(format!(
                "reading the size of {CHECKPOINTS_FILE}"
            )))?
            .len();
        report.checkpoint_bytes_truncated = file_len - checkpoints_len;
        tracing::warn!(
            bytes = report.checkpoint_bytes_truncated,
            "cutting an incomplete checkpoint from the end of {CHECKPOINTS_FILE}"
        );
        truncate(checkpoints_write, checkpoints_len, CHECKPOINTS_FILE)?;
    }
    report.checkpoints = heads.len() as u64;
    let committed = heads.last().map_or(0, |c| c.size);

    // The segments: contiguous from 0; a leftover *.tmp is a preparation that never finished.
    let mut numbers = Vec::new();
    let listing =
        fs::read_dir(dir).map_err(LedgerError::io(format!("listing {}", dir.display())))?;
    for entry in listing {
        let entry = entry.map_err(LedgerError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name
            .strip_suffix(".tmp")
            .is_some_and(|n| segment_number(n).is_some())
        {
            if !read_only {
                fs::remove_file(entry.path())
                    .map_err(LedgerError::io(format!("removing {name}")))?;
            }
        } else if let Some(n) = segment_number(name) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    for (i, &n) in numbers.iter().enumerate() {
        if n != i as u64 {
            return Err(LedgerError::Corrupt {
                file: segment_name(i as u64),
                offset: 0,
                detail: format!("is missing although {} exists", segment_name(n)),
            });
        }
    }
    let mut segments = Vec::with_capacity(numbers.len().max(1));
    for &n in &numbers {
        let path = dir.join(segment_name(n));
        segments.push(Arc::new(if read_only {
            open_read(&path)?
        } else {
            check_private(&path)?;
            open_rw(&path)?
        }));
    }
    if segments.is_empty() && !read_only {
        segments.push(Arc::new(prepare_segment(dir, 0, cfg.segment_bytes)?));
    }

    // Every frame: checked, indexed, integrated, compared with leaves.bin (read-only: kept).
    let mut leaves_in: Box<dyn Read> = if read_only {
        Box::new(std::io::empty())
    } else {
        Box::new(BufReader::with_capacity(
            SCAN_BUFFER,
            open_read(&leaves_path)?,
        ))
    };
    let mut all_leaves: Vec<Hash> = Vec::new();
    let mut leaves_match = !read_only;
    let mut leaves_good = 0u64;
    let mut rewrite: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    let mut index = MessageIndex::default();
    let mut subjects = SubjectIndex::default();
    let mut tree = TileCache::new();
    let mut n = 0u64;
    let mut body = Vec::new();
    // Where the log ends: the segment and position after the last good frame.
    let mut end = (0usize, 0u64);
    'segments: for (k, file) in segments.iter().enumerate() {
        let name = segment_name(k as u64);
        let mut r = BufReader::with_capacity(SCAN_BUFFER, PosReader { file, pos: 0 });
        let mut pos = 0u64;
        let read_err = || LedgerError::io(format!("reading {name}"));
        loop {
            let mut header = [0u8; ENTRY_HEADER];
            let got = read_full(&mut r, &mut header).map_err(read_err())?;
            if header[..got].iter().all(|&b| b == 0) {
                // Zero padding or the end of the file: this segment holds no more frames.
                continue 'segments;
            }
            let problem = if got < ENTRY_HEADER {
                Some("the frame header is cut short".to_string())
            } else {
                let (len, stored_index) = parse_entry_header(&header);
                if len == 0 || len > MAX_RECORD_BYTES {
                    Some(format!("the frame length {len} is out of range"))
                } else {
                    body.resize(len + HASH_LEN, 0);
                    if read_full(&mut r, &mut body).map_err(read_err())? < body.len() {
                        Some("the frame is cut short".into())
                    } else if stored_index != n {
                        Some(format!("the frame holds index {stored_index}"))
                    } else if leaf_hash(&body[..len])[..] != body[len..] {
                        Some("the frame fails its checksum".into())
                    } else {
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                if n < committed {
                    // A checkpoint covers this entry: it was durable once, so this is damage,
                    // not a torn write, and cutting here would drop committed entries.
                    return Err(if problem.contains("checksum") {
                        LedgerError::Checksum {
                            file: name,
                            index: n,
                        }
                    } else {
                        LedgerError::Corrupt {
                            file: name,
                            offset: pos,
                            detail: format!(
                                "entry {n}, covered by a checkpoint of {committed} entries: {problem}"
                            ),
                        }
                    });
                }
                tracing::warn!(entry = n, segment = %name, "the log ends at a torn frame: {problem}");
                end = (k, pos);
                break 'segments;
            }
            let len = body.len() - HASH_LEN;
            let leaf: Hash = body[len..].try_into().expect("the trailer is 32 bytes");
            #[derive(Deserialize)]
            struct IdOnly<'a> {
                #[serde(borrow)]
                message_id: std::borrow::Cow<'a, str>,
                #[serde(borrow, default)]
                data_subject: Option<std::borrow::Cow<'a, str>>,
            }
            let id: IdOnly =
                serde_json::from_slice(&body[..len]).map_err(|e| LedgerError::BadRecord {
                    index: n,
                    detail: e.to_string(),
                })?;
            index.insert(key_hasher.hash_one(id.message_id.as_ref()), n);
            if let Some(s) = &id.data_subject {
                subjects
                    .entry(subject_key(key_hasher, s))
                    .or_insert_with(Vec::new)
                    .push(n);
            }
            offsets.push(location(k as u64, pos));
            tree.push(leaf);
            if read_only {
                all_leaves.push(leaf);
            }
            if leaves_match {
                let mut stored = [0u8; HASH_LEN];
                let got = read_full(&mut leaves_in, &mut stored)
                    .map_err(LedgerError::io(format!("reading {LEAVES_FILE}")))?;
                if got == HASH_LEN && stored == leaf {
                    leaves_good += 1;
                } else {
                    leaves_match = false;
                }
            }
            if !leaves_match && !read_only {
                rewrite.extend_from_slice(&leaf);
            }
            pos += (ENTRY_HEADER + len + HASH_LEN) as u64;
            n += 1;
            end = (k, pos);
        }
    }
    report.entries = n;

    if read_only {
        let leaves = Leaves::Memory(all_leaves);
        check_heads(&heads, &tree, &leaves, n)?;
        return Ok(Recovered {
            segments,
            next_segment: None,
            segment_pos: end.1,
            leaves_write: None,
            leaves,
            checkpoints_write: None,
            writer_lock: None,
            checkpoints_len,
            offsets,
            index,
            subjects,
            tree,
            latest,
            report,
        });
    }
    let (Some(writer_lock), Some(leaves_write), Some(checkpoints_write)) =
        (writer_lock, leaves_write, checkpoints_write)
    else {
        unreachable!("a writable recovery opened its files above");
    };

    // Nothing after the end may survive: zero the rest of its segment, drop later segments.
    let (last, pos) = end;
    let name = segment_name(last as u64);
    if let Some(stale) = last_nonzero(&segments[last], pos, &name)? {
        report.entry_bytes_truncated += stale + 1 - pos;
        zero_range(&segments[last], pos, stale, &name)?;
    }
    let mut next_segment = None;
    for k in (last + 1..segments.len()).rev() {
        let name = segment_name(k as u64);
        match last_nonzero(&segments[k], 0, &name)? {
            // The untouched segment prepared for after this one: use it as it is.
            None if k == last + 1 && file_len(&segments[k], &name)? == cfg.segment_bytes => {
                next_segment = Some(segments[k].clone());
                continue;
            }
            None => {}
            Some(stale) => report.entry_bytes_truncated += stale + 1,
        }
        fs::remove_file(dir.join(&name)).map_err(LedgerError::io(format!("removing {name}")))?;
    }
    segments.truncate(last + 1);
    sync_dir(dir)?;
    if report.entry_bytes_truncated > 0 {
        tracing::warn!(
            entries = n,
            bytes = report.entry_bytes_truncated,
            "removed a torn tail after the last complete entry"
        );
    }

    let leaves_len = leaves_write
        .metadata()
        .map_err(LedgerError::io(format!(
            "reading the size of {LEAVES_FILE}"
        )))?
        .len();
    if leaves_len != n * HASH_LEN as u64 || !rewrite.is_empty() {
        report.leaf_hashes_rewritten = (rewrite.len() / HASH_LEN) as u64;
        truncate(&leaves_write, leaves_good * HASH_LEN as u64, LEAVES_FILE)?;
        let mut w = &leaves_write;
        w.write_all(&rewrite)
            .and_then(|()| leaves_write.sync_data())
            .map_err(LedgerError::io(format!("rewriting {LEAVES_FILE}")))?;
    }
    let leaves = Leaves::File(open_read(&leaves_path)?);
    check_heads(&heads, &tree, &leaves, n)?;

    Ok(Recovered {
        segments,
        next_segment,
        segment_pos: pos,
        leaves_write: Some(leaves_write),
        leaves,
        checkpoints_write: Some(checkpoints_write),
        writer_lock: Some(writer_lock),
        checkpoints_len,
        offsets,
        index,
        subjects,
        tree,
        latest,
        report,
    })
}

/// A log must never have signed a checkpoint its entries do not reproduce (tlog-checkpoint
/// §Signatures): checks each against the tree rebuilt from the `n` entries.
fn check_heads(
    heads: &[Checkpoint],
    tree: &TileCache,
    leaves: &Leaves,
    n: u64,
) -> Result<(), LedgerError> {
    let store = LeafFile(leaves);
    let source = tree.with_store(&store);
    for (number, head) in heads.iter().enumerate() {
        if head.size > n {
            return Err(LedgerError::InconsistentCheckpoint {
                number,
                size: head.size,
                detail: format!("covers more than the {n} complete entries in the segments"),
            });
        }
        if root_from(&source, head.size)? != head.root {
            return Err(LedgerError::InconsistentCheckpoint {
                number,
                size: head.size,
                detail: "does not match the tree rebuilt from the entry segments".into(),
            });
        }
    }
    Ok(())
}
