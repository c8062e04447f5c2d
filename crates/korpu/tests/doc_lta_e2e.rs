//! `korpu doc extend` end to end: a PAdES B-T file signed by the CLI is raised to B-LTA
//! (DSS with the signer's and the TSA's revocation data, then a document time-stamp) through a
//! TSA and OCSP responder on a loopback port, renewed with `--fetch` (the responders the
//! certificates name), and `korpu doc verify` lists each archive time-stamp with its time and
//! TSA; a flipped byte fails the signature and every time-stamp; missing options are refused.
use std::net::TcpListener;
use std::path::Path;

mod support;
use support::doc::{doc_pki, pdf, serve_on, sign_with, tsa, write_signer};
use support::{doc_verify, korpu, text};

use korpu_pki::ca::Profile;

#[test]
fn doc_extend_b_lta_adds_and_renews_archive_timestamps() {
    let pki = doc_pki();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    // The responder's URL is known once it listens; certificates that name it are issued
    // after, so `--fetch` can find it in them. The TSA is built first and then served.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ocsp_url = format!("{url}/ocsp");
    let tsa = tsa(
        &pki,
        "Doc Archive TSA",
        "1.3.6.1.4.1.99999.3",
        Some(&ocsp_url),
    );
    serve_on(listener, tsa, pki.responder(), Vec::new());
    let m = pki.leaf_with_ocsp("AZ/GOV/1201", Profile::MemberSigning, &ocsp_url);
    let alice = write_signer(dir.path(), "alice", &m.cert, &m.key);
    pki.write_pems(dir.path());
    std::fs::write(p("in.pdf"), pdf("Archived permit")).unwrap();
    let tsa_url = format!("{url}/tsa");
    let verify = |file: &Path| doc_verify(&s(&p("root.pem")), &[], &s(file));
    let extend_lta = |opts: &[&str], input: &str, out: &str| {
        let (input, out) = (s(&p(input)), s(&p(out)));
        let mut args = vec!["doc", "extend", "--level", "b-lta"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[&input, &out]);
        korpu(&args)
    };

    let chain = s(&p("chain.pem"));
    let options = ["--chain", &chain, "--tsa", &tsa_url];
    let o = sign_with(&alice, &options, "b-t", &p("in.pdf"), &p("bt.pdf"));
    assert!(o.status.success(), "{}", text(&o));

    // B-T to B-LTA in one step, with one OCSP responder for everything.
    let o = extend_lta(
        &["--tsa", &tsa_url, "--ocsp", &ocsp_url],
        "bt.pdf",
        "lta.pdf",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("lta.pdf"));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    // Shown with --nocapture: what a user sees.
    println!("{out}");
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.contains("level:                B-LTA"), "{out}");
    assert_eq!(
        out.matches("archive time-stamp, field DocTimeStamp")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("by CN=Doc Archive TSA"), "{out}");
    assert!(out.contains("overall: TOTAL_PASSED"), "{out}");

    // Renewal, this time asking the responders the certificates name.
    let o = extend_lta(&["--tsa", &tsa_url, "--fetch"], "lta.pdf", "renewed.pdf");
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&p("renewed.pdf"));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        out.matches("archive time-stamp, field DocTimeStamp")
            .count(),
        2,
        "{out}"
    );

    // The ETSI report holds the one signature (time-stamps are not signatures).
    let o = doc_verify(
        &s(&p("root.pem")),
        &["--report", "etsi"],
        &s(&p("renewed.pdf")),
    );
    let xml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        xml.matches("<vr:SignatureValidationReport").count(),
        1,
        "{xml}"
    );

    // A byte of the page content flipped: the signature and both time-stamps fail.
    let mut bad = std::fs::read(p("renewed.pdf")).unwrap();
    let at = bad.windows(8).position(|w| w == b"Archived").unwrap();
    bad[at] ^= 0x01;
    std::fs::write(p("bad.pdf"), &bad).unwrap();
    let o = verify(&p("bad.pdf"));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "{out}");
    assert_eq!(out.matches("HASH_FAILURE").count(), 3, "{out}");

    // Refusals: b-lta without a TSA, no revocation source, b-lta of a container.
    let o = extend_lta(&["--ocsp", &ocsp_url], "bt.pdf", "x.pdf");
    assert!(
        !o.status.success() && text(&o).contains("--tsa"),
        "{}",
        text(&o)
    );
    let o = extend_lta(&["--tsa", &tsa_url], "bt.pdf", "x.pdf");
    assert!(
        !o.status.success() && text(&o).contains("--fetch"),
        "{}",
        text(&o)
    );
    assert!(!p("x.pdf").exists());
}
