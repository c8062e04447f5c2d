//! Certification paths and revocation in signature validation, on hierarchies and CRLs made by
//! openssl: RSA and EC CAs mixed, CRLs embedded at B-LT for the signer and its CA, a revoked
//! intermediate CA, a CRL nobody trustworthy signed, and CRLs fetched from a distribution point
//! on a local HTTP server only when the caller allows fetching.
#![allow(clippy::cloned_ref_to_slice_refs)]
mod common;

use common::{ossl, Crls};
use korpu_testkit::http;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use korpu_sign::fetch::HttpFetcher;
use korpu_sign::lt::add_revocation_values;
use korpu_sign::validate::{validate_cades, validate_cades_opts, Indication};
use korpu_sign::ValidationOptions;
use ossl::{CrlPublishing, KeyKind, Made, Ossl, CA_EXT, SIGNER_EXT};

const DATA: &[u8] = b"a contract signed under a foreign CA\n";

struct Hierarchy {
    o: Ossl,
    root: Made,
    ca: Made,
    signer: Made,
}

impl Hierarchy {
    /// The CRLs a B-LT signature embeds: `ca_crl` for the signer, the root's current CRL for
    /// the CA.
    fn crls(&self, ca_crl: Vec<u8>) -> Crls {
        Crls(vec![
            (self.ca.cert.clone(), ca_crl),
            (self.root.cert.clone(), self.o.crl(&self.root, None)),
        ])
    }
}

fn rsa_root_ec_ca_ec_signer(ca_ext: &str, signer_ext: &str) -> Hierarchy {
    let o = Ossl::new();
    let root = o.root(
        "root",
        "/O=Foreign Trust/CN=Foreign RSA Root",
        KeyKind::Rsa2048,
    );
    let ca = o.issue(
        "ca",
        "/O=Foreign Trust/CN=Foreign EC CA",
        KeyKind::P384,
        &root,
        ca_ext,
    );
    let signer = o.issue(
        "signer",
        "/CN=Foreign Signer",
        KeyKind::P256,
        &ca,
        signer_ext,
    );
    Hierarchy {
        o,
        root,
        ca,
        signer,
    }
}

#[test]
fn rsa_root_ec_intermediate_ec_signer_passes_with_embedded_crls() {
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, SIGNER_EXT);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca, &h.root]);
    let anchors = [h.root.cert.clone()];
    let now = SystemTime::now();

    // Intact and trusted across RSA and EC, but nothing says whether anything was revoked.
    let r = validate_cades(&p7s, DATA, &anchors, now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(
        r.trust_anchor.as_deref(),
        Some(h.root.cert.subject().as_str())
    );

    // B-LT with the CAs' CRLs: the signer's (from the EC CA) and the CA's (from the RSA root).
    let crls = h.crls(h.o.crl(&h.ca, None));
    let lt = add_revocation_values(&p7s, &crls).unwrap();
    let r = validate_cades(&lt, DATA, &anchors, now);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(r.revocation.starts_with("good (embedded CRL"), "{r:#?}");
    assert!(
        r.revocation
            .contains("CN=Foreign EC CA,O=Foreign Trust\": good (embedded CRL"),
        "the intermediate CA is checked too: {r:#?}"
    );
}

#[test]
fn ec_root_rsa_signer_passes() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Foreign EC Root", KeyKind::P384);
    let signer = o.signer("signer", "/CN=RSA Signer", KeyKind::Rsa2048, &root);
    let p7s = o.cms_sign(&signer, DATA, &[&root]);
    let crls = Crls(vec![(root.cert.clone(), o.crl(&root, None))]);
    let lt = add_revocation_values(&p7s, &crls).unwrap();
    let r = validate_cades(&lt, DATA, &[root.cert.clone()], SystemTime::now());
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
}

