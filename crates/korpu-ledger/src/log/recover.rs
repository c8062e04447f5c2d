//! Open's recovery scan: takes the writer's lock, reads checkpoints.log and every segment,
//! checks each frame, cuts a torn tail, repairs leaves.bin and rebuilds the indexes and the
//! tree, then checks every stored checkpoint against the rebuilt tree.
use std::fs::{self, File};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::checkpoints::scan_checkpoints;
use super::index::{subject_key, MessageIndex, SubjectIndex};
use super::segment::{
    file_len, last_nonzero, location, open_append, open_read, open_rw, parse_entry_header,
    prepare_segment, read_full, segment_name, segment_number, sync_dir, truncate, zero_range,
    PosReader,
};
use super::{
    LeafFile, Leaves, LedgerConfig, RecoveryReport, SignedCheckpoint, ARCHIVE_NEXT_FILE,
    CHECKPOINTS_FILE, ENTRY_HEADER, HASH_LEN, LEAVES_FILE, LOCK_FILE, MAX_RECORD_BYTES,
    SCAN_BUFFER,
};
use crate::checkpoint::Checkpoint;
use crate::merkle::{leaf_hash, root_from, Hash, TileCache};
use crate::LedgerError;

/// Everything open needs, found by [`recover`].
pub(super) struct Recovered {
    pub(super) segments: Vec<Arc<File>>,
    /// The zero-filled segment after the last one, when a previous run prepared it.
    pub(super) next_segment: Option<Arc<File>>,
    /// Where the next frame goes in the last segment.
    pub(super) segment_pos: u64,
    /// `None` when read-only.
    pub(super) leaves_write: Option<File>,
    pub(super) leaves: Leaves,
    /// `None` when read-only.
    pub(super) checkpoints_write: Option<File>,
    /// The writer's lock, held while the ledger is open for writing; `None` when read-only.
    pub(super) writer_lock: Option<File>,
    pub(super) checkpoints_len: u64,
    pub(super) offsets: Vec<u64>,
    pub(super) index: MessageIndex,
    pub(super) subjects: SubjectIndex,
    pub(super) tree: TileCache,
    pub(super) latest: Option<SignedCheckpoint>,
    pub(super) report: RecoveryReport,
}

/// How [`recover`] opens: as the writer (lock, create, repair) or read-only (none of that).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Write,
    ReadOnly,
}

/// Takes the writer's lock on `dir`, or names who holds it.
pub(super) fn take_writer_lock(dir: &Path) -> Result<File, LedgerError> {
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
pub(super) fn check_private(path: &Path) -> Result<(), LedgerError> {
    Ok(korpu_pki::private::check_if_exists(path)?)
}

pub(super) fn recover(
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
pub(super) fn check_heads(
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
