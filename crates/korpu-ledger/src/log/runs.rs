//! Index runs: the lookup index of a range of entries, on disk.
//!
//! A run file `index.FIRST-END.run` holds the pairs `(key: u64 LE, entry index: u64 LE)` of
//! the entries `FIRST..END`, sorted, 16 bytes each; the keys are the keyed hashes of
//! [`super::index::IndexKey`]s (each in its caller-named space), never the ids.
//! A lookup binary-searches each run with positional reads, so runs cost no memory. One run
//! is written for the entries a persisted state adds ([`super::state`]); two runs are merged
//! (streaming, in bounded memory) when the newer one has grown as large as the one before
//! it, so there are O(log n) runs and each pair is rewritten O(log n) times (LSM-lite).
//!
//! Runs are derived data: a run that is missing or of the wrong size makes open rebuild the
//! index from the segments. A run is renamed into place only whole and synced, and is used
//! only once a synced state names it.
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::open_read;
use super::SCAN_BUFFER;
use crate::LedgerError;

const PAIR: u64 = 16;

/// What a persisted state records of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RunMeta {
    /// First entry index covered.
    pub(super) first: u64,
    /// One past the last entry index covered.
    pub(super) end: u64,
    /// Pairs in the file.
    pub(super) pairs: u64,
}

impl RunMeta {
    pub(super) fn file_name(&self) -> String {
        format!("index.{:012}-{:012}.run", self.first, self.end)
    }
}

/// Whether `name` is the name of a run file (or of one being written).
pub(super) fn is_run_file(name: &str) -> bool {
    name.starts_with("index.") && (name.ends_with(".run") || name.ends_with(".run.tmp"))
}

/// An open run file.
pub(super) struct Run {
    pub(super) meta: RunMeta,
    file: File,
}

impl Run {
    /// Opens the run `meta` names, refusing one whose size does not match.
    pub(super) fn open(dir: &Path, meta: &RunMeta) -> Result<Run, LedgerError> {
        let name = meta.file_name();
        let file = open_read(&dir.join(&name))?;
        let len = file
            .metadata()
            .map_err(LedgerError::io(format!("reading the size of {name}")))?
            .len();
        if len != meta.pairs * PAIR {
            return Err(LedgerError::Corrupt {
                file: name,
                offset: len,
                detail: format!("holds {len} bytes, not {} pairs", meta.pairs),
            });
        }
        Ok(Run {
            meta: meta.clone(),
            file,
        })
    }

    fn pair(&self, i: u64) -> Result<(u64, u64), LedgerError> {
        let mut b = [0u8; PAIR as usize];
        self.file
            .read_exact_at(&mut b, i * PAIR)
            .map_err(LedgerError::io(format!(
                "reading {}",
                self.meta.file_name()
            )))?;
        Ok(decode(&b))
    }

    /// The entry indexes stored under `key`, ascending.
    pub(super) fn lookup(&self, key: u64) -> Result<Vec<u64>, LedgerError> {
        let (mut lo, mut hi) = (0, self.meta.pairs);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.pair(mid)?.0 < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        for i in lo..self.meta.pairs {
            let (k, index) = self.pair(i)?;
            if k != key {
                break;
            }
            out.push(index);
        }
        Ok(out)
    }

    /// Writes the run of entries `first..end` from its sorted `pairs`.
    pub(super) fn write(
        dir: &Path,
        first: u64,
        end: u64,
        pairs: &[(u64, u64)],
    ) -> Result<Run, LedgerError> {
        let meta = RunMeta {
            first,
            end,
            pairs: pairs.len() as u64,
        };
        write_file(dir, &meta, |w| {
            pairs
                .iter()
                .try_for_each(|&(k, i)| w.write_all(&encode(k, i)))
        })?;
        Run::open(dir, &meta)
    }

    /// Merges two adjacent runs (`self` older) into one, streaming both.
    pub(super) fn merge(&self, newer: &Run, dir: &Path) -> Result<Run, LedgerError> {
        let meta = RunMeta {
            first: self.meta.first,
            end: newer.meta.end,
            pairs: self.meta.pairs + newer.meta.pairs,
        };
        let mut a = Pairs::new(self)?;
        let mut b = Pairs::new(newer)?;
        write_file(dir, &meta, |w| {
            let (mut x, mut y) = (a.next()?, b.next()?);
            loop {
                let take_x = match (x, y) {
                    (None, None) => return Ok(()),
                    (Some(p), Some(q)) => p <= q,
                    (p, _) => p.is_some(),
                };
                let p = if take_x { x } else { y }.expect("one side has a pair");
                w.write_all(&encode(p.0, p.1))?;
                if take_x {
                    x = a.next()?;
                } else {
                    y = b.next()?;
                }
            }
        })?;
        Run::open(dir, &meta)
    }
}

/// Writes a run file under a temporary name, syncs it and renames it into place (the
/// directory is synced with the state that names it).
fn write_file(
    dir: &Path,
    meta: &RunMeta,
    body: impl FnOnce(&mut BufWriter<&File>) -> std::io::Result<()>,
) -> Result<(), LedgerError> {
    let name = meta.file_name();
    let tmp = dir.join(format!("{name}.tmp"));
    let file = korpu_pki::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(LedgerError::io(format!("creating {}", tmp.display())))?;
    let mut w = BufWriter::with_capacity(SCAN_BUFFER, &file);
    body(&mut w)
        .and_then(|()| w.flush())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, dir.join(&name)))
        .map_err(LedgerError::io(format!("writing {name}")))
}

/// A run's pairs read in order.
struct Pairs<'a> {
    r: BufReader<&'a File>,
    left: u64,
}

impl<'a> Pairs<'a> {
    fn new(run: &'a Run) -> Result<Self, LedgerError> {
        Ok(Pairs {
            r: BufReader::with_capacity(SCAN_BUFFER, &run.file),
            left: run.meta.pairs,
        })
    }

    fn next(&mut self) -> std::io::Result<Option<(u64, u64)>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut b = [0u8; PAIR as usize];
        self.r.read_exact(&mut b)?;
        self.left -= 1;
        Ok(Some(decode(&b)))
    }
}

fn encode(key: u64, index: u64) -> [u8; PAIR as usize] {
    let mut b = [0u8; PAIR as usize];
    b[..8].copy_from_slice(&key.to_le_bytes());
    b[8..].copy_from_slice(&index.to_le_bytes());
    b
}

fn decode(b: &[u8; PAIR as usize]) -> (u64, u64) {
    let key = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let index = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    (key, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_every_index_of_a_key_before_and_after_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut older: Vec<(u64, u64)> = (0..100).map(|i| (i % 7, i)).collect();
        let mut newer: Vec<(u64, u64)> = (100..130).map(|i| (i % 5, i)).collect();
        older.sort_unstable();
        newer.sort_unstable();
        let a = Run::write(dir.path(), 0, 100, &older).unwrap();
        let b = Run::write(dir.path(), 100, 130, &newer).unwrap();
        assert_eq!(
            a.lookup(3).unwrap(),
            (0..100).filter(|i| i % 7 == 3).collect::<Vec<_>>()
        );
        assert_eq!(a.lookup(99).unwrap(), Vec::<u64>::new());
        let merged = a.merge(&b, dir.path()).unwrap();
        assert_eq!(merged.meta.pairs, 130);
        let want: Vec<u64> = (0..130)
            .filter(|&i| (i < 100 && i % 7 == 4) || (i >= 100 && i % 5 == 4))
            .collect();
        assert_eq!(merged.lookup(4).unwrap(), want);
    }
}
