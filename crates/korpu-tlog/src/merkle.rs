//! RFC 9162 §2.1 Merkle tree hashing and proofs, pure: hashes in, hashes out.
//!
//! Leaf and node hashes are SHA-256 with the 0x00 / 0x01 domain-separation prefixes of §2.1.1,
//! so a tree built here has the same root as one built by Certificate Transparency, Trillian,
//! Tessera or any C2SP tlog client. Proof generation and verification follow the algorithms of
//! §2.1.3 (inclusion) and §2.1.4 (consistency) literally, clause by clause.
//!
//! Two ways to generate proofs:
//! * from a slice of all leaf hashes ([`inclusion_proof`], [`consistency_proof`]): simple, O(n),
//!   meant for tests and small trees;
//! * from any [`HashSource`] ([`inclusion_proof_from`], [`consistency_proof_from`]), in
//!   particular a [`TileCache`] over a [`LeafStore`]: the cache keeps the hash of every complete
//!   256-leaf subtree and every complete node above, so a proof costs O(log n) cache lookups
//!   plus reads of at most a few hundred leaf hashes, whatever the size of the log.
//!
//! Deliberately not here: storage, tiles on disk (C2SP tlog-tiles is a later round), and any hash
//! function other than SHA-256.
use std::convert::Infallible;

use sha2::{Digest, Sha256};

/// A SHA-256 output: leaf hashes, node hashes and roots.
pub type Hash = [u8; 32];

/// MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// log2 of the number of leaves under one cached subtree (C2SP tlog-tiles uses the same 256).
pub const TILE_HEIGHT: u32 = 8;
/// Leaves under one cached subtree.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Why a proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// §2.1.3.2 step 1.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexBeyondSize {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has hashes left over once the path reached the root (§2.1.3.2 step 4a,
    /// §2.1.4.2 step 6a).
    #[error("the proof is too long: {len} hashes")]
    ProofTooLong {
        /// Number of hashes in the proof.
        len: usize,
    },
    /// The proof ran out before the path reached the root (§2.1.3.2 step 5, §2.1.4.2 step 7).
    #[error("the proof is too short: {len} hashes")]
    ProofTooShort {
        /// Number of hashes in the proof.
        len: usize,
    },
    /// The computed root is not the expected one.
    #[error("the proof leads to root {computed}, not to the expected {expected}")]
    RootMismatch {
        /// Hex of the root the proof leads to.
        computed: String,
        /// Hex of the root it should lead to.
        expected: String,
    },
    /// The consistency proof does not lead back to the old root.
    #[error("the proof leads to old root {computed}, not to the expected {expected}")]
    OldRootMismatch {
        /// Hex of the old root the proof leads to.
        computed: String,
        /// Hex of the expected old root.
        expected: String,
    },
    /// Consistency is only defined from a smaller (or equal) tree to a larger one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizesReversed {
        /// The old size.
        old_size: u64,
        /// The new size.
        new_size: u64,
    },
    /// RFC 9162 §2.1.4 defines consistency proofs for 0 < m only: every tree extends the empty
    /// one, so such a proof would prove nothing.
    #[error("a consistency proof from an empty tree proves nothing and is not accepted")]
    EmptyOldTree,
    /// §2.1.4.2 step 1.
    #[error("the consistency proof is empty")]
    EmptyProof,
    /// Equal sizes need an empty proof and equal roots.
    #[error("the tree sizes are equal ({size}) but the proof has {len} hashes")]
    ProofForEqualSizes {
        /// The size of both trees.
        size: u64,
        /// Number of hashes in the proof.
        len: usize,
    },
}

/// Leaf hash: SHA-256(0x00 || data) (RFC 9162 §2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (the `k` of RFC 9162 §2.1.1); `n >= 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[n])`, the Merkle Tree Hash of the leaf hashes `leaves` (RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Anything that can give the Merkle Tree Hash of a range of leaves.
pub trait HashSource {
    /// What can go wrong when reading hashes.
    type Error;
    /// `MTH(D[start:end])` for `start < end` within the source.
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

impl HashSource for [Hash] {
    type Error = Infallible;
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, Infallible> {
        Ok(root(&self[start as usize..end as usize]))
    }
}

/// The value of a computation over leaves in memory, which cannot fail.
fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// The root of the first `size` leaves of `src` (the empty root for 0).
pub fn root_from<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        Ok(EMPTY_ROOT)
    } else {
        src.subtree_hash(0, size)
    }
}

