//! CAdES B-B / B-T: round trips, attacks the validator must catch, and interoperability with
//! `openssl cms` and `openssl ts` in both directions. The openssl tests fail (not skip) when
//! openssl is missing; set `OPENSSL` to use another binary.
mod common;
use korpu_testkit::mutate::flipped_copies;

use std::fs;
use std::time::SystemTime;

use common::{openssl, Pki, Setup};
use korpu_sign::cades::{self, add_signature_timestamp, sign, signer_parts};
use korpu_sign::validate::{validate_cades, Indication};
use korpu_sign::{SignError, Timestamper};

const DATA: &[u8] = b"Decision no. 2024/17: the child benefit is granted.\n";

#[test]
fn b_b_round_trip() {
    let Setup { pki, m, now, .. } = Setup::new("BB", "AZ/GOV/1234567");
    let p7s = sign(DATA, &m.signer(), now, None).unwrap();
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(r.level, "B-B");
    assert!(r.signer.contains("AZ/GOV/1234567"), "{}", r.signer);
    assert!(r.claimed_signing_time.is_some());
    assert_eq!(r.proven_signing_time, None);
    assert_eq!(r.trust_anchor.as_deref(), Some(pki.root.subject().as_str()));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["indication"], "INDETERMINATE");
    assert_eq!(json["sub_indication"], "TRY_LATER");
    // With the signer's OCSP response embedded (and still current, as nothing proves an
    // earlier signing time) it passes.
    let with_ocsp = korpu_sign::lt::add_revocation_values(&p7s, &pki.ocsp(vec![])).unwrap();
    let r = validate_cades(&with_ocsp, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:?}");
    assert_eq!(r.level, "B-B");
}

#[test]
fn b_t_round_trip_and_extension() {
    let Setup { pki, m, tsa, now } = Setup::new("BT", "AZ/GOV/7654321");
    let p7s = sign(DATA, &m.signer(), now, Some(&tsa)).unwrap();
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(r.level, "B-T");
    assert!(r.proven_signing_time.is_some());

    // B-B extended to B-T later.
    let bb = sign(DATA, &m.signer(), now, None).unwrap();
    let bt = add_signature_timestamp(&bb, &tsa).unwrap();
    let r = validate_cades(&bt, DATA, &pki.anchors(), now);
    assert_eq!(
        (r.indication, r.level.as_str()),
        (Indication::Indeterminate, "B-T"),
        "{r:?}"
    );
    // Extending again leaves it as it is.
    assert_eq!(add_signature_timestamp(&bt, &tsa).unwrap(), bt);
}

#[test]
fn tampered_data_is_total_failed() {
    let Setup { pki, m, now, .. } = Setup::new("Tamper", "AZ/GOV/1");
    let p7s = sign(DATA, &m.signer(), now, None).unwrap();
    let mut other = DATA.to_vec();
    other[10] ^= 1;
    let r = validate_cades(&p7s, &other, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed);
    assert_eq!(r.sub_indication.as_deref(), Some("HASH_FAILURE"));
    assert!(r.reason.unwrap().contains("altered"));

    // A flipped bit in the signature value.
    let parts = signer_parts(&p7s).unwrap();
    let sig = &parts[0].signature_value;
    let pos = p7s
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .unwrap();
    let mut bad = p7s.clone();
    bad[pos + sig.len() - 1] ^= 0x01;
    let r = validate_cades(&bad, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("SIG_CRYPTO_FAILURE"));

    let r = validate_cades(b"not a signature", DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed);
    assert_eq!(r.sub_indication.as_deref(), Some("FORMAT_FAILURE"));
}

#[test]
fn untrusted_root_is_indeterminate() {
    let ours = Pki::new("Ours");
    let theirs = Pki::new("Theirs");
    let m = theirs.member("AZ/GOV/666");
    let now = SystemTime::now();
    let p7s = sign(DATA, &m.signer(), now, None).unwrap();
    let r = validate_cades(&p7s, DATA, &ours.anchors(), now);
    assert_eq!(r.indication, Indication::Indeterminate, "{r:?}");
    assert_eq!(
        r.sub_indication.as_deref(),
        Some("NO_CERTIFICATE_CHAIN_FOUND")
    );
    assert_eq!(r.trust_anchor, None);
}

#[test]
fn expired_signer_needs_a_time_stamp() {
    let pki = Pki::new("Expiry");
    let now = SystemTime::now();
    let (m, tsa, then) = pki.expired_signer("AZ/GOV/42", now);

    let bb = sign(DATA, &m.signer(), then, None).unwrap();
    let r = validate_cades(&bb, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::Indeterminate, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("OUT_OF_BOUNDS_NO_POE"));
    assert!(r.reason.unwrap().contains("expired"));

    let bt = sign(DATA, &m.signer(), then, Some(&tsa)).unwrap();
    let r = validate_cades(&bt, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(r.level, "B-T");

    // And we refuse to make a signature the certificate does not cover.
    assert!(matches!(
        sign(DATA, &m.signer(), now, None),
        Err(SignError::Pki(_))
    ));
}

/// A TSA (or an attacker) answering with a token over something else.
struct StampsOther<'a>(&'a dyn Timestamper);

impl Timestamper for StampsOther<'_> {
    fn timestamp(&self, _sha256: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        self.0.timestamp(&[7u8; 32])
    }
}

