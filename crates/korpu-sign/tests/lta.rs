//! PAdES B-LTA: document time-stamps (`/SubFilter /ETSI.RFC3161`) validated and added, and
//! the proof of existence they give (EN 319 102-1 §5.6.2): a signature whose signer and
//! time-stamping certificates have expired is still TOTAL_PASSED when a valid archive
//! time-stamp covers it, a chain of archive time-stamps is validated each at the time of the
//! next, and a byte flipped in what a document time-stamp covers is HASH_FAILURE for it.
//! pyHanko judges both ways: it validates the B-LTA files Körpü makes (and renews), and Körpü
//! validates the B-LTA files pyHanko makes with Körpü's TSA and an OCSP responder over
//! loopback HTTP. `scripts/test` installs pyHanko.
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use common::{pdfgen, Pki, DAY};
use korpu_pki::ca::Profile;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{self, CertStatus, Responder};
use korpu_sign::pdf::{self, doc_ts, Limits, PdfReport};
use korpu_sign::validate::Indication;
use korpu_sign::{LocalTimestamper, RevocationSource, SignError};
use korpu_testkit::pki::{issue, subject};

/// A TSA whose certificate is valid from `from` to `until` (days from now, may be negative),
/// naming `ocsp_url` as its OCSP responder when given; its tokens carry the whole chain.
fn tsa_valid(
    pki: &Pki,
    cn: &str,
    from: i64,
    until: i64,
    ocsp_url: Option<&str>,
) -> LocalTimestamper {
    let now = SystemTime::now();
    let t = |d: i64| {
        if d < 0 {
            now - DAY * d.unsigned_abs() as u32
        } else {
            now + DAY * d as u32
        }
    };
    let mut m = pki.leaf_full(cn, Profile::Tsa, t(from), t(until), ocsp_url);
    m.chain.push(pki.root.clone());
    LocalTimestamper::new(pki.authority(m, "1.3.6.1.4.1.99999.1.2"))
}

/// A PKI, its archive TSA "Korpu Archive TSA" (valid from 10 days ago to 300 days ahead), a
/// B-LT PDF ([`b_lt`], time-stamped by the PKI's TSA) and that PDF extended to B-LTA by the
/// archive TSA.
struct Archived {
    pki: Pki,
    arch: LocalTimestamper,
    limits: Limits,
    lt: Vec<u8>,
    lta: Vec<u8>,
}

fn archived(name: &str) -> Archived {
    let pki = Pki::new(name);
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, None);
    let limits = Limits::default();
    let lt = b_lt(&pki, &pki.tsa());
    let lta = doc_ts::extend_lta(&lt, &arch, Some(&pki.ocsp(vec![])), &limits).unwrap();
    Archived {
        pki,
        arch,
        limits,
        lt,
        lta,
    }
}

/// A B-LT PDF: signed by a member (valid ±30 days) with a signature time-stamp from `tsa`,
/// then the DSS.
fn b_lt(pki: &Pki, tsa: &LocalTimestamper) -> Vec<u8> {
    let m = pki.member("AZ/GOV/701");
    let limits = Limits::default();
    let bt = pdf::sign(
        &pdfgen::simple("Archived decision", 2000),
        &m.signer(),
        SystemTime::now(),
        Some(tsa),
        &limits,
    )
    .unwrap();
    pdf::add_validation_data(&bt, &pki.ocsp(vec![]), &limits).unwrap()
}

fn check(pdf: &[u8], pki: &Pki, at: SystemTime) -> PdfReport {
    pdf::validate(pdf, &pki.anchors(), at, &Limits::default()).unwrap()
}

