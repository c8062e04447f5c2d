//! Batch signatures: one ECDSA signature over the Merkle root of several messages' SHA-256
//! digests, and for each message the path that ties its digest to that root — the idea of
//! X-Road's batch signatures, with an RFC 9162 §2.1 tree (0x00 leaf / 0x01 node prefixes,
//! SHA-256) so that the proof is the same inclusion proof the evidence ledger uses.
//!
//! A gateway that has several messages to sign at once signs them together, and the gateway
//! that receives them verifies the ECDSA signature once per batch instead of once per message:
//! at the bridge's message rates signing and verifying are most of a gateway's CPU time.
//!
//! A message signed alone keeps the plain form — base64 of the DER ECDSA-SHA256 signature
//! over the message's own bytes — so `openssl pkeyutl -verify` checks it directly against
//! the record's digest. A batched one is written
//! `b1.{index}.{size}.{base64 path}.{base64 DER signature}`, and its signature is an
//! ECDSA-SHA256 signature over [`batch_signing_input`] of the batch's root; the checks in
//! [`Signature::signed_digest`] reduce both forms to "an ECDSA signature over this SHA-256".
//!
//! Deliberately not here: the batching policy (how long to wait for company — the gateway's
//! configuration) and any I/O.
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::PkiError;

/// The prefix of a batched signature's text form.
const BATCH_PREFIX: &str = "b1.";
/// A batch's path has one hash per tree level; 2^32 messages per batch is far beyond use.
const MAX_PATH: usize = 32;

/// A signature as messages and records carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// An ECDSA-SHA256 signature over the message itself.
    Single(Vec<u8>),
    /// An ECDSA-SHA256 signature over the batch input of a root, and this message's place in
    /// the batch.
    Batch {
        index: u64,
        size: u64,
        path: Vec<[u8; 32]>,
        der: Vec<u8>,
    },
}

impl Signature {
    /// Reads the text form; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, PkiError> {
        let bad = |why: &str| PkiError::BadSignature(format!("the signature {why}"));
        let Some(rest) = text.strip_prefix(BATCH_PREFIX) else {
            return B64
                .decode(text)
                .map(Signature::Single)
                .map_err(|_| bad("is not base64"));
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let [index, size, path, der] = parts[..] else {
            return Err(bad("is not of the form b1.INDEX.SIZE.PATH.SIGNATURE"));
        };
        let index: u64 = index.parse().map_err(|_| bad("has no batch index"))?;
        let size: u64 = size.parse().map_err(|_| bad("has no batch size"))?;
        if index >= size {
            return Err(bad("names an index outside its batch"));
        }
        let path_bytes = B64.decode(path).map_err(|_| bad("path is not base64"))?;
        if path_bytes.len() % 32 != 0 || path_bytes.len() / 32 > MAX_PATH {
            return Err(bad("path is not a list of SHA-256 hashes"));
        }
        let path = path_bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("chunks of 32"))
            .collect();
        let der = B64.decode(der).map_err(|_| bad("is not base64"))?;
        Ok(Signature::Batch {
            index,
            size,
            path,
            der,
        })
    }

    /// The text form that messages and records carry.
    pub fn encode(&self) -> String {
        match self {
            Signature::Single(der) => B64.encode(der),
            Signature::Batch {
                index,
                size,
                path,
                der,
            } => format!(
                "{BATCH_PREFIX}{index}.{size}.{}.{}",
                B64.encode(path.concat()),
                B64.encode(der)
            ),
        }
    }

    /// The DER ECDSA signature.
    pub fn der(&self) -> &[u8] {
        match self {
            Signature::Single(der) | Signature::Batch { der, .. } => der,
        }
    }

    /// The bytes the ECDSA signature is over, for a message whose own SHA-256 is
    /// `message_digest` and whose bytes are `message`: the message itself, or the batch input
    /// of the root its path leads to. Fails when the path does not fit the batch's shape.
    pub fn signed_bytes<'a>(
        &self,
        message: &'a [u8],
        message_digest: &[u8; 32],
    ) -> Result<std::borrow::Cow<'a, [u8]>, PkiError> {
        match self {
            Signature::Single(_) => Ok(std::borrow::Cow::Borrowed(message)),
            Signature::Batch {
                index, size, path, ..
            } => {
                let root = root_from_path(*index, *size, &leaf_hash(message_digest), path)?;
                Ok(std::borrow::Cow::Owned(batch_signing_input(&root, *size)))
            }
        }
    }

    /// The SHA-256 that the ECDSA signature signs, for a message whose SHA-256 is
    /// `message_digest` (what an evidence record keeps): the same check as
    /// `openssl pkeyutl -verify -in DIGEST`.
    pub fn signed_digest(&self, message_digest: &[u8; 32]) -> Result<[u8; 32], PkiError> {
        match self {
            Signature::Single(_) => Ok(*message_digest),
            Signature::Batch {
                index, size, path, ..
            } => {
                let root = root_from_path(*index, *size, &leaf_hash(message_digest), path)?;
                Ok(Sha256::digest(batch_signing_input(&root, *size)).into())
            }
        }
    }
}

/// What a batch's ECDSA signature is over: its root and size, under a domain label no message
/// format of the gateways starts with.
pub fn batch_signing_input(root: &[u8; 32], size: u64) -> Vec<u8> {
    format!("korpu-batch/1\nsize={size}\nroot={}\n", hex::encode(root)).into_bytes()
}