#[test]
fn time_stamp_over_other_data_is_detected() {
    let Setup { pki, m, tsa, now } = Setup::new("TsOther", "AZ/GOV/9");
    let p7s = sign(DATA, &m.signer(), now, Some(&StampsOther(&tsa))).unwrap();
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed, "{r:?}");
    assert_eq!(r.sub_indication.as_deref(), Some("HASH_FAILURE"));
    assert!(r.reason.unwrap().contains("time-stamp"));

    // A time-stamp from a TSA outside the trust anchors: undecided, not forged.
    let stranger = Pki::new("StrangerTsa");
    let p7s = sign(DATA, &m.signer(), now, Some(&stranger.tsa())).unwrap();
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    assert_eq!(r.indication, Indication::Indeterminate, "{r:?}");
}

#[test]
fn wrong_key_is_refused() {
    let pki = Pki::new("Key");
    let a = pki.member("A");
    let b = pki.member("B");
    let s = cades::Signer {
        key: &b.key,
        cert: &a.cert,
        chain: &a.chain,
    };
    assert!(matches!(
        sign(DATA, &s, SystemTime::now(), None),
        Err(SignError::KeyMismatch(_))
    ));
}

#[test]
fn openssl_verifies_our_signatures_and_time_stamps() {
    let pki = Pki::new("Interop");
    let m = pki.member("AZ/GOV/1234567");
    let tsa = pki.tsa();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now();
    let p7s = sign(DATA, &m.signer(), now, Some(&tsa)).unwrap();
    fs::write(d.join("data.bin"), DATA).unwrap();
    fs::write(d.join("sig.p7s"), &p7s).unwrap();
    fs::write(d.join("root.pem"), pki.root.to_pem()).unwrap();
    fs::write(d.join("issuing.pem"), pki.issuing.to_pem()).unwrap();
    let mut tampered = DATA.to_vec();
    tampered[0] ^= 0x20;
    fs::write(d.join("tampered.bin"), tampered).unwrap();

    let verify = |content: &str| common::openssl_cms_verify(d, "sig.p7s", content);
    let r = verify("data.bin");
    assert!(
        r.ok && r.out.contains("Verification successful"),
        "{}",
        r.out
    );
    let r = verify("tampered.bin");
    assert!(!r.ok, "openssl accepted tampered content:\n{}", r.out);

    // The embedded signature time-stamp, checked on its own over the signature value.
    let parts = signer_parts(&p7s).unwrap();
    assert_eq!(parts[0].timestamp_tokens.len(), 1);
    fs::write(d.join("sigvalue.bin"), &parts[0].signature_value).unwrap();
    fs::write(d.join("token.der"), &parts[0].timestamp_tokens[0]).unwrap();
    let ts_verify = |data: &str| {
        openssl(
            d,
            &[
                "ts",
                "-verify",
                "-in",
                "token.der",
                "-token_in",
                "-data",
                data,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "issuing.pem",
            ],
        )
    };
    let r = ts_verify("sigvalue.bin");
    assert!(r.ok && r.out.contains("Verification: OK"), "{}", r.out);
    let r = ts_verify("data.bin");
    assert!(
        !r.ok,
        "the token must stamp the signature value, not the data:\n{}",
        r.out
    );
}

#[test]
fn we_validate_openssl_cades_signatures() {
    let pki = Pki::new("FromOpenssl");
    let m = pki.member("AZ/GOV/5555555");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("data.bin"), DATA).unwrap();
    fs::write(d.join("cert.pem"), m.cert.to_pem()).unwrap();
    fs::write(d.join("issuing.pem"), pki.issuing.to_pem()).unwrap();
    fs::write(d.join("key.pem"), m.key.to_pkcs8_pem()).unwrap();
    common::ossl::cms_sign_cades(
        d,
        "data.bin",
        "sig.p7s",
        "cert.pem",
        "key.pem",
        &["-certfile", "issuing.pem"],
    );
    let p7s = fs::read(d.join("sig.p7s")).unwrap();
    let now = SystemTime::now();
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(r.level, "B-B");
    assert!(r.signer.contains("AZ/GOV/5555555"));
    let r = validate_cades(&p7s, b"other data", &pki.anchors(), now);
    assert_eq!(r.indication, Indication::TotalFailed, "{r:?}");

    // Extending openssl's B-B to B-T with our TSA.
    let bt = add_signature_timestamp(&p7s, &pki.tsa()).unwrap();
    let r = validate_cades(&bt, DATA, &pki.anchors(), now);
    assert_eq!(
        (r.indication, r.level.as_str()),
        (Indication::Indeterminate, "B-T"),
        "{r:?}"
    );
}

#[test]
fn flipped_bytes_never_panic() {
    let Setup { pki, m, tsa, now } = Setup::new("Fuzz", "AZ/GOV/3");
    let p7s = sign(DATA, &m.signer(), now, Some(&tsa)).unwrap();
    let mut passed = 0;
    for bad in flipped_copies(&p7s, 0x9E37_79B9_7F4A_7C15, 400) {
        let r = validate_cades(&bad, DATA, &pki.anchors(), now);
        let _ = signer_parts(&bad);
        if r.indication == Indication::TotalPassed || r.lacks_only_revocation() {
            passed += 1;
        }
    }
    // Only changes in unsigned framing (e.g. inside an unsigned certificate field that is not
    // used) could still pass; most must not.
    assert!(passed < 40, "{passed} of 400 corrupted signatures passed");
}