#[test]
fn a_revoked_intermediate_fails_the_signature_when_revoked_before_the_proven_time() {
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, SIGNER_EXT);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca, &h.root]);
    // The root revokes the issuing CA now.
    h.o.revoke(&h.root, &h.ca, "cACompromise");
    let crls = h.crls(h.o.crl(&h.ca, None));
    let now = SystemTime::now();

    // Time-stamped an hour after the revocation (by our TSA, which the verifier also trusts).
    let pki = common::Pki::new("Chains TSA");
    let tsa = pki.tsa();
    tsa.set_time(Some(now + Duration::from_secs(3600)));
    let bt = korpu_sign::cades::add_signature_timestamp(&p7s, &tsa).unwrap();
    let lt = add_revocation_values(&bt, &crls).unwrap();
    let anchors = [h.root.cert.clone(), pki.root.clone()];
    let r = validate_cades(&lt, DATA, &anchors, now + Duration::from_secs(7200));
    assert_eq!(r.indication, Indication::TotalFailed, "{r:#?}");
    assert_eq!(r.sub_indication.as_deref(), Some("REVOKED"), "{r:#?}");
    assert!(
        r.reason.as_deref().unwrap().contains("Foreign EC CA"),
        "{r:#?}"
    );
    assert!(
        r.reason.as_deref().unwrap().contains("CaCompromise"),
        "{r:#?}"
    );

    // Without a time-stamp nothing proves the signature predates the revocation.
    let lt = add_revocation_values(&p7s, &crls).unwrap();
    let r = validate_cades(&lt, DATA, &anchors, now);
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(
        r.sub_indication.as_deref(),
        Some("REVOKED_CA_NO_POE"),
        "{r:#?}"
    );
}

/// openssl's -crl_lastupdate form (UTCTime, YYMMDDHHMMSSZ) of `t`.
fn utc(t: SystemTime) -> String {
    let dt = der::DateTime::from_system_time(t).unwrap();
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        dt.year() % 100,
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    )
}

#[test]
fn a_crl_makes_b_lt_when_it_covers_the_time_stamp() {
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, SIGNER_EXT);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca, &h.root]);
    let now = SystemTime::now();
    let pki = common::Pki::new("Chains Fresh TSA");
    let tsa = pki.tsa();
    tsa.set_time(Some(now + Duration::from_secs(60)));
    let bt = korpu_sign::cades::add_signature_timestamp(&p7s, &tsa).unwrap();
    let anchors = [h.root.cert.clone(), pki.root.clone()];
    let later = now + Duration::from_secs(600);
    let b_lt_with = |crls: Crls| {
        let lt = add_revocation_values(&bt, &crls).unwrap();
        validate_cades(&lt, DATA, &anchors, later)
    };

    // Published before the time-stamp, valid until after it (a CA publishing every few hours,
    // the signature made between two CRLs): it covers the signing time. B-LT, passed.
    let r = b_lt_with(Crls(vec![
        (
            h.ca.cert.clone(),
            h.o.crl(&h.ca, Some(&utc(now - Duration::from_secs(60)))),
        ),
        (h.root.cert.clone(), h.o.crl(&h.root, None)),
    ]));
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.level, "B-LT", "{r:#?}");

    // Published after the time-stamp: passed too.
    let after = utc(now + Duration::from_secs(120));
    let r = b_lt_with(Crls(vec![
        (h.ca.cert.clone(), h.o.crl(&h.ca, Some(&after))),
        (h.root.cert.clone(), h.o.crl(&h.root, Some(&after))),
    ]));
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");

    // Its nextUpdate passed before the time-stamp: it says nothing about the signing time.
    let stale = h.o.crl_dated(
        &h.ca,
        &utc(now - Duration::from_secs(2 * 86400)),
        &utc(now - Duration::from_secs(86400)),
    );
    let r = b_lt_with(h.crls(stale));
    assert_eq!(r.sub_indication.as_deref(), Some("TRY_LATER"), "{r:#?}");
    assert_eq!(r.level, "B-T", "{r:#?}");
    assert!(r.revocation.starts_with("not established"), "{r:#?}");
}