#[test]
fn a_b_lta_file_validates_with_its_archive_timestamps_listed_and_renews() {
    let Archived {
        pki,
        arch,
        limits,
        lt,
        lta,
    } = archived("Lta");
    let now = SystemTime::now();
    let r = check(&lt, &pki, now);
    assert_eq!(r.signatures[0].report.level, "B-LT", "{r:#?}");
    assert!(r.timestamps.is_empty());

    let r = check(&lta, &pki, now);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    let s = &r.signatures[0];
    assert_eq!(s.report.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(s.report.level, "B-LTA", "{r:#?}");
    // The time-stamp and the DSS after it are no change to the signed document.
    assert!(s.modified_after.is_none(), "{r:#?}");
    assert_eq!(r.timestamps.len(), 1, "{r:#?}");
    let t = &r.timestamps[0];
    assert_eq!(t.report.indication, Indication::TotalPassed, "{r:#?}");
    assert!(t.tsa.contains("Korpu Archive TSA"), "{t:#?}");
    assert!(t.time.is_some());
    assert!(t.report.revocation.starts_with("good"), "{t:#?}");
    assert!(t.field.starts_with("DocTimeStamp"));

    // Renewal: a second archive time-stamp over the first and a DSS update for its TSA.
    let renewed = doc_ts::extend_lta(&lta, &arch, Some(&pki.ocsp(vec![])), &limits).unwrap();
    let r = check(&renewed, &pki, now);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.timestamps.len(), 2, "{r:#?}");
    assert!(r.timestamps[0].revision_end < r.timestamps[1].revision_end);
    assert_ne!(r.timestamps[0].field, r.timestamps[1].field);
    assert_eq!(r.signatures[0].report.level, "B-LTA");
    // The renewal does not repeat the certificates the DSS already holds.
    let mut stream = b"stream\n".to_vec();
    stream.extend_from_slice(pki.issuing.der());
    let count = |b: &[u8]| b.windows(stream.len()).filter(|w| *w == stream).count();
    assert_eq!(count(&lta), 1);
    assert_eq!(count(&renewed), count(&lta), "the issuing CA written again");

    // Without any signature there is nothing to archive.
    assert!(doc_ts::extend_lta(&pdfgen::simple("x", 10), &arch, None, &limits).is_err());
}

#[test]
fn a_byte_flipped_in_what_a_document_timestamp_covers_is_hash_failure_for_it() {
    let Archived { pki, lta, .. } = archived("LtaFlip");
    let now = SystemTime::now();
    let before = check(&lta, &pki, now);
    let sig_end = before.signatures[0].revision_end;
    // A byte of the DSS update (a stream between the signature's revision and the
    // time-stamp): covered by the time-stamp, not by the signature.
    let at = sig_end
        + lta[sig_end..]
            .windows(7)
            .position(|w| w == b"stream\n")
            .unwrap()
        + 7
        + 40;
    let mut flipped = lta.clone();
    flipped[at] ^= 0x01;
    let r = check(&flipped, &pki, now);
    let t = &r.timestamps[0];
    assert_eq!(t.report.indication, Indication::TotalFailed, "{r:#?}");
    assert_eq!(t.report.sub_indication.as_deref(), Some("HASH_FAILURE"));
    assert_eq!(r.indication, Indication::TotalFailed);
    // A failed time-stamp proves nothing: the signature is no longer B-LTA.
    assert_eq!(r.signatures[0].report.level, "B-LT", "{r:#?}");

    // A byte of the page content: both the signature and the time-stamp fail.
    let page = lta.windows(6).position(|w| w == b"BT /F1").unwrap_or(0);
    assert!(page > 0 && page < sig_end);
    let mut flipped = lta.clone();
    flipped[page + 4] ^= 0x01;
    let r = check(&flipped, &pki, now);
    assert_eq!(r.signatures[0].report.indication, Indication::TotalFailed);
    assert_eq!(
        r.timestamps[0].report.sub_indication.as_deref(),
        Some("HASH_FAILURE"),
        "{r:#?}"
    );
}

#[test]
fn an_expired_signer_still_passes_thanks_to_the_archive_timestamp() {
    // Signer valid ±30 days, signature TSA ±60 days, archive TSA to +300 days.
    let Archived { pki, lt, lta, .. } = archived("LtaExpiry");
    let later = SystemTime::now() + 90 * DAY;

    // The control: without the archive time-stamp, nothing proves the signature time-stamp
    // existed while its TSA's certificate was valid, so the signer's expiry counts.
    let r = check(&lt, &pki, later);
    let s = &r.signatures[0].report;
    assert_eq!(s.indication, Indication::Indeterminate, "{s:#?}");
    assert_eq!(s.sub_indication.as_deref(), Some("OUT_OF_BOUNDS_NO_POE"));
    assert!(s.reason.as_deref().unwrap().contains("TSA"), "{s:#?}");

    let r = check(&lta, &pki, later);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.signatures[0].report.level, "B-LTA");
}

