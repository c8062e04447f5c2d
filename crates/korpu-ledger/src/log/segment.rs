//! Entry segments and their frames: file names, entry locations, preparing a zero-filled
//! segment, reading one frame back, and the small file helpers the other parts share.
//! It does not decide where the log ends (that is [`super::recover`]) or when to sync.
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{read, Shared, ENTRY_HEADER, HASH_LEN, MAX_RECORD_BYTES, SCAN_BUFFER};
use crate::merkle::leaf_hash;
use crate::LedgerError;

/// File name of entry segment `n`.
pub(super) fn segment_name(n: u64) -> String {
    format!("entries.{n:06}.log")
}

/// The segment number of a file name made by [`segment_name`].
pub(super) fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("entries.")?.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An entry's location: segment number in the high 32 bits, byte position in the low 32.
pub(super) fn location(segment: u64, pos: u64) -> u64 {
    (segment << 32) | pos
}

pub(super) fn split_location(loc: u64) -> (u64, u64) {
    (loc >> 32, loc & 0xffff_ffff)
}

/// Creates segment `n` full of zeros under a temporary name, syncs it, and only then gives it
/// its name, so a segment file with its final name is always whole.
pub(super) fn prepare_segment(dir: &Path, n: u64, size: u64) -> Result<File, LedgerError> {
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

pub(super) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LedgerError::io(format!(
            "syncing the directory {}",
            dir.display()
        )))
}

impl Shared {
    /// Reads one entry at a known location and checks it against its leaf hash.
    pub(super) fn read_entry(&self, index: u64, loc: u64) -> Result<Vec<u8>, LedgerError> {
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
        body.truncate(len);
        Ok(body)
    }
}

pub(super) fn parse_entry_header(h: &[u8; ENTRY_HEADER]) -> (usize, u64) {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let index = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
    (len, index)
}

/// Reads until `buf` is full or the end of input; returns the bytes read.
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

/// Sequential reads through `read_at`, independent of the descriptor's file position.
pub(super) struct PosReader<'a> {
    pub(super) file: &'a File,
    pub(super) pos: u64,
}

impl Read for PosReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

pub(super) fn open_rw(path: &Path) -> Result<File, LedgerError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(LedgerError::io(format!("opening {}", path.display())))
}

pub(super) fn file_len(file: &File, name: &str) -> Result<u64, LedgerError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(LedgerError::io(format!("reading the size of {name}")))
}

/// Position of the last non-zero byte at or after `from`.
pub(super) fn last_nonzero(file: &File, from: u64, name: &str) -> Result<Option<u64>, LedgerError> {
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
pub(super) fn zero_range(file: &File, from: u64, last: u64, name: &str) -> Result<(), LedgerError> {
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

pub(super) fn open_append(path: &Path) -> Result<File, LedgerError> {
    korpu_pki::private::file_options()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(LedgerError::io(format!("opening {}", path.display())))
}

pub(super) fn open_read(path: &Path) -> Result<File, LedgerError> {
    File::open(path).map_err(LedgerError::io(format!("opening {}", path.display())))
}

/// Cuts a torn tail and makes the cut durable before anything is appended after it.
pub(super) fn truncate(file: &File, len: u64, name: &str) -> Result<(), LedgerError> {
    file.set_len(len)
        .map_err(LedgerError::io(format!("truncating {name} to {len} bytes")))?;
    file.sync_all()
        .map_err(LedgerError::io(format!("syncing {name}")))
}

/// File of the entries' locations, 8 bytes each (see [`location`]).
pub(super) const OFFSETS_FILE: &str = "offsets.bin";

/// Where the entries' locations are read from: offsets.bin, or (read-only) memory.
pub(super) enum Offsets {
    File(File),
    Memory(Vec<u64>),
}

impl Offsets {
    /// The location of entry `index`, which must be durable.
    pub(super) fn get(&self, index: u64) -> Result<u64, LedgerError> {
        match self {
            Offsets::File(f) => {
                let mut b = [0u8; 8];
                f.read_exact_at(&mut b, index * 8)
                    .map_err(LedgerError::io(format!(
                        "reading the location of entry {index} from {OFFSETS_FILE}"
                    )))?;
                Ok(u64::from_le_bytes(b))
            }
            Offsets::Memory(all) => all
                .get(index as usize)
                .copied()
                .ok_or(LedgerError::Corrupt {
                    file: OFFSETS_FILE.into(),
                    offset: index * 8,
                    detail: format!("entry {index} has no location"),
                }),
        }
    }

    /// The first of the `size` entries whose segment is not below `segment` (binary search:
    /// locations ascend).
    pub(super) fn first_in_segment(&self, segment: u64, size: u64) -> Result<u64, LedgerError> {
        let (mut lo, mut hi) = (0, size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if split_location(self.get(mid)?).0 < segment {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Makes the locations written so far durable.
    pub(super) fn sync(&self) -> Result<(), LedgerError> {
        match self {
            Offsets::File(f) => f
                .sync_data()
                .map_err(LedgerError::io(format!("syncing {OFFSETS_FILE}"))),
            Offsets::Memory(_) => Ok(()),
        }
    }
}

/// Replaces `dir/name` with `bytes`: written 0600 under a temporary name, then renamed, so a
/// reader sees the old file or the new one whole. With `durable`, the file is synced before
/// the rename and the directory after it.
pub(super) fn replace_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    durable: bool,
) -> Result<(), LedgerError> {
    let tmp = dir.join(format!("{name}.tmp"));
    korpu_pki::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            if durable {
                f.sync_all()?;
            }
            Ok(())
        })
        .and_then(|()| fs::rename(&tmp, dir.join(name)))
        .map_err(LedgerError::io(format!("writing {name}")))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}