#[test]
fn a_crl_with_a_bad_signature_is_not_trusted() {
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, SIGNER_EXT);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca, &h.root]);
    // Someone else's key under the CA's name issues a clean CRL; the real CA revoked the signer.
    let impostor = h.o.ca(
        "impostor",
        "/O=Foreign Trust/CN=Foreign EC CA",
        KeyKind::P384,
        &h.root,
    );
    h.o.revoke(&h.ca, &h.signer, "keyCompromise");
    let forged = h.o.crl(&impostor, None);
    let lt = add_revocation_values(&p7s, &h.crls(forged)).unwrap();
    let r = validate_cades(&lt, DATA, &[h.root.cert.clone()], SystemTime::now());
    // Not "good": the CRL is not the CA's, so there is no revocation data for the signer.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(r.sub_indication.as_deref(), Some("TRY_LATER"), "{r:#?}");
    assert!(r.revocation.contains("unusable"), "{r:#?}");

    // The real CA's CRL says revoked, and without a time-stamp that is REVOKED_NO_POE.
    let lt = add_revocation_values(&p7s, &Crls(vec![(h.ca.cert.clone(), h.o.crl(&h.ca, None))]))
        .unwrap();
    let r = validate_cades(&lt, DATA, &[h.root.cert.clone()], SystemTime::now());
    assert_eq!(
        r.sub_indication.as_deref(),
        Some("REVOKED_NO_POE"),
        "{r:#?}"
    );
}

#[test]
fn a_signer_certificate_not_for_signing_is_refused() {
    let ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
               extendedKeyUsage=serverAuth\n";
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, ext);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca]);
    let r = validate_cades(&p7s, DATA, &[h.root.cert.clone()], SystemTime::now());
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(
        r.sub_indication.as_deref(),
        Some("CHAIN_CONSTRAINTS_FAILURE"),
        "{r:#?}"
    );
}

type Files = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `files` by path on `listener` (until the test process ends), counting requests.
fn serve(listener: TcpListener, files: Files) -> Arc<AtomicUsize> {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    http::serve_on(listener, move |first, _| {
        counted.fetch_add(1, Ordering::Relaxed);
        let files = files.lock().unwrap();
        let file = files.iter().find(|(p, _)| p == http::path(first));
        file.map(|(_, body)| ("application/pkix-crl", body.clone()))
    });
    hits
}

#[test]
fn crls_are_fetched_from_distribution_points_only_when_allowed() {
    let (h, listener) = CrlPublishing::listening("Fetch Root", "Fetch CA");
    let (o, root, ca) = (&h.o, &h.root, &h.ca);
    let signer = h.signer("signer", "/CN=Fetch Signer");
    let p7s = o.cms_sign(&signer, DATA, &[ca]);
    let files: Files = Arc::new(Mutex::new(h.crl_files()));
    let hits = serve(listener, files.clone());
    let anchors = [root.cert.clone()];
    let now = SystemTime::now();

    // By default validation stays offline.
    let r = validate_cades(&p7s, DATA, &anchors, now);
    common::assert_valid_without_revocation(&r);
    assert_eq!(
        hits.load(Ordering::Relaxed),
        0,
        "nothing may be fetched by default"
    );

    let fetching = ValidationOptions {
        fetcher: Some(Arc::new(HttpFetcher::default())),
        ..ValidationOptions::default()
    };
    let r = validate_cades_opts(&p7s, DATA, &anchors, now, &fetching);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(r.revocation.starts_with("good (fetched CRL"), "{r:#?}");
    assert!(
        r.revocation.contains("Fetch CA\": good (fetched CRL"),
        "{r:#?}"
    );
    assert_eq!(hits.load(Ordering::Relaxed), 2);
    // A fetched answer does not make the signature B-LT: nothing was embedded.
    assert_eq!(r.level, "B-B");

    // The CA revokes the signer and publishes a new CRL: fetching now finds it.
    o.revoke(ca, &signer, "keyCompromise");
    files.lock().unwrap()[1].1 = o.crl(ca, None);
    let r = validate_cades_opts(&p7s, DATA, &anchors, now, &fetching);
    assert_eq!(
        r.sub_indication.as_deref(),
        Some("REVOKED_NO_POE"),
        "{r:#?}"
    );
    assert!(r.revocation.starts_with("revoked at"), "{r:#?}");
}

#[test]
fn a_delta_crl_alone_leaves_the_signature_indeterminate() {
    let h = rsa_root_ec_ca_ec_signer(CA_EXT, SIGNER_EXT);
    let p7s = h.o.cms_sign(&h.signer, DATA, &[&h.ca, &h.root]);
    let delta =
        h.o.crl_with(&h.ca, None, "2.5.29.27=critical,DER:02:01:01\n");
    let lt = add_revocation_values(&p7s, &h.crls(delta)).unwrap();
    let r = validate_cades(&lt, DATA, &[h.root.cert.clone()], SystemTime::now());
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(r.sub_indication.as_deref(), Some("TRY_LATER"), "{r:#?}");
}