#[test]
fn a_signature_timestamp_whose_tsa_expired_proves_nothing_without_an_archive_timestamp() {
    // The signer's certificate outlives the signature TSA's (60 days): at +90 days the
    // signature itself is in date, but its time-stamp can no longer be trusted on its own, so
    // the revocation data from signing time is not fresh for anything; the verdict says why.
    let pki = Pki::new("LtaStale");
    let sig_tsa = pki.tsa();
    let now = SystemTime::now();
    let m = pki.leaf_valid(
        "AZ/GOV/704",
        Profile::MemberSigning,
        now - DAY,
        now + 200 * DAY,
    );
    let limits = Limits::default();
    let doc = pdfgen::simple("Long-lived signer", 500);
    let bt = pdf::sign(&doc, &m.signer(), now, Some(&sig_tsa), &limits).unwrap();
    let src = pki.ocsp(vec![]);
    let lt = pdf::add_validation_data(&bt, &src, &limits).unwrap();
    let later = now + 90 * DAY;
    let s = &check(&lt, &pki, later).signatures[0].report;
    assert_eq!(s.indication, Indication::Indeterminate, "{:?}", s.reason);
    assert!(s.proven_signing_time.is_none(), "{s:?}");
    assert!(
        s.reason.as_deref().unwrap().contains("TSA certificate"),
        "{:?}",
        s.reason
    );
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, None);
    let lta = doc_ts::extend_lta(&lt, &arch, Some(&src), &limits).unwrap();
    let r = check(&lta, &pki, later);
    assert_eq!(
        r.indication,
        Indication::TotalPassed,
        "{:?}",
        r.signatures[0].report.reason
    );
    assert!(r.signatures[0].report.proven_signing_time.is_some());
}

#[test]
fn a_chain_of_archive_timestamps_is_validated_each_at_the_next_ones_time() {
    let pki = Pki::new("LtaChain");
    let sig_tsa = pki.tsa();
    let first = tsa_valid(&pki, "Korpu Archive TSA 1", -10, 100, None);
    let second = tsa_valid(&pki, "Korpu Archive TSA 2", -1, 300, None);
    let limits = Limits::default();
    let src = pki.ocsp(vec![]);
    let lta = doc_ts::extend_lta(&b_lt(&pki, &sig_tsa), &first, Some(&src), &limits).unwrap();
    let renewed = doc_ts::extend_lta(&lta, &second, Some(&src), &limits).unwrap();
    let later = SystemTime::now() + 150 * DAY;

    // The first archive TSA has expired by then: alone it proves nothing.
    let r = check(&lta, &pki, later);
    assert_eq!(
        r.timestamps[0].report.sub_indication.as_deref(),
        Some("OUT_OF_BOUNDS_NO_POE"),
        "{r:#?}"
    );
    assert_ne!(r.signatures[0].report.indication, Indication::TotalPassed);

    // Renewed before it expired, the second one proves the first existed while valid.
    let r = check(&renewed, &pki, later);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.timestamps.len(), 2);
    assert!(r
        .timestamps
        .iter()
        .all(|t| t.report.indication == Indication::TotalPassed));
    assert_eq!(r.signatures[0].report.level, "B-LTA");
}

