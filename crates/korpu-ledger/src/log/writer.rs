//! The group-commit writer thread: takes every queued append, writes their frames with one
//! positional write, syncs the segment once, and only then answers each append with its index.
//! It never reads the log back and never issues checkpoints.
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::segment::{location, segment_name, OFFSETS_FILE};
use super::{lock, write, Shared, ENTRY_HEADER, HASH_LEN, LEAVES_FILE, WAIT_NAP};
use crate::merkle::Hash;
use crate::LedgerError;

pub(super) enum Msg {
    Append(AppendRequest),
    Stop(oneshot::Sender<()>),
}

pub(super) struct AppendRequest {
    pub(super) payload: Vec<u8>,
    pub(super) leaf: Hash,
    /// The stored (hashed) lookup keys.
    pub(super) keys: Vec<u64>,
    pub(super) reply: oneshot::Sender<Result<u64, LedgerError>>,
}

/// The single thread that writes entries.
pub(super) struct Writer {
    pub(super) rx: mpsc::Receiver<Msg>,
    pub(super) shared: Arc<Shared>,
    /// The segment being filled, its number, and where the next frame goes.
    pub(super) segment: Arc<File>,
    pub(super) segment_no: u64,
    pub(super) segment_pos: u64,
    pub(super) segment_bytes: u64,
    /// Asks the segment thread for a segment number; `ready` answers, in order.
    pub(super) prepare: mpsc::Sender<u64>,
    pub(super) ready: mpsc::Receiver<Result<Arc<File>, LedgerError>>,
    pub(super) leaves: File,
    /// offsets.bin, appended to like `leaves`.
    pub(super) offsets: File,
    pub(super) next_index: u64,
    pub(super) max_batch: usize,
    pub(super) max_delay: Duration,
    pub(super) poisoned: Option<String>,
    pub(super) buf: Vec<u8>,
    pub(super) leaf_buf: Vec<u8>,
}

impl Writer {
    pub(super) fn run(mut self) {
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
    pub(super) fn fill(&self, batch: &mut Vec<AppendRequest>) -> Option<oneshot::Sender<()>> {
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
    pub(super) fn flush(&mut self, start: u64) -> Result<(), String> {
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
    pub(super) fn next_segment(&mut self) -> Result<(), String> {
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

    /// Writes the batch, its leaf hashes and its locations, and makes the batch durable.
    pub(super) fn write_batch(&mut self, batch: &[AppendRequest]) -> Result<(), String> {
        self.buf.clear();
        self.leaf_buf.clear();
        let mut locations = Vec::with_capacity(batch.len() * 8);
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
            locations.extend_from_slice(&location(self.segment_no, self.segment_pos).to_le_bytes());
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
        // Before the acknowledgement: a reader may ask for an entry as soon as it is answered.
        self.offsets
            .write_all(&locations)
            .map_err(|e| format!("appending to {OFFSETS_FILE}: {e}"))?;
        self.flush(start)
    }

    pub(super) fn commit(&mut self, batch: &mut Vec<AppendRequest>) {
        let n = batch.len();
        let result = match &self.poisoned {
            Some(why) => Err(why.clone()),
            None => self.write_batch(batch),
        };
        match result {
            Ok(()) => {}
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
        }
        let first = self.next_index;
        self.next_index += n as u64;
        {
            let mut d = lock(&self.shared.durable);
            for (i, r) in batch.iter().enumerate() {
                d.pending.push(r.leaf);
                d.recent.insert(first + i as u64, &r.keys);
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

pub(super) fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
}
