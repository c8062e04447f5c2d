//! Self-contained archives of sealed segments, and their offline verification.
//!
//! When the writer moves on from an entry segment, the segment is *sealed*: no entry will ever
//! be added to it. Once a checkpoint covers its last entry, the ledger writes one archive
//! object per sealed segment to object storage ([`ArchiveStore`]: a local directory by
//! default, S3-compatible storage with the `s3` cargo feature). An archive carries everything
//! an auditor needs to check it years later with no database and no network: the records, the
//! checkpoints that cover them (C2SP signed notes with their RFC 3161 time-stamps), the hashes
//! that connect them to the tree, the certificates of the time-stamping authority, the log's
//! note verifier key, and an opaque *trust* blob the operator supplies (the gateway puts the
//! signed global configuration there, which names the platform roots and the log keys).
//!
//! # Format `korpu-archive/1`
//! ```text
//! "korpu-archive/1\n"
//! header length: u32 LE | header: JSON (ArchiveHeader)
//! records: `count` frames, exactly as in the entry segments:
//!          len: u32 LE | index: u64 LE | record (len bytes) | RFC 9162 leaf hash (32 bytes)
//! "\nkorpu-archive-end\n"
//! ```
//! The header holds the origin, the segment number, `first_index` and `count`, the byte length
//! of the records section, the *frontier* (the roots of the perfect subtrees that make up the
//! tree of the `first_index` entries before this segment, largest first, as RFC 9162 §2.1.1
//! splits it), the checkpoints, and the certificates and trust blob. Every checkpoint whose
//! size falls inside the segment is included, plus the first checkpoint at or after its end;
//! when that one is larger than the segment's end it carries the RFC 9162 §2.1.4 consistency
//! proof from the tree ending at the segment to its own tree.
//!
//! # What verification establishes
//! [`verify_archive`] checks, in this order, stopping at the first fault and naming it: the
//! framing and header; each checkpoint's signature (by a trusted log key), origin, and
//! time-stamp (over SHA-256 of the note, by a TSA chaining to a trusted root); that no two
//! checkpoints of one size disagree; then each record in order: its frame, its position (a
//! deleted or reordered record shows up as the wrong index at that position), its leaf hash;
//! the tree root recomputed from the frontier and the records at every checkpointed size; the
//! consistency proof to the closing checkpoint. A signed root that the records do not
//! reproduce names the checkpoint and the range of records it covers: if an attacker also
//! rewrote the per-record hashes, no single record can be blamed.
//!
//! The frontier itself is not trusted: a wrong frontier makes every recomputed root differ
//! from the signed ones. [`ArchiveReport::end_frontier`] is the next archive's frontier, so a
//! chain of archives can be checked for continuity.
//!
//! Deliberately not here: the records' content is authenticated, not interpreted (the report
//! extracts their times only); the exchange signatures inside records are checked by evidence
//! verification ([`crate::evidence`]), which has the members' certificates.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_pki::cert::Certificate;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint::{verify_note, Checkpoint, NoteVerifier};
use crate::log::{run_blocking, SignedCheckpoint};
use crate::merkle::{self, leaf_hash, node_hash, Hash};
use crate::LedgerError;

/// First bytes of every archive.
pub const ARCHIVE_MAGIC: &[u8] = b"korpu-archive/1\n";
/// Last bytes of every archive: a missing end marker means the object was cut short.
pub const ARCHIVE_END: &[u8] = b"\nkorpu-archive-end\n";
/// Largest header accepted (checkpoints, certificates and the trust blob).
pub const MAX_HEADER_BYTES: usize = 64 << 20;
const FRAME_HEADER: usize = 12;
const HASH_LEN: usize = 32;

/// The JSON header of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveHeader {
    /// The log's origin (its checkpoints' first line).
    pub origin: String,
    /// The log's note verifier key as the log states it (informative: verify with your own).
    pub log_key: String,
    /// The entry segment archived.
    pub segment: u64,
    /// Index of the first record.
    pub first_index: u64,
    /// Number of records.
    pub count: u64,
    /// Byte length of the records section.
    pub records_bytes: u64,
    /// Hex roots of the perfect subtrees of the tree of `first_index` entries, largest first.
    pub frontier: Vec<String>,
    /// The checkpoints covering the records, by increasing size.
    pub checkpoints: Vec<ArchivedCheckpoint>,
    /// PEM certificates of the time-stamping authority's chain (informative: the verifier's
    /// own roots decide).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Base64 of the operator's trust blob (the signed global configuration), if any.
    #[serde(default)]
    pub trust: Option<String>,
}

