//! Opening a ledger: writable (recovery, the segment helper thread, the writer thread and the
//! checkpoint schedule) or read-only (recovery that repairs nothing, and nothing started).
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use super::archiver::{read_archive_next, Archiver};
use super::checkpoints::{checkpoint_schedule, CheckpointFile};
use super::recover::{recover, Found, Mode};
use super::segment::prepare_segment;
use super::writer::Writer;
use super::{
    blocking, lock, read, Durable, Inner, Ledger, LedgerConfig, Shared, CHECKPOINTS_FILE,
    ENTRY_HEADER, HASH_LEN, MAX_RECORD_BYTES, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES,
};
use crate::archive::ArchiveStore;
use crate::checkpoint::{NoteSigner, NoteVerifier};
use crate::timestamp::{DynTimestamper, Timestamper};
use crate::LedgerError;

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
        let rec = {
            let cfg = cfg.clone();
            blocking(move || recover(&cfg, Mode::ReadOnly)).await?
        };
        let (tx, _) = mpsc::channel();
        let shared = Shared::new(
            rec.found,
            MAX_RECORD_BYTES,
            Arc::new(Notify::new()),
            u64::MAX,
            None,
            u64::MAX,
        );
        let inner = Arc::new(Inner {
            shared,
            tx,
            origin: cfg.origin.clone(),
            signer: None,
            verifier,
            timestamper: None,
            writer_lock: Mutex::new(None),
            read_only: true,
            indexed: cfg.indexer.is_some(),
            checkpoints: Arc::new(Mutex::new(CheckpointFile {
                file: None,
                len: rec.checkpoints_len,
                count: rec.checkpoints_count,
                poisoned: None,
            })),
            checkpoints_path: cfg.dir.join(CHECKPOINTS_FILE),
            checkpoint_turn: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(true),
            stop_background: Arc::new(Notify::new()),
            background: Mutex::new(None),
            writer: Mutex::new(None),
            report: rec.report,
            dir: cfg.dir.clone(),
            archive: None,
        });
        Ok(Ledger { inner })
    }

    pub(super) async fn open_inner(
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
        let rec = {
            let cfg = cfg.clone();
            blocking(move || recover(&cfg, Mode::Write)).await?
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
        let max_record = MAX_RECORD_BYTES.min(cfg.segment_bytes as usize - ENTRY_HEADER - HASH_LEN);
        let current_segment = rec.found.segments.len() as u64 - 1;
        let current = rec.found.segments[current_segment as usize].clone();
        let rebuilt = rec.found.state.is_none();
        let shared = Shared::new(
            rec.found,
            max_record,
            checkpoint_due.clone(),
            cfg.checkpoint_every.max(1),
            Some(cfg.dir.clone()),
            cfg.state_every.max(1),
        );
        if let (true, Some(latest)) = (rebuilt, shared.latest_size()) {
            // After a rebuild, persist at once, so that the next open starts from here.
            let (shared, at) = (shared.clone(), rec.latest_at);
            if let Err(e) = blocking(move || shared.persist(latest, at.pos, at.number)).await {
                // Only the next open's speed depends on it; the next checkpoint tries again.
                tracing::warn!(error = %e, "persisting the rebuilt ledger state failed");
            }
        }
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
            offsets: rec
                .offsets_write
                .expect("a writable recovery opens offsets.bin for appending"),
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
            indexed: cfg.indexer.is_some(),
            checkpoints: Arc::new(Mutex::new(CheckpointFile {
                file: rec.checkpoints_write,
                len: rec.checkpoints_len,
                count: rec.checkpoints_count,
                poisoned: None,
            })),
            checkpoints_path: cfg.dir.join(CHECKPOINTS_FILE),
            checkpoint_turn: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            stop_background: stop_background.clone(),
            background: Mutex::new(None),
            writer: Mutex::new(Some(writer)),
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
}

impl Shared {
    /// The shared state over what recovery `found`; `state_dir` is where states are persisted,
    /// `None` for a read-only ledger.
    fn new(
        found: Found,
        max_record: usize,
        checkpoint_due: Arc<Notify>,
        checkpoint_every: u64,
        state_dir: Option<PathBuf>,
        state_every: u64,
    ) -> Arc<Shared> {
        let latest_size = found.latest.as_ref().map_or(0, |c| c.checkpoint.size);
        Arc::new(Shared {
            segments: RwLock::new(found.segments),
            leaves: found.leaves,
            max_record,
            appends: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            segments_begun: AtomicU64::new(0),
            commit_micros: AtomicU64::new(0),
            wait_micros: AtomicU64::new(0),
            offsets: found.offsets,
            durable: Mutex::new(Durable {
                size: found.entries,
                pending: Vec::new(),
                recent: found.recent,
            }),
            tree: RwLock::new(found.tree),
            keys: found.keys,
            runs: RwLock::new(Arc::new(found.runs)),
            persisted: Mutex::new(found.state),
            state_dir,
            state_every,
            latest: RwLock::new(found.latest),
            last_checkpoint_size: AtomicU64::new(latest_size),
            in_flight: AtomicUsize::new(0),
            checkpoint_due,
            checkpoint_every,
        })
    }

    /// The size of the latest checkpoint, if there is one.
    fn latest_size(&self) -> Option<u64> {
        read(&self.latest).as_ref().map(|c| c.checkpoint.size)
    }
}
