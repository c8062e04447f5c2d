//! End to end: `korpu doc sign` and `korpu doc verify` as a user runs them, with a time-stamping
//! authority and an OCSP responder from `korpu-pki` served over HTTP on a loopback port, and
//! verification offline (the servers are not consulted by `verify`).

use std::path::Path;
use std::process::{Command, Output};

use korpu_pki::ca::Profile;

mod support;
use support::doc::{doc_pki, pdf, serve, served, sign_with, tsa, write_signer, Pki, Signer};
use support::{doc_verify, korpu, text};

#[test]
fn doc_sign_and_verify() {
    let pki = doc_pki();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    let tsa = tsa(&pki, "Doc TSA", "1.3.6.1.4.1.99999.2", None);
    let responder = pki.responder();
    let alice = pki.member("AZ/GOV/1001");
    let mallory = pki.member("AZ/COM/666");
    let url = serve(tsa, responder, vec![mallory.cert.serial_hex()]);
    // Bob's certificate names the OCSP responder, so a verifier allowed to fetch can ask it.
    let bob = pki.leaf_with_ocsp(
        "AZ/GOV/1002",
        Profile::MemberSigning,
        &format!("{url}/ocsp"),
    );
    let alice = write_signer(dir.path(), "alice", &alice.cert, &alice.key);
    let bob = write_signer(dir.path(), "bob", &bob.cert, &bob.key);
    let mallory = write_signer(dir.path(), "mallory", &mallory.cert, &mallory.key);
    pki.write_pems(dir.path());
    std::fs::write(p("in.pdf"), pdf("Permit 42")).unwrap();

    let sign = |who: &Signer, level: &str, input: &Path, out: &Path| {
        support::doc::sign(who, &p("chain.pem"), &url, level, &[], input, out)
    };
    let verify = |file: &Path, json: bool| {
        let root = s(&p("root.pem"));
        let f = s(file);
        let mut args = vec!["doc", "verify", "--trust", &root];
        if json {
            args.push("--json");
        }
        args.push(&f);
        korpu(&args)
    };

    // PAdES B-LT, then a second serial signature.
    let o = sign(&alice, "b-lt", &p("in.pdf"), &p("one.pdf"));
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("one.pdf"), false);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // Shown with --nocapture: what a user sees.
    println!("{out}");
    assert!(
        out.contains("TOTAL_PASSED") && out.contains("B-LT"),
        "{out}"
    );
    assert!(
        out.contains("AZ/GOV/1001") && out.contains("revocation:           good"),
        "{out}"
    );
    assert!(out.contains("proven signing time:  20"), "{out}");
    assert!(out.contains("trust anchor:         CN=Doc Root"), "{out}");

    let o = sign(&bob, "b-t", &p("one.pdf"), &p("two.pdf"));
    assert!(o.status.success(), "{}", text(&o));
    // Bob's B-T signature carries no revocation data: offline, that cannot be established.
    let o = verify(&p("two.pdf"), true);
    assert!(!o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["indication"], "INDETERMINATE");
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    assert_eq!(v["signatures"][1]["report"]["level"], "B-T");
    assert_eq!(v["signatures"][1]["report"]["sub_indication"], "TRY_LATER");
    // Allowed to fetch, the verifier asks the responder Bob's certificate names.
    let o = doc_verify(
        &s(&p("root.pem")),
        &["--fetch-revocation", "--json"],
        &s(&p("two.pdf")),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v}");
    let rev = v["signatures"][1]["report"]["revocation"].as_str().unwrap();
    assert!(rev.starts_with("good (fetched OCSP response"), "{v}");

    // A change after signing: flagged, non-zero exit.
    let changed =
        korpu_testkit::pdf::change_content(&std::fs::read(p("one.pdf")).unwrap(), "Permit revoked");
    std::fs::write(p("changed.pdf"), &changed).unwrap();
    let o = verify(&p("changed.pdf"), false);
    assert!(!o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    assert!(
        out.contains("INDETERMINATE") && out.contains("modified after"),
        "{out}"
    );

    // A revoked signer at B-LT: TOTAL_FAILED, REVOKED.
    let o = sign(&mallory, "b-lt", &p("in.pdf"), &p("revoked.pdf"));
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("revoked.pdf"), false);
    assert!(!o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("TOTAL_FAILED") && out.contains("REVOKED"),
        "{out}"
    );

    // Any other file: an ASiC-E container, B-LT.
    std::fs::write(p("decision.txt"), b"granted").unwrap();
    let o = sign(&alice, "b-lt", &p("decision.txt"), &p("decision.asice"));
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("decision.asice"), false);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("ASiC-E") && out.contains("B-LT") && out.contains("decision.txt"),
        "{out}"
    );
    // A second signer added to the container.
    let o = sign(&bob, "b-t", &p("decision.asice"), &p("decision2.asice"));
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("decision2.asice"), true);
    // Bob's signature is B-T: without revocation data the container is INDETERMINATE.
    assert!(!o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);

    // Truncated files and a foreign trust anchor: non-zero, with the reason.
    let bytes = std::fs::read(p("two.pdf")).unwrap();
    std::fs::write(p("cut.pdf"), &bytes[..bytes.len() - 30]).unwrap();
    let o = verify(&p("cut.pdf"), false);
    failed_saying(&o, &o.stdout, "TOTAL_FAILED");
    let bytes = std::fs::read(p("decision.asice")).unwrap();
    std::fs::write(p("cut.asice"), &bytes[..bytes.len() - 30]).unwrap();
    let o = verify(&p("cut.asice"), false);
    failed_saying(&o, &o.stdout, "corrupt");
    std::fs::write(p("other.pem"), doc_pki().root.to_pem()).unwrap();
    let o = doc_verify(&s(&p("other.pem")), &[], &s(&p("one.pdf")));
    failed_saying(&o, &o.stdout, "INDETERMINATE");

    // Usage errors say what to do.
    let o = sign_with(&alice, &[], "b-t", &p("in.pdf"), &p("x.pdf"));
    failed_saying(&o, &o.stderr, "--tsa");
}