impl ArchiveHeader {
    /// The decoded trust blob, if the archive carries one.
    pub fn trust_bytes(&self) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.trust
            .as_deref()
            .map(|t| B64.decode(t))
            .transpose()
            .map_err(|e| ArchiveError::Malformed(format!("the trust blob is not base64: {e}")))
    }
}

/// One checkpoint in an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedCheckpoint {
    /// The C2SP signed note.
    pub note: String,
    /// Base64 DER RFC 3161 TimeStampResp over SHA-256 of `note`.
    pub timestamp: Option<String>,
    /// Hex consistency proof from the tree ending at the archive's last record to this
    /// checkpoint's tree; empty unless the checkpoint is larger than that.
    #[serde(default)]
    pub consistency: Vec<String>,
}

/// Everything [`archive_head`] describes.
#[derive(Clone, Debug)]
pub struct ArchiveParts<'a> {
    /// The log's origin.
    pub origin: &'a str,
    /// The log's note verifier key (C2SP vkey text).
    pub log_key: &'a str,
    /// The segment number.
    pub segment: u64,
    /// Index of the first record.
    pub first_index: u64,
    /// Number of records in the frames.
    pub count: u64,
    /// Length of the segment's frames (the archive's records), without its zero padding.
    pub records_bytes: u64,
    /// Roots of the perfect subtrees of the tree of `first_index` entries, largest first.
    pub frontier: Vec<Hash>,
    /// Checkpoints with their consistency proofs (empty unless larger than the last record).
    pub checkpoints: Vec<(SignedCheckpoint, Vec<Hash>)>,
    /// PEM certificates of the TSA chain.
    pub certificates: Vec<String>,
    /// The operator's trust blob.
    pub trust: Option<&'a [u8]>,
}

/// The bytes an archive starts with: magic, header length and header. The segment's frames
/// (`parts.records_bytes` of them) and [`ARCHIVE_END`] follow; [`ArchiveStore::put_segment`]
/// writes the three without holding the frames in memory where the store allows.
pub fn archive_head(parts: &ArchiveParts<'_>) -> Vec<u8> {
    let header = ArchiveHeader {
        origin: parts.origin.to_string(),
        log_key: parts.log_key.to_string(),
        segment: parts.segment,
        first_index: parts.first_index,
        count: parts.count,
        records_bytes: parts.records_bytes,
        frontier: parts.frontier.iter().map(hex::encode).collect(),
        checkpoints: parts
            .checkpoints
            .iter()
            .map(|(cp, proof)| ArchivedCheckpoint {
                note: cp.note.clone(),
                timestamp: cp.timestamp.as_ref().map(|t| B64.encode(t)),
                consistency: proof.iter().map(hex::encode).collect(),
            })
            .collect(),
        certificates: parts.certificates.clone(),
        trust: parts.trust.map(|t| B64.encode(t)),
    };
    let json = serde_json::to_vec(&header).expect("strings and integers always serialize");
    let mut out = Vec::with_capacity(ARCHIVE_MAGIC.len() + 4 + json.len());
    out.extend_from_slice(ARCHIVE_MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out
}

/// What a verified archive holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveReport {
    /// The log's origin.
    pub origin: String,
    /// The archived segment.
    pub segment: u64,
    /// Index of the first record.
    pub first_index: u64,
    /// Number of records.
    pub records: u64,
    /// Size of the archive in bytes.
    pub bytes: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// Of those, the ones with a verified time-stamp.
    pub timestamps: usize,
    /// Largest checked tree size.
    pub tree_size: u64,
    /// Earliest and latest record time, Unix milliseconds (None for an empty archive).
    pub record_times: Option<(u64, u64)>,
    /// Earliest and latest time-stamp.
    pub timestamped: Option<(SystemTime, SystemTime)>,
    /// Roots of the perfect subtrees of the tree ending at the last record: the next archive's
    /// frontier.
    pub end_frontier: Vec<Hash>,
    /// The operator's trust blob, not verified here (the caller knows what it is).
    pub trust: Option<Vec<u8>>,
}

