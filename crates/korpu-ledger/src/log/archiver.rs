//! Archiving sealed segments after each checkpoint ([`crate::archive`] holds the format):
//! which segments a checkpoint covers, what goes into each archive, and `archive.next`.
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use super::checkpoints::{scan_checkpoints, CheckpointAt};
use super::segment::{parse_entry_header, replace_file, segment_name, split_location};
use super::{
    blocking, lock, read, Inner, LeafFile, Ledger, ARCHIVE_NEXT_FILE, ENTRY_HEADER, HASH_LEN,
};
use crate::archive::{archive_head, frontier_ranges, ArchiveParts, ArchiveStore};
use crate::merkle::{consistency_proof_from, HashSource};
use crate::LedgerError;

/// Archiving state: the store, what goes into every archive, and the next segment to archive.
pub(super) struct Archiver {
    pub(super) store: ArchiveStore,
    pub(super) certificates: Vec<String>,
    pub(super) trust: Mutex<Option<Vec<u8>>>,
    /// The next segment to archive; persisted in `archive.next` after each successful put.
    pub(super) next: tokio::sync::Mutex<u64>,
}

impl Ledger {
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
}

impl Inner {
    /// Archives every sealed segment that the latest checkpoint covers and that is not
    /// archived yet; returns their numbers.
    pub(super) async fn archive_sealed(&self) -> Result<Vec<u64>, LedgerError> {
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
                let size = lock(&self.shared.durable).size;
                let offsets = &self.shared.offsets;
                let first = offsets.first_in_segment(segment, size)?;
                let end = offsets.first_in_segment(segment + 1, size)?;
                let end_loc = if end > first {
                    Some(offsets.get(end - 1)?)
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

    pub(super) async fn build_segment_archive(
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
            scan_checkpoints(
                &checkpoints_path,
                CheckpointAt::default(),
                Some(len),
                |_, cp| {
                    if cp.checkpoint.size > first {
                        all.push(cp);
                    }
                    Ok(())
                },
            )?;
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

pub(super) fn read_archive_next(dir: &Path) -> Result<u64, LedgerError> {
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
pub(super) fn write_archive_next(dir: &Path, next: u64) -> Result<(), LedgerError> {
    replace_file(
        dir,
        ARCHIVE_NEXT_FILE,
        format!("{next}\n").as_bytes(),
        false,
    )
}
