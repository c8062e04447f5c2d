//! `TileSource` against an independent tlog-tiles implementation: Cloudflare's `tlog_tiles` (a
//! port of Go's `sumdb/tlog`) builds a tree and cuts it into tiles; we read those tiles and must
//! compute the same root and the same proofs as it does, across tile and level boundaries.
use std::cell::RefCell;

use korpu_tlog::merkle::{consistency_proof_from, inclusion_proof_from, root_from};
use korpu_tlog::tiles::{TileError, TileSource};
use tlog_tiles::tile::Tile;
use tlog_tiles::tlog::{self, HashReader};

/// tlog_tiles' stored hashes (every complete subtree's hash, in its storage order).
#[derive(Default)]
struct Stored(RefCell<Vec<tlog::Hash>>);

impl HashReader for Stored {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>, tlog::Error> {
        let all = self.0.borrow();
        Ok(indexes.iter().map(|&i| all[i as usize]).collect())
    }
}

/// Our tile path for theirs: tlog_tiles writes the tile height (`tile/8/L/N`, the Go sumdb
/// form), C2SP tlog-tiles has none (`tile/L/N`).
fn ours(tile: &Tile) -> String {
    let path = tile.path();
    let rest = path.strip_prefix("tile/8/").expect("height-8 tiles");
    format!("tile/{rest}")
}

fn raw(hashes: &[tlog::Hash]) -> Vec<[u8; 32]> {
    hashes.iter().map(|h| h.0).collect()
}

#[test]
fn tiles_made_by_tlog_tiles_give_the_same_roots_and_proofs() {
    let stored = Stored::default();
    let mut records = 0u64;
    // Sizes across tile boundaries at levels 0, 1 and 2 (65,536 leaves fill a level-1 tile).
    for size in [1u64, 2, 255, 256, 257, 700, 65_535, 65_536, 65_537, 70_000] {
        while records < size {
            let new = tlog::stored_hashes(records, &records.to_be_bytes(), &stored).unwrap();
            stored.0.borrow_mut().extend(new);
            records += 1;
        }
        let source = TileSource::new(size);
        for tile in Tile::new_tiles(8, 0, size) {
            let data = tile.read_data(&stored).unwrap();
            source.insert(&ours(&tile), &data).unwrap();
        }
        let their_root = tlog::tree_hash(size, &stored).unwrap();
        assert_eq!(
            root_from(&source, size).unwrap(),
            their_root.0,
            "root of {size}"
        );
        for index in [0, size / 2, size - 1] {
            assert_eq!(
                inclusion_proof_from(&source, index, size).unwrap(),
                raw(&tlog::prove_record(size, index, &stored).unwrap()),
                "inclusion of {index} in {size}"
            );
        }
        for old in [1, size / 3, size - 1] {
            if old == 0 || old >= size {
                continue;
            }
            assert_eq!(
                consistency_proof_from(&source, old, size).unwrap(),
                raw(&tlog::prove_tree(size, old, &stored).unwrap()),
                "consistency {old} -> {size}"
            );
        }
    }
}

#[test]
fn a_missing_tile_is_named_by_a_path_tlog_tiles_publishes() {
    let size = 70_000;
    let published: Vec<String> = Tile::new_tiles(8, 0, size).iter().map(ours).collect();
    let source = TileSource::new(size);
    match root_from(&source, size) {
        Err(TileError::Missing(path)) => assert!(published.contains(&path), "{path}"),
        other => panic!("{other:?}"),
    }
    // A tile of the wrong length for its path is refused.
    let full = &published[0];
    assert!(matches!(
        source.insert(full, &[0; 32]),
        Err(TileError::BadLength { .. })
    ));
}
