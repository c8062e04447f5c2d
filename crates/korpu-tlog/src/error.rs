//! Why a checkpoint, signed note or note key was refused. The messages are the ones the ledger
//! has always given (the ledger wraps them unchanged as `LedgerError::Note`).

/// A checkpoint body, signed note or note key that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Checkpoint text that is not a C2SP tlog-checkpoint body.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// Text that is not a C2SP signed note.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// A signature by a trusted key that does not verify.
    #[error("the note signature by \"{name}\" (key id {key_id:08x}) does not verify")]
    BadNoteSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature on the note is by a trusted key.
    #[error("the note carries no signature by a trusted key (trusted: {trusted})")]
    NoTrustedSignature {
        /// The names and ids of the trusted keys.
        trusted: String,
    },
    /// A key name, verifier key or signing key that cannot be used.
    #[error("invalid note key: {0}")]
    InvalidKey(String),
}
