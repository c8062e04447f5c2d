//! Sealed-segment archives end to end: a ledger with small segments archives them to a local
//! directory through `object_store`; `verify_archive` accepts them and names each fault the
//! issue lists (flipped byte in a record, a checkpoint or a token; a deleted record; two
//! reordered; a truncated archive; two checkpoints with inconsistent roots; a time-stamp over
//! a different checkpoint).
use std::path::Path;

use korpu_ledger::archive::{ArchiveHeader, ARCHIVE_MAGIC};
use korpu_ledger::timestamp::LocalTsa;
use korpu_ledger::{
    sign_note, verify_archive, ArchiveError, ArchiveReport, Checkpoint, Ledger, NoteSigner,
    NoteVerifier,
};
use korpu_pki::cert::Certificate;
use sha2::{Digest, Sha256};

mod common;
use common::ExchangeRecord;

const ORIGIN: &str = "archive.gw1.korpu.test/v1";

fn rec(i: u64) -> ExchangeRecord {
    let id = format!("msg-{i:05}");
    ExchangeRecord {
        user_id: Some("AZ1234567".into()),
        data_subject: Some(format!("AZ{:07}", i % 3)),
        purpose: Some("benefit-eligibility".into()),
        request_digest: hex::encode(Sha256::digest(id.as_bytes())),
        request_signature: "MEUCIQDx".into(),
        request_signer_cert_sha256: "ab".repeat(32),
        ..common::record(id, 1_700_000_000_000 + i)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    archive_dir: tempfile::TempDir,
    signer: NoteSigner,
    root: Certificate,
    archives: Vec<Vec<u8>>,
}

impl Fixture {
    fn key(&self) -> Vec<NoteVerifier> {
        vec![self.signer.verifier()]
    }
    fn verify(&self, bytes: &[u8]) -> Result<ArchiveReport, ArchiveError> {
        verify_archive(bytes, &self.key(), std::slice::from_ref(&self.root))
    }
}

/// 120 records in 8 KiB segments, a checkpoint every 7 appends, archived as it goes.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = common::private_dir();
    let common::TestPki { root, tsa, .. } = common::tsa_pki(false);
    let signer = common::signer(ORIGIN);
    let mut cfg = common::quiet_config(dir.path(), ORIGIN, 8192);
    cfg.archive = Some(archive_dir.path().to_str().unwrap().to_string());
    cfg.archive_certificates = vec![root.to_pem()];
    let ledger =
        Ledger::open_with_timestamper(cfg, signer.clone(), LocalTsa::new(tsa, vec![root.clone()]))
            .await
            .unwrap();
    ledger.set_archive_trust(Some(b"signed global configuration".to_vec()));
    for i in 0..120 {
        ledger.append(common::entry(&rec(i))).await.unwrap();
        if i % 7 == 6 {
            ledger.checkpoint().await.unwrap();
        }
    }
    ledger.checkpoint().await.unwrap();
    ledger.close().await.unwrap();
    let archives = read_archives(archive_dir.path());
    Fixture {
        _dir: dir,
        archive_dir,
        signer,
        root,
        archives,
    }
}

/// `h` with a validly signed checkpoint of `size` and `root` inserted at `at`.
fn with_forged_checkpoint(
    h: &ArchiveHeader,
    at: usize,
    size: u64,
    root: [u8; 32],
    signer: &NoteSigner,
) -> ArchiveHeader {
    let forged = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root,
    };
    let mut h2 = h.clone();
    h2.checkpoints.insert(
        at,
        korpu_ledger::archive::ArchivedCheckpoint {
            note: sign_note(&forged.to_body(), signer).unwrap(),
            timestamp: None,
            consistency: Vec::new(),
        },
    );
    h2
}

fn read_archives(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "korpu-archive"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The header and where the records start.
fn split(bytes: &[u8]) -> (ArchiveHeader, usize, usize) {
    let at = ARCHIVE_MAGIC.len();
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let header: ArchiveHeader = serde_json::from_slice(&bytes[at + 4..at + 4 + len]).unwrap();
    (header, at + 4, at + 4 + len)
}

fn rebuild(bytes: &[u8], header: &ArchiveHeader) -> Vec<u8> {
    let (_, _, records) = split(bytes);
    let json = serde_json::to_vec(header).unwrap();
    let mut out = ARCHIVE_MAGIC.to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[records..]);
    out
}

