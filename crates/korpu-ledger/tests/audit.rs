//! Fork watching over tlog-tiles: a ledger publishes its tiles to a directory, an auditor
//! follows it by fetching only the tiles it needs, and a second log signing with the same key
//! but holding other entries (a fork) raises an alert naming the origin, both sizes and roots.
use std::path::Path;

use korpu_ledger::audit::{AuditError, AuditState, Auditor, Observation};
use korpu_ledger::merkle;
use korpu_ledger::tiles::{tile_path, TileSource};
use korpu_ledger::{Ledger, NoteSigner};

mod common;
use common::ExchangeRecord;
use common::Records;

const ORIGIN: &str = "audit.gw1.korpu.test/v1";

fn rec(tag: &str, i: u64) -> ExchangeRecord {
    common::record(format!("{tag}-{i:05}"), 1_700_000_000_000 + i)
}

async fn open(dir: &Path, signer: &NoteSigner) -> Ledger {
    let c = common::quiet_config(dir, ORIGIN, 1 << 20);
    Ledger::open(c, signer.clone()).await.unwrap()
}

async fn grow(ledger: &Ledger, tag: &str, to: u64) {
    for i in ledger.size()..to {
        ledger.append(common::entry(&rec(tag, i))).await.unwrap();
    }
    ledger.checkpoint().await.unwrap();
}

/// Runs the auditor against a tiles directory, fetching what it asks for; returns the
/// outcome and the number of tiles fetched.
fn audit_dir(auditor: &mut Auditor, dir: &Path) -> (Result<Observation, AuditError>, usize) {
    let note = std::fs::read_to_string(dir.join("checkpoint")).unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let tiles = TileSource::new(size);
    let mut fetched = 0;
    loop {
        match auditor.observe_tiles(&note, &tiles) {
            Err(AuditError::Tile(korpu_ledger::tiles::TileError::Missing(path))) => {
                let bytes =
                    std::fs::read(dir.join(&path)).unwrap_or_else(|e| panic!("tile {path}: {e}"));
                tiles.insert(&path, &bytes).unwrap();
                fetched += 1;
            }
            other => return (other, fetched),
        }
    }
}

