//! The durable ledger: group-committed appends, the Merkle tree over them, signed checkpoints.
//!
//! # Files (all in [`LedgerConfig::dir`])
//! * `entries.NNNNNN.log` — the entries, in segments of [`LedgerConfig::segment_bytes`], each
//!   created zero-filled to its full size before use. One frame per entry:
//!   `len: u32 LE | index: u64 LE | entry (len bytes) | leaf hash (32 bytes)`, where the entry
//!   is the caller's bytes ([`Entry::bytes`]) and the leaf hash is their RFC 9162 leaf hash. The
//!   trailing hash is the frame's checksum: a frame is complete only if it is all there and the
//!   hash of its entry matches; the index field catches frames that are whole but out of place. A
//!   frame never spans segments: when the next one does not fit, the rest of the segment stays
//!   zero (an all-zero header means "continue in the next segment").
//! * `leaves.bin` — the leaf hashes again, 32 bytes per entry, so proofs read one small range
//!   instead of whole entries.
//! * `offsets.bin` — where each entry's frame is, 8 bytes per entry (segment number in the high
//!   32 bits, position in the low 32), read with positional reads.
//! * `nodes.bin` — the hashes of the tree's complete subtrees of 256 leaves or more, in the
//!   order they complete (see `tree`).
//! * `index.FIRST-END.run` — the lookup index of entries `FIRST..END`: sorted
//!   (keyed hash, entry index) pairs (see `runs`); `index.key` — the secret of those hashes.
//! * `state.bin` — the persisted state: what the last checkpoint covers and where every derived
//!   file stands for it, with a checksum (see `state`).
//! * `checkpoints.log` — every signed checkpoint ever issued, append-only, one frame each:
//!   `len: u32 LE | JSON {note, timestamp} | SHA-256 of the JSON`.
//!
//! Everything but the segments and `checkpoints.log` is derived data, rebuilt from them when it
//! is missing or disagrees; `index.key` is only replaced, which invalidates the runs.
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
//!   knows its entry is microseconds away: a gateway whose answers arrive in a burst.
//! * A checkpoint: `leaves.bin` is synced, the note is signed and time-stamped, its frame is
//!   appended to `checkpoints.log`, which is synced; only then is the checkpoint returned.
//!   Then the state is persisted: the run of the entries since the last state is written and
//!   synced (and runs merged), `offsets.bin` and `nodes.bin` are synced, and `state.bin` is
//!   written as a temporary file, synced, renamed over the old one and the directory synced.
//!   So a state names only durable data, and a crash leaves the old state or the new one.
//!   A failure here is logged and does not fail the checkpoint: it only makes the next open
//!   read more.
//! * On open: the directory, and anything recovery repaired.
//!
//! # What a crash can leave, and how open recovers
//! A crash mid-batch can leave any subset of the pages of the last unsynced write: a frame cut
//! short or half zero, stale bytes after it. Open starts from the persisted state: it reads
//! `checkpoints.log` from the state's checkpoint on, and the segments from the position the
//! state names for the entry after it, checking every frame, and stops at the first one that
//! is not complete and in sequence. Everything before it
//! was written before the last successful `fdatasync` or is whole anyway; everything from it on
//! belongs to a batch whose `fdatasync` never returned (a later segment can hold data only if
//! the one before was synced in full), so none of it was acknowledged. Open zeroes the rest of
//! that segment, deletes later segments and continues appending right there. The same holds for
//! `checkpoints.log`, which is cut at its first incomplete frame. `leaves.bin` is compared with
//! the hashes just recomputed and rewritten from the first difference, `offsets.bin` is
//! rewritten after the state's entries. Last, every checkpoint read (the state's and later
//! ones) is checked against the tree. Without a usable state — none yet, a checksum that
//! fails, a run, `nodes.bin`, `leaves.bin` or `offsets.bin` shorter than it counts on, a
//! different index key, or any error on the way — open deletes the state and the runs and
//! does all of this from the first frame, rebuilding every derived file (logged), then
//! persists a state at once.
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
//! Starting from the state changes none of this: the state is written only after its
//! checkpoint is durable, so every frame it covers is covered by a checkpoint and was never to
//! be cut; the scan begins at the first frame that is not, which is where the cutting rule
//! applies. What open no longer does is re-check the frames the state covers: each was either
//! written by this ledger, which hashed the entry itself, or checked by the open that read it,
//! before the checkpoint the state follows signed the tree of their hashes; re-reading them at
//! every start is what made restart time grow with the log. Damage to them after that (bit rot, an
//! edit) is found by the full checks: [`Ledger::open_read_only`] (what `korpu ledger` uses)
//! still reads and checks every frame, archives are verified whole ([`crate::verify_archive`]),
//! and deleting `state.bin` makes the next writable open check everything. Damage to derived
//! files in place (not their length) is likewise not looked for at open beyond the state's
//! checkpoint, whose root is recomputed from them; a proof made from a damaged `nodes.bin`
//! fails its verification against the signed checkpoint, so it is noticed, not believed.
//!
//! # Costs
//! Open reads the frames written after the last persisted state (at most a checkpoint
//! interval's worth plus [`LedgerConfig::state_every`]: [`LedgerConfig::checkpoint_every`]
//! bounds it) and the unused rest of the
//! current segment, the checkpoints from the state's on, a tile of leaf hashes and the state
//! itself; it opens every segment file and run (O(log n) runs). Memory holds, per entry after
//! the state, its pending leaf hash and about 16 bytes of index; nothing per older entry (the
//! locations, the tree and the index are read from their files with positional reads: a
//! lookup costs O(log n) small reads per run). A rebuild (no usable state) reads every frame
//! once and holds the index of the whole log in memory until the state it then writes.
//! A read-only open always reads every frame and keeps locations, leaf hashes, tree nodes
//! and index in memory (it writes nothing). An append whose write or sync
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
//! # The lookup index
//! id → entry indexes, for the ids each append names ([`Entry::keys`]: the gateway names an
//! exchange's message id and data subject), all in the same runs, keyed by HMAC-SHA-256 of
//! the key space's label and the id under the secret in `index.key` (0600), truncated to 64
//! bits: no id is written anywhere but inside the entries, and the runs say only which entries
//! share an id. Entries read back from the segments (after the state, or all of them in a
//! rebuild or a read-only open) are indexed by asking [`LedgerConfig::indexer`] for their keys,
//! the same the appender named. Entries after the state are indexed in memory by the writer; a
//! lookup merges memory and every run and hands each candidate's bytes to the caller, who
//! drops those that do not name the id (a colliding key, or a run damaged in place, which
//! could also hide an entry: delete `state.bin` to rebuild). The ledger cannot tell, as it
//! does not read its entries. Runs are derived data like the rest; a read-only open indexes
//! in memory under a key of its own.
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
//! The directory is created 0700 and every file 0600 (the gateway's entries name citizens and purposes); a
//! writable open refuses a directory or file that group or others can reach, naming the
//! `chmod` to run ([`korpu_pki::private`]).
//!
//! # Where each part lives
//! This module holds the [`Ledger`] API and the state its parts share; `open` starts a ledger,
//! `recover` is open's scan and repair, `writer` the group-commit thread, `segment` the segment
//! files, their frames and `offsets.bin`, `tree` the tree over `nodes.bin`, `index` the
//! index key, the recent index and the lookups, `runs` the index runs, `state` the persisted
//! state, `checkpoints` issuing and storing checkpoints, `archiver` archiving sealed segments.