/// `PATH(m, D[n])` (RFC 9162 §2.1.3.1): the audit path of leaf `index` in the tree of the first
/// `leaves.len()` leaves, ordered from the leaf up.
///
/// # Panics
/// If `index` is not below `leaves.len()`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Vec<Hash> {
    infallible(inclusion_proof_from(leaves, index, leaves.len() as u64))
}

/// `PATH(index, D[size])` from a [`HashSource`].
///
/// # Panics
/// If `index >= size` (callers check the request first).
pub fn inclusion_proof_from<S: HashSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    assert!(index < size, "leaf {index} is not in a tree of size {size}");
    let mut proof = Vec::with_capacity(64 - size.leading_zeros() as usize);
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split_point(n);
    // §2.1.3.1: the sibling subtree's hash follows the path inside the subtree holding m.
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(src.subtree_hash(start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(src.subtree_hash(start, start + k)?);
    }
    Ok(())
}

/// `PROOF(m, D[n])` (RFC 9162 §2.1.4.1) from the tree of `old_size` leaves to the tree of all
/// `leaves`. Empty when `old_size` is 0 or equal to the number of leaves.
///
/// # Panics
/// If `old_size > leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Vec<Hash> {
    infallible(consistency_proof_from(
        leaves,
        old_size,
        leaves.len() as u64,
    ))
}

/// `PROOF(old_size, D[new_size])` from a [`HashSource`].
///
/// # Panics
/// If `old_size > new_size` (callers check the request first).
pub fn consistency_proof_from<S: HashSource + ?Sized>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, S::Error> {
    assert!(
        old_size <= new_size,
        "old size {old_size} is beyond new size {new_size}"
    );
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(src, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

/// `SUBPROOF(m, D[start:end], b)` (RFC 9162 §2.1.4.1).
fn subproof<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        // The old tree is this whole subtree: the verifier knows its hash only if it is the
        // complete old tree (b = true).
        if !b {
            out.push(src.subtree_hash(start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, start + k, b, out)?;
        out.push(src.subtree_hash(start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(src.subtree_hash(start, start + k)?);
    }
    Ok(())
}

fn mismatch(computed: &Hash, expected: &Hash) -> (String, String) {
    (hex::encode(computed), hex::encode(expected))
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if &computed != root {
        let (computed, expected) = mismatch(&computed, root);
        return Err(ProofError::RootMismatch { computed, expected });
    }
    Ok(())
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1 to 4, and the sn = 0 check
/// of step 5).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::ProofTooLong { len: proof.len() });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            // Skip the levels where this node is the last one and has no right sibling.
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::ProofTooShort { len: proof.len() });
    }
    Ok(r)
}

/// Verifies a consistency proof with the algorithm of RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesReversed { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::ProofForEqualSizes {
                size: old_size,
                len: proof.len(),
            });
        }
        if old_root != new_root {
            let (computed, expected) = mismatch(old_root, new_root);
            return Err(ProofError::RootMismatch { computed, expected });
        }
        return Ok(());
    }
    // Step 1.
    if proof.is_empty() {
        return Err(ProofError::EmptyProof);
    }
    // Step 2: when the old tree is a complete subtree its root is not in the proof.
    let mut path = proof.iter();
    let seed = if old_size.is_power_of_two() {
        old_root
    } else {
        path.next().expect("the proof was checked non-empty")
    };
    // Steps 3 and 4.
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // Step 6.
    for c in path {
        if s == 0 {
            return Err(ProofError::ProofTooLong { len: proof.len() });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(ProofError::ProofTooShort { len: proof.len() });
    }
    if &fr != old_root {
        let (computed, expected) = mismatch(&fr, old_root);
        return Err(ProofError::OldRootMismatch { computed, expected });
    }
    if &sr != new_root {
        let (computed, expected) = mismatch(&sr, new_root);
        return Err(ProofError::RootMismatch { computed, expected });
    }
    Ok(())
}

/// Where a [`TileCache`] reads the leaf hashes it does not keep.
pub trait LeafStore {
    /// What can go wrong when reading.
    type Error;
    /// The leaf hashes of leaves `start..end`.
    fn read_leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, Self::Error>;
}

impl LeafStore for [Hash] {
    type Error = Infallible;
    fn read_leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, Infallible> {
        Ok(self[start as usize..end as usize].to_vec())
    }
}

