//! The one error type of the ledger. Messages name the file, entry or field that is wrong, so an
//! operator can act on them without reading the code.
use crate::merkle::ProofError;

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file could not be read, written, synced or created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file ("appending to entries.log").
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A data directory or file that group or others can reach (the ledger holds citizens' ids
    /// and purposes), or that could not be created owner-only.
    #[error(transparent)]
    Private(#[from] korpu_pki::private::PrivateError),
    /// Another process (or another open in this one) is the ledger's writer.
    #[error("the ledger in {dir} is in use by {holder}; stop it first, or read it with a read-only open")]
    InUse {
        /// The ledger directory.
        dir: String,
        /// Who holds the lock, e.g. "pid 1234" (or "another process" when it wrote no pid).
        holder: String,
    },
    /// A write (append, checkpoint) asked of a ledger opened read-only.
    #[error("the ledger was opened read-only: {0} is not possible")]
    ReadOnly(&'static str),
    /// A stored entry no longer matches its leaf hash: the disk or someone altered it.
    #[error("entry {index} in {file} fails its checksum")]
    Checksum {
        /// The file.
        file: String,
        /// The entry's index in the log.
        index: u64,
    },
    /// A file's structure is broken somewhere recovery must not truncate.
    #[error("{file} is corrupt at byte {offset}: {detail}")]
    Corrupt {
        /// The file.
        file: String,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong there.
        detail: String,
    },
    /// The stored entries and the stored checkpoints disagree: the log lost or changed entries
    /// it had already committed to.
    #[error("checkpoint {number} in checkpoints.log (tree size {size}) {detail}")]
    InconsistentCheckpoint {
        /// Position of the checkpoint in checkpoints.log, from 0.
        number: usize,
        /// Its tree size.
        size: u64,
        /// How it disagrees with the entries.
        detail: String,
    },
    /// The directory belongs to another log.
    #[error("{dir} holds the log \"{found}\", not \"{expected}\"")]
    WrongOrigin {
        /// The ledger directory.
        dir: String,
        /// Origin found in its checkpoints.
        found: String,
        /// Origin this ledger was opened for.
        expected: String,
    },
    /// A record index that is not in the log.
    #[error("entry {index} does not exist: the log holds {size} entries")]
    NoSuchEntry {
        /// The requested index.
        index: u64,
        /// Number of durable entries.
        size: u64,
    },
    /// A proof was asked for a tree larger than the log.
    #[error("tree size {requested} is beyond the log's {available} entries")]
    BeyondTree {
        /// The requested tree size.
        requested: u64,
        /// Number of durable entries.
        available: u64,
    },
    /// A proof request that makes no sense (index beyond the tree, old size after new size).
    #[error("invalid proof request: {0}")]
    InvalidRequest(String),
    /// A configuration value out of its range.
    #[error("invalid ledger configuration: {0}")]
    InvalidConfig(String),
    /// A record too large to log.
    #[error("record of {size} bytes exceeds the {max}-byte limit of one ledger entry")]
    RecordTooLarge {
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A stored entry has the right checksum but its [`crate::Indexer`] refuses it: it is not
    /// an entry of the kind this ledger's caller writes.
    #[error("entry {index} is not a valid entry: {detail}")]
    BadRecord {
        /// The entry's index.
        index: u64,
        /// The decoding error.
        detail: String,
    },
    /// A checkpoint, signed note or note key refused by `korpu-tlog`, with its message.
    #[error(transparent)]
    Note(#[from] korpu_tlog::NoteError),
    /// A key of the ledger's own (its signing key's name against the origin, the index key)
    /// that cannot be made or used.
    #[error("invalid note key: {0}")]
    InvalidKey(String),
    /// The time-stamping authority could not be reached or its answer does not verify.
    #[error("time-stamp: {0}")]
    Timestamp(String),
    /// A sealed segment could not be archived or an archive could not be read.
    #[error("archive: {0}")]
    Archive(String),
    /// The ledger was closed.
    #[error("the ledger is closed")]
    Closed,
    /// An earlier write or fsync failed; nothing more is appended until the ledger is reopened,
    /// which recovers the files.
    #[error("the ledger refuses appends since an earlier failure ({0}); reopen it to recover")]
    Poisoned(String),
    /// A proof that does not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

impl LedgerError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LedgerError {
        let what = what.into();
        move |source| LedgerError::Io { what, source }
    }
}

#[cfg(test)]
mod tests {
    use korpu_tlog::{verify_note, NoteError, NoteSigner};

    use super::LedgerError;

    #[test]
    fn note_errors_keep_their_variant_and_message() {
        let signer = NoteSigner::generate("ledger.gw1.korpu.test/v1").unwrap();
        let other = NoteSigner::generate("ledger.gw2.korpu.test/v1").unwrap();
        let note = korpu_tlog::sign_note("hello\n", &signer).unwrap();
        let e = verify_note(&note, &[other.verifier()]).unwrap_err();
        let text = e.to_string();
        let mapped = LedgerError::from(e);
        assert!(
            matches!(
                mapped,
                LedgerError::Note(NoteError::NoTrustedSignature { .. })
            ),
            "{mapped:?}"
        );
        assert_eq!(mapped.to_string(), text);
        let e = korpu_tlog::Checkpoint::parse_body("x\n").unwrap_err();
        assert!(matches!(
            LedgerError::from(e),
            LedgerError::Note(NoteError::MalformedCheckpoint(_))
        ));
    }
}
