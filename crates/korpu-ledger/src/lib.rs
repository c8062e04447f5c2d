//! Körpü evidence ledger: an append-only log of opaque entries (the gateway appends one per
//! exchange, in its own encoding); a Merkle tree (RFC 9162) over the entries gives inclusion
//! and consistency proofs; signed tree heads are C2SP tlog-checkpoint notes (Ed25519), each
//! with an RFC 3161 time-stamp, so auditors can check the evidence with tools nobody here
//! wrote. Each entry can name lookup keys (ids in caller-named spaces), which the ledger
//! stores only as keyed hashes.
//!
//! * [`merkle`], [`checkpoint`], [`proof`] and the reading half of [`tiles`] are the pure
//!   formats of `korpu-tlog`, re-exported so callers of the ledger keep their paths; code that
//!   only checks evidence should depend on `korpu-tlog` instead.
//! * [`log`] — the durable, group-committed [`Ledger`] (its module doc argues durability):
//!   [`Ledger::append`], [`Ledger::entry`], the lookups ([`Ledger::lookup`],
//!   [`Ledger::lookup_page`]), checkpoints and proofs.
//! * [`timestamp`] — the [`Timestamper`] trait, an RFC 3161 HTTP client and the in-process TSA.
//! * [`archive`] — self-contained archives of sealed segments in object storage, and
//!   [`verify_archive`], their offline verifier.
//! * [`tiles`] — the tree published as C2SP tlog-tiles.
//! * [`audit`] — the fork watcher: per-log views checked with consistency proofs.
//!
//! Sequencing is decoupled from integration: an append is acknowledged once its entry is
//! durable; the tree and the next checkpoint follow on a short cadence.
//!
//! Deliberately not here: what the entries mean (the exchange record, its evidence package
//! and the data tracker's answer are the gateway's), entry bundles in the tiles, and witness
//! cosignatures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub use korpu_tlog::{checkpoint, merkle, proof};
pub mod audit;
mod error;
pub mod log;
pub mod tiles;
pub mod timestamp;

pub use archive::{verify_archive, ArchiveError, ArchiveReport, ArchiveStore};
pub use checkpoint::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier};
pub use error::LedgerError;
pub use korpu_tlog::NoteError;
pub use log::{
    Announcement, Entry, Found, IndexKey, Indexer, KeySpace, Ledger, LedgerConfig, LedgerStats,
    LookupPage, RecoveryReport, SignedCheckpoint,
};
pub use merkle::{Hash, ProofError};
pub use timestamp::{LocalTsa, Timestamper, TsaClient};
