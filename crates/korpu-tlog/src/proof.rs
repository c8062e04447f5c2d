//! Offline proof for one entry as a C2SP tlog-proof file (c2sp.org/tlog-proof@v1): the entry
//! index, its RFC 9162 inclusion proof and the signed checkpoint, as text. The `extra` line
//! carries the entry's bytes (for Körpü, an exchange record's canonical bytes, which
//! `korpu_xroad::record::verify_proof` decodes): the spec leaves extra data unauthenticated,
//! and here it needs no trust of its own, because the verifier recomputes the leaf hash from
//! it and the inclusion proof binds that hash to the signed root ([`TlogProof::verify_leaf`]).
//!
//! Deliberately not here: witness cosignatures (a checkpoint with cosignature lines verifies as
//! long as the log's own signature does; judging witnesses is the caller's policy) and the
//! RFC 3161 time-stamp, which has no place in the format (the ledger's JSON evidence package
//! carries it; `korpu_gateway::evidence::Evidence::tlog_proof` turns one into this file).
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::checkpoint::{verify_note, Checkpoint, NoteVerifier};
use crate::merkle::{verify_inclusion, Hash};

/// The first line of a tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Longest proof text accepted (a checkpoint, ~64 hashes and a record).
pub const MAX_TLOG_PROOF_BYTES: usize = 2 << 20;

/// A parsed tlog-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The `extra` data, if any (for Körpü: the record's canonical bytes).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, leaf side first.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Why a tlog-proof was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// Not the format.
    #[error("not a c2sp.org/tlog-proof@v1 file: {0}")]
    Malformed(String),
    /// The checkpoint is not signed by a trusted log key.
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(String),
    /// The proof does not bind the record to the checkpoint.
    #[error("record {index} is not in the checkpointed tree: {detail}")]
    NotIncluded {
        /// The claimed index.
        index: u64,
        /// What failed.
        detail: String,
    },
}

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(x) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(x)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses the text form (nothing is verified).
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        let bad = |m: &str| TlogProofError::Malformed(m.to_string());
        if text.len() > MAX_TLOG_PROOF_BYTES {
            return Err(bad("it is too large"));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line"))?;
        let mut extra = None;
        if let Some(x) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(x)
                    .map_err(|_| bad("the extra line is not base64"))?,
            );
            line = lines.next().ok_or_else(|| bad("no index line"))?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("no index line"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(bad("the index is not a decimal without leading zeroes"));
        }
        let index = digits.parse().map_err(|_| bad("the index is too large"))?;
        let proof = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Verifies that the leaf hash `leaf` is at the proof's index in a checkpoint signed by one
    /// of `keys` (tlog-proof verification steps 2 and 4).
    pub fn verify_leaf(
        &self,
        leaf: &Hash,
        keys: &[NoteVerifier],
    ) -> Result<Checkpoint, TlogProofError> {
        let body = verify_note(&self.checkpoint, keys)
            .map_err(|e| TlogProofError::Checkpoint(e.to_string()))?;
        let cp =
            Checkpoint::parse_body(&body).map_err(|e| TlogProofError::Checkpoint(e.to_string()))?;
        verify_inclusion(self.index, cp.size, leaf, &self.proof, &cp.root).map_err(|e| {
            TlogProofError::NotIncluded {
                index: self.index,
                detail: e.to_string(),
            }
        })?;
        Ok(cp)
    }
}
