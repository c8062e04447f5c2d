//! Open's recovery scan: takes the writer's lock, reads checkpoints.log and every segment,
//! checks each frame, cuts a torn tail, repairs leaves.bin and rebuilds the indexes and the
//! tree, then checks every stored checkpoint against the rebuilt tree.
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::checkpoints::scan_checkpoints;
use super::checkpoints::CheckpointAt;
use super::index::{IndexSecret, RecentIndex, KEY_FILE};
use super::runs::Run;
use super::segment::{
    file_len, last_nonzero, location, open_append, open_read, open_rw, parse_entry_header,
    prepare_segment, read_full, segment_name, segment_number, sync_dir, truncate, zero_range,
    PosReader,
};
use super::segment::{Offsets, OFFSETS_FILE};
use super::state::{self, State, STATE_FILE};
use super::tree::{node_count, Nodes, Tree, NODES_FILE};
use super::{
    LeafFile, Leaves, LedgerConfig, RecoveryReport, SignedCheckpoint, ARCHIVE_NEXT_FILE,
    CHECKPOINTS_FILE, ENTRY_HEADER, HASH_LEN, LEAVES_FILE, LOCK_FILE, MAX_RECORD_BYTES,
    SCAN_BUFFER,
};
use crate::checkpoint::Checkpoint;
use crate::merkle::{leaf_hash, root_from, Hash};
use crate::LedgerError;

/// Everything open needs, found by [`recover`].
pub(super) struct Recovered {
    /// What goes into [`Shared`].
    pub(super) found: Found,
    /// The zero-filled segment after the last one, when a previous run prepared it.
    pub(super) next_segment: Option<Arc<File>>,
    /// Where the next frame goes in the last segment.
    pub(super) segment_pos: u64,
    /// `None` when read-only (also the next three).
    pub(super) leaves_write: Option<File>,
    pub(super) offsets_write: Option<File>,
    pub(super) checkpoints_write: Option<File>,
    /// The writer's lock, held while the ledger is open for writing.
    pub(super) writer_lock: Option<File>,
    pub(super) checkpoints_len: u64,
    pub(super) checkpoints_count: u64,
    /// Where the latest checkpoint is in checkpoints.log.
    pub(super) latest_at: CheckpointAt,
    pub(super) report: RecoveryReport,
}

/// The part of what recovery found that the ledger's threads share.
pub(super) struct Found {
    pub(super) segments: Vec<Arc<File>>,
    pub(super) leaves: Leaves,
    pub(super) offsets: Offsets,
    pub(super) keys: IndexSecret,
    pub(super) recent: RecentIndex,
    pub(super) runs: Vec<Arc<Run>>,
    /// The state open started from; `None` after a rebuild (or read-only).
    pub(super) state: Option<State>,
    pub(super) tree: Tree,
    pub(super) latest: Option<SignedCheckpoint>,
    pub(super) entries: u64,
}

/// The files a writable open holds.
struct WriteFiles {
    writer_lock: File,
    leaves: File,
    checkpoints: File,
    offsets: File,
    nodes: File,
}

