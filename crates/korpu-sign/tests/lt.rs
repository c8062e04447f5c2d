//! B-LT for CAdES and ASiC-E: OCSP responses embedded as revocation-values, validation from
//! the embedded data only, and the revoked-certificate verdicts.
mod common;

use std::time::{Duration, SystemTime};

use common::{Pki, Setup, DAY};
use korpu_sign::asice::{self, DataFile, Limits};
use korpu_sign::cades::sign;
use korpu_sign::lt::add_revocation_values;
use korpu_sign::validate::{validate_cades, Indication};

const DATA: &[u8] = b"a decision to keep for ten years";

#[test]
fn cades_b_lt_round_trip() {
    let Setup { pki, m, tsa, now } = Setup::new("CadesLt", "AZ/GOV/31");
    let bt = sign(DATA, &m.signer(), now, Some(&tsa)).unwrap();
    let lt = add_revocation_values(&bt, &pki.ocsp(vec![])).unwrap();
    // Much later, long after the OCSP response's nextUpdate: the embedded answer still counts
    // for the time it speaks for.
    let r = validate_cades(&lt, DATA, &pki.anchors(), now + 20 * DAY);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:?}");
    assert_eq!(r.level, "B-LT");
    assert!(r.revocation.starts_with("good"), "{r:?}");

    // Without a time-stamp the level stays B-B even with revocation data.
    let bb = sign(DATA, &m.signer(), now, None).unwrap();
    let bb_lt = add_revocation_values(&bb, &pki.ocsp(vec![])).unwrap();
    let r = validate_cades(&bb_lt, DATA, &pki.anchors(), now);
    assert_eq!(r.level, "B-B");
    assert!(r.revocation.starts_with("good"));

    // openssl still verifies the extended signature (unsigned attributes are outside it).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d"), DATA).unwrap();
    std::fs::write(dir.path().join("s.p7s"), &lt).unwrap();
    std::fs::write(dir.path().join("root.pem"), pki.root.to_pem()).unwrap();
    let run = common::openssl_cms_verify(dir.path(), "s.p7s", "d");
    assert!(run.ok, "{}", run.out);
}

#[test]
fn cades_revoked_signer() {
    let Setup { pki, m, tsa, now } = Setup::new("CadesRevoked", "AZ/GOV/32");
    let bt = sign(DATA, &m.signer(), now, Some(&tsa)).unwrap();
    let revoked = pki.ocsp(vec![(m.cert.serial_hex(), now - Duration::from_secs(600))]);
    let lt = add_revocation_values(&bt, &revoked).unwrap();
    let r = validate_cades(&lt, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("REVOKED"));
    assert!(r.reason.unwrap().contains("revoked"));

    // No time-stamp: nothing proves the signature predates the revocation.
    let bb = sign(DATA, &m.signer(), now, None).unwrap();
    let lt = add_revocation_values(&bb, &revoked).unwrap();
    let r = validate_cades(&lt, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::Indeterminate, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("REVOKED_NO_POE"));
}

#[test]
fn asice_b_lt() {
    let pki = Pki::new("AsicLt");
    let a = pki.member("AZ/GOV/41");
    let b = pki.member("AZ/GOV/42");
    let tsa = pki.tsa();
    let now = SystemTime::now();
    let files = [DataFile {
        name: "decision.txt".into(),
        mime_type: "text/plain".into(),
        content: DATA.to_vec(),
    }];
    let c = asice::create(&files, &[a.signer(), b.signer()], now, Some(&tsa)).unwrap();
    let revoked = pki.ocsp(vec![(b.cert.serial_hex(), now - Duration::from_secs(60))]);
    let lt = asice::add_validation_data(&c, &revoked, &Limits::default()).unwrap();
    let r = asice::validate(&lt, &pki.anchors(), now, &Limits::default()).unwrap();
    let by = |cn: &str| {
        r.signatures
            .iter()
            .find(|s| s.report.signer.contains(cn))
            .unwrap()
            .report
            .clone()
    };
    assert_eq!(by("AZ/GOV/41").indication, Indication::TotalPassed);
    assert_eq!(by("AZ/GOV/41").level, "B-LT");
    assert_eq!(by("AZ/GOV/42").indication, Indication::TotalFailed);
    assert_eq!(by("AZ/GOV/42").sub_indication.as_deref(), Some("REVOKED"));
    assert_eq!(r.indication, Indication::TotalFailed);
}

#[test]
fn ocsp_older_than_the_signature_does_not_make_b_lt() {
    let Setup { pki, m, tsa, now } = Setup::new("CadesStale", "AZ/GOV/33");
    // The OCSP answer (valid for an hour) is fetched first, the signature time-stamped two
    // hours later: the answer's nextUpdate has passed by the proven signing time, so it says
    // nothing about it (EN 319 102-1 §5.2.5.4).
    let early = sign(DATA, &m.signer(), now, None).unwrap();
    let early = add_revocation_values(&early, &pki.ocsp(vec![])).unwrap();
    tsa.set_time(Some(now + Duration::from_secs(7200)));
    let stamped = korpu_sign::cades::add_signature_timestamp(&early, &tsa).unwrap();
    let r = validate_cades(
        &stamped,
        DATA,
        &pki.anchors(),
        now + Duration::from_secs(7300),
    );
    assert_eq!(r.level, "B-T", "{r:?}");
    assert!(r.revocation.starts_with("not established"), "{r:?}");
    // And with no fresh revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("TRY_LATER"), "{r:?}");
}
