//! The checkpoint file and issuing checkpoints: signing and time-stamping a tree head,
//! appending its frame to checkpoints.log, reading the file back, and the schedule that issues
//! one every [`LedgerConfig::checkpoint_interval`](super::LedgerConfig::checkpoint_interval).
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::segment::{open_read, read_full};
use super::{
    blocking, lock, read, write, Inner, LeafFile, Leaves, SignedCheckpoint, CHECKPOINTS_FILE,
    HASH_LEN, LEAVES_FILE, MAX_CHECKPOINT_BYTES, SCAN_BUFFER,
};
use crate::checkpoint::{sign_note, split_note, Checkpoint};
use crate::merkle::root_from;
use crate::LedgerError;

#[derive(Serialize, Deserialize)]
pub(super) struct StoredCheckpoint {
    pub(super) note: String,
    pub(super) timestamp: Option<String>,
}

pub(super) struct CheckpointFile {
    /// `None` when opened read-only.
    pub(super) file: Option<File>,
    pub(super) len: u64,
    /// Frames in the file.
    pub(super) count: u64,
    pub(super) poisoned: Option<String>,
}

impl Inner {
    pub(super) async fn checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
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
            let size = shared.integrate()?;
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
        let (at, number) = blocking(move || {
            let mut file = lock(&file);
            let (at, number) = (file.len, file.count);
            append_checkpoint(&mut file, &frame)?;
            Ok((at, number))
        })
        .await?;
        *write(&self.shared.latest) = Some(signed.clone());
        self.shared
            .last_checkpoint_size
            .store(size, Ordering::Release);
        let shared = self.shared.clone();
        if let Err(e) = blocking(move || shared.persist(size, at, number)).await {
            // The state only saves work at the next open, which without it reads more.
            tracing::warn!(error = %e, size, "persisting the ledger state failed");
        }
        if self.archive.is_some() {
            // An archive failure must not fail the checkpoint: the segment stays on disk and
            // the next checkpoint retries.
            if let Err(e) = self.archive_sealed().await {
                tracing::warn!(error = %e, "archiving sealed segments failed; will retry");
            }
        }
        Ok(signed)
    }
}

pub(super) fn checkpoint_frame(cp: &SignedCheckpoint) -> Vec<u8> {
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

pub(super) fn append_checkpoint(cf: &mut CheckpointFile, frame: &[u8]) -> Result<(), LedgerError> {
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
            cf.count += 1;
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

pub(super) async fn checkpoint_schedule(
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

/// Reads checkpoints.log frame by frame (up to `limit` bytes when given), calling `each` with
/// the position and the checkpoint. Returns the length of the complete frames and whether
/// something incomplete followed them.
/// Where a checkpoint's frame is in checkpoints.log, and its number there (from 0).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CheckpointAt {
    pub(super) pos: u64,
    pub(super) number: u64,
}

pub(super) fn scan_checkpoints(
    path: &Path,
    from: CheckpointAt,
    limit: Option<u64>,
    mut each: impl FnMut(CheckpointAt, SignedCheckpoint) -> Result<(), LedgerError>,
) -> Result<(u64, bool), LedgerError> {
    let mut file = open_read(path)?;
    let io = |what: &str| LedgerError::io(format!("{what} {CHECKPOINTS_FILE}"));
    let file_len = file.metadata().map_err(io("reading the size of"))?.len();
    let end = limit.map_or(file_len, |l| l.min(file_len));
    file.seek(SeekFrom::Start(from.pos))
        .map_err(io("seeking in"))?;
    let mut r = BufReader::with_capacity(SCAN_BUFFER, file.take(end.saturating_sub(from.pos)));
    let mut pos = from.pos;
    let mut number = from.number as usize;
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
            CheckpointAt {
                pos,
                number: number as u64,
            },
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