/// `doc verify` reads the format from the content: a container renamed `.pdf` is still an
/// ASiC-E, a `.p7m` renamed `.txt` still CAdES. Standalone CAdES made by `openssl cms -sign`:
/// enveloping (DER and PEM) with `--extract`, detached with `--detached-content` (an altered
/// file is TOTAL_FAILED/HASH_FAILURE, a missing one SIGNED_DATA_NOT_FOUND, never forged).
#[test]
fn doc_verify_detects_by_content_and_reads_standalone_cades() {
    let (pki, url) = served();
    let (dir, signer) = signer_dir(&pki, "AZ/GOV/3003", None);
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    std::fs::write(p("letter.txt"), "Dear citizen, your permit is granted.\n").unwrap();
    let verify = |extra: &[&str], file: &Path| {
        let root = s(&p("root.pem"));
        let f = s(file);
        let mut args = vec!["doc", "verify", "--json", "--trust", &root];
        args.extend_from_slice(extra);
        args.push(&f);
        let o = korpu(&args);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        (o, v)
    };

    // A B-LT container under a misleading name.
    let o = support::doc::sign(
        &signer,
        &p("chain.pem"),
        &url,
        "b-lt",
        &[],
        &p("letter.txt"),
        &p("scan.pdf"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let (o, v) = verify(&[], &p("scan.pdf"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(v["format"], "ASiC-E (CAdES)", "{v}");
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v}");

    // Standalone CAdES from openssl (B-B: no revocation data, so at best INDETERMINATE, and
    // never TOTAL_FAILED while intact).
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
    };
    let base = [
        "cms",
        "-sign",
        "-binary",
        "-md",
        "sha256",
        "-signer",
        "signer.pem",
        "-inkey",
        "signer.key",
        "-certfile",
        "chain.pem",
        "-in",
        "letter.txt",
        "-cades",
    ];
    openssl(
        &[
            &base[..],
            &["-nodetach", "-outform", "DER", "-out", "letter.p7m"],
        ]
        .concat(),
    );
    openssl(
        &[
            &base[..],
            &["-nodetach", "-outform", "PEM", "-out", "letter-pem.p7m"],
        ]
        .concat(),
    );
    openssl(&[&base[..], &["-outform", "DER", "-out", "letter.p7s"]].concat());
    std::fs::copy(p("letter.p7m"), p("renamed.txt")).unwrap();

    for f in ["letter.p7m", "letter-pem.p7m", "renamed.txt"] {
        let out = p(&format!("{f}.content"));
        let (_, v) = verify(&["--extract", &s(&out)], &p(f));
        assert_eq!(v["format"], "CAdES", "{f}: {v}");
        assert_ne!(v["indication"], "TOTAL_FAILED", "{f}: {v}");
        let label = v["signatures"][0]["label"].as_str().unwrap();
        assert!(
            label.starts_with("enveloping signature over 38 bytes of text"),
            "{label}"
        );
        assert_eq!(
            v["signatures"][0]["report"]["signer"], "CN=AZ/GOV/3003",
            "{v}"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(p("letter.txt")).unwrap()
        );
    }

    // Detached: with the content, without it, with altered content.
    let (_, v) = verify(
        &["--detached-content", &s(&p("letter.txt"))],
        &p("letter.p7s"),
    );
    assert_ne!(v["indication"], "TOTAL_FAILED", "{v}");
    assert_eq!(v["signatures"][0]["label"], "detached signature", "{v}");
    let (o, v) = verify(&[], &p("letter.p7s"));
    assert!(!o.status.success());
    assert_eq!(v["indication"], "INDETERMINATE", "{v}");
    assert_eq!(
        v["signatures"][0]["report"]["sub_indication"], "SIGNED_DATA_NOT_FOUND",
        "{v}"
    );
    std::fs::write(p("altered.txt"), "Dear citizen, your permit is refused.\n").unwrap();
    let (o, v) = verify(
        &["--detached-content", &s(&p("altered.txt"))],
        &p("letter.p7s"),
    );
    assert!(!o.status.success());
    assert_eq!(v["indication"], "TOTAL_FAILED", "{v}");
    assert_eq!(
        v["signatures"][0]["report"]["sub_indication"], "HASH_FAILURE",
        "{v}"
    );

    // Something that is no signed document at all.
    let (o, v) = verify(&[], &p("letter.txt"));
    assert!(!o.status.success());
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a signed document"),
        "{v}"
    );
}

/// `doc sign --format xades` makes an ASiC-E XAdES (DigiDoc/BDOC) container at B-LT through the
/// TSA and OCSP responder over HTTP: `doc verify` passes it offline as B-LT, and pyasice (the
/// BDOC library, installed by scripts/test) verifies it.
#[test]
fn doc_sign_xades_b_lt_is_verified_by_us_and_pyasice() {
    let (pki, url) = served();
    let (dir, signer) = signer_dir(&pki, "AZ/GOV/4004", None);
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    std::fs::write(p("order.txt"), "Order 12: the road is to be repaired.\n").unwrap();
    let o = support::doc::sign(
        &signer,
        &p("chain.pem"),
        &url,
        "b-lt",
        &["--format", "xades"],
        &p("order.txt"),
        &p("order.asice"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = doc_verify(&s(&p("root.pem")), &["--json"], &s(&p("order.asice")));
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "ASiC-E (XAdES)", "{v}");
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v}");
    assert_eq!(v["signatures"][0]["report"]["level"], "B-LT", "{v}");

    let script = format!(
        "{}/../korpu-sign/tests/xades/bdoc.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(script)
        .arg("verify")
        .arg(p("order.asice"))
        .output()
        .expect("python3 runs pyasice");
    assert!(o.status.success(), "pyasice: {}", text(&o));
}

/// A signed XML document (an enveloped XAdES signature made by signxml, from a virtualenv
/// scripts/test prepares) and a detached XAdES signature (Körpü's own signatures file taken
/// out of its container) are read by `doc verify` as XML: TOTAL_PASSED with
/// `--fetch-revocation` (the signer's OCSP responder asked over HTTP), the detached one needing
/// `--detached-content` (without it SIGNED_DATA_NOT_FOUND), an altered file HASH_FAILURE.
#[test]
fn doc_verify_reads_signed_xml_and_detached_xades() {
    let (pki, url) = served();
    let (dir, signer) = signer_dir(&pki, "AZ/GOV/6006", Some(&format!("{url}/ocsp")));
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    let verify = |extra: &[&str], file: &Path| {
        let root = s(&p("root.pem"));
        let f = s(file);
        let mut args = vec![
            "doc",
            "verify",
            "--json",
            "--fetch-revocation",
            "--trust",
            &root,
        ];
        args.extend_from_slice(extra);
        args.push(&f);
        let o = korpu(&args);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        v
    };

    // Enveloped XAdES by signxml.
    std::fs::write(
        p("permit.xml"),
        "<permit xmlns=\"urn:example:permit\"><holder>AZ/COM/42</holder><until>2027-12-31</until></permit>",
    )
    .unwrap();
    let signxml_python = std::env::var("KORPU_SIGNXML_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/korpu/signxml-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let o = Command::new(signxml_python)
        .arg(format!(
            "{}/../korpu-sign/tests/xades/signxml_sign.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(p("permit.xml"))
        .arg(&signer.key)
        .arg(format!("{},{}", s(&signer.cert), s(&p("chain.pem"))))
        .arg(p("permit-signed.xml"))
        .args([
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "http://www.w3.org/2006/12/xml-c14n11",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ])
        .output()
        .expect("signxml's virtualenv (scripts/test makes it)");
    assert!(o.status.success(), "signxml: {}", text(&o));
    let v = verify(&[], &p("permit-signed.xml"));
    assert_eq!(v["format"], "XAdES (XML)", "{v}");
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v}");
    let changed = std::fs::read_to_string(p("permit-signed.xml"))
        .unwrap()
        .replace("2027-12-31", "2037-12-31");
    std::fs::write(p("permit-changed.xml"), changed).unwrap();
    let v = verify(&[], &p("permit-changed.xml"));
    assert_eq!(v["indication"], "TOTAL_FAILED", "{v}");
    assert_eq!(
        v["signatures"][0]["report"]["sub_indication"], "HASH_FAILURE",
        "{v}"
    );

    // Detached XAdES: Körpü's signatures file over report.txt, taken out of its container.
    std::fs::write(p("report.txt"), "Quarterly report.\n").unwrap();
    let o = korpu(&[
        "doc",
        "sign",
        "--format",
        "xades",
        "--key",
        &s(&signer.key),
        "--cert",
        &s(&signer.cert),
        "--chain",
        &s(&p("chain.pem")),
        &s(&p("report.txt")),
        &s(&p("report.asice")),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('META-INF/signatures0.xml'))",
        ])
        .arg(p("report.asice"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(p("report-signature.xml"), &o.stdout).unwrap();
    let v = verify(
        &["--detached-content", &s(&p("report.txt"))],
        &p("report-signature.xml"),
    );
    assert_eq!(v["indication"], "TOTAL_PASSED", "{v}");
    let v = verify(&[], &p("report-signature.xml"));
    assert_eq!(
        v["signatures"][0]["report"]["sub_indication"], "SIGNED_DATA_NOT_FOUND",
        "{v}"
    );
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("report.txt"), "Quarterly report, revised.\n").unwrap();
    let v = verify(
        &["--detached-content", &s(&other.join("report.txt"))],
        &p("report-signature.xml"),
    );
    assert_eq!(
        v["signatures"][0]["report"]["sub_indication"], "HASH_FAILURE",
        "{v}"
    );
}

/// The command failed, and `out` (its stdout or stderr) says `what`.
fn failed_saying(o: &Output, out: &[u8], what: &str) {
    assert!(!o.status.success(), "{}", text(o));
    assert!(String::from_utf8_lossy(out).contains(what), "{}", text(o));
}

/// A fresh directory holding the PKI's `chain.pem` and `root.pem` and a signing key and
/// certificate for `member` (whose certificate names `ocsp` as its responder, if given).
fn signer_dir(pki: &Pki, member: &str, ocsp: Option<&str>) -> (tempfile::TempDir, Signer) {
    let dir = tempfile::tempdir().unwrap();
    let m = pki.leaf(member, Profile::MemberSigning, ocsp);
    let signer = write_signer(dir.path(), "signer", &m.cert, &m.key);
    pki.write_pems(dir.path());
    (dir, signer)
}
