//! ASiC-E with CAdES: parallel signers, structural attacks, tampering, zip bombs and corrupt
//! input, each refused with a named reason and never a panic.
mod common;
use korpu_testkit::mutate::flipped_copies;

use std::io::{Cursor, Read, Write};
use std::time::{Instant, SystemTime};

use common::Pki;
use common::{zip_entries as entries, zip_rebuild as rebuild};
use korpu_sign::asice::{self, AsicError, DataFile, Limits};
use korpu_sign::validate::Indication;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

fn files() -> Vec<DataFile> {
    vec![
        DataFile {
            name: "decision.txt".into(),
            mime_type: "text/plain".into(),
            content: b"The child benefit is granted.\n".to_vec(),
        },
        DataFile {
            name: "annex/family composition.json".into(),
            mime_type: "application/json".into(),
            content: br#"{"children":1}"#.to_vec(),
        },
    ]
}

struct Setup {
    pki: Pki,
    container: Vec<u8>,
}

fn two_signers() -> Setup {
    let pki = Pki::new("Asic");
    let a = pki.member("AZ/GOV/1111111");
    let b = pki.member("AZ/COM/2222222");
    let tsa = pki.tsa();
    let container = asice::create(
        &files(),
        &[a.signer(), b.signer()],
        SystemTime::now(),
        Some(&tsa),
    )
    .unwrap();
    Setup { pki, container }
}

fn check(s: &Setup, bytes: &[u8]) -> Result<asice::ContainerReport, AsicError> {
    asice::validate(
        bytes,
        &s.pki.anchors(),
        SystemTime::now(),
        &Limits::default(),
    )
}

#[test]
fn two_parallel_signers_validate() {
    let s = two_signers();
    let e = entries(&s.container);
    assert_eq!(e[0].0, "mimetype");
    assert!(e[0].2, "mimetype must be stored");
    assert_eq!(&s.container[30..38], b"mimetype");
    assert_eq!(
        &s.container[38..38 + asice::MIMETYPE.len()],
        asice::MIMETYPE.as_bytes()
    );
    let r = check(&s, &s.container).unwrap();
    // Intact and trusted; no revocation data at B-T.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(r.signatures.len(), 2);
    for sig in &r.signatures {
        common::assert_valid_without_revocation(&sig.report);
        assert_eq!(sig.report.level, "B-T");
        assert_eq!(sig.covers.len(), 2);
    }
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("AZ/COM/2222222"), "{json}");
    let manifest = &e
        .iter()
        .find(|x| x.0 == "META-INF/ASiCManifest001.xml")
        .unwrap()
        .1;
    let manifest = String::from_utf8_lossy(manifest);
    assert!(
        manifest.contains("URI=\"annex/family%20composition.json\""),
        "{manifest}"
    );
}