/// Why an archive was refused. Record numbers are log indexes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// The framing or header is not an archive's.
    #[error("not a readable korpu-archive/1: {0}")]
    Malformed(String),
    /// The archive ends early.
    #[error("the archive is truncated: {detail}")]
    Truncated {
        /// The first record that is missing or cut short, if the cut is in the records.
        record: Option<u64>,
        /// Where it was cut.
        detail: String,
    },
    /// A record's frame is wrong: damaged, missing, moved or altered.
    #[error("record {index}: {detail}")]
    BadRecord {
        /// The log index expected at that position.
        index: u64,
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint does not verify or does not belong.
    #[error("checkpoint {number} of the archive: {detail}")]
    BadCheckpoint {
        /// Its position in the archive, from 0.
        number: usize,
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint's time-stamp is not over it or not by a trusted authority.
    #[error("the time-stamp of checkpoint {number} (tree size {size}): {detail}")]
    BadTimestamp {
        /// The checkpoint's position in the archive.
        number: usize,
        /// Its tree size.
        size: u64,
        /// What is wrong.
        detail: String,
    },
    /// Two signed checkpoints that cannot both be true: a fork.
    #[error("checkpoints {a} and {b} both sign tree size {size} with different roots ({root_a} and {root_b}): the log forked")]
    Conflicting {
        /// One checkpoint's position.
        a: usize,
        /// The other's.
        b: usize,
        /// The common size.
        size: u64,
        /// Hex root of `a`.
        root_a: String,
        /// Hex root of `b`.
        root_b: String,
    },
    /// The records do not reproduce a signed root.
    #[error("checkpoint {number} (tree size {size}) signs root {signed}, but the frontier and records {first}..{size} give {computed}: records were altered, or the log forked")]
    RootMismatch {
        /// The checkpoint's position.
        number: usize,
        /// Its tree size.
        size: u64,
        /// First record of the archive.
        first: u64,
        /// Hex of the signed root.
        signed: String,
        /// Hex of the recomputed root.
        computed: String,
    },
    /// The closing checkpoint's consistency proof fails.
    #[error("checkpoint {number} (tree size {size}) is not consistent with records up to {end}: {detail}")]
    Inconsistent {
        /// The checkpoint's position.
        number: usize,
        /// Its tree size.
        size: u64,
        /// The tree size at the archive's last record.
        end: u64,
        /// The proof failure.
        detail: String,
    },
    /// Records after the last checkpoint: nothing signs them.
    #[error("records {from}..{to} are covered by no checkpoint in the archive")]
    Uncovered {
        /// First uncovered record.
        from: u64,
        /// End of the records.
        to: u64,
    },
}

/// A compact Merkle range from leaf 0: the roots of the perfect subtrees, largest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Frontier {
    nodes: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its subtree roots (largest first).
    pub(crate) fn from_roots(size: u64, roots: &[Hash]) -> Option<Self> {
        let sizes: Vec<u64> = (0..64)
            .rev()
            .map(|b| 1u64 << b)
            .filter(|bit| size & bit != 0)
            .collect();
        if sizes.len() != roots.len() {
            return None;
        }
        Some(Frontier {
            nodes: sizes.into_iter().zip(roots.iter().copied()).collect(),
            size,
        })
    }

    pub(crate) fn push(&mut self, leaf: Hash) {
        let (mut h, mut n) = (leaf, 1u64);
        while let Some(&(s, top)) = self.nodes.last() {
            if s != n {
                break;
            }
            self.nodes.pop();
            h = node_hash(&top, &h);
            n *= 2;
        }
        self.nodes.push((n, h));
        self.size += 1;
    }

    /// MTH of the leaves so far (RFC 9162 §2.1.1 combines the subtrees right to left).
    pub(crate) fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(&(_, mut r)) = it.next() else {
            return merkle::EMPTY_ROOT;
        };
        for (_, h) in it {
            r = node_hash(h, &r);
        }
        r
    }

    pub(crate) fn roots(&self) -> Vec<Hash> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }
}

/// The ranges of the perfect subtrees of a tree of `size` leaves, largest first.
pub(crate) fn frontier_ranges(size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut start = 0;
    for b in (0..64).rev() {
        let bit = 1u64 << b;
        if size & bit != 0 {
            out.push((start, start + bit));
            start += bit;
        }
    }
    out
}

