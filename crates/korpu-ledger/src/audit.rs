//! Watching logs for forks. An [`Auditor`] keeps, per log origin, the last checkpoint it
//! verified; shown a newer checkpoint of that log it checks the signature, that the tree did
//! not shrink, and the RFC 9162 consistency proof from the old tree to the new one. A log that
//! shows two views that cannot both be true (a smaller tree, the same size with another root,
//! a new tree that does not extend the old one) yields an [`Alert`]: signed evidence, since
//! both checkpoints carry the log's signature.
//!
//! The proof comes either from the log ([`Auditor::observe`]) or is computed from its
//! tlog-tiles ([`Auditor::observe_tiles`], through [`TileSource`]). The state is plain JSON
//! ([`AuditState`]) so `korpu ledger audit --state FILE` can keep it between runs, and the
//! central registry can keep one per gateway.
//!
//! Deliberately not here: fetching (the caller moves the bytes) and gossip between auditors
//! (comparing views with other auditors would catch a log that shows each auditor its own
//! consistent fork).
use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{verify_note, Checkpoint, NoteVerifier};
use crate::merkle::{self, consistency_proof_from, root_from, Hash};
use crate::tiles::{TileError, TileSource};

/// The last verified checkpoint of one log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    /// Tree size.
    pub size: u64,
    /// Base64 root hash (as in the checkpoint).
    pub root: String,
    /// The signed note, kept as evidence should a later one contradict it.
    pub note: String,
}

/// What an auditor remembers: per origin, the last verified checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    /// By log origin.
    pub logs: BTreeMap<String, LogView>,
}

/// Two signed checkpoints of one log that cannot both be true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The log.
    pub origin: String,
    /// The checkpoint seen before.
    pub old_size: u64,
    /// Its root, hex.
    pub old_root: String,
    /// The checkpoint seen now.
    pub new_size: u64,
    /// Its root, hex.
    pub new_root: String,
    /// Why they conflict.
    pub detail: String,
    /// Both signed notes, old then new: the evidence.
    pub notes: [String; 2],
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FORK ALERT for log {}: checkpoint of size {} (root {}) does not extend the earlier checkpoint of size {} (root {}): {}",
            self.origin, self.new_size, self.new_root, self.old_size, self.old_root, self.detail
        )
    }
}

/// Why a checkpoint was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The log contradicts itself.
    #[error("{0}")]
    Alert(Box<Alert>),
    /// The checkpoint does not verify (not signed by a trusted key, malformed): it proves
    /// nothing about the log.
    #[error("the checkpoint is not acceptable: {0}")]
    BadCheckpoint(String),
    /// The tiles do not reproduce the checkpoint's root: the server is broken or lying, but
    /// without a signature over them this is no evidence against the log.
    #[error("the tiles do not match checkpoint {size}: {detail}")]
    BadTiles {
        /// The checkpoint's size.
        size: u64,
        /// What differs.
        detail: String,
    },
    /// A tile must be fetched first.
    #[error(transparent)]
    Tile(#[from] TileError),
}

/// What an accepted checkpoint changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The first checkpoint seen of this log: trusted on first use.
    First {
        /// Its size.
        size: u64,
    },
    /// The same checkpoint again.
    Unchanged {
        /// Its size.
        size: u64,
    },
    /// A larger tree, proven to extend the old one.
    Extended {
        /// The old size.
        from: u64,
        /// The new size.
        to: u64,
    },
}

/// Keeps the last verified view of each log and checks new checkpoints against it.
#[derive(Clone, Debug)]
pub struct Auditor {
    /// What the auditor remembers.
    pub state: AuditState,
    keys: Vec<NoteVerifier>,
}

impl Auditor {
    /// An auditor trusting `keys` as log keys (each log signs with the key named after its
    /// origin), starting from `state`.
    pub fn new(state: AuditState, keys: Vec<NoteVerifier>) -> Self {
        Auditor { state, keys }
    }

    fn verify(&self, note: &str) -> Result<Checkpoint, AuditError> {
        let body =
            verify_note(note, &self.keys).map_err(|e| AuditError::BadCheckpoint(e.to_string()))?;
        Checkpoint::parse_body(&body).map_err(|e| AuditError::BadCheckpoint(e.to_string()))
    }

    /// Checks `note` against the stored view of its log with `proof`, the consistency proof
    /// from the stored size to the note's (ignored for a first or an equal-size checkpoint);
    /// on success the note becomes the stored view.
    pub fn observe(&mut self, note: &str, proof: &[Hash]) -> Result<Observation, AuditError> {
        let cp = self.verify(note)?;
        self.judge(note, &cp, |_| Ok(proof.to_vec()))
    }

    /// Like [`Auditor::observe`], computing the proof from the log's tlog-tiles. Returns
    /// [`AuditError::Tile`] naming a tile to fetch into `tiles` when one is missing; call
    /// again once it is there. `tiles` must be for the note's tree size.
    pub fn observe_tiles(
        &mut self,
        note: &str,
        tiles: &TileSource,
    ) -> Result<Observation, AuditError> {
        let cp = self.verify(note)?;
        // The tiles must reproduce the signed root before anything computed from them counts.
        if cp.size > 0 {
            let r = root_from(tiles, cp.size)?;
            if r != cp.root {
                return Err(AuditError::BadTiles {
                    size: cp.size,
                    detail: format!(
                        "they give root {}, the checkpoint signs {}",
                        hex::encode(r),
                        hex::encode(cp.root)
                    ),
                });
            }
        }
        self.judge(note, &cp, |old| {
            consistency_proof_from(tiles, old, cp.size).map_err(AuditError::from)
        })
    }

    fn judge(
        &mut self,
        note: &str,
        cp: &Checkpoint,
        proof: impl FnOnce(u64) -> Result<Vec<Hash>, AuditError>,
    ) -> Result<Observation, AuditError> {
        let view = LogView {
            size: cp.size,
            root: B64.encode(cp.root),
            note: note.to_string(),
        };
        let Some(old) = self.state.logs.get(&cp.origin) else {
            self.state.logs.insert(cp.origin.clone(), view);
            return Ok(Observation::First { size: cp.size });
        };
        let old_root: Hash = B64
            .decode(&old.root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| {
                AuditError::BadCheckpoint(format!(
                    "the stored view of {} has an unreadable root",
                    cp.origin
                ))
            })?;
        let alert = |detail: String| {
            AuditError::Alert(Box::new(Alert {
                origin: cp.origin.clone(),
                old_size: old.size,
                old_root: hex::encode(old_root),
                new_size: cp.size,
                new_root: hex::encode(cp.root),
                detail,
                notes: [old.note.clone(), note.to_string()],
            }))
        };
        let outcome = if cp.size < old.size {
            return Err(alert("the tree shrank".into()));
        } else if cp.size == old.size {
            if cp.root != old_root {
                return Err(alert("the same tree size has two different roots".into()));
            }
            Observation::Unchanged { size: cp.size }
        } else if old.size == 0 {
            Observation::Extended {
                from: 0,
                to: cp.size,
            }
        } else {
            let p = proof(old.size)?;
            merkle::verify_consistency(old.size, cp.size, &old_root, &cp.root, &p)
                .map_err(|e| alert(format!("the consistency proof fails: {e}")))?;
            Observation::Extended {
                from: old.size,
                to: cp.size,
            }
        };
        self.state.logs.insert(cp.origin.clone(), view);
        Ok(outcome)
    }
}