#[tokio::test]
async fn auditor_follows_tiles_and_alerts_on_a_fork() {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let (a_dir, a_tiles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(a_dir.path(), &signer).await;
    grow(&a, "a", 300).await;
    let w = a.write_tiles(a_tiles.path()).await.unwrap();
    assert_eq!(w.size, 300);
    // 300 = one full level-0 tile, a partial one of 44, a level-1 tile of width 1.
    for p in [
        tile_path(0, 0, 256),
        tile_path(0, 1, 44),
        tile_path(1, 0, 1),
    ] {
        assert_eq!(
            std::fs::read(a_tiles.path().join(&p)).unwrap().len(),
            32 * if p.contains(".p/") {
                p.rsplit('/').next().unwrap().parse::<usize>().unwrap()
            } else {
                256
            },
            "{p}"
        );
    }
    // Level-0 tiles are the leaf hashes; the level-1 hash is the root of the first 256.
    let leaves: Vec<merkle::Hash> = futures_leaves(&a, 300).await;
    let t0 = std::fs::read(a_tiles.path().join(tile_path(0, 0, 256))).unwrap();
    assert_eq!(t0, leaves[..256].concat());
    let t1 = std::fs::read(a_tiles.path().join(tile_path(1, 0, 1))).unwrap();
    assert_eq!(t1, merkle::root(&leaves[..256]).to_vec());

    let mut auditor = Auditor::new(AuditState::default(), vec![signer.verifier()]);
    let (r, _) = audit_dir(&mut auditor, a_tiles.path());
    assert_eq!(r.unwrap(), Observation::First { size: 300 });
    let (r, _) = audit_dir(&mut auditor, a_tiles.path());
    assert_eq!(r.unwrap(), Observation::Unchanged { size: 300 });

    grow(&a, "a", 1000).await;
    let w = a.write_tiles(a_tiles.path()).await.unwrap();
    assert_eq!(w.size, 1000);
    // The state survives as JSON between runs.
    let saved = serde_json::to_string(&auditor.state).unwrap();
    let mut auditor = Auditor::new(
        serde_json::from_str(&saved).unwrap(),
        vec![signer.verifier()],
    );
    let (r, fetched) = audit_dir(&mut auditor, a_tiles.path());
    assert_eq!(
        r.unwrap(),
        Observation::Extended {
            from: 300,
            to: 1000
        }
    );
    assert!(fetched <= 6, "fetched {fetched} tiles");
    // The same check with the proof the log itself serves.
    let mut direct = Auditor::new(
        serde_json::from_str(&saved).unwrap(),
        vec![signer.verifier()],
    );
    let cp = a.latest_checkpoint().unwrap();
    let proof = a.consistency_proof(300, 1000).await.unwrap();
    assert_eq!(
        direct.observe(&cp.note, &proof).unwrap(),
        Observation::Extended {
            from: 300,
            to: 1000
        }
    );

    // A fork: the same key signs another history of 1200 entries.
    let (b_dir, b_tiles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = open(b_dir.path(), &signer).await;
    grow(&b, "b", 1200).await;
    b.write_tiles(b_tiles.path()).await.unwrap();
    let b_root = b.latest_checkpoint().unwrap().checkpoint.root;
    let (r, _) = audit_dir(&mut auditor, b_tiles.path());
    let AuditError::Alert(alert) = r.unwrap_err() else {
        panic!("expected an alert")
    };
    assert_eq!(alert.origin, ORIGIN);
    assert_eq!((alert.old_size, alert.new_size), (1000, 1200));
    assert_eq!(alert.old_root, hex::encode(cp.checkpoint.root));
    assert_eq!(alert.new_root, hex::encode(b_root));
    assert!(
        alert
            .to_string()
            .starts_with("FORK ALERT for log audit.gw1.korpu.test/v1"),
        "{alert}"
    );
    // The alert did not move the auditor's view.
    assert_eq!(auditor.state.logs[ORIGIN].size, 1000);
    // A smaller tree, and the same size with another root, are alerts too.
    let (c_dir, c_tiles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = open(c_dir.path(), &signer).await;
    grow(&c, "c", 1000).await;
    c.write_tiles(c_tiles.path()).await.unwrap();
    let (r, _) = audit_dir(&mut auditor, c_tiles.path());
    assert!(
        matches!(r, Err(AuditError::Alert(ref al)) if al.detail.contains("two different roots")),
        "{r:?}"
    );
    let (r, _) = audit_dir(&mut auditor, a_tiles.path());
    assert_eq!(r.unwrap(), Observation::Unchanged { size: 1000 });
    let (d_dir, d_tiles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let d = open(d_dir.path(), &signer).await;
    grow(&d, "d", 10).await;
    d.write_tiles(d_tiles.path()).await.unwrap();
    let (r, _) = audit_dir(&mut auditor, d_tiles.path());
    assert!(
        matches!(r, Err(AuditError::Alert(ref al)) if al.detail == "the tree shrank"),
        "{r:?}"
    );

    // Damaged tiles are no evidence against the log, but are refused. (Only the tiles a
    // computation needs are read: for 1000 leaves the root comes from the level-1 tile.)
    let p = a_tiles.path().join(tile_path(1, 0, 3));
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let mut fresh = Auditor::new(AuditState::default(), vec![signer.verifier()]);
    let (r, _) = audit_dir(&mut fresh, a_tiles.path());
    assert!(
        matches!(r, Err(AuditError::BadTiles { size: 1000, .. })),
        "{r:?}"
    );
    // A checkpoint by another key proves nothing.
    let other = NoteSigner::generate(ORIGIN).unwrap();
    let mut stranger = Auditor::new(AuditState::default(), vec![other.verifier()]);
    let (r, _) = audit_dir(&mut stranger, c_tiles.path());
    assert!(matches!(r, Err(AuditError::BadCheckpoint(_))), "{r:?}");
    for l in [a, b, c, d] {
        l.close().await.unwrap();
    }
}

async fn futures_leaves(ledger: &Ledger, n: u64) -> Vec<merkle::Hash> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(ledger.record(i).await.unwrap().leaf_hash());
    }
    out
}

/// Reads our tile directory for Cloudflare's `tlog_tiles`, whose paths carry the tile height
/// (`tile/8/<L>/<N>`, the Go sumdb form) where C2SP tlog-tiles has none (`tile/<L>/<N>`).
struct DirTiles(std::path::PathBuf);

impl tlog_tiles::tile::TileReader for DirTiles {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(
        &self,
        tiles: &[tlog_tiles::tile::Tile],
    ) -> Result<Vec<Vec<u8>>, tlog_tiles::tlog::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let path = t.path();
                let ours = path.strip_prefix("tile/8/").expect("height-8 tiles");
                std::fs::read(self.0.join("tile").join(ours))
                    .unwrap_or_else(|e| panic!("tile {path} (ours: tile/{ours}): {e}"))
            })
            .collect())
    }
    fn save_tiles(&self, _: &[tlog_tiles::tile::Tile], _: &[Vec<u8>]) {}
}

#[tokio::test]
async fn cloudflare_tlog_tiles_accepts_our_tiles_and_agrees_on_proofs() {
    use tlog_tiles::tile::TileHashReader;
    use tlog_tiles::tlog::{self, Hash as CfHash};
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let (dir, tiles) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ledger = open(dir.path(), &signer).await;
    let mut views = Vec::new();
    // Sizes across tile boundaries, publishing after each.
    for size in [1u64, 255, 256, 257, 700, 70_000 / 64] {
        grow(&ledger, "t", size).await;
        ledger.write_tiles(tiles.path()).await.unwrap();
        let cp = ledger.latest_checkpoint().unwrap().checkpoint;
        assert_eq!(cp.size, size);
        let reader = DirTiles(tiles.path().to_path_buf());
        let hr = TileHashReader::new(size, CfHash(cp.root), &reader);
        // tlog_tiles checks every tile it reads against the tree hash.
        assert_eq!(
            tlog::tree_hash(size, &hr).unwrap().0,
            cp.root,
            "size {size}"
        );
        for &(old_size, old_root) in &views {
            let theirs = tlog::prove_tree(size, old_size, &hr).unwrap();
            tlog::check_tree(&theirs, size, CfHash(cp.root), old_size, CfHash(old_root)).unwrap();
            let ours = ledger.consistency_proof(old_size, size).await.unwrap();
            let theirs: Vec<[u8; 32]> = theirs.iter().map(|h| h.0).collect();
            assert_eq!(ours, theirs, "consistency {old_size} -> {size}");
        }
        for index in [0, size / 2, size - 1] {
            let theirs = tlog::prove_record(size, index, &hr).unwrap();
            let ours = ledger.inclusion_proof(index, size).await.unwrap();
            let theirs: Vec<[u8; 32]> = theirs.iter().map(|h| h.0).collect();
            assert_eq!(ours, theirs, "inclusion of {index} in {size}");
        }
        views.push((size, cp.root));
    }
    ledger.close().await.unwrap();
}
