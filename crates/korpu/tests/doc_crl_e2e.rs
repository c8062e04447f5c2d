//! `korpu doc sign --level b-lt` under a CA that publishes CRLs and no OCSP (openssl-made
//! RSA root → EC issuing CA → EC signer, each certificate naming its CRL distribution point on
//! a loopback HTTP server): the signed PDF carries both CRLs, and `korpu doc verify` then passes
//! it offline with the signer's and the CA's status from them; a revoked signer's B-LT file is
//! refused.
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use korpu_pki::ca::Profile;
use korpu_pki::tsa::Authority;
use korpu_testkit::http;
use korpu_testkit::ossl::{CrlPublishing, Made};

mod support;
use support::doc::{pdf, root_and_leaf, Signer};
use support::{doc_verify, text};

type Files = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// GET: the files; POST /tsa: the time-stamping authority; anything else 404 (no OCSP here).
fn serve(listener: TcpListener, files: Files, tsa: Authority) {
    let mut serial = 1u64;
    http::serve_on(listener, move |first, body| {
        let path = http::path(first);
        if first.starts_with("POST") && path == "/tsa" {
            serial += 1;
            Some((
                "application/timestamp-reply",
                tsa.respond(body, SystemTime::now(), serial),
            ))
        } else if first.starts_with("GET") {
            let files = files.lock().unwrap();
            let file = files.iter().find(|(p, _)| p == path);
            file.map(|(_, b)| ("application/octet-stream", b.clone()))
        } else {
            None
        }
    });
}

/// A time-stamping authority of its own small PKI; returns it and its root.
fn tsa() -> (Authority, korpu_pki::cert::Certificate) {
    let (root, cert, key) = root_and_leaf("TSA Root", "TSA", Profile::Tsa);
    let authority = Authority::new(cert, key, vec![], "1.3.6.1.4.1.99999.3".parse().unwrap());
    (authority.unwrap(), root)
}

#[test]
fn b_lt_under_a_crl_publishing_ca_carries_its_crls() {
    let (h, listener) = CrlPublishing::listening("CRL Root", "CRL Issuing CA");
    let (o, root, ca) = (&h.o, &h.root, &h.ca);
    let alice = h.signer("alice", "/CN=Alice");
    let mallory = h.signer("mallory", "/CN=Mallory");
    o.revoke(ca, &mallory, "keyCompromise");
    let files: Files = Arc::new(Mutex::new(h.crl_files()));
    let (authority, tsa_root) = tsa();
    serve(listener, files, authority);

    let p = |n: &str| o.path(n).to_str().unwrap().to_owned();
    std::fs::write(o.path("in.pdf"), pdf("CRL")).unwrap();
    std::fs::write(
        o.path("chain.pem"),
        std::fs::read_to_string(&ca.cert_path).unwrap()
            + &std::fs::read_to_string(&root.cert_path).unwrap(),
    )
    .unwrap();
    std::fs::write(o.path("tsa-root.pem"), tsa_root.to_pem()).unwrap();
    for k in [&alice.key_path, &mallory.key_path] {
        std::fs::set_permissions(k, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let sign = |who: &Made, out: &str| {
        let who = Signer {
            key: who.key_path.clone(),
            cert: who.cert_path.clone(),
        };
        support::doc::sign(
            &who,
            &o.path("chain.pem"),
            &h.base,
            "b-lt",
            &[],
            &o.path("in.pdf"),
            &o.path(out),
        )
    };
    let verify = |file: &str| {
        doc_verify(
            root.cert_path.to_str().unwrap(),
            &["--trust", &p("tsa-root.pem")],
            &p(file),
        )
    };

    let o1 = sign(&alice, "alice.pdf");
    assert!(o1.status.success(), "{}", text(&o1));
    let signed = std::fs::read(o.path("alice.pdf")).unwrap();
    assert!(signed.windows(5).any(|w| w == b"/CRLs"), "a DSS with CRLs");
    let v = verify("alice.pdf");
    assert!(v.status.success(), "{}", text(&v));
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(
        out.contains("TOTAL_PASSED") && out.contains("B-LT"),
        "{out}"
    );
    assert!(
        out.contains("revocation:           good (embedded CRL"),
        "{out}"
    );
    assert!(
        out.contains("CN=CRL Issuing CA\": good (embedded CRL"),
        "{out}"
    );

    // A revoked signer: the CRL the CLI embeds says so, and verification refuses the file.
    let o2 = sign(&mallory, "mallory.pdf");
    assert!(o2.status.success(), "{}", text(&o2));
    let v = verify("mallory.pdf");
    assert!(!v.status.success(), "{}", text(&v));
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(
        out.contains("TOTAL_FAILED") && out.contains("REVOKED"),
        "{out}"
    );
}
