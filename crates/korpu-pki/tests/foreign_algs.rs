//! Certificates, OCSP answers and time-stamp tokens made by OpenSSL with the algorithms foreign
//! CAs, responders and TSAs use (RSA PKCS#1 v1.5, RSA-PSS, P-384, P-521, Ed25519) must verify
//! here, and one flipped byte must be reported as a bad signature, not as something else.
//!
//! Fails (does not skip) when openssl is missing. `OPENSSL` overrides `/usr/bin/openssl`.

use korpu_testkit::ossl;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use korpu_pki::alg::{Curve, KeyKind};
use korpu_pki::cert::{verify_chain, Certificate};
use korpu_pki::ocsp::{self, CertStatus};
use korpu_pki::{tsa, PkiError};

const CA_EXT: &str = "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
[tsa]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

/// Issues `name.pem` for a new key `name.key` of `kind` from `ca` (or self-signed) with
/// extension section `ext` and extra signing options (`-sigopt`, `-sha384`, ...).
fn issue(dir: &Path, name: &str, kind: &str, ca: Option<&str>, ext: &str, sign_opts: &[&str]) {
    ossl::genkey(dir, name, kind);
    fs::write(dir.join("ext.cnf"), CA_EXT).unwrap();
    let subj = format!("/CN=Foreign {name}/O=Elsewhere");
    match ca {
        None => ossl::self_signed(dir, name, &subj, "ext.cnf", ext, sign_opts),
        Some(ca) => ossl::issue_by(dir, name, ca, &subj, "ext.cnf", ext, sign_opts),
    }
}

#[test]
fn chains_across_rsa_pss_and_ec_cas_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    issue(d, "root", "rsa3072", None, "ca", &["-sha384"]);
    // RSA-PSS (salt = digest length by openssl's default for -sigopt) over a P-521 CA.
    issue(
        d,
        "sub",
        "p521",
        Some("root"),
        "ca",
        &[
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-2",
        ],
    );
    issue(d, "leaf", "p384", Some("sub"), "leaf", &["-sha512"]);
    issue(d, "edleaf", "ed25519", Some("root"), "leaf", &["-sha256"]);

    let (root, sub, leaf, edleaf) = (
        ossl::cert(d, "root"),
        ossl::cert(d, "sub"),
        ossl::cert(d, "leaf"),
        ossl::cert(d, "edleaf"),
    );
    assert_eq!(leaf.key_kind().unwrap(), KeyKind::Ec { curve: Curve::P384 });
    let now = SystemTime::now();
    let chain = verify_chain(
        &leaf,
        std::slice::from_ref(&sub),
        std::slice::from_ref(&root),
        now,
    )
    .unwrap();
    assert_eq!(chain.len(), 3);
    sub.verify_issued_by(&root).unwrap();
    edleaf.verify_issued_by(&root).unwrap();

    // A flipped byte in the RSA-PSS signature of the intermediate: the issuer check fails as a
    // signature mismatch.
    let mut der = sub.der().to_vec();
    let n = der.len();
    der[n - 5] ^= 0x01;
    let forged = Certificate::from_der(&der).unwrap();
    let err = forged.verify_issued_by(&root).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert!(verify_chain(&leaf, &[forged], std::slice::from_ref(&root), now).is_err());
}

#[test]
fn rsa_signed_ocsp_answers_and_time_stamps_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    issue(d, "ca", "rsa2048", None, "ca", &["-sha256"]);
    issue(d, "leaf", "p384", Some("ca"), "leaf", &["-sha256"]);
    issue(d, "tsa", "rsa2048", Some("ca"), "tsa", &["-sha256"]);
    let (ca, leaf) = (ossl::cert(d, "ca"), ossl::cert(d, "leaf"));

    // OCSP: the CA itself answers, RSA with SHA-384.
    fs::write(
        d.join("index.txt"),
        format!(
            "V\t301231235959Z\t\t{}\tunknown\t/CN=Foreign leaf/O=Elsewhere\n",
            leaf.serial_hex().to_uppercase()
        ),
    )
    .unwrap();
    ossl::run(
        d,
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    ossl::run(
        d,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            "ca.pem",
            "-rkey",
            "ca.key",
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-rmd",
            "sha384",
            "-ndays",
            "1",
            "-resp_no_certs",
        ],
    );
    let resp = fs::read(d.join("resp.der")).unwrap();
    let now = SystemTime::now();
    assert_eq!(
        ocsp::verify_response(&resp, &leaf, &ca, None, now).unwrap(),
        CertStatus::Good
    );
    let mut bad = resp.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x01;
    let r = ocsp::verify_response(&bad, &leaf, &ca, None, now);
    assert!(
        matches!(&r, Err(PkiError::OcspRejected(why)) if why.contains("does not match")),
        "{r:?}"
    );

    // RFC 3161: an RSA TSA stamping with SHA-512 (not SHA-256).
    ossl::tsa_config(
        d,
        "tsa.pem",
        "tsa.key",
        "ca.pem",
        "sha256,sha512",
        "accuracy=secs:1\n",
    );
    fs::write(d.join("stamped.bin"), b"a signature value").unwrap();
    ossl::ts_query(d, "-sha512", &["-no_nonce"]);
    let token = ossl::ts_reply(d);
    let at = tsa::verify_token_over(
        &token,
        b"a signature value",
        None,
        std::slice::from_ref(&ca),
    )
    .unwrap();
    assert!(at <= now + Duration::from_secs(60));
    assert!(matches!(
        tsa::verify_token_over(&token, b"another value", None, std::slice::from_ref(&ca)),
        Err(PkiError::TimeStampRejected(_))
    ));
}
