//! Interoperability with pyHanko (PyPI `pyHanko`), both ways, asserting on pyHanko's verdict:
//! our PAdES files (one and two serial signatures) are intact, trusted given our root, and
//! time-stamped in pyHanko's eyes; our B-LT files pass pyHanko with revocation data required
//! and fetching forbidden (so pyHanko reads our DSS), a B-T file fails that check, and a
//! revoked signer is revoked for pyHanko too; a content change after signing fails with both.
//! Files pyHanko signs (with a key and certificate our test PKI issued, and a time-stamp from
//! our TSA over HTTP), alone and mixed with ours, validate TOTAL_PASSED with us.
//! `scripts/test` installs pyHanko.
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use common::{pdfgen, Pki};
use korpu_sign::pdf::{self, Limits};
use korpu_sign::validate::Indication;

/// Runs pyHanko's validation; one JSON value per signature.
fn pyhanko_validate(pdf: &Path, root: &Path) -> Vec<serde_json::Value> {
    pyhanko_run("validate.py", pdf, root)
}

fn pyhanko_run(which: &str, pdf: &Path, root: &Path) -> Vec<serde_json::Value> {
    common::json_lines(&common::run_pyhanko(which, &[pdf, root]))
}

#[test]
fn pyhanko_accepts_our_pades_signatures() {
    let pki = Pki::new("PyhankoJudge");
    // The certificates name an OCSP responder (never contacted: nothing here is fetched) so
    // that pyHanko's revocation checks apply to them.
    let aia = "http://127.0.0.1:9/ocsp";
    let a = pki.leaf_with_ocsp("AZ/GOV/501", korpu_pki::ca::Profile::MemberSigning, aia);
    let b = pki.leaf_with_ocsp("AZ/GOV/502", korpu_pki::ca::Profile::MemberSigning, aia);
    let tsa = pki.tsa_with_ocsp(aia);
    let now = SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pki.root.to_pem()).unwrap();

    let limits = Limits::default();
    let doc = pdfgen::simple("Decision", 3000);
    let one = pdf::sign(&doc, &a.signer(), now, Some(&tsa), &limits).unwrap();
    let two = pdf::sign(&one, &b.signer(), now, Some(&tsa), &limits).unwrap();
    let lt = pdf::add_validation_data(&two, &pki.ocsp(vec![]), &limits).unwrap();
    for (name, file, n) in [
        ("one.pdf", &one, 1),
        ("two.pdf", &two, 2),
        ("lt.pdf", &lt, 2),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, file).unwrap();
        let v = pyhanko_validate(&path, &root);
        assert_eq!(v.len(), n, "{name}: {v:?}");
        for s in &v {
            assert_eq!(s["intact"], true, "{name}: {s}");
            assert_eq!(s["valid"], true, "{name}: {s}");
            assert_eq!(s["trusted"], true, "{name}: {s}");
            assert_eq!(s["timestamped"], true, "{name}: {s}");
            assert_eq!(s["timestamp_ok"], true, "{name}: {s}");
            assert_eq!(s["bottom_line"], true, "{name}: {s}");
        }
    }

    // B-LT: pyHanko, reading our DSS itself, with revocation checking mandatory and no
    // network, accepts the B-LT file and refuses the B-T one (the control).
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.issuing.to_pem()).unwrap();
    for (name, file, expect) in [("two.pdf", &two, false), ("lt.pdf", &lt, true)] {
        let path = dir.path().join(name);
        std::fs::write(&path, file).unwrap();
        let v = pyhanko_run("validate_lt.py", &path, &ca);
        assert_eq!(v.len(), 2, "{name}: {v:?}");
        for s in &v {
            assert_eq!(s["bottom_line"], expect, "{name}: {s}");
        }
    }

    // A signer revoked before signing: pyHanko reads the revocation from our DSS, as we do.
    let c = pki.leaf_with_ocsp("AZ/GOV/503", korpu_pki::ca::Profile::MemberSigning, aia);
    let doc = pdfgen::simple("Revoked", 500);
    let bt = pdf::sign(&doc, &c.signer(), now, Some(&tsa), &limits).unwrap();
    let revoked = pki.ocsp(vec![(
        c.cert.serial_hex(),
        now - std::time::Duration::from_secs(3600),
    )]);
    let rlt = pdf::add_validation_data(&bt, &revoked, &limits).unwrap();
    let path = dir.path().join("revoked.pdf");
    std::fs::write(&path, &rlt).unwrap();
    let v = pyhanko_run("validate_lt.py", &path, &ca);
    assert_eq!(v[0]["bottom_line"], false, "{v:?}");
    assert_eq!(v[0]["revoked"], true, "{v:?}");
    let ours = pdf::validate(&rlt, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(ours.indication, Indication::TotalFailed);

    // And pyHanko notices what we flag: a content change after signing.
    let changed = pdfgen::change_content(&one, "Decision reversed");
    let path = dir.path().join("changed.pdf");
    std::fs::write(&path, &changed).unwrap();
    let v = pyhanko_validate(&path, &root);
    assert_eq!(v[0]["bottom_line"], false, "{v:?}");
    let ours = pdf::validate(&changed, &pki.anchors(), now, &limits).unwrap();
    assert_ne!(ours.indication, Indication::TotalPassed);
}