mod archiver;
mod checkpoints;
mod index;
mod open;
mod recover;
mod runs;
mod segment;
mod state;
mod tree;
mod writer;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use self::archiver::Archiver;
use self::checkpoints::{scan_checkpoints, CheckpointAt, CheckpointFile};
use self::index::{IndexSecret, RecentIndex};
use self::runs::Run;
use self::segment::Offsets;
use self::state::State;
use self::tree::Tree;
use self::writer::{AppendRequest, Msg};
use crate::archive::ArchiveStore;
use crate::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use crate::merkle::{consistency_proof_from, inclusion_proof_from, leaf_hash, Hash, LeafStore};
use crate::timestamp::DynTimestamper;
use crate::LedgerError;

pub use self::index::{Entry, Found, IndexKey, Indexer, KeySpace, LookupPage};

const LEAVES_FILE: &str = "leaves.bin";
const CHECKPOINTS_FILE: &str = "checkpoints.log";
/// The next segment to archive, as decimal text.
const ARCHIVE_NEXT_FILE: &str = "archive.next";
/// The writer's lock file: `flock`ed exclusively while a writable ledger is open; holds its pid.
const LOCK_FILE: &str = "lock";
/// Largest entry accepted; larger lengths in a frame header mark it as corrupt.
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
    /// A checkpoint persists the state (see the module doc) once at least this many entries
    /// arrived since the last state: below that, reading them again at open costs less than
    /// the syncs a state takes. Default 1,024.
    pub state_every: u64,
    /// Size of each entry segment file, 4 KiB to 4 GiB; also bounds one entry. Default 64 MiB.
    pub segment_bytes: u64,
    /// Where sealed segments are archived (see [`crate::archive`]): a directory path, or with
    /// the `s3` feature an `s3://bucket/prefix` URL. Default `None`: no archiving.
    pub archive: Option<String>,
    /// PEM certificates put into every archive: the time-stamping authority's chain, so the
    /// archive is self-contained. Default empty.
    pub archive_certificates: Vec<String>,
    /// The keys of an entry read back from the segments, as its appender gave them (see
    /// [`Indexer`]). Required when appends name keys; default `None`: entries are not indexed.
    pub indexer: Option<Indexer>,
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
            state_every: 1024,
            segment_bytes: 64 << 20,
            archive: None,
            archive_certificates: Vec::new(),
            indexer: None,
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
    /// Frames read and checked: those after the persisted state (every frame when open had
    /// to rebuild, and always when read-only).
    pub frames_scanned: u64,
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
    /// Largest entry: a frame must fit in one segment.
    max_record: usize,
    appends: AtomicU64,
    commits: AtomicU64,
    segments_begun: AtomicU64,
    commit_micros: AtomicU64,
    wait_micros: AtomicU64,
    /// Where each entry is (offsets.bin).
    offsets: Offsets,
    durable: Mutex<Durable>,
    tree: RwLock<Tree>,
    /// The secret of the index keys.
    keys: IndexSecret,
    /// The index runs, oldest first (see [`runs`]).
    runs: RwLock<Arc<Vec<Arc<Run>>>>,
    /// The last state persisted; its directory, `None` when read-only.
    persisted: Mutex<Option<State>>,
    state_dir: Option<PathBuf>,
    /// [`LedgerConfig::state_every`].
    state_every: u64,
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
    /// Leaf hashes of durable entries not yet integrated into the tree.
    pending: Vec<Hash>,
    /// The lookup index of the entries after the persisted state.
    recent: RecentIndex,
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
    /// Whether [`LedgerConfig::indexer`] was given: appends may name keys.
    indexed: bool,
    checkpoints: Arc<Mutex<CheckpointFile>>,
    checkpoints_path: PathBuf,
    /// Serializes checkpoint issuance across the await on the time-stamper.
    checkpoint_turn: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    stop_background: Arc<Notify>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    report: RecoveryReport,
    dir: PathBuf,
    archive: Option<Archiver>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_background.notify_one();
    }
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
    pub(crate) fn tree_for(&self, size: u64) -> Result<RwLockReadGuard<'_, Tree>, LedgerError> {
        self.tree_covering(size)
    }

    /// The leaf hashes file.
    pub(crate) fn leaf_file(&self) -> LeafFile<'_> {
        LeafFile(&self.leaves)
    }

    /// Moves every durable leaf hash into the tree; returns the tree size.
    fn integrate(&self) -> Result<u64, LedgerError> {
        // Lock order: tree, then durable. The writer takes only durable.
        let mut tree = write(&self.tree);
        let pending = std::mem::take(&mut lock(&self.durable).pending);
        for (i, h) in pending.iter().enumerate() {
            if let Err(e) = tree.push(*h) {
                // Keep what is not integrated for the next try, ahead of newer leaves.
                lock(&self.durable)
                    .pending
                    .splice(0..0, pending[i..].iter().copied());
                return Err(e);
            }
        }
        Ok(tree.size())
    }

    /// The tree, integrated far enough to hold `size` leaves.
    fn tree_covering(&self, size: u64) -> Result<RwLockReadGuard<'_, Tree>, LedgerError> {
        {
            let tree = read(&self.tree);
            if tree.size() >= size {
                return Ok(tree);
            }
        }
        self.integrate()?;
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

    /// Appends an entry; resolves with its index once it is on stable storage.
    ///
    /// Concurrent appends share one write and one fsync. An error means the entry was not
    /// acknowledged; after a [`LedgerError::Poisoned`] it may still appear once the ledger is
    /// reopened.
    pub async fn append(&self, entry: Entry<'_>) -> Result<u64, LedgerError> {
        // Counted before hashing, so the writer knows this append is coming.
        self.append_announced(self.announce(), entry).await
    }

    /// Announces an append that will follow in a moment: the writer's group commit, which
    /// waits (up to [`LedgerConfig::max_batch_delay`]) for appends under way, then waits for
    /// this one too. For callers that know an entry is coming a few microseconds before they
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

    /// [`Self::append`] for an announced entry.
    pub async fn append_announced(
        &self,
        mut announced: Announcement,
        entry: Entry<'_>,
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
        if !entry.keys.is_empty() && !inner.indexed {
            // Its keys could not be found again once a rebuild reads the entry back.
            return Err(LedgerError::InvalidRequest(
                "an entry with lookup keys, but the ledger was opened without an indexer".into(),
            ));
        }
        let payload = entry.bytes;
        if payload.len() > inner.shared.max_record {
            return Err(LedgerError::RecordTooLarge {
                size: payload.len(),
                max: inner.shared.max_record,
            });
        }
        let leaf = leaf_hash(&payload);
        let keys = entry
            .keys
            .iter()
            .map(|k| inner.shared.keys.key(k))
            .collect();
        let (reply, answer) = oneshot::channel();
        inner
            .tx
            .send(Msg::Append(AppendRequest {
                payload,
                leaf,
                keys,
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
            scan_checkpoints(&path, CheckpointAt::default(), Some(len), |_, cp| {
                all.push(cp);
                Ok(())
            })?;
            Ok(all)
        })
        .await
    }

    /// The bytes of entry `index`, checked against its leaf hash.
    pub async fn entry(&self, index: u64) -> Result<Vec<u8>, LedgerError> {
        let size = self.size();
        if index >= size {
            return Err(LedgerError::NoSuchEntry { index, size });
        }
        let shared = self.inner.shared.clone();
        blocking(move || shared.read_entry(index, shared.offsets.get(index)?)).await
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
