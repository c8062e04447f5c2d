//! End to end: `korpu doc verify --report etsi` prints the ETSI TS 119 102-2 XML validation
//! report, which validates against the standard's XSD (xmllint, with the schemas checked in
//! under crates/korpu-sign/tests/data/etsi-xsd), for a signed PDF and for a file that is no
//! signed document; the exit status is the same as with the simple report.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;

const KORPU: &str = env!("CARGO_BIN_EXE_korpu");
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../korpu-sign/tests/data/etsi-xsd/TS119102-2-v122.xsd"
);
const DAY: Duration = Duration::from_secs(86400);

fn req<'a>(cn: &str, pk: &'a [u8], profile: Profile) -> IssueRequest<'a> {
    let now = SystemTime::now();
    IssueRequest {
        subject: Subject::cn(cn),
        public_key_der: pk,
        profile,
        not_before: now - DAY,
        not_after: now + 30 * DAY,
        ocsp_url: None,
    }
}

fn korpu(args: &[&str]) -> Output {
    Command::new(KORPU)
        .args(args)
        .env("KORPU_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

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

fn a_pdf() -> Vec<u8> {
    let c = "BT /F1 12 Tf 72 720 Td (Permit 77) Tj ET";
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{c}\nendstream", c.len()),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let x = out.len();
    out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f\r\n");
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n").as_bytes(),
    );
    out
}

#[test]
fn doc_verify_prints_an_etsi_report_that_validates_against_the_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |n: &str| p(n).to_str().unwrap().to_owned();
    let root_key = SigningKey::generate();
    let pk = root_key.public_key_der();
    let root = ca::self_signed(
        &root_key,
        req("Report Root", &pk, Profile::Root),
        &ca::random_serial(),
    )
    .unwrap();
    let key = SigningKey::generate();
    let pk = key.public_key_der();
    let cert = ca::issue(
        &root,
        &root_key,
        req("AZ/GOV/7777", &pk, Profile::MemberSigning),
        &ca::random_serial(),
    )
    .unwrap();
    korpu_pki::key::write_private_key(&p("signer.key"), &key).unwrap();
    std::fs::write(p("signer.pem"), cert.to_pem()).unwrap();
    std::fs::write(p("root.pem"), root.to_pem()).unwrap();
    std::fs::write(p("in.pdf"), a_pdf()).unwrap();
    let o = korpu(&[
        "doc",
        "sign",
        "--key",
        &s("signer.key"),
        "--cert",
        &s("signer.pem"),
        "--level",
        "b-b",
        &s("in.pdf"),
        &s("signed.pdf"),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // B-B offline: intact and trusted, revocation not established (INDETERMINATE/TRY_LATER),
    // so the exit status is non-zero as with the simple report.
    let o = korpu(&[
        "doc",
        "verify",
        "--trust",
        &s("root.pem"),
        "--report",
        "etsi",
        &s("signed.pdf"),
    ]);
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
    let o = korpu(&[
        "doc",
        "verify",
        "--trust",
        &s("root.pem"),
        "--report",
        "etsi",
        &s("junk.bin"),
    ]);
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
    let o = korpu(&[
        "doc",
        "verify",
        "--trust",
        &s("root.pem"),
        "--json",
        "--report",
        "etsi",
        &s("signed.pdf"),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        text(&o)
    );
}
