//! The ETSI TS 119 102-2 validation report ([`korpu_sign::report_etsi`]): for a passed, an
//! indeterminate and a failed signature in PAdES, CAdES and ASiC-E (XAdES), the XML validates
//! against the standard's XSD (`xmllint --schema`, tests/data/etsi-xsd) and carries the right
//! main and sub-indication URIs and the objects the verdict rests on.
//!
//! Fails (does not skip) when xmllint is missing; `scripts/test` installs it.
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use common::{pdfgen, Pki, Setup};
use korpu_sign::asice::{self, DataFile, Limits};
use korpu_sign::report_etsi;
use korpu_sign::validate::{validate_cades, Indication, SignatureReport};
use korpu_sign::{cades, lt, pdf, xades_sign};

const PASSED: &str = "urn:etsi:019102:mainindication:total-passed";
const INDETERMINATE: &str = "urn:etsi:019102:mainindication:indeterminate";
const FAILED: &str = "urn:etsi:019102:mainindication:total-failed";

fn schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/etsi-xsd/TS119102-2-v122.xsd")
}

/// Runs xmllint's schema validation; returns whether it passed and what it said.
fn xsd_check(xml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run xmllint ({e}); scripts/test installs it (libxml2-utils)")
        });
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

fn assert_schema_valid(xml: &str) {
    let (ok, said) = xsd_check(xml);
    assert!(ok, "not valid against TS 119 102-2:\n{said}\n{xml}");
}

/// The texts of every `<vr:NAME>` element, in document order.
fn texts(xml: &str, name: &str) -> Vec<String> {
    let open = format!("<vr:{name}>");
    let close = format!("</vr:{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).expect("closed");
        out.push(after[..j].to_owned());
        rest = &after[j..];
    }
    out
}

/// The report of `reports`, checked against the XSD, with its main indications and
/// sub-indications.
fn etsi(reports: &[&SignatureReport]) -> (String, Vec<String>, Vec<String>) {
    let xml = report_etsi::to_xml(reports, None, SystemTime::now());
    assert_schema_valid(&xml);
    let main = texts(&xml, "MainIndication");
    let sub = texts(&xml, "SubIndication");
    (xml, main, sub)
}

fn sub_uri(s: &str) -> String {
    format!("urn:etsi:019102:subindication:{s}")
}

/// Every `VOReference` names a listed validation object (xmllint checks IDREFs too; this
/// says which one when it does not).
fn assert_references_resolve(xml: &str) {
    for part in xml.split("VOReference=\"").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(
            xml.contains(&format!("<vr:ValidationObject id=\"{id}\">")),
            "{id} is not among the validation objects"
        );
    }
}

#[test]
fn the_schema_check_refuses_a_report_without_a_status() {
    // The judge itself must be able to say no: the same report without its required
    // SignatureValidationStatus, or with an element the schema does not know, is refused.
    let pki = Pki::new("EtsiNeg");
    let m = pki.member("AZ/GOV/7001");
    let p7s = cades::sign(b"data", &m.signer(), SystemTime::now(), None).unwrap();
    let r = validate_cades(&p7s, b"data", &pki.anchors(), SystemTime::now());
    let xml = report_etsi::to_xml(&[&r], None, SystemTime::now());
    assert_schema_valid(&xml);
    let start = xml.find("<vr:SignatureValidationStatus>").unwrap();
    let end = xml.find("</vr:SignatureValidationStatus>").unwrap();
    let without = format!(
        "{}{}",
        &xml[..start],
        &xml[end + "</vr:SignatureValidationStatus>".len()..]
    );
    assert!(!xsd_check(&without).0, "a report without a status passed");
    let unknown = xml.replace("<vr:SignatureQuality>", "<vr:Quality>");
    let unknown = unknown.replace("</vr:SignatureQuality>", "</vr:Quality>");
    assert!(!xsd_check(&unknown).0, "an unknown element passed");
}

#[test]
fn pades_passed_indeterminate_and_failed() {
    let Setup { pki, m, tsa, now } = Setup::new("EtsiPades", "AZ/GOV/7002");
    let doc = pdfgen::simple("Decision 7002", 3000);
    let bt = pdf::sign(&doc, &m.signer(), now, Some(&tsa), &pdf::Limits::default()).unwrap();
    let blt = pdf::add_validation_data(&bt, &pki.ocsp(vec![]), &pdf::Limits::default()).unwrap();

    // Passed: B-LT with the OCSP response and the time-stamp as validation objects.
    let r = pdf::validate(&blt, &pki.anchors(), now, &pdf::Limits::default()).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    let report = &r.signatures[0].report;
    let (xml, main, sub) = etsi(&[report]);
    assert_eq!(main, [PASSED]);
    assert!(sub.is_empty(), "{sub:?}");
    assert_references_resolve(&xml);
    assert!(xml.contains("urn:etsi:019102:validationObject:OCSPResponse"));
    assert!(xml.contains("urn:etsi:019102:validationObject:timestamp"));
    // The best signature time is the time-stamp's, the signer its certificate's subject.
    let proven = report.proven_signing_time.clone().unwrap();
    assert_eq!(texts(&xml, "POETime"), std::slice::from_ref(&proven));
    assert_eq!(texts(&xml, "TimeStampValue"), [proven]);
    assert!(texts(&xml, "Signer")[0].contains("AZ/GOV/7002"));
    // The chain: signer, issuing CA, root as trust anchor.
    assert_eq!(xml.matches("<vr:IntermediateCertificate ").count(), 1);
    assert_eq!(xml.matches("<vr:TrustAnchor ").count(), 2);
    // The signature is identified by its value's SHA-256.
    assert!(xml.contains("<ds:SignatureValue>"));
    assert_eq!(texts(&xml, "HashOnly"), ["false"]);

    // Indeterminate: trusted by nobody the validator knows.
    let other = Pki::new("EtsiOther");
    let r = pdf::validate(&blt, &other.anchors(), now, &pdf::Limits::default()).unwrap();
    let (xml, main, sub) = etsi(&[&r.signatures[0].report]);
    assert_eq!(main, [INDETERMINATE]);
    assert_eq!(sub, [sub_uri("NO_CERTIFICATE_CHAIN_FOUND")]);
    assert_references_resolve(&xml);
    assert!(!xml.contains("<vr:CertificateChain>"), "no chain was built");

    // Failed: one byte of the signed text changed.
    let at = bt.windows(13).position(|w| w == b"Decision 7002").unwrap();
    let mut altered = bt.clone();
    altered[at] = b'd';
    let r = pdf::validate(&altered, &pki.anchors(), now, &pdf::Limits::default()).unwrap();
    let (xml, main, sub) = etsi(&[&r.signatures[0].report]);
    assert_eq!(main, [FAILED]);
    assert_eq!(sub, [sub_uri("HASH_FAILURE")]);
    assert_references_resolve(&xml);
}