/// What [`scan`] finds, apart from the files it was given.
struct Scanned {
    segments: Vec<Arc<File>>,
    next_segment: Option<Arc<File>>,
    segment_pos: u64,
    leaves: Leaves,
    offsets: Offsets,
    checkpoints_len: u64,
    checkpoints_count: u64,
    recent: RecentIndex,
    tree: Tree,
    latest: Option<SignedCheckpoint>,
    latest_at: CheckpointAt,
    report: RecoveryReport,
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

/// Opens the ledger's files and finds where the log ends: from the persisted state when there
/// is a usable one (reading only what was written after it), else from the start, rebuilding
/// every derived file (the slow path). A read-only open always reads from the start and
/// keeps what it derives in memory.
pub(super) fn recover(cfg: &LedgerConfig, mode: Mode) -> Result<Recovered, LedgerError> {
    let dir = &cfg.dir;
    let files = match mode {
        Mode::ReadOnly => {
            if !dir.is_dir() {
                return Err(LedgerError::io(format!(
                    "opening the ledger {}",
                    dir.display()
                ))(std::io::Error::from(
                    std::io::ErrorKind::NotFound,
                )));
            }
            None
        }
        Mode::Write => {
            korpu_pki::private::create_dir(dir)?;
            let writer_lock = take_writer_lock(dir)?;
            for name in [
                LEAVES_FILE,
                CHECKPOINTS_FILE,
                ARCHIVE_NEXT_FILE,
                OFFSETS_FILE,
                NODES_FILE,
                STATE_FILE,
                KEY_FILE,
            ] {
                check_private(&dir.join(name))?;
            }
            let files = WriteFiles {
                writer_lock,
                leaves: open_append(&dir.join(LEAVES_FILE))?,
                checkpoints: open_append(&dir.join(CHECKPOINTS_FILE))?,
                offsets: open_append(&dir.join(OFFSETS_FILE))?,
                nodes: korpu_pki::private::file_options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(dir.join(NODES_FILE))
                    .map_err(LedgerError::io(format!("opening {NODES_FILE}")))?,
            };
            // New files' directory entries must survive a crash too.
            sync_dir(dir)?;
            Some(files)
        }
    };
    let Some(files) = files else {
        // One key for the scan and the lookups after it: a read-only index lives in memory.
        let keys = IndexSecret::ephemeral()?;
        let scanned = scan(cfg, None, None, &keys)?;
        return Ok(Recovered::new(scanned, None, keys, Vec::new(), None));
    };
    let keys = IndexSecret::load(dir)?;
    match state::load(dir) {
        Ok(Some(state)) if state.key == keys.fingerprint() => {
            let from_state = state
                .runs
                .iter()
                .map(|meta| Run::open(dir, meta).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|runs| Ok((runs, scan(cfg, Some(&files), Some(&state), &keys)?)));
            match from_state {
                Ok((runs, scanned)) => {
                    return Ok(Recovered::new(
                        scanned,
                        Some(files),
                        keys,
                        runs,
                        Some(state),
                    ))
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the persisted state does not fit the ledger's files; rebuilding them from the segments"
                ),
            }
        }
        Ok(Some(_)) => tracing::warn!(
            "the persisted state was made with another index key; rebuilding from the segments"
        ),
        Ok(None) => {}
        Err(why) => {
            tracing::warn!("{why}; rebuilding the ledger's derived files from the segments")
        }
    }
    state::discard(dir)?;
    let scanned = scan(cfg, Some(&files), None, &keys)?;
    if scanned.report.entries > 0 {
        tracing::info!(
            entries = scanned.report.entries,
            "rebuilt the ledger's derived files from the segments"
        );
    }
    Ok(Recovered::new(scanned, Some(files), keys, Vec::new(), None))
}

impl Recovered {
    fn new(
        s: Scanned,
        files: Option<WriteFiles>,
        keys: IndexSecret,
        runs: Vec<Arc<Run>>,
        state: Option<State>,
    ) -> Self {
        let (writer_lock, leaves_write, checkpoints_write, offsets_write) = match files {
            Some(f) => (
                Some(f.writer_lock),
                Some(f.leaves),
                Some(f.checkpoints),
                Some(f.offsets),
            ),
            None => (None, None, None, None),
        };
        Recovered {
            found: Found {
                segments: s.segments,
                leaves: s.leaves,
                offsets: s.offsets,
                keys,
                recent: s.recent,
                runs,
                state,
                tree: s.tree,
                latest: s.latest,
                entries: s.report.entries,
            },
            next_segment: s.next_segment,
            segment_pos: s.segment_pos,
            leaves_write,
            offsets_write,
            checkpoints_write,
            writer_lock,
            checkpoints_len: s.checkpoints_len,
            checkpoints_count: s.checkpoints_count,
            latest_at: s.latest_at,
            report: s.report,
        }
    }
}

/// The scan itself: checkpoints.log from the state's checkpoint (or the start), then every
/// frame after the state (or all), checked, indexed and integrated; repairs the tail.
fn scan(
    cfg: &LedgerConfig,
    files: Option<&WriteFiles>,
    state: Option<&State>,
    keys: &IndexSecret,
) -> Result<Scanned, LedgerError> {
    let dir = &cfg.dir;
    let read_only = files.is_none();
    let leaves_path = dir.join(LEAVES_FILE);
    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let checkpoints_write = files.map(|f| &f.checkpoints);
    let mut report = RecoveryReport::default();

    // Checkpoints first: they say how much of the log is committed and must not be cut.
    // From a state: its checkpoint (checked when the state was written) and those after it.
    let from = state.map_or(CheckpointAt::default(), |s| CheckpointAt {
        pos: s.checkpoint_at,
        number: s.checkpoint_number,
    });
    let mut heads: Vec<(usize, Checkpoint)> = Vec::new();
    let mut latest: Option<SignedCheckpoint> = None;
    let mut latest_at = CheckpointAt::default();
    let checkpoints_exist = !read_only || checkpoints_path.exists();
    let scanned = if !checkpoints_exist {
        Ok((0, false))
    } else {
        scan_checkpoints(&checkpoints_path, from, None, |at, cp| {
            let number = at.number as usize;
            if cp.checkpoint.origin != cfg.origin {
                return Err(LedgerError::WrongOrigin {
                    dir: dir.display().to_string(),
                    found: cp.checkpoint.origin.clone(),
                    expected: cfg.origin.clone(),
                });
            }
            if let Some((_, prev)) = heads.last() {
                if cp.checkpoint.size < prev.size {
                    return Err(LedgerError::InconsistentCheckpoint {
                        number,
                        size: cp.checkpoint.size,
                        detail: format!("is smaller than the checkpoint before it ({})", prev.size),
                    });
                }
            }
            heads.push((number, cp.checkpoint.clone()));
            latest = Some(cp);
            latest_at = at;
            Ok(())
        })
    };
    let (checkpoints_len, torn) = scanned?;
    if let (true, Some(checkpoints_write)) = (torn, checkpoints_write) {
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
    let checkpoints_count = from.number + heads.len() as u64;
    report.checkpoints = checkpoints_count;
    let committed = heads.last().map_or(0, |(_, c)| c.size);
    // Where the scan starts: after the state's entries, which its checkpoint must cover.
    let (k0, pos0, n0) = match state {
        None => (0, 0, 0),
        Some(s) => {
            if heads.first().map(|(_, c)| c.size) != Some(s.size) {
                return Err(LedgerError::Corrupt {
                    file: STATE_FILE.into(),
                    offset: 0,
                    detail: format!("no checkpoint of {} entries where it says", s.size),
                });
            }
            (s.next_segment as usize, s.next_pos, s.size)
        }
    };

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

    // The derived files must hold at least what the state counts on.
    let mut tree = match files {
        None => Tree::empty(Nodes::Memory(Vec::new())),
        Some(f) => {
            let need = [
                (&f.leaves, LEAVES_FILE, n0 * HASH_LEN as u64),
                (&f.offsets, OFFSETS_FILE, n0 * 8),
                (&f.nodes, NODES_FILE, node_count(n0) * HASH_LEN as u64),
            ];
            for (file, name, len) in need {
                if file_len(file, name)? < len {
                    return Err(LedgerError::Corrupt {
                        file: name.into(),
                        offset: len,
                        detail: format!("is shorter than the {n0} entries of {STATE_FILE}"),
                    });
                }
            }
            if k0 >= segments.len().max(1) && n0 > 0 {
                return Err(LedgerError::Corrupt {
                    file: STATE_FILE.into(),
                    offset: 0,
                    detail: format!(
                        "points into {}, which does not exist",
                        segment_name(k0 as u64)
                    ),
                });
            }
            let nodes = f
                .nodes
                .try_clone()
                .map_err(LedgerError::io(format!("opening {NODES_FILE}")))?;
            let leaves = Leaves::File(open_read(&leaves_path)?);
            Tree::resume(n0, Nodes::File(nodes), &LeafFile(&leaves))?
        }
    };

    // Every frame after the state: checked, indexed, integrated, compared with leaves.bin
    // (read-only: kept).
    let mut leaves_in: Box<dyn Read> = if read_only {
        Box::new(std::io::empty())
    } else {
        let mut file = open_read(&leaves_path)?;
        file.seek(SeekFrom::Start(n0 * HASH_LEN as u64))
            .map_err(LedgerError::io(format!("reading {LEAVES_FILE}")))?;
        Box::new(BufReader::with_capacity(SCAN_BUFFER, file))
    };
    let mut all_leaves: Vec<Hash> = Vec::new();
    let mut leaves_match = !read_only;
    let mut leaves_good = n0;
    let mut rewrite: Vec<u8> = Vec::new();
    let mut offsets: Vec<u8> = Vec::new();
    let mut all_offsets: Vec<u64> = Vec::new();
    let mut recent = RecentIndex::default();
    let mut hashed: Vec<u64> = Vec::new();
    let mut n = n0;
    let mut body = Vec::new();
    // Where the log ends: the segment and position after the last good frame.
    let mut end = (k0.min(segments.len().saturating_sub(1)), pos0);
    'segments: for (k, file) in segments.iter().enumerate().skip(k0) {
        let name = segment_name(k as u64);
        let start = if k == k0 { pos0 } else { 0 };
        let mut r = BufReader::with_capacity(SCAN_BUFFER, PosReader { file, pos: start });
        let mut pos = start;
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
            if let Some(indexer) = &cfg.indexer {
                let ids = indexer
                    .keys(&body[..len])
                    .map_err(|detail| LedgerError::BadRecord { index: n, detail })?;
                hashed.clear();
                hashed.extend(ids.iter().map(|id| keys.key(id)));
                recent.insert(n, &hashed);
            }
            let loc = location(k as u64, pos);
            tree.push(leaf)?;
            if read_only {
                all_leaves.push(leaf);
                all_offsets.push(loc);
            } else {
                offsets.extend_from_slice(&loc.to_le_bytes());
            }
            report.frames_scanned += 1;
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

    let (next_segment, leaves, offsets) = match files {
        None => (
            None,
            Leaves::Memory(all_leaves),
            Offsets::Memory(all_offsets),
        ),
        Some(files) => {
            let next_segment = cut_tail(cfg, &mut segments, end, &mut report)?;
            let leaves_len = file_len(&files.leaves, LEAVES_FILE)?;
            if leaves_len != n * HASH_LEN as u64 || !rewrite.is_empty() {
                report.leaf_hashes_rewritten = (rewrite.len() / HASH_LEN) as u64;
                rewrite_from(
                    &files.leaves,
                    leaves_good * HASH_LEN as u64,
                    &rewrite,
                    LEAVES_FILE,
                    true,
                )?;
            }
            // The locations after the state, rewritten whole: they are few, and this cuts
            // stale ones. Not synced: no state counts on them before the next one syncs them.
            rewrite_from(&files.offsets, n0 * 8, &offsets, OFFSETS_FILE, false)?;
            (
                next_segment,
                Leaves::File(open_read(&leaves_path)?),
                Offsets::File(open_read(&dir.join(OFFSETS_FILE))?),
            )
        }
    };
    check_heads(&heads, &tree, &leaves, n)?;
    Ok(Scanned {
        segments,
        next_segment,
        segment_pos: end.1,
        leaves,
        offsets,
        checkpoints_len,
        checkpoints_count,
        recent,
        tree,
        latest,
        latest_at,
        report,
    })
}

/// Nothing after the end of the log may survive: zeroes the rest of its segment and removes
/// later segments, except an untouched one prepared to follow it, which it returns.
fn cut_tail(
    cfg: &LedgerConfig,
    segments: &mut Vec<Arc<File>>,
    (last, pos): (usize, u64),
    report: &mut RecoveryReport,
) -> Result<Option<Arc<File>>, LedgerError> {
    let dir = &cfg.dir;
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
            entries = report.entries,
            bytes = report.entry_bytes_truncated,
            "removed a torn tail after the last complete entry"
        );
    }
    Ok(next_segment)
}

/// Cuts a derived file (opened for appending) to `len` bytes and appends `bytes`; with
/// `durable`, syncs the cut and the bytes.
fn rewrite_from(
    file: &File,
    len: u64,
    bytes: &[u8],
    name: &str,
    durable: bool,
) -> Result<(), LedgerError> {
    let mut w = file;
    if durable {
        truncate(file, len, name)?;
    } else {
        file.set_len(len)
            .map_err(LedgerError::io(format!("truncating {name}")))?;
    }
    w.write_all(bytes)
        .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
        .map_err(LedgerError::io(format!("rewriting {name}")))
}

/// A log must never have signed a checkpoint its entries do not reproduce (tlog-checkpoint
/// §Signatures): checks each against the tree rebuilt from the `n` entries.
pub(super) fn check_heads(
    heads: &[(usize, Checkpoint)],
    tree: &Tree,
    leaves: &Leaves,
    n: u64,
) -> Result<(), LedgerError> {
    let store = LeafFile(leaves);
    let source = tree.with_store(&store);
    for &(number, ref head) in heads {
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