/// Byte ranges of each record frame.
fn frames(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let (h, _, mut at) = split(bytes);
    let mut out = Vec::new();
    for _ in 0..h.count {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(at..at + 12 + len + 32);
        at += 12 + len + 32;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[tokio::test]
async fn every_sealed_segment_is_archived_and_verifies_as_a_chain() {
    let f = fixture().await;
    assert!(f.archives.len() >= 5, "{} archives", f.archives.len());
    let mut next_first = 0;
    let mut frontier = Vec::new();
    for (n, a) in f.archives.iter().enumerate() {
        let r = f.verify(a).unwrap_or_else(|e| panic!("archive {n}: {e}"));
        assert_eq!(r.segment, n as u64);
        assert_eq!(r.first_index, next_first, "archives are contiguous");
        assert!(r.records > 0);
        assert!(r.checkpoints >= 1 && r.timestamps == r.checkpoints);
        assert!(r.tree_size >= r.first_index + r.records);
        let (lo, hi) = r.record_times.unwrap();
        assert_eq!(lo, 1_700_000_000_000 + r.first_index);
        assert_eq!(hi, 1_700_000_000_000 + r.first_index + r.records - 1);
        assert_eq!(
            r.trust.as_deref(),
            Some(&b"signed global configuration"[..])
        );
        // The frontier the archive starts from is where the previous one ended.
        let (h, _, _) = split(a);
        let start: Vec<String> = frontier.iter().map(hex::encode).collect();
        assert_eq!(
            h.frontier,
            start,
            "archive {n} continues archive {}",
            n.max(1) - 1
        );
        assert_eq!(h.certificates, vec![f.root.to_pem()]);
        next_first = r.first_index + r.records;
        frontier = r.end_frontier;
    }
    // The last segment is still open (not sealed), so not everything is archived.
    assert!(next_first < 120);
    // A key other than the log's is refused.
    let other = NoteSigner::generate(ORIGIN).unwrap().verifier();
    let e = verify_archive(&f.archives[1], &[other], std::slice::from_ref(&f.root)).unwrap_err();
    assert!(
        matches!(e, ArchiveError::BadCheckpoint { number: 0, .. }),
        "{e}"
    );
    // Roots other than the TSA's: the time-stamp is refused.
    let other_root = common::tsa_pki(false).root;
    let e = verify_archive(&f.archives[1], &f.key(), &[other_root]).unwrap_err();
    assert!(
        matches!(e, ArchiveError::BadTimestamp { number: 0, .. }),
        "{e}"
    );
    drop(f.archive_dir);
}

#[tokio::test]
async fn each_fault_is_detected_and_named() {
    let f = fixture().await;
    let a = &f.archives[2];
    let (h, _, _) = split(a);
    let first = h.first_index;
    let fr = frames(a);
    assert!(fr.len() >= 4);

    // A flipped byte inside record 2's JSON.
    let mut b = a.clone();
    b[fr[2].start + 30] ^= 0x01;
    let e = f.verify(&b).unwrap_err();
    assert_eq!(
        e,
        ArchiveError::BadRecord {
            index: first + 2,
            detail: "its bytes do not match its leaf hash: the record was altered or damaged"
                .into()
        }
    );
    assert!(e
        .to_string()
        .starts_with(&format!("record {}: ", first + 2)));
    // ... in its stored leaf hash.
    let mut b = a.clone();
    b[fr[1].end - 1] ^= 0x80;
    assert!(
        matches!(f.verify(&b).unwrap_err(), ArchiveError::BadRecord { index, .. } if index == first + 1)
    );

    // A deleted record.
    let mut b = a.clone();
    b.drain(fr[1].clone());
    let e = f.verify(&b).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::BadRecord { index, detail } if *index == first + 1 && detail.contains("deleted")),
        "{e}"
    );

    // Two records swapped.
    let mut b = a[..fr[1].start].to_vec();
    b.extend_from_slice(&a[fr[2].clone()]);
    b.extend_from_slice(&a[fr[1].clone()]);
    b.extend_from_slice(&a[fr[2].end..]);
    let e = f.verify(&b).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::BadRecord { index, detail } if *index == first + 1 && detail.contains(&format!("holds record {}", first + 2))),
        "{e}"
    );

    // Truncated: inside record 3, at its start, in the header, before the end marker.
    let e = f.verify(&a[..fr[3].start + 20]).unwrap_err();
    assert_eq!(
        e,
        ArchiveError::Truncated {
            record: Some(first + 3),
            detail: format!("record {} is cut short", first + 3)
        }
    );
    let e = f.verify(&a[..fr[3].start]).unwrap_err();
    assert!(matches!(e, ArchiveError::Truncated { record: Some(r), .. } if r == first + 3));
    let e = f.verify(&a[..100]).unwrap_err();
    assert!(
        matches!(e, ArchiveError::Truncated { record: None, .. }),
        "{e}"
    );
    let e = f.verify(&a[..a.len() - 3]).unwrap_err();
    assert!(
        matches!(e, ArchiveError::Truncated { record: None, .. }),
        "{e}"
    );

    // A flipped byte in a checkpoint note (its root line, in place).
    let note = &h.checkpoints[0].note;
    let root_line = note.lines().nth(2).unwrap();
    let at = find(a, root_line.as_bytes());
    let mut b = a.clone();
    b[at + 5] = if b[at + 5] == b'A' { b'B' } else { b'A' };
    let e = f.verify(&b).unwrap_err();
    assert!(
        matches!(e, ArchiveError::BadCheckpoint { number: 0, .. }),
        "{e}"
    );

    // A flipped byte in a time-stamp token.
    let token = h.checkpoints[0].timestamp.as_ref().unwrap();
    let at = find(a, token.as_bytes()) + token.len() / 2;
    let mut b = a.clone();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    let e = f.verify(&b).unwrap_err();
    assert!(
        matches!(e, ArchiveError::BadTimestamp { number: 0, .. }),
        "{e}"
    );

    // A time-stamp over a different checkpoint (the next one's token).
    let mut h2 = h.clone();
    h2.checkpoints[0].timestamp = h.checkpoints[1].timestamp.clone();
    let e = f.verify(&rebuild(a, &h2)).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::BadTimestamp { number: 0, size, .. } if *size == Checkpoint::parse_body(korpu_ledger::checkpoint::split_note(&h.checkpoints[0].note).unwrap().0).unwrap().size),
        "{e}"
    );

    // Two checkpoints with inconsistent roots: a second, validly signed note for the same size.
    let cp0 = Checkpoint::parse_body(
        korpu_ledger::checkpoint::split_note(&h.checkpoints[0].note)
            .unwrap()
            .0,
    )
    .unwrap();
    let h2 = with_forged_checkpoint(&h, 1, cp0.size, [7u8; 32], &f.signer);
    let e = f.verify(&rebuild(a, &h2)).unwrap_err();
    assert_eq!(
        e,
        ArchiveError::Conflicting {
            a: 0,
            b: 1,
            size: cp0.size,
            root_a: hex::encode(cp0.root),
            root_b: hex::encode([7u8; 32]),
        }
    );
    // ... and a signed checkpoint of another size the records do not reproduce.
    let h2 = with_forged_checkpoint(&h, 0, first + 1, [9u8; 32], &f.signer);
    let e = f.verify(&rebuild(a, &h2)).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::RootMismatch { number: 0, size, .. } if *size == first + 1),
        "{e}"
    );

    // A closing checkpoint whose consistency proof was altered.
    let mut h2 = h.clone();
    let last = h2.checkpoints.last_mut().unwrap();
    if !last.consistency.is_empty() {
        last.consistency[0] = hex::encode([1u8; 32]);
        let e = f.verify(&rebuild(a, &h2)).unwrap_err();
        assert!(matches!(e, ArchiveError::Inconsistent { .. }), "{e}");
    }
    // Without its closing checkpoint, the last records are signed by nothing.
    let mut h2 = h.clone();
    while h2.checkpoints.len() > 1 {
        h2.checkpoints.pop();
    }
    let e = f.verify(&rebuild(a, &h2)).unwrap_err();
    assert!(matches!(e, ArchiveError::Uncovered { .. }), "{e}");

    // The untouched archive still verifies.
    f.verify(a).unwrap();
}

/// Archives carry the records (citizens' ids and purposes): each file is 0600, and a wider
/// archive directory is refused naming the chmod (issue 13, item 15).
#[tokio::test]
async fn archives_are_owner_only_and_a_wider_archive_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture().await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut n = 0;
    for e in std::fs::read_dir(f.archive_dir.path()).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        n += 1;
    }
    assert!(n >= 3, "{n} archives");
    std::fs::set_permissions(f.archive_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = f.archive_dir.path().to_str().unwrap();
    let e = korpu_ledger::ArchiveStore::from_target(target).unwrap_err();
    assert!(
        e.to_string().contains(&format!("chmod 700 {target}")),
        "{e}"
    );
}
