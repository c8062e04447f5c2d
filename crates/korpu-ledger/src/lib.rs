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
//! * [`archive`] — self-contained archives of sealed segments in object storage, and
//!   [`verify_archive`], their offline verifier.
//! * [`tiles`] — the tree published as C2SP tlog-tiles, and proofs computed from fetched tiles.
//! * [`audit`] — the fork watcher: per-log views checked with consistency proofs.
//! * [`body`] — request/response bodies, for services that ask, encrypted at rest.
//! * [`proof`] — the same evidence as a C2SP tlog-proof text file.
//! * [`evidence`] — the package proving one exchange, and its verifier.
//! * The subject index ([`Ledger::subject_accesses`]): a data subject's accesses with proofs.
//!
//! Sequencing is decoupled from integration: an append is acknowledged once its entry is
//! durable; the tree and the next checkpoint follow on a short cadence.
//!
//! Deliberately not here yet: entry bundles in the tiles, and witness cosignatures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod audit;
pub mod body;
pub mod checkpoint;
mod error;
pub mod evidence;
pub mod log;
pub mod merkle;
pub mod proof;
pub mod record;
pub mod tiles;
pub mod timestamp;

pub use archive::{verify_archive, ArchiveError, ArchiveReport, ArchiveStore};
pub use checkpoint::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier};
pub use error::LedgerError;
pub use evidence::{verify_evidence, Evidence, EvidenceError, EvidenceReport};
pub use log::{
    Announcement, Ledger, LedgerConfig, LedgerStats, RecoveryReport, SignedCheckpoint,
    SubjectAccess, SubjectPage,
};
pub use merkle::{Hash, ProofError};
pub use record::ExchangeRecord;
pub use timestamp::{LocalTsa, Timestamper, TsaClient};