#[test]
fn we_accept_pyhanko_pades_signatures() {
    let pki = Pki::new("PyhankoSigner");
    let m = pki.member("AZ/GOV/601");
    let tsa = Arc::new(pki.tsa());
    let url = format!("{}tsa", common::http_tsa(tsa.clone(), 1001));
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("key.pem"), m.key.to_pkcs8_pem()).unwrap();
    std::fs::write(p("cert.pem"), m.cert.to_pem()).unwrap();
    std::fs::write(p("chain.pem"), pki.issuing.to_pem()).unwrap();
    std::fs::write(p("in.pdf"), pdfgen::simple("Signed by pyHanko", 2000)).unwrap();

    let run = |inp: &str, out: &str| {
        common::run_pyhanko(
            "sign.py",
            &[
                p(inp).into_os_string(),
                p(out).into_os_string(),
                p("key.pem").into_os_string(),
                p("cert.pem").into_os_string(),
                p("chain.pem").into_os_string(),
                url.clone().into(),
            ],
        );
    };
    run("in.pdf", "signed.pdf");
    let signed = std::fs::read(p("signed.pdf")).unwrap();
    let now = SystemTime::now();
    let limits = Limits::default();
    let r = pdf::validate(&signed, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(r.signatures.len(), 1);
    // Intact and trusted; no revocation data is embedded, so TRY_LATER (see common).
    r.signatures
        .iter()
        .for_each(|s| common::assert_valid_without_revocation(&s.report));
    let s = &r.signatures[0];
    assert_eq!(s.field, "PyHanko");
    assert_eq!(s.report.level, "B-T", "{s:?}");
    assert!(s.report.signer.contains("AZ/GOV/601"));

    // Mixed serial signatures: ours after pyHanko's, then pyHanko's after ours.
    let ours = pdf::sign(&signed, &m.signer(), now, Some(tsa.as_ref()), &limits).unwrap();
    std::fs::write(p("mixed.pdf"), &ours).unwrap();
    std::fs::write(p("root.pem"), pki.root.to_pem()).unwrap();
    let v = pyhanko_validate(&p("mixed.pdf"), &p("root.pem"));
    assert!(v.iter().all(|s| s["bottom_line"] == true), "{v:?}");
    let r = pdf::validate(&ours, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(r.signatures.len(), 2);
    r.signatures
        .iter()
        .for_each(|s| common::assert_valid_without_revocation(&s.report));

    // pyHanko's own field name would collide; sign an unsigned copy of ours instead.
    let doc = pdfgen::simple("ours first", 500);
    let fresh = pdf::sign(&doc, &m.signer(), now, None, &limits).unwrap();
    std::fs::write(p("ours.pdf"), &fresh).unwrap();
    run("ours.pdf", "ours_then_pyhanko.pdf");
    let both = std::fs::read(p("ours_then_pyhanko.pdf")).unwrap();
    let r = pdf::validate(&both, &pki.anchors(), now, &limits).unwrap();
    assert_eq!(r.signatures.len(), 2);
    r.signatures
        .iter()
        .for_each(|s| common::assert_valid_without_revocation(&s.report));
}
