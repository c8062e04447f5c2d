//! Offline proof for one record as a C2SP tlog-proof file (c2sp.org/tlog-proof@v1). The format
//! is pure and lives in `korpu-tlog` ([`korpu_tlog::proof`], re-exported here); what is here is
//! the bridge from the ledger's JSON [`Evidence`] package to that file.
pub use korpu_tlog::proof::*;

use crate::evidence::Evidence;
use crate::merkle::Hash;

impl Evidence {
    /// The tlog-proof for this package's record: its canonical bytes as the `extra` line, the
    /// entry index, the inclusion proof and the checkpoint note.
    pub fn tlog_proof(&self) -> Result<TlogProof, TlogProofError> {
        let proof = self
            .inclusion_proof
            .iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| TlogProofError::Malformed(format!("{h:?} is not a hash")))
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok(TlogProof {
            extra: Some(self.record.leaf_bytes()),
            index: self.leaf_index,
            proof,
            checkpoint: self.checkpoint.clone(),
        })
    }
}
