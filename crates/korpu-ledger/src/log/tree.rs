//! The Merkle tree over the log, kept on disk so that open need not rebuild it.
//!
//! `nodes.bin` holds the hash of every complete, aligned subtree of [`TILE_WIDTH`] or more
//! leaves, 32 bytes each, in the order they complete: when tile `t` (leaves `256 t ..
//! 256 (t + 1)`) completes, its hash, then each parent it completes, lowest first. So the
//! position of every node follows from its level and index alone ([`node_position`]), the file
//! only ever grows, and the first `node_count(n)` nodes are those of the tree of `n` leaves.
//! Smaller subtrees are hashed from `leaves.bin` (at most one tile of leaf hashes per read) and
//! the leaf hashes of the incomplete last tile are kept in memory.
//!
//! Like `leaves.bin`, `nodes.bin` is derived data: synced before the state that counts on it
//! (see the module doc of [`super`]), and rebuilt from the leaf hashes when it cannot be
//! trusted. It deliberately does not know where the leaf hashes come from ([`LeafStore`]).
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::merkle::{node_hash, root, Hash, HashSource, LeafStore, TILE_HEIGHT, TILE_WIDTH};
use crate::LedgerError;

/// File of the complete subtrees' hashes.
pub(super) const NODES_FILE: &str = "nodes.bin";

/// Where the node hashes are: `nodes.bin`, or (read-only) memory.
pub(super) enum Nodes {
    File(File),
    Memory(Vec<Hash>),
}

/// Number of node hashes in the tree of `size` leaves: each complete tile `t` adds its own hash
/// and one per trailing one bit of `t`, so `tiles` tiles add `2 tiles - popcount(tiles)`.
pub(super) fn node_count(size: u64) -> u64 {
    let tiles = size / TILE_WIDTH;
    2 * tiles - u64::from(tiles.count_ones())
}

/// Position in `nodes.bin` of the hash of leaves `i 2^(8+level) .. (i+1) 2^(8+level)`: it is
/// written right after the level-0 hash of its last tile `t`, which follows the nodes of
/// tiles `0..t`.
fn node_position(level: u32, i: u64) -> u64 {
    let last_tile = ((i + 1) << level) - 1;
    node_count(last_tile * TILE_WIDTH) + u64::from(level)
}

/// The tree: how many leaves it integrates, the hashes of its complete subtrees, and the leaf
/// hashes of its incomplete last tile.
pub(crate) struct Tree {
    size: u64,
    nodes: Nodes,
    tail: Vec<Hash>,
}

impl Tree {
    /// The tree of the first `size` leaves of `leaves`, whose nodes `nodes` holds already (at
    /// least [`node_count`]`(size)` of them; more are overwritten as the tree grows).
    pub(super) fn resume(
        size: u64,
        nodes: Nodes,
        leaves: &impl LeafStore<Error = LedgerError>,
    ) -> Result<Self, LedgerError> {
        let tail_start = size - size % TILE_WIDTH;
        let tail = if tail_start < size {
            leaves.read_leaves(tail_start, size)?
        } else {
            Vec::new()
        };
        Ok(Tree { size, nodes, tail })
    }

    /// An empty tree over `nodes`.
    pub(super) fn empty(nodes: Nodes) -> Self {
        Tree {
            size: 0,
            nodes,
            tail: Vec::new(),
        }
    }

    /// Number of leaves integrated.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Integrates the next leaf hash; after an error the tree is as it was.
    pub(super) fn push(&mut self, leaf: Hash) -> Result<(), LedgerError> {
        self.tail.push(leaf);
        if self.tail.len() as u64 == TILE_WIDTH {
            if let Err(e) = self.complete_tile() {
                self.tail.pop();
                return Err(e);
            }
            self.tail.clear();
        }
        self.size += 1;
        Ok(())
    }

    /// Writes the hash of the tile now full in `tail`, and of each parent it completes.
    fn complete_tile(&mut self) -> Result<(), LedgerError> {
        let mut h = root(&self.tail);
        let (mut level, mut i) = (0u32, self.size / TILE_WIDTH);
        self.put(node_position(level, i), h)?;
        while i % 2 == 1 {
            let left = self.node(level, i - 1)?;
            h = node_hash(&left, &h);
            level += 1;
            i /= 2;
            self.put(node_position(level, i), h)?;
        }
        Ok(())
    }

    fn put(&mut self, position: u64, h: Hash) -> Result<(), LedgerError> {
        match &mut self.nodes {
            Nodes::File(f) => f
                .write_all_at(&h, position * 32)
                .map_err(LedgerError::io(format!("writing {NODES_FILE}"))),
            Nodes::Memory(all) => {
                all.truncate(position as usize);
                all.push(h);
                Ok(())
            }
        }
    }