#[test]
fn a_document_timestamp_from_an_untrusted_or_revoked_tsa_proves_nothing() {
    let pki = Pki::new("LtaUntrusted");
    let other = Pki::new("LtaElsewhere");
    let sig_tsa = pki.tsa();
    let limits = Limits::default();
    let lt = b_lt(&pki, &sig_tsa);
    let later = SystemTime::now() + 90 * DAY;

    // Anyone can append a document time-stamp; one from a TSA outside the trust anchors is
    // INDETERMINATE and gives the signature no proof of existence.
    let foreign = tsa_valid(&other, "Elsewhere TSA", -10, 300, None);
    let stamped = doc_ts::add_document_timestamp(&lt, &foreign, &limits).unwrap();
    let r = check(&stamped, &pki, later);
    let t = &r.timestamps[0].report;
    assert_eq!(t.indication, Indication::Indeterminate, "{t:?}");
    assert_eq!(
        t.sub_indication.as_deref(),
        Some("NO_CERTIFICATE_CHAIN_FOUND"),
        "{:?}",
        t.reason
    );
    let s = &r.signatures[0].report;
    assert_ne!(s.level, "B-LTA");
    assert_eq!(
        s.sub_indication.as_deref(),
        Some("OUT_OF_BOUNDS_NO_POE"),
        "{}: {:?}",
        s.level,
        s.reason
    );

    // A trusted TSA whose certificate was revoked before it stamped: no proof either.
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, None);
    let arch_serial = arch.authority().cert.serial_hex();
    let revoked = pki.ocsp(vec![(arch_serial, SystemTime::now() - DAY)]);
    let lta = doc_ts::extend_lta(&lt, &arch, Some(&revoked), &limits).unwrap();
    let r = check(&lta, &pki, later);
    let t = &r.timestamps[0].report;
    assert_eq!(t.indication, Indication::Indeterminate, "{:?}", t.reason);
    assert!(
        t.reason.as_deref().unwrap().contains("revoked"),
        "{:?}",
        t.reason
    );
    assert_ne!(r.signatures[0].report.indication, Indication::TotalPassed);
    assert_ne!(r.signatures[0].report.level, "B-LTA");
    // The same file with the TSA in good standing passes: the revocation made the difference.
    let good = doc_ts::extend_lta(&lt, &arch, Some(&pki.ocsp(vec![])), &limits).unwrap();
    assert_eq!(
        check(&good, &pki, later).indication,
        Indication::TotalPassed
    );
}

#[test]
fn an_algorithm_out_of_policy_passes_when_an_archive_timestamp_predates_the_policy_date() {
    // A B-B signature (no signature time-stamp) covered by an archive time-stamp, judged by a
    // policy under which ECDSA P-256 expired yesterday: the archive time-stamp (now) does not
    // precede it, so INDETERMINATE; under a policy expiring tomorrow validated in three days,
    // its POE precedes the date and the constraint is lifted.
    let pki = Pki::new("LtaPolicy");
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, None);
    let m = pki.member("AZ/GOV/702");
    let limits = Limits::default();
    let now = SystemTime::now();
    let doc = pdfgen::simple("Old algorithm", 500);
    let bb = pdf::sign(&doc, &m.signer(), now, None, &limits).unwrap();
    let src = pki.ocsp(vec![]);
    let lt = pdf::add_validation_data(&bb, &src, &limits).unwrap();
    let lta = doc_ts::extend_lta(&lt, &arch, Some(&src), &limits).unwrap();
    let policy = |until: SystemTime| {
        let d = der::DateTime::from_system_time(until).unwrap();
        let text = format!(
            r#"{{"name":"test","digests":[{{"algorithm":"SHA-256"}}],
               "keys":[{{"key":"EC","min_bits":256,"until":"{:04}-{:02}-{:02}"}}]}}"#,
            d.year(),
            d.month(),
            d.day()
        );
        let p = korpu_sign::policy::Policy::from_json(&text).unwrap();
        korpu_sign::ValidationOptions {
            policy: Some(Arc::new(p)),
            ..Default::default()
        }
    };
    let at = now + 3 * DAY;
    let opts = policy(now + DAY);
    let no_poe = |r: &PdfReport| {
        r.signatures[0].report.sub_indication.as_deref()
            == Some("CRYPTO_CONSTRAINTS_FAILURE_NO_POE")
    };
    let no_archive = pdf::validate_opts(&lt, &pki.anchors(), at, &limits, &opts).unwrap();
    assert!(no_poe(&no_archive), "{no_archive:#?}");
    let r = pdf::validate_opts(&lta, &pki.anchors(), at, &limits, &opts).unwrap();
    assert!(!no_poe(&r), "{r:#?}");
    let opts = policy(now - DAY);
    let r = pdf::validate_opts(&lta, &pki.anchors(), at, &limits, &opts).unwrap();
    assert_eq!(
        r.signatures[0].report.sub_indication.as_deref(),
        Some("CRYPTO_CONSTRAINTS_FAILURE"),
        "{r:#?}"
    );
}

// --- pyHanko, both ways ---------------------------------------------------------------

