//! Körpü evidence ledger: every gateway appends one [`ExchangeRecord`] per exchange to an
//! append-only log; a Merkle tree (RFC 9162) over the records gives inclusion and consistency
//! proofs; signed tree heads are C2SP tlog-checkpoint notes (Ed25519), each with an RFC 3161
//! time-stamp, so auditors can check the evidence with tools nobody here wrote.
//!
//! * [`merkle`] — pure RFC 9162 §2.1 hashing, proofs and verification, and the tile cache
//!   that keeps proofs O(log n) without holding all leaves in memory.
//! * [`checkpoint`] — checkpoint bodies, signed notes, signer and verifier keys.
//! * [`record`] — the logged record and its canonical encoding.
//! * [`log`] — the durable, group-committed [`Ledger`] (its module doc argues durability).
//! * [`timestamp`] — the [`Timestamper`] trait, an RFC 3161 HTTP client and the in-process TSA.
//!
//! Sequencing is decoupled from integration: an append is acknowledged once its entry is
//! durable; the tree and the next checkpoint follow on a short cadence.
//!
//! Deliberately not here yet: sealed segments and their archive to object storage, C2SP
//! tlog-tiles publication, tlog-proof evidence files and the offline verifier CLI.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
mod error;
pub mod evidence;
pub mod log;
pub mod merkle;
pub mod record;
pub mod timestamp;

pub use checkpoint::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier};
pub use error::LedgerError;
pub use evidence::{verify_evidence, Evidence, EvidenceError, EvidenceReport};
pub use log::{Ledger, LedgerConfig, LedgerStats, RecoveryReport, SignedCheckpoint};
pub use merkle::{Hash, ProofError};
pub use record::ExchangeRecord;
pub use timestamp::{LocalTsa, Timestamper, TsaClient};
