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
//! [`Ledger::write_tiles`] publishes into a directory. The format itself (paths, widths) and the
//! reading side, [`TileSource`], are pure and live in `korpu-tlog`; they are re-exported here.
//!
//! Deliberately not here: entry bundles (`tile/entries/...`): the records name data subjects
//! and stay with the gateway and in its archives; the hash tiles are enough to audit
//! consistency.
use std::fs;
use std::path::Path;

pub use korpu_tlog::tiles::{tile_path, tile_width, TileError, TileSource};

use crate::merkle::{HashSource, LeafStore, TILE_WIDTH};
use crate::{Ledger, LedgerError};

/// What [`Ledger::write_tiles`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TilesWritten {
    /// The published tree size.
    pub size: u64,
    /// Tile files written (full tiles already present are not rewritten).
    pub tiles: usize,
}

impl Ledger {
    /// Publishes the latest checkpoint and the tiles of its tree under `dir` (tlog-tiles
    /// layout). Full tiles are immutable and written once; the partial tiles of this size and
    /// then the `checkpoint` file are written last, each atomically (write and rename), so a
    /// reader that sees a checkpoint finds every tile it needs.
    pub async fn write_tiles(&self, dir: &Path) -> Result<TilesWritten, LedgerError> {
        let Some(cp) = self.latest_checkpoint() else {
            return Err(LedgerError::InvalidRequest(
                "the ledger has no checkpoint to publish yet".into(),
            ));
        };
        let size = cp.checkpoint.size;
        let dir = dir.to_path_buf();
        let shared = self.shared();
        crate::log::run_blocking(move || {
            let tree = shared.tree_for(size)?;
            let leaves = shared.leaf_file();
            let source = tree.with_store(&leaves);
            let mut written = 0;
            let mut level = 0u32;
            while size >> (8 * level) > 0 {
                let hashes = size >> (8 * level);
                let tiles = hashes.div_ceil(TILE_WIDTH);
                for index in 0..tiles {
                    let width = tile_width(level, index, size);
                    let path = dir.join(tile_path(level, index, width));
                    if width == TILE_WIDTH && path.exists() {
                        continue;
                    }
                    let first = index * TILE_WIDTH;
                    let mut bytes = Vec::with_capacity(width as usize * 32);
                    if level == 0 {
                        for h in leaves.read_leaves(first, first + width)? {
                            bytes.extend_from_slice(&h);
                        }
                    } else {
                        let span = 1u64 << (8 * level);
                        for i in first..first + width {
                            bytes
                                .extend_from_slice(&source.subtree_hash(i * span, (i + 1) * span)?);
                        }
                    }
                    write_atomically(&path, &bytes)?;
                    written += 1;
                }
                level += 1;
            }
            write_atomically(&dir.join("checkpoint"), cp.note.as_bytes())?;
            Ok(TilesWritten {
                size,
                tiles: written,
            })
        })
        .await
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let parent = path.parent().expect("tile paths have a parent");
    fs::create_dir_all(parent)
        .map_err(LedgerError::io(format!("creating {}", parent.display())))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(LedgerError::io(format!("writing {}", path.display())))
}
