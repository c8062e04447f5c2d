//! The persisted state: what open may take as checked instead of reading the log again.
//!
//! `state.bin` is `SHA-256(json) | json` of a [`State`]: the entries it covers (those of the
//! latest checkpoint when it was written), where the entry after them goes, where that
//! checkpoint's frame is in checkpoints.log, the index runs and the fingerprint of the index
//! key. It is written after each checkpoint, once the checkpoint, `leaves.bin`, `nodes.bin`,
//! `offsets.bin` and the new run are synced: under a temporary name, synced, renamed, and the
//! directory synced. So a state on disk only ever names data that is durable, and a crash
//! leaves the old state or the new one, never a mix. Everything it points at is derived from
//! the segments; when it is missing, unreadable or disagrees with the files, open ignores it
//! and rebuilds them all (the slow path, logged).
use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::runs::{is_run_file, Run, RunMeta};
use super::segment::{parse_entry_header, replace_file, segment_name, split_location, sync_dir};
use super::{lock, read, write, Shared, ENTRY_HEADER, HASH_LEN};
use crate::LedgerError;

pub(super) const STATE_FILE: &str = "state.bin";

/// Runs are merged while the newest holds at least this share of the pairs of the one before
/// it (1 = as many): the sizes then fall geometrically, so there are O(log n) runs.
const MERGE_RATIO: u64 = 1;

/// What a state records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    /// Entries covered: those of the checkpoint at `checkpoint_at`.
    pub(super) size: u64,
    /// Segment and position where entry `size` goes (or the zero padding before it).
    pub(super) next_segment: u64,
    pub(super) next_pos: u64,
    /// Position of that checkpoint's frame in checkpoints.log, and its number there.
    pub(super) checkpoint_at: u64,
    pub(super) checkpoint_number: u64,
    /// [`super::index::IndexSecret::fingerprint`] of the key the runs were made with.
    pub(super) key: String,
    /// The index runs, oldest first, together covering entries `0..size`.
    pub(super) runs: Vec<RunMeta>,
}

/// Reads the state in `dir`; `Ok(None)` when there is none, `Err` with the reason when it
/// cannot be used.
pub(super) fn load(dir: &Path) -> Result<Option<State>, String> {
    let bytes = match fs::read(dir.join(STATE_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{STATE_FILE} cannot be read: {e}")),
    };
    if bytes.len() < 32 || Sha256::digest(&bytes[32..])[..] != bytes[..32] {
        return Err(format!("{STATE_FILE} fails its checksum"));
    }
    serde_json::from_slice(&bytes[32..])
        .map(Some)
        .map_err(|e| format!("{STATE_FILE} is not readable: {e}"))
}

/// Writes `state` durably in place of the old one (see the module doc).
fn store(dir: &Path, state: &State) -> Result<(), LedgerError> {
    let json = serde_json::to_vec(state).expect("numbers and strings always serialize");
    let mut bytes = Sha256::digest(&json).to_vec();
    bytes.extend_from_slice(&json);
    replace_file(dir, STATE_FILE, &bytes, true)
}

/// Removes the state and every run file: before a rebuild, so that a crash during it cannot
/// leave a state naming files the rebuild has changed.
pub(super) fn discard(dir: &Path) -> Result<(), LedgerError> {
    let listing =
        fs::read_dir(dir).map_err(LedgerError::io(format!("listing {}", dir.display())))?;
    let mut removed = false;
    for entry in listing {
        let entry = entry.map_err(LedgerError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STATE_FILE) || is_run_file(&name) {
            fs::remove_file(entry.path()).map_err(LedgerError::io(format!("removing {name}")))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes run files no state names (merged away, or left by a crash before their state).
pub(super) fn remove_unlisted_runs(dir: &Path, runs: &[RunMeta]) -> Result<(), LedgerError> {
    let listed: Vec<String> = runs.iter().map(RunMeta::file_name).collect();
    let listing =
        fs::read_dir(dir).map_err(LedgerError::io(format!("listing {}", dir.display())))?;
    for entry in listing {
        let entry = entry.map_err(LedgerError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_run_file(&name) && !listed.contains(&name) {
            fs::remove_file(entry.path()).map_err(LedgerError::io(format!("removing {name}")))?;
        }
    }
    Ok(())
}

impl Shared {
    /// Persists the state of the checkpoint of `size` entries just stored at `checkpoint_at`
    /// (its `checkpoint_number`th frame): writes the run of the entries since the last state,
    /// merges runs, syncs the derived files and writes the state; then lets the recent index
    /// forget what the runs now hold. Read-only ledgers persist nothing, and nothing is
    /// persisted before [`super::LedgerConfig::state_every`] entries arrived since the last
    /// state.
    pub(super) fn persist(
        &self,
        size: u64,
        checkpoint_at: u64,
        checkpoint_number: u64,
    ) -> Result<(), LedgerError> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let mut persisted = lock(&self.persisted);
        let from = persisted.as_ref().map_or(0, |s| s.size);
        if size < from.saturating_add(self.state_every) {
            return Ok(());
        }
        let mut runs: Vec<Arc<Run>> = read(&self.runs).iter().cloned().collect();
        if size > from {
            let pairs = lock(&self.durable).recent.pairs_below(size);
            runs.push(Arc::new(Run::write(dir, from, size, &pairs)?));
        }
        while let [.., older, newer] = runs.as_slice() {
            if newer.meta.pairs * MERGE_RATIO < older.meta.pairs {
                break;
            }
            let merged = Arc::new(older.merge(newer, dir)?);
            runs.truncate(runs.len() - 2);
            runs.push(merged);
        }
        self.offsets.sync()?;
        read(&self.tree).sync()?;
        let (next_segment, next_pos) = self.next_position(size)?;
        let state = State {
            size,
            next_segment,
            next_pos,
            checkpoint_at,
            checkpoint_number,
            key: self.keys.fingerprint().to_string(),
            runs: runs.iter().map(|r| r.meta.clone()).collect(),
        };
        store(dir, &state)?;
        {
            let mut d = lock(&self.durable);
            d.recent.forget_below(size);
            *write(&self.runs) = Arc::new(runs);
        }
        remove_unlisted_runs(dir, &state.runs)?;
        *persisted = Some(state);
        Ok(())
    }

    /// Where entry `size` goes: right after the frame of entry `size - 1`.
    fn next_position(&self, size: u64) -> Result<(u64, u64), LedgerError> {
        if size == 0 {
            return Ok((0, 0));
        }
        let (segment, pos) = split_location(self.offsets.get(size - 1)?);
        let file: Arc<File> = read(&self.segments)
            .get(segment as usize)
            .cloned()
            .ok_or_else(|| LedgerError::Corrupt {
                file: segment_name(segment),
                offset: pos,
                detail: format!(
                    "entry {} points into a segment that does not exist",
                    size - 1
                ),
            })?;
        let mut header = [0u8; ENTRY_HEADER];
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut header, pos).map_err(
            LedgerError::io(format!("reading {}", segment_name(segment))),
        )?;
        let (len, _) = parse_entry_header(&header);
        Ok((segment, pos + (ENTRY_HEADER + len + HASH_LEN) as u64))
    }
}