    fn node(&self, level: u32, i: u64) -> Result<Hash, LedgerError> {
        let position = node_position(level, i);
        match &self.nodes {
            Nodes::File(f) => {
                let mut h = [0u8; 32];
                f.read_exact_at(&mut h, position * 32)
                    .map_err(LedgerError::io(format!("reading {NODES_FILE}")))?;
                Ok(h)
            }
            Nodes::Memory(all) => Ok(all[position as usize]),
        }
    }

    /// Makes the nodes written so far durable.
    pub(super) fn sync(&self) -> Result<(), LedgerError> {
        match &self.nodes {
            Nodes::File(f) => f
                .sync_data()
                .map_err(LedgerError::io(format!("syncing {NODES_FILE}"))),
            Nodes::Memory(_) => Ok(()),
        }
    }

    /// A [`HashSource`] over the integrated leaves, reading leaf hashes from `store`.
    pub(crate) fn with_store<'a, L: LeafStore<Error = LedgerError>>(
        &'a self,
        store: &'a L,
    ) -> TreeSource<'a, L> {
        TreeSource { tree: self, store }
    }
}

/// A [`Tree`] together with the store of its leaf hashes.
pub(crate) struct TreeSource<'a, L> {
    tree: &'a Tree,
    store: &'a L,
}

impl<L: LeafStore<Error = LedgerError>> TreeSource<'_, L> {
    /// Leaf hashes `start..end`: those before the last tile from the store, the rest from
    /// memory.
    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
        let tail = &self.tree.tail;
        let tail_start = self.tree.size - tail.len() as u64;
        let mut out = self
            .store
            .read_leaves(start.min(tail_start), end.min(tail_start))?;
        let to = end.saturating_sub(tail_start) as usize;
        out.extend_from_slice(&tail[(start.saturating_sub(tail_start) as usize).min(to)..to]);
        Ok(out)
    }
}

impl<L: LeafStore<Error = LedgerError>> HashSource for TreeSource<'_, L> {
    type Error = LedgerError;

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, LedgerError> {
        if !(start < end && end <= self.tree.size) {
            return Err(LedgerError::BeyondTree {
                requested: end,
                available: self.tree.size,
            });
        }
        let n = end - start;
        match n {
            // A complete aligned subtree above tile size: stored.
            _ if n >= TILE_WIDTH && n.is_power_of_two() && start % n == 0 => {
                self.tree.node(n.trailing_zeros() - TILE_HEIGHT, start / n)
            }
            // At most a tile: hashed from its leaves.
            _ if n <= TILE_WIDTH => Ok(root(&self.leaves(start, end)?)),
            // RFC 9162 §2.1.1: split at the largest power of two below n.
            _ => {
                let split = start + (1u64 << (63 - (n - 1).leading_zeros()));
                let left = self.subtree_hash(start, split)?;
                Ok(node_hash(&left, &self.subtree_hash(split, end)?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, TileCache};

    struct Leaves(Vec<Hash>);

    impl LeafStore for Leaves {
        type Error = LedgerError;
        fn read_leaves(&self, start: u64, end: u64) -> Result<Vec<Hash>, LedgerError> {
            Ok(self.0[start as usize..end as usize].to_vec())
        }
    }

    #[test]
    fn node_positions_follow_completion_order() {
        // tile 0, tile 1, (1,0), tile 2, tile 3, (1,1), (2,0), tile 4
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (position, (level, i)) in order.into_iter().enumerate() {
            assert_eq!(node_position(level, i), position as u64, "({level},{i})");
        }
        assert_eq!(node_count(4 * TILE_WIDTH), 7);
        assert_eq!(node_count(4 * TILE_WIDTH - 1), 4);
    }

    /// Same subtree hashes as korpu-tlog's in-memory cache, for a tree grown in one go, in a
    /// file, and resumed from its nodes at every tile boundary and in between.
    #[test]
    fn matches_the_tile_cache_grown_or_resumed() {
        let n = 5 * TILE_WIDTH + 17;
        let leaves = Leaves((0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect());
        let mut cache = TileCache::new();
        let file = tempfile::tempfile().unwrap();
        let mut on_disk = Tree::empty(Nodes::File(file.try_clone().unwrap()));
        let mut in_memory = Tree::empty(Nodes::Memory(Vec::new()));
        for (i, h) in leaves.0.iter().enumerate() {
            cache.push(*h);
            on_disk.push(*h).unwrap();
            in_memory.push(*h).unwrap();
            let size = i as u64 + 1;
            if size % 97 != 0 && size != n {
                continue;
            }
            let resumed =
                Tree::resume(size, Nodes::File(file.try_clone().unwrap()), &leaves).unwrap();
            let expected = cache.with_store(&leaves.0[..]);
            for tree in [&on_disk, &in_memory, &resumed] {
                let got = tree.with_store(&leaves);
                for (start, end) in [(0, size), (size / 3, size), (0, size / 2 + 1)] {
                    if start < end {
                        assert_eq!(
                            got.subtree_hash(start, end).unwrap(),
                            expected.subtree_hash(start, end).unwrap(),
                            "{start}..{end} of {size}"
                        );
                    }
                }
            }
        }
    }
}