#[test]
fn cades_passed_indeterminate_and_failed() {
    let Setup { pki, m, tsa, now } = Setup::new("EtsiCades", "AZ/GOV/7003");
    let data = b"a decision in CAdES";
    let bt = cades::sign(data, &m.signer(), now, Some(&tsa)).unwrap();
    let blt = lt::add_revocation_values(&bt, &pki.ocsp(vec![])).unwrap();

    let passed = validate_cades(&blt, data, &pki.anchors(), now);
    assert_eq!(passed.indication, Indication::TotalPassed, "{passed:#?}");
    // B-T without revocation data offline: INDETERMINATE / TRY_LATER.
    let try_later = validate_cades(&bt, data, &pki.anchors(), now);
    let failed = validate_cades(&blt, b"another decision", &pki.anchors(), now);
    // One report for the three: objects shared by them (the CA certificates) listed once.
    let (xml, main, sub) = etsi(&[&passed, &try_later, &failed]);
    assert_eq!(main, [PASSED, INDETERMINATE, FAILED]);
    assert_eq!(sub, [sub_uri("TRY_LATER"), sub_uri("HASH_FAILURE")]);
    assert_references_resolve(&xml);
    let root_id = format!("C-{}", hex_sha256(pki.root.der()));
    assert_eq!(
        xml.matches(&format!("<vr:ValidationObject id=\"{root_id}\">"))
            .count(),
        1
    );
    // The signer's document: the message digest over the data, as SHA-256.
    assert_eq!(
        texts(&xml, "SignersDocument").len(),
        2,
        "passed and try-later"
    );
}

#[test]
fn asice_xades_passed_indeterminate_and_failed() {
    let Setup { pki, m, tsa, now } = Setup::new("EtsiXades", "AZ/GOV/7004");
    let files = [DataFile {
        name: "decision.txt".into(),
        mime_type: "text/plain".into(),
        content: b"The permit is granted.\n".to_vec(),
    }];
    let ocsp = pki.ocsp(vec![]);
    let container = xades_sign::create(&files, &m.signer(), now, Some(&tsa), Some(&ocsp)).unwrap();

    let r = asice::validate(&container, &pki.anchors(), now, &Limits::default()).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    let (xml, main, sub) = etsi(&[&r.signatures[0].report]);
    assert_eq!(main, [PASSED]);
    assert!(sub.is_empty());
    assert_references_resolve(&xml);
    assert!(xml.contains("urn:etsi:019102:validationObject:OCSPResponse"));
    assert!(texts(&xml, "Signer")[0].contains("AZ/GOV/7004"));

    let other = Pki::new("EtsiXadesOther");
    let r = asice::validate(&container, &other.anchors(), now, &Limits::default()).unwrap();
    let (_, main, sub) = etsi(&[&r.signatures[0].report]);
    assert_eq!(main, [INDETERMINATE]);
    assert_eq!(sub, [sub_uri("NO_CERTIFICATE_CHAIN_FOUND")]);

    // The data file changed after signing.
    let altered = replace_entry(&container, "decision.txt", b"The permit is refused.\n");
    let r = asice::validate(&altered, &pki.anchors(), now, &Limits::default()).unwrap();
    let (_, main, sub) = etsi(&[&r.signatures[0].report]);
    assert_eq!(main, [FAILED]);
    assert_eq!(sub, [sub_uri("HASH_FAILURE")]);
}

#[test]
fn an_unreadable_file_gives_a_valid_failed_report() {
    let xml = report_etsi::to_xml(&[], Some("not a signed document <&>"), SystemTime::now());
    assert_schema_valid(&xml);
    assert_eq!(texts(&xml, "MainIndication"), [FAILED]);
    assert_eq!(texts(&xml, "SubIndication"), [sub_uri("FORMAT_FAILURE")]);
    assert!(xml.contains("not a signed document &lt;&amp;&gt;"));
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(sha2::Sha256::digest(b))
}

/// The container with one entry's content replaced, everything else as it was (the mimetype
/// first and stored).
fn replace_entry(container: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    let mut e = common::zip_entries(container);
    for (n, c, _) in e.iter_mut() {
        if n == name {
            *c = content.to_vec();
        }
    }
    common::zip_rebuild(&e)
}