/// The hashes of every complete, aligned subtree of [`TILE_WIDTH`] or more leaves, plus the leaf
/// hashes of the last, incomplete tile.
///
/// Complete subtrees never change as the log grows, so the cache serves proofs for every past
/// tree size too. It costs 32 bytes per 128 leaves (one hash per complete tile, and the nodes
/// above them: n/256 + n/512 + ... hashes).
#[derive(Clone, Debug, Default)]
pub struct TileCache {
    size: u64,
    /// `levels[j][i]` = MTH of leaves `i * 2^(8+j) .. (i+1) * 2^(8+j)`.
    levels: Vec<Vec<Hash>>,
    /// Leaf hashes from `size - tail.len()` to `size`, fewer than [`TILE_WIDTH`].
    tail: Vec<Hash>,
}

impl TileCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves integrated.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Integrates the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.tail.push(leaf);
        self.size += 1;
        if self.tail.len() as u64 == TILE_WIDTH {
            let h = root(&self.tail);
            self.tail.clear();
            self.push_node(0, h);
        }
    }

    fn push_node(&mut self, mut level: usize, mut h: Hash) {
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            let n = row.len();
            if n % 2 == 1 {
                return;
            }
            h = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// A [`HashSource`] over the integrated leaves, reading older leaf hashes from `store`.
    pub fn with_store<'a, L: LeafStore + ?Sized>(&'a self, store: &'a L) -> CachedSource<'a, L> {
        CachedSource { cache: self, store }
    }
}

/// A [`TileCache`] together with the store of its leaf hashes.
#[derive(Debug)]
pub struct CachedSource<'a, L: ?Sized> {
    cache: &'a TileCache,
    store: &'a L,
}

impl<L: LeafStore + ?Sized> CachedSource<'_, L> {
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, L::Error> {
        let tail_start = self.cache.size - self.cache.tail.len() as u64;
        let mut out = if start < tail_start {
            self.store.read_leaves(start, end.min(tail_start))?
        } else {
            Vec::with_capacity((end - start) as usize)
        };
        if end > tail_start {
            let from = (start.max(tail_start) - tail_start) as usize;
            let to = (end - tail_start) as usize;
            out.extend_from_slice(&self.cache.tail[from..to]);
        }
        Ok(out)
    }
}

impl<L: LeafStore + ?Sized> HashSource for CachedSource<'_, L> {
    type Error = L::Error;

    /// # Panics
    /// If the range is empty or goes beyond the integrated leaves.
    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, L::Error> {
        assert!(
            start < end && end <= self.cache.size,
            "subtree {start}..{end} is not within the {} integrated leaves",
            self.cache.size
        );
        let n = end - start;
        if n >= TILE_WIDTH && n.is_power_of_two() && start & (n - 1) == 0 {
            let level = (n.trailing_zeros() - TILE_HEIGHT) as usize;
            return Ok(self.cache.levels[level][(start / n) as usize]);
        }
        if n <= TILE_WIDTH {
            return Ok(root(&self.leaves(start, end)?));
        }
        let k = split_point(n);
        Ok(node_hash(
            &self.subtree_hash(start, start + k)?,
            &self.subtree_hash(start + k, end)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(root(&[]), EMPTY_ROOT);
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
        ] {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn cached_source_matches_slice_at_every_size() {
        let all = leaves(1500);
        let mut cache = TileCache::new();
        for (i, l) in all.iter().enumerate() {
            cache.push(*l);
            let size = i as u64 + 1;
            let src = cache.with_store(all.as_slice());
            // Every size, and a sample of historical proofs from the current cache.
            assert_eq!(root_from(&src, size).unwrap(), root(&all[..=i]));
            if size % 97 == 0 || size == 1500 {
                for old in [1, size / 3, size / 2, size - 1, size] {
                    let old = old.max(1);
                    assert_eq!(root_from(&src, old).unwrap(), root(&all[..old as usize]));
                    assert_eq!(
                        consistency_proof_from(&src, old, size).unwrap(),
                        consistency_proof(&all[..size as usize], old)
                    );
                    assert_eq!(
                        inclusion_proof_from(&src, old - 1, size).unwrap(),
                        inclusion_proof(&all[..size as usize], old - 1)
                    );
                }
            }
        }
    }

    #[test]
    fn proofs_verify_for_small_trees_exhaustively() {
        let all = leaves(40);
        for n in 1..=40u64 {
            let tree = &all[..n as usize];
            let r = root(tree);
            for i in 0..n {
                let p = inclusion_proof(tree, i);
                verify_inclusion(i, n, &all[i as usize], &p, &r).unwrap();
                let mut wrong = r;
                wrong[0] ^= 1;
                assert!(verify_inclusion(i, n, &all[i as usize], &p, &wrong).is_err());
            }
            for m in 1..=n {
                let p = consistency_proof(tree, m);
                verify_consistency(m, n, &root(&all[..m as usize]), &r, &p).unwrap();
            }
        }
    }
}
