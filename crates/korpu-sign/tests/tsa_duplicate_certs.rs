//! A CAdES signature whose signature time-stamp came from `openssl ts -reply` with the TSA's own
//! certificate in its `certs` file, so the token lists that certificate twice. openssl accepts
//! such tokens; validation must pass the signature (issue 14), and an altered token must not.
//!
//! Fails (does not skip) when openssl is missing. `OPENSSL` overrides `/usr/bin/openssl`.
mod common;

use std::time::{Duration, SystemTime};

use common::ossl::{self, KeyKind, Made, Ossl};
use common::Crls;
use korpu_pki::cert::Certificate;
use korpu_pki::tsa;
use korpu_sign::cades::add_signature_timestamp;
use korpu_sign::lt::add_revocation_values;
use korpu_sign::validate::{validate_cades, Indication};
use korpu_sign::{SignError, Timestamper};

const DATA: &[u8] = b"a contract time-stamped by a foreign TSA\n";

/// An openssl TSA whose `certs` file holds its own certificate and its CA's.
struct OpensslTsa<'a> {
    o: &'a Ossl,
}

impl OpensslTsa<'_> {
    fn new<'a>(o: &'a Ossl, ca: &Made) -> OpensslTsa<'a> {
        o.duplicating_tsa(ca, "/CN=Duplicating TSA", KeyKind::Rsa2048);
        OpensslTsa { o }
    }
}

impl Timestamper for OpensslTsa<'_> {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let (req, _) = tsa::build_request(sha256);
        std::fs::write(self.o.path("q.tsq"), req).unwrap();
        Ok(ossl::ts_reply(self.o.dir.path()))
    }
}

#[test]
fn a_signature_time_stamp_listing_its_tsa_certificate_twice_passes() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Foreign Root", KeyKind::P256);
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &root);
    let p7s = o.cms_sign(&signer, DATA, &[&root]);
    let bt = add_signature_timestamp(&p7s, &OpensslTsa::new(&o, &root)).unwrap();
    let token = std::fs::read(o.path("token.der")).unwrap();
    let tsa_cert =
        Certificate::from_pem(&std::fs::read_to_string(o.path("tsa.pem")).unwrap()).unwrap();
    let copies = token
        .windows(tsa_cert.der().len())
        .filter(|w| *w == tsa_cert.der())
        .count();
    assert_eq!(copies, 2, "openssl wrote the TSA certificate twice");

    let lt =
        add_revocation_values(&bt, &Crls(vec![(root.cert.clone(), o.crl(&root, None))])).unwrap();
    let later = SystemTime::now() + Duration::from_secs(60);
    let anchors = [root.cert.clone()];
    let r = validate_cades(&lt, DATA, &anchors, later);
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.level, "B-LT", "{r:#?}");
    assert!(r.proven_signing_time.is_some(), "{r:#?}");

    // The token's signature value is its last octets: one flipped there is not passed.
    let at = lt
        .windows(token.len())
        .position(|w| w == token.as_slice())
        .expect("the token is embedded as the TSA wrote it");
    let mut altered = lt.clone();
    altered[at + token.len() - 1] ^= 0x01;
    let r = validate_cades(&altered, DATA, &anchors, later);
    assert_ne!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("time-stamp"),
        "{r:#?}"
    );
}