/// An OCSP responder answering for the certificates `issuer` issued ("good"), signed with
/// the issuer's own key.
fn responder(issuer: &Certificate, key: &SigningKey) -> Responder {
    Responder::new(
        issuer.clone(),
        issuer.clone(),
        key.clone(),
        std::time::Duration::from_secs(3600),
    )
    .unwrap()
}

fn http_ocsp(r: Responder) -> String {
    common::http_post("application/ocsp-response", move |body| {
        r.respond(body, SystemTime::now(), |_| CertStatus::Good)
    })
}

/// In-process responders for several issuers, as a [`RevocationSource`].
struct Responders(Vec<Responder>);

impl RevocationSource for Responders {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        let r = self
            .0
            .iter()
            .find(|r| r.issuer == *issuer)
            .ok_or_else(|| SignError::InvalidInput("no responder for that issuer".into()))?;
        let (req, nonce) = ocsp::build_request(cert, issuer)?;
        let resp = r.respond(&req, SystemTime::now(), |_| CertStatus::Good);
        ocsp::verify_response(&resp, cert, issuer, Some(&nonce), SystemTime::now())?;
        Ok(resp)
    }
}

/// A PKI whose issuing CA, too, names an OCSP responder (the root's, served on loopback):
/// pyHanko's past validation wants revocation data for every certificate below the anchor.
/// Returns it with a source answering for both levels.
fn pki_with_ca_ocsp(name: &str) -> (Pki, Responders) {
    let base = Pki::new(name);
    // The root answers through a delegated responder (id-kp-OCSPSigning, ocsp-nocheck):
    // pyHanko cannot place a response signed by the trust anchor itself in a past path.
    let now = SystemTime::now();
    let (nb, na) = (now - 365 * DAY, now + 365 * DAY);
    let by_root = |cn: &str, profile: Profile, ocsp_url: Option<&str>| {
        let subject = subject(&format!("{name} {cn}"));
        issue(
            &base.root,
            &base.root_key,
            subject,
            profile,
            nb,
            na,
            ocsp_url,
        )
    };
    let (rcert, rkey) = by_root("Root OCSP", Profile::OcspResponder, None);
    let root_responder = || {
        Responder::new(
            base.root.clone(),
            rcert.clone(),
            rkey.clone(),
            std::time::Duration::from_secs(3600),
        )
        .unwrap()
    };
    let root_url = http_ocsp(root_responder());
    let (issuing, key) = by_root("Issuing CA", Profile::IssuingCa, Some(&root_url));
    let source = Responders(vec![root_responder(), responder(&issuing, &key)]);
    (base.with_issuing(issuing, key), source)
}