/// RFC 9162 §2.1.1 leaf hash of a message digest.
pub fn leaf_hash(message_digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(message_digest);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2), RFC 9162's split point.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The RFC 9162 tree over `leaves`: its root, and for each leaf its inclusion path.
pub fn tree(leaves: &[[u8; 32]]) -> ([u8; 32], Vec<Vec<[u8; 32]>>) {
    assert!(!leaves.is_empty(), "a batch has at least one message");
    let mut paths = vec![Vec::new(); leaves.len()];
    let root = subtree(leaves, &mut paths);
    (root, paths)
}

/// Root of `leaves`; appends each leaf's sibling hashes, bottom up, to its path.
fn subtree(leaves: &[[u8; 32]], paths: &mut [Vec<[u8; 32]>]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len());
    let (lp, rp) = paths.split_at_mut(k);
    let left = subtree(&leaves[..k], lp);
    let right = subtree(&leaves[k..], rp);
    for p in lp.iter_mut() {
        p.push(right);
    }
    for p in rp.iter_mut() {
        p.push(left);
    }
    node_hash(&left, &right)
}

/// RFC 9162 §2.1.3.2: the root that `leaf` at `index` in a tree of `size` leaves leads to
/// along `path`; fails when the path's length does not fit the tree.
pub fn root_from_path(
    index: u64,
    size: u64,
    leaf: &[u8; 32],
    path: &[[u8; 32]],
) -> Result<[u8; 32], PkiError> {
    let wrong = || PkiError::BadSignature("the batch path does not fit the batch".into());
    if index >= size {
        return Err(wrong());
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(wrong());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{verify_prehashed, SigningKey};

    fn digests(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| Sha256::digest(format!("message {i}")).into())
            .collect()
    }

    #[test]
    fn every_path_leads_to_the_root_and_no_other_place_does() {
        for n in 1..=33 {
            let leaves: Vec<_> = digests(n).iter().map(leaf_hash).collect();
            let (root, paths) = tree(&leaves);
            for (i, path) in paths.iter().enumerate() {
                let i = i as u64;
                assert_eq!(
                    root_from_path(i, n as u64, &leaves[i as usize], path).unwrap(),
                    root
                );
                // Another leaf, index or size does not reach the root.
                let other = leaf_hash(&[7; 32]);
                assert_ne!(root_from_path(i, n as u64, &other, path).ok(), Some(root));
                if n > 1 {
                    let j = (i + 1) % n as u64;
                    assert_ne!(
                        root_from_path(j, n as u64, &leaves[i as usize], path).ok(),
                        Some(root)
                    );
                }
                // (A path may also fit a larger tree; the size is bound by the signature.)
                if let Some((_, shorter)) = path.split_last() {
                    assert!(root_from_path(i, n as u64, &leaves[i as usize], shorter).is_err());
                }
            }
        }
    }

    #[test]
    fn a_batched_signature_round_trips_and_verifies_per_message() {
        let key = SigningKey::generate();
        let ds = digests(5);
        let leaves: Vec<_> = ds.iter().map(leaf_hash).collect();
        let (root, paths) = tree(&leaves);
        let der = key.sign(&batch_signing_input(&root, 5));
        for (i, path) in paths.into_iter().enumerate() {
            let sig = Signature::Batch {
                index: i as u64,
                size: 5,
                path,
                der: der.clone(),
            };
            let text = sig.encode();
            let back = Signature::parse(&text).unwrap();
            assert_eq!(back, sig);
            let signed = back.signed_digest(&ds[i]).unwrap();
            verify_prehashed(&key.public_key_der(), &signed, back.der()).unwrap();
            // The same signature does not vouch for another message.
            let other = back.signed_digest(&ds[(i + 1) % 5]).unwrap();
            assert!(verify_prehashed(&key.public_key_der(), &other, back.der()).is_err());
            // Nor for this message claimed in a batch of another size.
            if let Signature::Batch {
                index, path, der, ..
            } = &back
            {
                let resized = Signature::Batch {
                    index: *index,
                    size: 6,
                    path: path.clone(),
                    der: der.clone(),
                };
                if let Ok(d) = resized.signed_digest(&ds[i]) {
                    assert!(verify_prehashed(&key.public_key_der(), &d, der).is_err());
                }
            }
        }
    }

    #[test]
    fn a_single_signature_keeps_the_plain_form() {
        let key = SigningKey::generate();
        let der = key.sign(b"request");
        let text = Signature::Single(der.clone()).encode();
        assert_eq!(text, B64.encode(&der));
        let d: [u8; 32] = Sha256::digest(b"request").into();
        let sig = Signature::parse(&text).unwrap();
        assert_eq!(sig.signed_digest(&d).unwrap(), d);
        verify_prehashed(&key.public_key_der(), &d, sig.der()).unwrap();
    }

    #[test]
    fn malformed_text_is_refused_with_a_reason() {
        for bad in [
            "b1.",
            "b1.0.2.AAAA",
            "b1.x.2..AAAA",
            "b1.2.2..AAAA",
            "b1.0.2.AAA.AAAA",
            "b1.0.2.!!!!.AAAA",
            "not base64!",
        ] {
            let e = Signature::parse(bad).unwrap_err();
            assert!(e.to_string().contains("signature"), "{bad}: {e}");
        }
    }
}
