//! Körpü evidence ledger: every gateway appends one [`ExchangeRecord`] per exchange to an
//! append-only log; a Merkle tree (RFC 9162) over the records gives inclusion and consistency
//! proofs; signed tree heads are C2SP tlog-checkpoint notes (Ed25519), each with an RFC 3161
//! time-stamp, so auditors can check the evidence with tools nobody here wrote.
//!
//! * [`merkle`], [`checkpoint`], [`record`], [`proof`] and the reading half of [`tiles`] are the
//!   pure formats of `korpu-tlog`, re-exported so callers of the ledger keep their paths;
//!   code that only checks evidence should depend on `korpu-tlog` instead.
//! * [`log`] — the durable, group-committed [`Ledger`] (its module doc argues durability).
//! * [`timestamp`] — the [`Timestamper`] trait, an RFC 3161 HTTP client and the in-process TSA.
//! * [`archive`] — self-contained archives of sealed segments in object storage, and
//!   [`verify_archive`], their offline verifier.
//! * [`tiles`] — the tree published as C2SP tlog-tiles.
//! * [`audit`] — the fork watcher: per-log views checked with consistency proofs.
//! * [`body`] — request/response bodies, for services that ask, encrypted at rest.
//! * [`proof`] — [`Evidence::tlog_proof`], the same evidence as a C2SP tlog-proof text file.
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
pub use korpu_tlog::{checkpoint, merkle, record};
pub mod audit;
pub mod body;
mod error;
pub mod evidence;
pub mod log;
pub mod proof;
pub mod tiles;
pub mod timestamp;

pub use archive::{verify_archive, ArchiveError, ArchiveReport, ArchiveStore};
pub use checkpoint::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier};
pub use error::LedgerError;
pub use evidence::{verify_evidence, Evidence, EvidenceError, EvidenceReport};
pub use korpu_tlog::NoteError;
pub use log::{
    Announcement, Ledger, LedgerConfig, LedgerStats, RecoveryReport, SignedCheckpoint,
    SubjectAccess, SubjectPage,
};
pub use merkle::{Hash, ProofError};
pub use record::ExchangeRecord;
pub use timestamp::{LocalTsa, Timestamper, TsaClient};