#[test]
fn pyhanko_validates_what_korpu_extends_to_b_lta_and_korpu_validates_pyhankos() {
    let (pki, src) = pki_with_ca_ocsp("LtaJudge");
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Certificates name the loopback OCSP responder, so pyHanko both checks and (when
    // signing) fetches their revocation. The chains carry the root, so that Körpü gathers
    // the issuing CA's revocation data as well.
    let ocsp_url = http_ocsp(responder(&pki.issuing, &pki.issuing_key));
    let mut member = pki.leaf_with_ocsp("AZ/GOV/703", Profile::MemberSigning, &ocsp_url);
    member.chain.push(pki.root.clone());
    let mut tsa_leaf = pki.leaf_with_ocsp("Korpu TSA", Profile::Tsa, &ocsp_url);
    tsa_leaf.chain.push(pki.root.clone());
    let tsa = Arc::new(LocalTimestamper::new(
        pki.authority(tsa_leaf, "1.3.6.1.4.1.99999.1.1"),
    ));
    let limits = Limits::default();
    std::fs::write(p("root.pem"), pki.root.to_pem()).unwrap();
    std::fs::write(p("ca.pem"), pki.issuing.to_pem()).unwrap();

    // Körpü makes B-LTA (and renews it); pyHanko validates it as PAdES-LTA, offline, with
    // revocation data required.
    let bt = pdf::sign(
        &pdfgen::simple("Korpu B-LTA", 1500),
        &member.signer(),
        SystemTime::now(),
        Some(tsa.as_ref()),
        &limits,
    )
    .unwrap();
    let lta = doc_ts::extend_lta(&bt, tsa.as_ref(), Some(&src), &limits).unwrap();
    let renewed = doc_ts::extend_lta(&lta, tsa.as_ref(), Some(&src), &limits).unwrap();
    for (name, file) in [("ours_lta.pdf", &lta), ("ours_renewed.pdf", &renewed)] {
        std::fs::write(p(name), file).unwrap();
        pyhanko_passes_lta(&p(name), &p("root.pem"));
        let r = check(file, &pki, SystemTime::now());
        assert_eq!(r.indication, Indication::TotalPassed, "{name}: {r:#?}");
    }

    // Ninety days on, every certificate but the CAs has expired (signer, TSA: 30 days).
    // pyHanko's simulation of that future validation (the archive chain assumed renewed
    // until then) finds in our file all the data past signature validation needs. Körpü,
    // validating for real at that time, passes the file renewed with an archive TSA valid
    // for 300 days, and not the one without that renewal.
    let v = pyhanko_lta_at(&p("ours_renewed.pdf"), &p("root.pem"), Some(90));
    assert_eq!(v[0]["ades_indication"], "PASSED", "{v:?}");
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, Some(&ocsp_url));
    let kept = doc_ts::extend_lta(&renewed, &arch, Some(&src), &limits).unwrap();
    let later = SystemTime::now() + 90 * DAY;
    assert_eq!(
        check(&kept, &pki, later).indication,
        Indication::TotalPassed
    );
    assert_ne!(
        check(&renewed, &pki, later).indication,
        Indication::TotalPassed
    );

    // pyHanko makes B-LTA with our TSA and OCSP responder; Körpü validates it, now and
    // after the signer's and the TSA's certificates have expired.
    std::fs::write(p("key.pem"), member.key.to_pkcs8_pem()).unwrap();
    std::fs::write(p("cert.pem"), member.cert.to_pem()).unwrap();
    std::fs::write(p("in.pdf"), pdfgen::simple("pyHanko B-LTA", 1500)).unwrap();
    // pyHanko fetches the signer's OCSP response just before the signature time-stamp: fresh
    // for Körpü because its nextUpdate is after the time-stamp (EN 319 102-1 §5.2.5.4).
    let url = common::http_tsa(tsa.clone(), 5000);
    common::run_pyhanko(
        "sign_lta.py",
        &[
            p("in.pdf").as_os_str(),
            p("theirs.pdf").as_os_str(),
            p("key.pem").as_os_str(),
            p("cert.pem").as_os_str(),
            p("ca.pem").as_os_str(),
            p("root.pem").as_os_str(),
            url.as_ref(),
        ],
    );
    let theirs = std::fs::read(p("theirs.pdf")).unwrap();
    let r = check(&theirs, &pki, SystemTime::now());
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.signatures[0].report.level, "B-LTA", "{r:#?}");
    assert_eq!(r.timestamps.len(), 1, "{r:#?}");
    // Körpü renews pyHanko's B-LTA, and pyHanko accepts the renewal.
    let arch = tsa_valid(&pki, "Korpu Archive TSA", -10, 300, Some(&ocsp_url));
    let ours_on_theirs = doc_ts::extend_lta(&theirs, &arch, Some(&src), &limits).unwrap();
    std::fs::write(p("theirs_renewed.pdf"), &ours_on_theirs).unwrap();
    let r = check(&ours_on_theirs, &pki, SystemTime::now() + 90 * DAY);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.timestamps.len(), 2);
    pyhanko_passes_lta(&p("theirs_renewed.pdf"), &p("root.pem"));

    // The control: a B-T file (no DSS, no document time-stamp) is not LTA for pyHanko.
    std::fs::write(p("bt.pdf"), &bt).unwrap();
    let v = pyhanko_lta(&p("bt.pdf"), &p("root.pem"));
    assert_ne!(v[0]["ades_indication"], "PASSED", "{v:?}");
    let v = pyhanko_lta_at(&p("bt.pdf"), &p("root.pem"), Some(90));
    assert_ne!(v[0]["ades_indication"], "PASSED", "{v:?}");
}

/// pyHanko's PAdES-LTA validation (validate_lta.py): one JSON value per signature.
fn pyhanko_lta(pdf: &Path, root: &Path) -> Vec<serde_json::Value> {
    pyhanko_lta_at(pdf, root, None)
}

