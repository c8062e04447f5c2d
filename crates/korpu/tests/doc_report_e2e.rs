//! End to end: `korpu doc verify --report etsi` prints the ETSI TS 119 102-2 XML validation
//! report, which validates against the standard's XSD (xmllint, with the schemas checked in
//! under crates/korpu-sign/tests/data/etsi-xsd), for a signed PDF and for a file that is no
//! signed document; the exit status is the same as with the simple report.

use std::path::Path;
use std::process::Command;

use korpu_pki::ca::Profile;

mod support;
use support::doc::{pdf, root_and_leaf, sign_with, write_signer};
use support::{doc_verify, text};

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../korpu-sign/tests/data/etsi-xsd/TS119102-2-v122.xsd"
);

/// xmllint's verdict on `xml` against the TS 119 102-2 schema.
fn assert_schema_valid(dir: &Path, xml: &[u8]) {
    let file = dir.join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let o = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", SCHEMA])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint ({e}); scripts/test installs it"));
    assert!(
        o.status.success(),
        "not valid against TS 119 102-2: {}\n{}",
        text(&o),
        String::from_utf8_lossy(xml)
    );
}

#[test]
fn doc_verify_prints_an_etsi_report_that_validates_against_the_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |n: &str| p(n).to_str().unwrap().to_owned();
    let (root, cert, key) = root_and_leaf("Report Root", "AZ/GOV/7777", Profile::MemberSigning);
    let signer = write_signer(dir.path(), "signer", &cert, &key);
    std::fs::write(p("root.pem"), root.to_pem()).unwrap();
    std::fs::write(p("in.pdf"), pdf("Permit 77")).unwrap();
    let o = sign_with(&signer, &[], "b-b", &p("in.pdf"), &p("signed.pdf"));
    assert!(o.status.success(), "{}", text(&o));
    let verify_etsi = |file: &str| doc_verify(&s("root.pem"), &["--report", "etsi"], &s(file));

    // B-B offline: intact and trusted, revocation not established (INDETERMINATE/TRY_LATER),
    // so the exit status is non-zero as with the simple report.
    let o = verify_etsi("signed.pdf");
    assert!(!o.status.success(), "{}", text(&o));
    let xml = String::from_utf8_lossy(&o.stdout).into_owned();
    println!("{xml}");
    assert_schema_valid(dir.path(), xml.as_bytes());
    assert!(
        xml.contains(
            "<vr:MainIndication>urn:etsi:019102:mainindication:indeterminate</vr:MainIndication>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<vr:SubIndication>urn:etsi:019102:subindication:TRY_LATER</vr:SubIndication>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<vr:Signer>CN=AZ/GOV/7777</vr:Signer>"),
        "{xml}"
    );

    // A file that is no signed document: still one schema-valid report, TOTAL_FAILED.
    std::fs::write(p("junk.bin"), b"not a signature at all").unwrap();
    let o = verify_etsi("junk.bin");
    assert!(!o.status.success(), "{}", text(&o));
    let xml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_schema_valid(dir.path(), xml.as_bytes());
    assert!(
        xml.contains("urn:etsi:019102:mainindication:total-failed"),
        "{xml}"
    );
    assert!(
        xml.contains("urn:etsi:019102:subindication:FORMAT_FAILURE"),
        "{xml}"
    );

    // --json and --report are one choice.
    let o = doc_verify(
        &s("root.pem"),
        &["--json", "--report", "etsi"],
        &s("signed.pdf"),
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        text(&o)
    );
}