fn hex_hash(h: &str) -> Option<Hash> {
    hex::decode(h).ok()?.try_into().ok()
}

/// Reads an archive's header without verifying anything, to learn which log it claims to be
/// from and what trust blob it carries before choosing the keys to verify it with.
pub fn read_header(bytes: &[u8]) -> Result<ArchiveHeader, ArchiveError> {
    if !bytes.starts_with(ARCHIVE_MAGIC) {
        return Err(ArchiveError::Malformed(
            "it does not start with \"korpu-archive/1\"".into(),
        ));
    }
    let pos = ARCHIVE_MAGIC.len();
    let cut = || ArchiveError::Truncated {
        record: None,
        detail: "it ends inside the header".into(),
    };
    let len = bytes.get(pos..pos + 4).ok_or_else(cut)?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    if len > MAX_HEADER_BYTES {
        return Err(ArchiveError::Malformed(format!(
            "the header claims {len} bytes, more than the {MAX_HEADER_BYTES} allowed"
        )));
    }
    let json = bytes.get(pos + 4..pos + 4 + len).ok_or_else(cut)?;
    serde_json::from_slice(json)
        .map_err(|e| ArchiveError::Malformed(format!("the header does not parse: {e}")))
}

/// Checks an archive offline: `log_keys` are the note verifiers the checkpoints must be
/// signed by, `tsa_roots` the certificates time-stamps must chain to. Time-stamps are required
/// to verify when present; an archive whose checkpoints carry none is reported with
/// `timestamps: 0`, for the caller to judge.
pub fn verify_archive(
    bytes: &[u8],
    log_keys: &[NoteVerifier],
    tsa_roots: &[Certificate],
) -> Result<ArchiveReport, ArchiveError> {
    let malformed = |m: &str| ArchiveError::Malformed(m.to_string());
    if !bytes.starts_with(ARCHIVE_MAGIC) {
        return Err(if ARCHIVE_MAGIC.starts_with(bytes) {
            ArchiveError::Truncated {
                record: None,
                detail: "it ends inside its first line".into(),
            }
        } else {
            malformed("it does not start with \"korpu-archive/1\"")
        });
    }
    let mut pos = ARCHIVE_MAGIC.len();
    let truncated_header = || ArchiveError::Truncated {
        record: None,
        detail: "it ends inside the header".into(),
    };
    let len_bytes: [u8; 4] = bytes
        .get(pos..pos + 4)
        .ok_or_else(truncated_header)?
        .try_into()
        .expect("a 4-byte slice");
    let header_len = u32::from_le_bytes(len_bytes) as usize;
    if header_len > MAX_HEADER_BYTES {
        return Err(ArchiveError::Malformed(format!(
            "the header claims {header_len} bytes, more than the {MAX_HEADER_BYTES} allowed"
        )));
    }
    pos += 4;
    let header_bytes = bytes
        .get(pos..pos + header_len)
        .ok_or_else(truncated_header)?;
    pos += header_len;
    let header: ArchiveHeader = serde_json::from_slice(header_bytes)
        .map_err(|e| ArchiveError::Malformed(format!("the header does not parse: {e}")))?;
    let first = header.first_index;
    let end = first
        .checked_add(header.count)
        .ok_or_else(|| malformed("first_index + count overflows"))?;
    let frontier_hashes = header
        .frontier
        .iter()
        .map(|h| hex_hash(h))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| malformed("a frontier hash is not 32 bytes of hex"))?;
    let mut frontier = Frontier::from_roots(first, &frontier_hashes).ok_or_else(|| {
        ArchiveError::Malformed(format!(
            "the frontier has {} hashes; a tree of {first} entries has {}",
            frontier_hashes.len(),
            first.count_ones()
        ))
    })?;

    // Checkpoints: signature, origin, order, time-stamp, before any record is looked at.
    struct Head {
        number: usize,
        size: u64,
        root: Hash,
        consistency: Vec<Hash>,
    }
    let mut heads: Vec<Head> = Vec::with_capacity(header.checkpoints.len());
    let mut timestamps = 0usize;
    let mut stamped: Option<(SystemTime, SystemTime)> = None;
    for (number, ac) in header.checkpoints.iter().enumerate() {
        let bad = |detail: String| ArchiveError::BadCheckpoint { number, detail };
        let body = verify_note(&ac.note, log_keys).map_err(|e| bad(e.to_string()))?;
        let cp = Checkpoint::parse_body(&body).map_err(|e| bad(e.to_string()))?;
        if cp.origin != header.origin {
            return Err(bad(format!(
                "it is for log \"{}\", the archive for \"{}\"",
                cp.origin, header.origin
            )));
        }
        if cp.size <= first {
            return Err(bad(format!(
                "its tree size {} covers none of the records {first}..{end}",
                cp.size
            )));
        }
        if let Some(prev) = heads.last() {
            if cp.size < prev.size {
                return Err(bad(format!(
                    "its tree size {} is smaller than the checkpoint before it ({})",
                    cp.size, prev.size
                )));
            }
            if cp.size == prev.size && cp.root != prev.root {
                return Err(ArchiveError::Conflicting {
                    a: prev.number,
                    b: number,
                    size: cp.size,
                    root_a: hex::encode(prev.root),
                    root_b: hex::encode(cp.root),
                });
            }
        }
        if let Some(t) = &ac.timestamp {
            let ts_bad = |detail: String| ArchiveError::BadTimestamp {
                number,
                size: cp.size,
                detail,
            };
            let der = B64
                .decode(t)
                .map_err(|e| ts_bad(format!("it is not base64: {e}")))?;
            let digest: [u8; 32] = Sha256::digest(ac.note.as_bytes()).into();
            let at = korpu_pki::tsa::verify_response(&der, &digest, None, tsa_roots)
                .map_err(|e| ts_bad(e.to_string()))?;
            timestamps += 1;
            stamped = Some(match stamped {
                None => (at, at),
                Some((lo, hi)) => (lo.min(at), hi.max(at)),
            });
        }
        let consistency = ac
            .consistency
            .iter()
            .map(|h| hex_hash(h))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a consistency proof hash is not 32 bytes of hex".into()))?;
        if cp.size <= end && !consistency.is_empty() {
            return Err(bad(format!(
                "it carries a consistency proof but its tree size {} is within the records",
                cp.size
            )));
        }
        heads.push(Head {
            number,
            size: cp.size,
            root: cp.root,
            consistency,
        });
    }
    let covered = heads.last().map_or(first, |h| h.size);
    if covered < end {
        return Err(ArchiveError::Uncovered {
            from: covered.max(first),
            to: end,
        });
    }

    // Records, in order.
    let records_len = usize::try_from(header.records_bytes)
        .map_err(|_| malformed("records_bytes does not fit in memory"))?;
    let available = bytes.len() - pos;
    let records = &bytes[pos..pos + records_len.min(available)];
    let mut off = 0usize;
    let mut next_head = 0usize;
    let mut times: Option<(u64, u64)> = None;
    for index in first..end {
        let cut = |what: &str| ArchiveError::Truncated {
            record: Some(index),
            detail: format!("record {index} {what}"),
        };
        let bad = |detail: String| ArchiveError::BadRecord { index, detail };
        if off == records.len() {
            return Err(if records_len > available {
                cut("is missing: the archive ends before it")
            } else {
                bad(format!(
                    "is missing: the records section ends after {} of {} records",
                    index - first,
                    header.count
                ))
            });
        }
        let Some(h) = records.get(off..off + FRAME_HEADER) else {
            return Err(if records_len > available {
                cut("is cut short")
            } else {
                bad("its frame header is cut short".into())
            });
        };
        let len = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize;
        let stored_index = u64::from_le_bytes(h[4..12].try_into().expect("8 bytes"));
        if stored_index != index {
            return Err(bad(format!(
                "the frame at its position holds record {stored_index}: a record was deleted, inserted or moved"
            )));
        }
        if len == 0 || len > crate::log::MAX_RECORD_BYTES {
            return Err(bad(format!("its frame length {len} is out of range")));
        }
        let body_start = off + FRAME_HEADER;
        let Some(frame) = records.get(body_start..body_start + len + HASH_LEN) else {
            return Err(if records_len > available {
                cut("is cut short")
            } else {
                bad("its frame runs past the records section".into())
            });
        };
        let (record, stored) = frame.split_at(len);
        let leaf = leaf_hash(record);
        if leaf[..] != stored[..] {
            return Err(bad(
                "its bytes do not match its leaf hash: the record was altered or damaged".into(),
            ));
        }
        if let Some(t) = record_time(record) {
            times = Some(match times {
                None => (t, t),
                Some((lo, hi)) => (lo.min(t), hi.max(t)),
            });
        }
        frontier.push(leaf);
        off = body_start + len + HASH_LEN;
        let size = index + 1;
        while next_head < heads.len() && heads[next_head].size == size {
            let head = &heads[next_head];
            let computed = frontier.root();
            if computed != head.root {
                return Err(ArchiveError::RootMismatch {
                    number: head.number,
                    size,
                    first,
                    signed: hex::encode(head.root),
                    computed: hex::encode(computed),
                });
            }
            next_head += 1;
        }
    }
    if off != records.len() {
        return Err(ArchiveError::BadRecord {
            index: end,
            detail: format!(
                "the records section holds {} bytes after the last of its {} records",
                records.len() - off,
                header.count
            ),
        });
    }
    if records_len > available {
        return Err(ArchiveError::Truncated {
            record: None,
            detail: "it ends inside the records section".into(),
        });
    }
    let tail = &bytes[pos + records_len..];
    if tail != ARCHIVE_END {
        return Err(if ARCHIVE_END.starts_with(tail) {
            ArchiveError::Truncated {
                record: None,
                detail: "the end marker is cut short".into(),
            }
        } else {
            malformed("bytes other than the end marker follow the records")
        });
    }
    // Checkpoints beyond the records: consistent with the tree at the last record.
    let end_root = frontier.root();
    for head in &heads[next_head..] {
        merkle::verify_consistency(end, head.size, &end_root, &head.root, &head.consistency)
            .map_err(|e| ArchiveError::Inconsistent {
                number: head.number,
                size: head.size,
                end,
                detail: e.to_string(),
            })?;
    }
    let trust = header
        .trust
        .as_deref()
        .map(|t| B64.decode(t))
        .transpose()
        .map_err(|e| ArchiveError::Malformed(format!("the trust blob is not base64: {e}")))?;
    Ok(ArchiveReport {
        origin: header.origin,
        segment: header.segment,
        first_index: first,
        records: header.count,
        bytes: bytes.len() as u64,
        checkpoints: heads.len(),
        timestamps,
        tree_size: heads.last().map_or(end, |h| h.size),
        record_times: times,
        timestamped: stamped,
        end_frontier: frontier.roots(),
        trust,
    })
}

