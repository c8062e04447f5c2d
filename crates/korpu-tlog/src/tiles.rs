//! The tree as C2SP tlog-tiles (c2sp.org/tlog-tiles): static, immutable files of 256 hashes
//! that a plain file server or bucket can serve, and from which anyone computes any proof.
//!
//! * `checkpoint` — the latest signed checkpoint note.
//! * `tile/<L>/<N>` — full tiles: the n-th tile at level l holds, for i in 0..256,
//!   `MTH(D[(n*256 + i) * 256^l .. (n*256 + i + 1) * 256^l])`, 32 bytes each.
//! * `tile/<L>/<N>.p/<W>` — the rightmost, partial tile of width W (1..=255) of a level, for
//!   the tree size of the published checkpoint.
//!
//! `<N>` is written in 3-digit groups, all but the last prefixed with `x`
//! (1234067 → `x001/x234/067`).
//!
//! Here: the paths and widths, and [`TileSource`], the reading side: a [`HashSource`] over
//! fetched tiles for one tree size, so proofs are computed with the same RFC 9162 code as
//! everywhere else. It never fetches anything itself: a missing tile is the error
//! [`TileError::Missing`] naming its path, and the caller fetches it (from a directory, over
//! HTTP) and asks again (sans-I/O).
//!
//! Deliberately not here: writing tiles (`korpu-ledger`'s `Ledger::write_tiles`), and entry
//! bundles (`tile/entries/...`): the records name data subjects and stay with the gateway and
//! in its archives; the hash tiles are enough to audit consistency.
use std::cell::RefCell;
use std::collections::HashMap;

use crate::merkle::{node_hash, root, Hash, HashSource, TILE_WIDTH};

/// The path of a tile under the log's prefix, per tlog-tiles: `tile/<L>/<N>[.p/<W>]`.
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = format!("tile/{level}");
    for (i, g) in groups.iter().rev().enumerate() {
        let prefix = if i + 1 < groups.len() { "x" } else { "" };
        out.push_str(&format!("/{prefix}{g:03}"));
    }
    if width < TILE_WIDTH {
        out.push_str(&format!(".p/{width}"));
    }
    out
}

/// Width of tile `index` at `level` in a tree of `size` leaves: 256 for a full tile, less for
/// the rightmost partial one, 0 when the tile does not exist in that tree.
pub fn tile_width(level: u32, index: u64, size: u64) -> u64 {
    let hashes = size >> (8 * level);
    let start = index * TILE_WIDTH;
    hashes.saturating_sub(start).min(TILE_WIDTH)
}
/// Why a tile-backed computation could not finish.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// This tile is needed: fetch it and call [`TileSource::insert`].
    #[error("tile {0} is needed")]
    Missing(String),
    /// A fetched tile has the wrong length for its path.
    #[error("tile {path} has {len} bytes, expected {expected}")]
    BadLength {
        /// The tile path.
        path: String,
        /// Its length.
        len: usize,
        /// The length its path implies.
        expected: usize,
    },
}

/// The hashes of one tree size, read from tlog-tiles fetched by the caller.
#[derive(Debug, Default)]
pub struct TileSource {
    size: u64,
    tiles: RefCell<HashMap<String, Vec<Hash>>>,
}

impl TileSource {
    /// A source for the tree of `size` leaves (the size of a verified checkpoint).
    pub fn new(size: u64) -> Self {
        TileSource {
            size,
            tiles: RefCell::default(),
        }
    }

    /// Adds a fetched tile.
    pub fn insert(&self, path: &str, bytes: &[u8]) -> Result<(), TileError> {
        let expected = expected_len(path).unwrap_or(TILE_WIDTH as usize * 32);
        if bytes.len() != expected {
            return Err(TileError::BadLength {
                path: path.to_string(),
                len: bytes.len(),
                expected,
            });
        }
        let hashes = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunks"))
            .collect();
        self.tiles.borrow_mut().insert(path.to_string(), hashes);
        Ok(())
    }

    /// The hash at `level` (a tile level), position `i`.
    fn hash_at(&self, level: u32, i: u64) -> Result<Hash, TileError> {
        let index = i / TILE_WIDTH;
        let width = tile_width(level, index, self.size);
        let path = tile_path(level, index, width);
        let tiles = self.tiles.borrow();
        let tile = tiles.get(&path).ok_or(TileError::Missing(path))?;
        Ok(tile[(i % TILE_WIDTH) as usize])
    }
}

/// The byte length a tile path implies (`.p/W` → 32 W, otherwise 8192).
fn expected_len(path: &str) -> Option<usize> {
    let (_, w) = path.rsplit_once(".p/")?;
    w.parse::<usize>().ok().map(|w| w * 32)
}

impl HashSource for TileSource {
    type Error = TileError;

    fn subtree_hash(&self, start: u64, end: u64) -> Result<Hash, TileError> {
        let n = end - start;
        if n.is_power_of_two() && start % n == 0 {
            // A perfect subtree of height h: 2^(h mod 8) consecutive hashes of tile level
            // h / 8, all in one tile since the group is aligned and at most 128 wide.
            let h = n.trailing_zeros();
            let (level, r) = (h / 8, h % 8);
            let first = start >> (8 * level);
            let hashes = (first..first + (1 << r))
                .map(|i| self.hash_at(level, i))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(root(&hashes));
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        Ok(node_hash(
            &self.subtree_hash(start, start + k)?,
            &self.subtree_hash(start + k, end)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_spec() {
        assert_eq!(tile_path(0, 1_234_067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 0, 256), "tile/1/000");
        assert_eq!(tile_path(2, 5, 17), "tile/2/005.p/17");
        assert_eq!(tile_path(0, 1000, 1), "tile/0/x001/000.p/1");
        // The spec's example: a tree of 70,000.
        assert_eq!(tile_width(0, 273, 70_000), 112);
        assert_eq!(tile_width(0, 272, 70_000), 256);
        assert_eq!(tile_width(1, 0, 70_000), 256);
        assert_eq!(tile_width(1, 1, 70_000), 17);
        assert_eq!(tile_width(2, 0, 70_000), 1);
        assert_eq!(tile_width(3, 0, 70_000), 0);
        // A tree of 256: a full level-0 tile and a level-1 tile of width 1.
        assert_eq!(tile_width(0, 0, 256), 256);
        assert_eq!(tile_width(1, 0, 256), 1);
    }
}