#[test]
fn a_signature_can_be_added_later() {
    let pki = Pki::new("AsicAdd");
    let a = pki.member("AZ/GOV/1");
    let b = pki.member("AZ/GOV/2");
    let now = SystemTime::now();
    let one = asice::create(&files(), &[a.signer()], now, None).unwrap();
    let limits = Limits::default();
    let r = asice::validate(&one, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(r.signatures[0].signature_file, "META-INF/signature.p7s");
    let two = asice::add_signature(&one, &b.signer(), now, Some(&pki.tsa()), &limits).unwrap();
    let r = asice::validate(&two, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for sig in &r.signatures {
        common::assert_valid_without_revocation(&sig.report);
    }
    assert_eq!(r.signatures.len(), 2);
}

#[test]
fn mimetype_must_be_first_stored_and_exact() {
    let s = two_signers();
    let e = entries(&s.container);

    let mut wrong = e.clone();
    wrong[0].1 = b"application/zip".to_vec();
    assert!(matches!(
        check(&s, &rebuild(&wrong)),
        Err(AsicError::WrongMimetype(_))
    ));

    let mut compressed = e.clone();
    compressed[0].2 = false;
    assert!(matches!(
        check(&s, &rebuild(&compressed)),
        Err(AsicError::MimetypeCompressed(_))
    ));

    let mut moved = e.clone();
    moved.swap(0, 1);
    assert!(matches!(
        check(&s, &rebuild(&moved)),
        Err(AsicError::MimetypeNotFirst(_))
    ));

    let missing: Vec<_> = e[1..].to_vec();
    assert!(check(&s, &rebuild(&missing)).is_err());
}

#[test]
fn changed_and_added_files_are_caught() {
    let s = two_signers();
    let e = entries(&s.container);

    let mut changed = e.clone();
    let i = changed.iter().position(|x| x.0 == "decision.txt").unwrap();
    changed[i].1 = b"The child benefit is refused.\n".to_vec();
    let r = check(&s, &rebuild(&changed)).unwrap();
    assert_eq!(r.indication, Indication::TotalFailed);
    for sig in &r.signatures {
        assert_eq!(sig.report.sub_indication.as_deref(), Some("HASH_FAILURE"));
        assert!(sig
            .report
            .reason
            .as_deref()
            .unwrap()
            .contains("decision.txt"));
    }

    let mut added = e.clone();
    added.push(("extra.txt".into(), b"unsigned".to_vec(), false));
    assert_eq!(
        check(&s, &rebuild(&added)).unwrap_err(),
        AsicError::UncoveredFile("extra.txt".into())
    );

    let mut removed = e.clone();
    removed.retain(|x| x.0 != "decision.txt");
    let r = check(&s, &rebuild(&removed)).unwrap();
    assert_eq!(r.indication, Indication::TotalFailed);
    assert_eq!(
        r.signatures[0].report.sub_indication.as_deref(),
        Some("SIGNED_DATA_NOT_FOUND")
    );

    let mut changed_manifest = e.clone();
    let i = changed_manifest
        .iter()
        .position(|x| x.0 == "META-INF/ASiCManifest001.xml")
        .unwrap();
    changed_manifest[i].1.extend_from_slice(b"<!-- -->");
    let r = check(&s, &rebuild(&changed_manifest)).unwrap();
    assert_eq!(r.signatures[0].report.indication, Indication::TotalFailed);
    common::assert_valid_without_revocation(&r.signatures[1].report);

    let mut orphan = e.clone();
    orphan.retain(|x| x.0 != "META-INF/ASiCManifest002.xml");
    assert_eq!(
        check(&s, &rebuild(&orphan)).unwrap_err(),
        AsicError::OrphanSignature("META-INF/signature002.p7s".into())
    );

    let mut dup = e.clone();
    dup.push(e[1].clone());
    // The zip writer refuses duplicates itself; splice one in by renaming bytes instead.
    dup.last_mut().unwrap().0 = "decision.tx_".into();
    let mut bytes = rebuild(&dup);
    let needle = b"decision.tx_";
    while let Some(p) = bytes.windows(needle.len()).position(|w| w == needle) {
        bytes[p + needle.len() - 1] = b't';
    }
    assert!(matches!(
        check(&s, &bytes),
        Err(AsicError::DuplicateNames {
            listed: 8,
            distinct: 7
        })
    ));

    let mut unsafe_name = e.clone();
    unsafe_name.push(("a/../../etc/passwd".into(), b"x".to_vec(), false));
    assert!(matches!(
        check(&s, &rebuild(&unsafe_name)),
        Err(AsicError::UnsafeName(_))
    ));
}

#[test]
fn truncated_or_garbage_containers_are_corrupt() {
    let s = two_signers();
    for cut in [
        0,
        10,
        37,
        100,
        s.container.len() / 2,
        s.container.len() - 1,
        s.container.len() - 22,
    ] {
        let r = check(&s, &s.container[..cut]);
        assert!(
            matches!(r, Err(AsicError::Corrupt(_))),
            "cut at {cut}: {r:?}"
        );
    }
    assert!(matches!(
        check(&s, b"PK\x03\x04 hello"),
        Err(AsicError::Corrupt(_))
    ));
}

fn bomb(declared: Option<u32>) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file(
        "mimetype",
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored),
    )
    .unwrap();
    z.write_all(asice::MIMETYPE.as_bytes()).unwrap();
    z.start_file(
        "zeros.bin",
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1)),
    )
    .unwrap();
    std::io::copy(&mut std::io::repeat(0).take(200 << 20), &mut z).unwrap();
    let mut bytes = z.finish().unwrap().into_inner();
    if let Some(size) = declared {
        // Make the headers lie about the uncompressed size: local header offset 22, central
        // directory header offset 24.
        let name = b"zeros.bin";
        for (sig, name_at, size_at) in [(b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)] {
            let p = (0..bytes.len() - name_at - name.len())
                .find(|&p| {
                    &bytes[p..p + 4] == sig && &bytes[p + name_at..p + name_at + name.len()] == name
                })
                .unwrap();
            bytes[p + size_at..p + size_at + 4].copy_from_slice(&size.to_le_bytes());
        }
    }
    bytes
}

#[test]
fn zip_bombs_are_refused_early() {
    let s = two_signers();
    let honest = bomb(None);
    assert!(honest.len() < 2 << 20, "{} bytes", honest.len());
    let t = Instant::now();
    let r = check(&s, &honest);
    assert!(
        matches!(&r, Err(AsicError::EntryTooLarge { name, .. }) if name == "zeros.bin"),
        "{r:?}"
    );
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());

    // Declared small, actually 200 MiB: reading stops one byte past the limit.
    let liar = bomb(Some(1000));
    let limits = Limits {
        max_entry_size: 1 << 20,
        ..Limits::default()
    };
    let t = Instant::now();
    let r = asice::validate(&liar, &s.pki.anchors(), SystemTime::now(), &limits);
    assert!(
        matches!(
            &r,
            Err(AsicError::EntryTooLarge { .. }) | Err(AsicError::Corrupt(_))
        ),
        "{r:?}"
    );
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());

    // The total limit applies across entries.
    let limits = Limits {
        max_total_size: 100,
        ..Limits::default()
    };
    let r = asice::validate(&s.container, &s.pki.anchors(), SystemTime::now(), &limits);
    assert!(
        matches!(r, Err(AsicError::TotalTooLarge { limit: 100 })),
        "{r:?}"
    );
}

#[test]
fn too_many_entries_are_refused() {
    let s = two_signers();
    let mut e = entries(&s.container);
    for i in 0..20 {
        e.push((format!("f{i}.txt"), vec![], false));
    }
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let r = asice::validate(&rebuild(&e), &s.pki.anchors(), SystemTime::now(), &limits);
    assert!(
        matches!(
            r,
            Err(AsicError::TooManyEntries {
                count: 27,
                limit: 10
            })
        ),
        "{r:?}"
    );
}

#[test]
fn flipped_bytes_never_panic() {
    let s = two_signers();
    let mut accepted = 0;
    for bad in flipped_copies(&s.container, 0x2545_F491_4F6C_DD1D, 300) {
        if let Ok(r) = check(&s, &bad) {
            if r.indication == Indication::TotalPassed
                || r.signatures
                    .iter()
                    .all(|s| s.report.lacks_only_revocation())
            {
                accepted += 1;
            }
        }
    }
    // Bytes outside anything signed (zip timestamps, unused header fields) may change freely.
    assert!(
        accepted < 150,
        "{accepted} of 300 corrupted containers passed"
    );
}
