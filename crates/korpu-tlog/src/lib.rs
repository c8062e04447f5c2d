//! Körpü's transparency-log formats, pure: bytes and hashes in, bytes, hashes and verdicts out.
//! No files, no sockets, no clock, no async (the one call out is `NoteSigner::generate`, which
//! asks the OS for randomness), so anyone who only needs to *check* evidence (the
//! portal's data tracker, the central registry's key check, auditors, the CLI) depends on this
//! crate and not on the ledger's storage engine.
//!
//! * [`merkle`] — RFC 9162 §2.1 hashing, inclusion and consistency proofs and their
//!   verification, and the in-memory [`merkle::TileCache`] that keeps generation O(log n) over
//!   any [`merkle::LeafStore`] the caller provides.
//! * [`checkpoint`] — C2SP tlog-checkpoint bodies, signed notes (Ed25519), signer keys and
//!   verifier keys (vkeys), with [`NoteVerifier::from_vkey`] as the one ledger-key parser.
//! * [`proof`] — the C2SP tlog-proof text file for one entry.
//! * [`tiles`] — C2SP tlog-tiles paths and widths, and [`tiles::TileSource`], proofs computed
//!   from tiles the caller fetched (sans-I/O).
//!
//! Deliberately not here: what a log's entries mean (the exchange record is `korpu-xroad`'s),
//! storage, group commit, checkpoint cadence, time-stamps, archives (`korpu-ledger`); witness
//! cosignatures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
mod error;
pub mod merkle;
pub mod proof;
pub mod tiles;

pub use checkpoint::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier};
pub use error::NoteError;
pub use merkle::{Hash, ProofError};
pub use proof::{TlogProof, TlogProofError};