/// As [`pyhanko_lta`], validating `days` from now when given.
fn pyhanko_lta_at(pdf: &Path, root: &Path, days: Option<u32>) -> Vec<serde_json::Value> {
    let days = days.map(|d| d.to_string());
    let mut args: Vec<&std::ffi::OsStr> = vec![pdf.as_os_str(), root.as_os_str()];
    if let Some(d) = &days {
        args.push(d.as_ref());
    }
    common::json_lines(&common::run_pyhanko("validate_lta.py", &args))
}

/// pyHanko's AdES LTA validation passes every signature of `pdf`, with at least one
/// archive time-stamp, and its diff analysis sees only LTA updates after them.
fn pyhanko_passes_lta(pdf: &Path, root: &Path) {
    let v = pyhanko_lta(pdf, root);
    assert!(!v.is_empty(), "{}: no signature", pdf.display());
    for s in &v {
        assert_eq!(s["ades_indication"], "PASSED", "{}: {s}", pdf.display());
        assert_ne!(s["oldest_archive_time"], "None", "{}: {s}", pdf.display());
        assert_eq!(
            s["modification_level"],
            "LTA_UPDATES",
            "{}: {s}",
            pdf.display()
        );
        assert_eq!(s["classic_bottom_line"], true, "{}: {s}", pdf.display());
    }
}

/// A renewed B-LTA file with bytes flipped across its time-stamp revisions and cut at many
/// points: validation never panics, stays within a time bound, and no change to a byte of a
/// document time-stamp's token (which carries only certificates validation uses) leaves that
/// time-stamp TOTAL_PASSED.
#[test]
fn mutated_document_timestamps_never_pass_or_panic() {
    let pki = Pki::new("LtaMutate");
    let sig_tsa = pki.tsa();
    // Tokens carrying only the certificates validation uses (TSA, issuing CA): a copy of the
    // trust anchor inside a token is never read, so changing it changes nothing.
    let arch = pki.tsa();
    let limits = Limits::default();
    let src = pki.ocsp(vec![]);
    let lta = doc_ts::extend_lta(&b_lt(&pki, &sig_tsa), &arch, Some(&src), &limits).unwrap();
    let renewed = doc_ts::extend_lta(&lta, &arch, Some(&src), &limits).unwrap();
    let now = SystemTime::now();
    let base = check(&renewed, &pki, now);
    assert_eq!(base.indication, Indication::TotalPassed, "{base:#?}");
    let sig_end = base.signatures[0].revision_end;
    // The tokens' DER: from each "/Contents<" of a /DocTimeStamp up to its zero padding.
    let mut tokens = Vec::new();
    let mut from = sig_end;
    while let Some(i) = renewed[from..].windows(10).position(|w| w == b"/Contents<") {
        let start = from + i + 10;
        let hex_end = start + renewed[start..].iter().position(|b| *b == b'>').unwrap();
        let der = hex::decode(&renewed[start..hex_end]).unwrap();
        // The DER length from its header (tokens are longer than 255 bytes: 0x82 form).
        assert_eq!(der[1], 0x82);
        let len = 4 + ((der[2] as usize) << 8 | der[3] as usize);
        tokens.push((start, start + 2 * len));
        from = hex_end;
    }
    assert_eq!(tokens.len(), 2, "two document time-stamps");
    let run = |b: &[u8]| {
        let t = std::time::Instant::now();
        let r = pdf::validate(b, &pki.anchors(), now, &limits);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        r
    };
    for (k, (start, end)) in tokens.iter().enumerate() {
        for i in (*start..*end).step_by(23) {
            let mut m = renewed.clone();
            // Another hex digit: the token's byte changes, the file's structure does not.
            m[i] = if m[i] == b'0' { b'1' } else { b'0' };
            let r = run(&m).unwrap();
            assert_ne!(
                r.timestamps[k].report.indication,
                Indication::TotalPassed,
                "byte {} of token {k}: {:?}",
                (i - start) / 2,
                r.timestamps[k].report.reason
            );
        }
    }
    for i in (sig_end..renewed.len()).step_by(131) {
        let mut m = renewed.clone();
        m[i] ^= 0x20;
        let _ = run(&m);
    }
    for cut in (sig_end..renewed.len()).step_by(257) {
        let _ = run(&renewed[..cut]);
    }
}