/// The `time_unix_ms` of a canonical record, without parsing the rest. In the canonical
/// encoding the key follows `message_id`; the byte pattern `"time_unix_ms":` cannot occur
/// inside a JSON string (a quote there is always escaped), so its first occurrence is the key.
fn record_time(record: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"time_unix_ms\":";
    let at = record.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = &record[at..];
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
}

/// Where archives go: an [`ObjectStore`] and a key prefix.
#[derive(Clone, Debug)]
pub struct ArchiveStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    location: String,
    /// The directory, when the store is a local one: archives are then copied from the
    /// segment file inside the kernel instead of through memory.
    local: Option<PathBuf>,
}

impl ArchiveStore {
    /// The store named by `target`: a directory path (created if missing), or with the `s3`
    /// feature an `s3://bucket/prefix` URL whose credentials and region come from the usual
    /// `AWS_*` environment variables.
    pub fn from_target(target: &str) -> Result<Self, LedgerError> {
        if let Some(rest) = target.strip_prefix("s3://") {
            return Self::s3(target, rest);
        }
        if target.contains("://") {
            return Err(LedgerError::InvalidConfig(format!(
                "archive target \"{target}\": only a directory path or an s3:// URL is supported"
            )));
        }
        // Archives hold the records (citizens' ids, purposes): the owner's only, like the log.
        korpu_pki::private::create_dir(Path::new(target))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(target)
            .map_err(|e| LedgerError::InvalidConfig(format!("archive directory {target}: {e}")))?;
        Ok(ArchiveStore {
            store: Arc::new(store),
            prefix: ObjectPath::default(),
            location: target.to_string(),
            local: Some(PathBuf::from(target)),
        })
    }

    #[cfg(feature = "s3")]
    fn s3(target: &str, rest: &str) -> Result<Self, LedgerError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| LedgerError::InvalidConfig(format!("archive target {target}: {e}")))?;
        Ok(ArchiveStore {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            location: target.to_string(),
            local: None,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn s3(target: &str, _rest: &str) -> Result<Self, LedgerError> {
        Err(LedgerError::InvalidConfig(format!(
            "archive target {target}: this build has no S3 support (build with the korpu-ledger feature \"s3\")"
        )))
    }

    /// A store over any [`ObjectStore`] (tests use the in-memory one).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        ArchiveStore {
            store,
            prefix: ObjectPath::from(prefix),
            location: format!("object store prefix \"{prefix}\""),
            local: None,
        }
    }

    /// The object name of segment `segment`'s archive.
    pub fn object_name(segment: u64) -> String {
        format!("segment-{segment:06}.korpu-archive")
    }

    fn path(&self, segment: u64) -> ObjectPath {
        self.prefix.child(Self::object_name(segment))
    }

    /// Stores segment `segment`'s archive, replacing any earlier one: `head` (from
    /// [`archive_head`]), then the first `records_bytes` bytes of the segment file at
    /// `segment_file`, then [`ARCHIVE_END`].
    ///
    /// A local directory gets the frames by `copy_file_range` (the kernel copies page cache to
    /// page cache), the file is synced and only then renamed into place, so a crash leaves
    /// either the old archive or the whole new one. Other stores get one put of the three parts,
    /// the frames read once into memory.
    pub async fn put_segment(
        &self,
        segment: u64,
        head: Vec<u8>,
        segment_file: PathBuf,
        records_bytes: u64,
    ) -> Result<(), LedgerError> {
        let what = format!("storing segment {segment} in {}", self.location);
        if let Some(dir) = self.local.clone() {
            let name = Self::object_name(segment);
            return run_blocking(move || {
                write_local_archive(&dir, &name, &head, &segment_file, records_bytes)
                    .map_err(|e| LedgerError::Archive(format!("{what}: {e}")))
            })
            .await;
        }
        let reading = what.clone();
        let frames = run_blocking(move || {
            let mut frames = Vec::with_capacity(records_bytes as usize);
            File::open(&segment_file)
                .and_then(|f| f.take(records_bytes).read_to_end(&mut frames))
                .and_then(|got| whole_segment(&segment_file, got as u64, records_bytes))
                .map_err(|e| LedgerError::Archive(format!("{reading}: {e}")))?;
            Ok(frames)
        })
        .await?;
        let chunks: Vec<_> = PutPayload::from(head)
            .into_iter()
            .chain(PutPayload::from(frames))
            .chain(PutPayload::from_static(ARCHIVE_END))
            .collect();
        self.store
            .put(&self.path(segment), PutPayload::from_iter(chunks))
            .await
            .map(|_| ())
            .map_err(|e| LedgerError::Archive(format!("{what}: {e}")))
    }

    /// Reads segment `segment`'s archive.
    pub async fn get(&self, segment: u64) -> Result<Vec<u8>, LedgerError> {
        let got = self.store.get(&self.path(segment)).await.map_err(|e| {
            LedgerError::Archive(format!(
                "reading segment {segment} from {}: {e}",
                self.location
            ))
        })?;
        let bytes = got.bytes().await.map_err(|e| {
            LedgerError::Archive(format!(
                "reading segment {segment} from {}: {e}",
                self.location
            ))
        })?;
        Ok(bytes.to_vec())
    }
}

/// Writes an archive into `dir` as [`ArchiveStore::put_segment`] describes.
fn write_local_archive(
    dir: &Path,
    name: &str,
    head: &[u8],
    segment_file: &Path,
    records_bytes: u64,
) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut out = korpu_pki::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    out.write_all(head)?;
    // std's io::copy between files is copy_file_range(2) on Linux: no pass through user memory.
    let copied = std::io::copy(&mut File::open(segment_file)?.take(records_bytes), &mut out)?;
    whole_segment(segment_file, copied, records_bytes)?;
    out.write_all(ARCHIVE_END)?;
    out.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// An error unless all `want` bytes of the segment's frames were read (`got`).
fn whole_segment(segment_file: &Path, got: u64, want: u64) -> std::io::Result<()> {
    if got == want {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!(
            "{} holds {got} bytes of frames, not the {want} it should",
            segment_file.display()
        ),
    ))
}
