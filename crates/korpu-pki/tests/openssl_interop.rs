//! Interoperability with OpenSSL: what we issue and answer must be accepted by `openssl verify`,
//! `openssl ocsp` and `openssl ts`, and what openssl produces must be accepted by us.
//!
//! These tests fail (they do not skip) when openssl is missing: interop is part of the contract.
//! Set `OPENSSL` to use a binary other than `/usr/bin/openssl`.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, Profile};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{self, CertStatus, Responder, RevocationReason};
use korpu_pki::tsa::{self, Authority};
use korpu_pki::{csr, PkiError};
use sha2::{Digest, Sha256};

const OCSP_URL: &str = "http://ocsp.korpu.test/";
const POLICY: &str = "1.3.6.1.4.1.99999.1.1";

use korpu_testkit::ossl::{run as must, try_run as openssl};

/// The test PKI ("Korpu Test Root" → "Korpu Test Issuing CA") with `root.pem` and
/// `issuing.pem` written into a directory of its own, where openssl runs.
struct Pki {
    dir: tempfile::TempDir,
    ca: korpu_testkit::Pki,
}

impl std::ops::Deref for Pki {
    type Target = korpu_testkit::Pki;
    fn deref(&self) -> &korpu_testkit::Pki {
        &self.ca
    }
}

impl Pki {
    fn new() -> Self {
        let pki = Pki {
            dir: tempfile::tempdir().expect("tempdir"),
            ca: korpu_testkit::Pki::new("Korpu Test"),
        };
        pki.write("root.pem", pki.root.to_pem());
        pki.write("issuing.pem", pki.issuing.to_pem());
        pki
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) {
        fs::write(self.path().join(name), content).expect("write test file");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path().join(name)).expect("read test file")
    }

    /// A leaf of `profile` naming [`OCSP_URL`] as its responder.
    fn leaf(&self, cn: &str, profile: Profile) -> (Certificate, SigningKey) {
        let m = self.ca.leaf(cn, profile, Some(OCSP_URL));
        (m.cert, m.key)
    }
}

impl Drop for Pki {
    /// `KORPU_PKI_KEEP_TMP=1` keeps the files for re-running openssl by hand.
    fn drop(&mut self) {
        if std::env::var_os("KORPU_PKI_KEEP_TMP").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("kept {}", kept.keep().display());
        }
    }
}

/// `openssl verify` of the certificate file `cert` against the root file `ca`, with the
/// intermediate certificates file `untrusted`.
fn verify_args<'a>(ca: &'a str, untrusted: &'a str, cert: &'a str) -> [&'a str; 6] {
    ["verify", "-CAfile", ca, "-untrusted", untrusted, cert]
}

/// `openssl ts -verify` of the reply file `reply` to the query file `query`, against the root
/// file `ca` with the intermediate certificates file `untrusted`.
fn ts_verify_args<'a>(
    reply: &'a str,
    query: &'a str,
    ca: &'a str,
    untrusted: &'a str,
) -> [&'a str; 10] {
    [
        "ts",
        "-verify",
        "-in",
        reply,
        "-queryfile",
        query,
        "-CAfile",
        ca,
        "-untrusted",
        untrusted,
    ]
}

#[test]
fn openssl_verifies_every_profile_and_shows_extensions() {
    let pki = Pki::new();
    let d = pki.path();

    let text = must(d, &["x509", "-in", "root.pem", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    let text = must(d, &["x509", "-in", "issuing.pem", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");

    let tls_names = || {
        (
            vec!["gw.korpu.test".to_string()],
            vec!["127.0.0.1".parse().unwrap()],
        )
    };
    let cases: Vec<(&str, Profile, Vec<&str>, Option<&str>)> = vec![
        (
            "member",
            Profile::MemberSigning,
            vec!["Digital Signature, Non Repudiation", "CA:FALSE"],
            None,
        ),
        (
            "gateway",
            Profile::GatewayTls {
                dns_names: tls_names().0,
                ip_addrs: tls_names().1,
            },
            vec![
                "TLS Web Server Authentication, TLS Web Client Authentication",
                "DNS:gw.korpu.test",
                "IP Address:127.0.0.1",
            ],
            Some("sslclient"),
        ),
        (
            "server",
            Profile::ServerTls {
                dns_names: vec!["central.korpu.test".into()],
                ip_addrs: vec![],
            },
            vec!["TLS Web Server Authentication", "DNS:central.korpu.test"],
            Some("sslserver"),
        ),
        (
            "conf",
            Profile::ConfSigning,
            vec!["Digital Signature", "CA:FALSE"],
            None,
        ),
        (
            "tsa",
            Profile::Tsa,
            vec![
                "X509v3 Extended Key Usage: critical",
                "Time Stamping",
                "Digital Signature, Non Repudiation",
            ],
            Some("timestampsign"),
        ),
        (
            "ocsp",
            Profile::OcspResponder,
            vec!["OCSP Signing", "OCSP No Check"],
            Some("ocsphelper"),
        ),
    ];
    for (name, profile, expected, purpose) in cases {
        let (cert, _) = pki.leaf(&format!("AZ/GOV/{name}"), profile.clone());
        let file = format!("{name}.pem");
        pki.write(&file, cert.to_pem());
        let out = must(d, &verify_args("root.pem", "issuing.pem", &file));
        assert!(out.contains(&format!("{file}: OK")), "{profile:?}: {out}");
        if let Some(purpose) = purpose {
            let out = must(
                d,
                &[
                    "verify",
                    "-purpose",
                    purpose,
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    &file,
                ],
            );
            assert!(
                out.contains(&format!("{file}: OK")),
                "{profile:?} {purpose}: {out}"
            );
        }
        let text = must(d, &["x509", "-in", &file, "-noout", "-text"]);
        for e in expected {
            assert!(text.contains(e), "{profile:?}: missing {e:?} in\n{text}");
        }
        assert!(
            text.contains(&format!("OCSP - URI:{OCSP_URL}"))
                != matches!(profile, Profile::OcspResponder),
            "{text}"
        );
        assert!(text.contains("ecdsa-with-SHA256"), "{text}");
        let serial = must(d, &["x509", "-in", &file, "-noout", "-serial"]);
        assert_eq!(
            serial.trim(),
            format!("serial={}", cert.serial_hex().to_uppercase())
        );
        let fp = must(
            d,
            &["x509", "-in", &file, "-noout", "-fingerprint", "-sha256"],
        );
        assert!(
            fp.replace(':', "")
                .to_lowercase()
                .contains(&cert.sha256_fingerprint_hex()),
            "{fp}"
        );
    }

    // A leaf does not verify against a different root, nor without its issuing CA.
    let (member, _) = pki.leaf("AZ/GOV/x", Profile::MemberSigning);
    pki.write("x.pem", member.to_pem());
    let other = Pki::new();
    pki.write("other-root.pem", other.root.to_pem());
    let r = openssl(d, &verify_args("other-root.pem", "issuing.pem", "x.pem"));
    assert!(!r.ok && !r.out.contains("x.pem: OK"), "{}", r.out);
    let r = openssl(d, &["verify", "-CAfile", "root.pem", "x.pem"]);
    assert!(!r.ok, "{}", r.out);
}

#[test]
fn keys_csrs_and_signatures_interoperate() {
    let pki = Pki::new();
    let d = pki.path();

    // Our key and signature, checked by openssl.
    let k = SigningKey::generate();
    pki.write("key.pem", k.to_pkcs8_pem());
    let out = must(d, &["pkey", "-in", "key.pem", "-noout", "-check"]);
    assert!(out.contains("Key is valid"), "{out}");
    let pubpem = must(d, &["pkey", "-in", "key.pem", "-pubout"]);
    pki.write("pub.pem", &pubpem);
    pki.write("data.txt", "sign me");
    pki.write("sig.der", k.sign(b"sign me"));
    let out = must(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.der",
            "data.txt",
        ],
    );
    assert!(out.contains("Verified OK"), "{out}");

    // openssl's key and signature, checked by us.
    must(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ossl.pem",
        ],
    );
    let ossl =
        SigningKey::from_pkcs8_pem(&String::from_utf8(pki.read("ossl.pem")).unwrap()).unwrap();
    must(
        d,
        &[
            "dgst", "-sha256", "-sign", "ossl.pem", "-out", "ossl.sig", "data.txt",
        ],
    );
    korpu_pki::key::verify_signature(&ossl.public_key_der(), b"sign me", &pki.read("ossl.sig"))
        .unwrap();
    assert!(korpu_pki::key::verify_signature(
        &ossl.public_key_der(),
        b"other",
        &pki.read("ossl.sig")
    )
    .is_err());

    // Our CSR, checked by openssl.
    pki.write(
        "our.csr",
        csr::to_pem(&csr::create(&k, "AZ/GOV/1234567").unwrap()),
    );
    let out = must(
        d,
        &["req", "-in", "our.csr", "-verify", "-noout", "-subject"],
    );
    assert!(out.contains("verify OK"), "{out}");
    assert!(out.contains("CN = AZ/GOV/1234567"), "{out}");

    // openssl's CSRs, checked by us: P-256 accepted, RSA refused as an unsupported key.
    let req = |subject: &str, out: &[&str]| {
        let mut args = vec!["req", "-new", "-key", "ossl.pem", "-subj", subject];
        args.extend(out);
        must(d, &args)
    };
    let subject = "/C=AZ/O=Tax Service/CN=AZ\\/GOV\\/1234567";
    req(subject, &["-out", "ossl.csr"]);
    let parsed = csr::parse(&pki.read("ossl.csr")).unwrap();
    assert_eq!(parsed.public_key_der, ossl.public_key_der());
    assert_eq!(parsed.subject, "CN=AZ/GOV/1234567,O=Tax Service,C=AZ");
    req("/CN=x", &["-outform", "DER", "-out", "ossl.csr.der"]);
    csr::parse(&pki.read("ossl.csr.der")).unwrap();
    must(
        d,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-subj",
            "/CN=rsa", "-out", "rsa.csr",
        ],
    );
    assert!(matches!(
        csr::parse(&pki.read("rsa.csr")),
        Err(PkiError::InvalidPublicKey(_))
    ));

    // A certificate issued from openssl's CSR verifies and carries its key.
    let cert = ca::issue(
        &pki.issuing,
        &pki.issuing_key,
        korpu_testkit::pki::request(
            korpu_testkit::pki::subject("AZ/GOV/1234567"),
            &parsed.public_key_der,
            Profile::MemberSigning,
            SystemTime::now() - Duration::from_secs(300),
            SystemTime::now() + Duration::from_secs(30 * 86400),
        ),
        &ca::random_serial(),
    )
    .unwrap();
    pki.write("fromcsr.pem", cert.to_pem());
    let out = must(d, &verify_args("root.pem", "issuing.pem", "fromcsr.pem"));
    assert!(out.contains("fromcsr.pem: OK"), "{out}");
    let out = must(d, &["x509", "-in", "fromcsr.pem", "-noout", "-pubkey"]);
    let out2 = must(d, &["pkey", "-in", "ossl.pem", "-pubout"]);
    assert_eq!(out.trim(), out2.trim());
}

struct OcspSetup {
    pki: Pki,
    responder: Responder,
    member: Certificate,
}

fn ocsp_setup() -> OcspSetup {
    let pki = Pki::new();
    let (rc, rk) = pki.leaf("Korpu OCSP Responder", Profile::OcspResponder);
    let (member, _) = pki.leaf("AZ/GOV/1234567", Profile::MemberSigning);
    pki.write("member.pem", member.to_pem());
    pki.write("responder.pem", rc.to_pem());
    let responder = Responder::new(pki.issuing.clone(), rc, rk, Duration::from_secs(3600)).unwrap();
    OcspSetup {
        pki,
        responder,
        member,
    }
}

/// Has openssl verify `resp` as the answer to `req`: signature, delegated responder chain to
/// root.pem, and the nonce. (`openssl ocsp -reqin` must not be combined with `-cert`: openssl then
/// builds a fresh request with a fresh nonce and compares the response against that instead.)
fn openssl_verify_response(pki: &Pki, req: &str, resp: &str) -> String {
    let out = must(
        pki.path(),
        &[
            "ocsp",
            "-reqin",
            req,
            "-respin",
            resp,
            "-CAfile",
            "root.pem",
            "-verify_other",
            "issuing.pem",
            "-resp_text",
        ],
    );
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(
        !out.contains("Nonce Verify error") && !out.contains("WARNING"),
        "{out}"
    );
    out
}

/// openssl's per-certificate verdict on `resp` ("member.pem: good"), after verifying it again.
/// `cert_id_flags` selects the CertID hash openssl looks the certificate up with.
fn openssl_status_line(pki: &Pki, resp: &str, cert_id_flags: &[&str]) -> String {
    let mut args = vec!["ocsp", "-respin", resp, "-no_nonce"];
    args.extend_from_slice(cert_id_flags);
    args.extend_from_slice(&[
        "-issuer",
        "issuing.pem",
        "-cert",
        "member.pem",
        "-CAfile",
        "root.pem",
        "-verify_other",
        "issuing.pem",
    ]);
    let out = must(pki.path(), &args);
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

#[test]
fn openssl_accepts_our_ocsp_responses() {
    let s = ocsp_setup();
    let d = s.pki.path();
    let now = SystemTime::now();

    for (label, flags) in [
        ("nonce", vec![]),
        ("no-nonce", vec!["-no_nonce"]),
        ("sha256", vec!["-sha256"]),
    ] {
        let req_file = format!("req-{label}.der");
        let cert_id_flags: Vec<&str> = flags.iter().copied().filter(|f| *f == "-sha256").collect();
        let mut args = vec!["ocsp"];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&[
            "-issuer",
            "issuing.pem",
            "-cert",
            "member.pem",
            "-reqout",
            &req_file,
        ]);
        must(d, &args);
        let req = s.pki.read(&req_file);
        assert_eq!(
            s.responder.requested_serials(&req).unwrap(),
            vec![s.member.serial_hex()],
            "{label}"
        );
        let nonce = ocsp_nonce(&req);

        // good
        let resp = s.responder.respond(&req, now, |serial| {
            assert_eq!(serial, s.member.serial_hex());
            CertStatus::Good
        });
        let resp_file = format!("resp-{label}-good.der");
        s.pki.write(&resp_file, &resp);
        let out = openssl_verify_response(&s.pki, &req_file, &resp_file);
        assert!(out.contains("Cert Status: good"), "{label}: {out}");
        assert!(out.contains("Next Update:"), "{label}: {out}");
        if label == "sha256" {
            assert!(out.contains("Hash Algorithm: sha256"), "{label}: {out}");
        }
        if label == "nonce" {
            assert!(out.contains("OCSP Nonce"), "{label}: {out}");
        }
        let out = openssl_status_line(&s.pki, &resp_file, &cert_id_flags);
        assert!(out.contains("member.pem: good"), "{label}: {out}");
        assert_eq!(
            ocsp::verify_response(&resp, &s.member, &s.pki.issuing, nonce.as_deref(), now).unwrap(),
            CertStatus::Good
        );

        // revoked
        let revoked_at = now - Duration::from_secs(86400);
        let resp = s.responder.respond(&req, now, |_| CertStatus::Revoked {
            at: revoked_at,
            reason: Some(RevocationReason::KeyCompromise),
        });
        let resp_file = format!("resp-{label}-revoked.der");
        s.pki.write(&resp_file, &resp);
        let out = openssl_verify_response(&s.pki, &req_file, &resp_file);
        assert!(out.contains("Cert Status: revoked"), "{label}: {out}");
        let out = openssl_status_line(&s.pki, &resp_file, &cert_id_flags);
        assert!(out.contains("member.pem: revoked"), "{label}: {out}");
        assert!(out.contains("Reason: keyCompromise"), "{label}: {out}");
        assert!(out.contains("Revocation Time:"), "{label}: {out}");
        assert!(matches!(
            ocsp::verify_response(&resp, &s.member, &s.pki.issuing, nonce.as_deref(), now).unwrap(),
            CertStatus::Revoked {
                reason: Some(RevocationReason::KeyCompromise),
                ..
            }
        ));

        // unknown
        let resp = s.responder.respond(&req, now, |_| CertStatus::Unknown);
        let resp_file = format!("resp-{label}-unknown.der");
        s.pki.write(&resp_file, &resp);
        openssl_verify_response(&s.pki, &req_file, &resp_file);
        let out = openssl_status_line(&s.pki, &resp_file, &cert_id_flags);
        assert!(out.contains("member.pem: unknown"), "{label}: {out}");
    }

    // The trust anchor matters: against a foreign root openssl refuses the response.
    let other = Pki::new();
    s.pki.write("other-root.pem", other.root.to_pem());
    let req = s.pki.read("req-nonce.der");
    s.pki.write(
        "resp.der",
        s.responder.respond(&req, now, |_| CertStatus::Good),
    );
    let r = openssl(
        d,
        &[
            "ocsp",
            "-reqin",
            "req-nonce.der",
            "-respin",
            "resp.der",
            "-CAfile",
            "other-root.pem",
            "-verify_other",
            "issuing.pem",
        ],
    );
    assert!(!r.out.contains("Response verify OK"), "{}", r.out);

    // A response to a different request fails openssl's nonce check.
    must(
        d,
        &[
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "member.pem",
            "-reqout",
            "req2.der",
        ],
    );
    let r = openssl(
        d,
        &[
            "ocsp",
            "-reqin",
            "req2.der",
            "-respin",
            "resp.der",
            "-CAfile",
            "root.pem",
            "-verify_other",
            "issuing.pem",
        ],
    );
    assert!(r.out.contains("Nonce Verify error"), "{}", r.out);

    // Garbage gets malformedRequest, which openssl reports as such.
    s.pki.write(
        "garbage-resp.der",
        s.responder
            .respond(b"\x30\x03junk", now, |_| CertStatus::Good),
    );
    let r = openssl(
        d,
        &[
            "ocsp",
            "-respin",
            "garbage-resp.der",
            "-resp_text",
            "-noverify",
        ],
    );
    assert!(r.out.contains("malformedrequest"), "{}", r.out);
}

#[test]
fn openssl_reads_our_ocsp_requests() {
    let s = ocsp_setup();
    let d = s.pki.path();
    let (req, nonce) = ocsp::build_request(&s.member, &s.pki.issuing).unwrap();
    s.pki.write("our-req.der", &req);
    let out = must(d, &["ocsp", "-reqin", "our-req.der", "-req_text"]);
    assert!(out.contains("OCSP Request Data:"), "{out}");
    assert!(out.contains("Hash Algorithm: sha1"), "{out}");
    assert!(
        out.contains(&format!(
            "Serial Number: {}",
            s.member.serial_hex().to_uppercase()
        )),
        "{out}"
    );
    assert!(out.contains("OCSP Nonce"), "{out}");

    // Our request, our response, openssl's verdict (nonce checked against our request).
    let now = SystemTime::now();
    let resp = s.responder.respond(&req, now, |_| CertStatus::Good);
    s.pki.write("our-resp.der", &resp);
    openssl_verify_response(&s.pki, "our-req.der", "our-resp.der");
    let out = openssl_status_line(&s.pki, "our-resp.der", &[]);
    assert!(out.contains("member.pem: good"), "{out}");
    assert_eq!(
        ocsp::verify_response(&resp, &s.member, &s.pki.issuing, Some(&nonce), now).unwrap(),
        CertStatus::Good
    );
}

fn tsa_setup() -> (Pki, Authority) {
    let pki = Pki::new();
    let (cert, key) = pki.leaf("Korpu TSA", Profile::Tsa);
    pki.write("tsa.pem", cert.to_pem());
    pki.write(
        "tsa_and_issuing.pem",
        format!("{}{}", cert.to_pem(), pki.issuing.to_pem()),
    );
    let tsa = Authority::new(
        cert,
        key,
        vec![pki.issuing.clone()],
        POLICY.parse().unwrap(),
    )
    .unwrap();
    pki.write("file.txt", "the ledger entry to stamp\n");
    pki.write("other.txt", "a different entry\n");
    (pki, tsa)
}

fn nonce_line(text: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with("Nonce:"))
        .unwrap_or_else(|| panic!("no Nonce line in\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn openssl_verifies_our_time_stamps() {
    let (pki, tsa) = tsa_setup();
    let d = pki.path();
    let digest: [u8; 32] = Sha256::digest(pki.read("file.txt")).into();

    must(
        d,
        &[
            "ts", "-query", "-data", "file.txt", "-sha256", "-cert", "-out", "q.tsq",
        ],
    );
    let now = SystemTime::now();
    pki.write("r.tsr", tsa.respond(&pki.read("q.tsq"), now, 1001));

    let out = must(
        d,
        &ts_verify_args("r.tsr", "q.tsq", "root.pem", "issuing.pem"),
    );
    assert!(out.contains("Verification: OK"), "{out}");
    let out = must(
        d,
        &[
            "ts",
            "-verify",
            "-in",
            "r.tsr",
            "-data",
            "file.txt",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ],
    );
    assert!(out.contains("Verification: OK"), "{out}");

    let reply = must(d, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    assert!(reply.contains("Status: Granted."), "{reply}");
    assert!(reply.contains(&format!("Policy OID: {POLICY}")), "{reply}");
    assert!(reply.contains("Serial number: 0x03E9"), "{reply}");
    assert!(reply.contains("Hash Algorithm: sha256"), "{reply}");
    let query = must(d, &["ts", "-query", "-in", "q.tsq", "-text"]);
    assert_eq!(nonce_line(&reply), nonce_line(&query));

    // Ours agrees, with the nonce taken from openssl's query.
    let nonce = tsq_nonce(&pki.read("q.tsq"));
    let gen_time = tsa::verify_response(
        &pki.read("r.tsr"),
        &digest,
        Some(&nonce),
        std::slice::from_ref(&pki.root),
    )
    .unwrap();
    assert!(gen_time <= now && now.duration_since(gen_time).unwrap() < Duration::from_secs(1));

    // The same token does not verify for other data, by openssl or by us.
    let r = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-in",
            "r.tsr",
            "-data",
            "other.txt",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ],
    );
    assert!(!r.ok && r.out.contains("Verification: FAILED"), "{}", r.out);
    assert!(r.out.contains("message imprint mismatch"), "{}", r.out);
    must(
        d,
        &[
            "ts",
            "-query",
            "-data",
            "other.txt",
            "-sha256",
            "-cert",
            "-out",
            "q2.tsq",
        ],
    );
    let r = openssl(
        d,
        &ts_verify_args("r.tsr", "q2.tsq", "root.pem", "issuing.pem"),
    );
    assert!(!r.ok && r.out.contains("Verification: FAILED"), "{}", r.out);
    let other_digest: [u8; 32] = Sha256::digest(pki.read("other.txt")).into();
    assert!(tsa::verify_response(
        &pki.read("r.tsr"),
        &other_digest,
        None,
        std::slice::from_ref(&pki.root)
    )
    .is_err());

    // Nor against a foreign root.
    let foreign = Pki::new();
    pki.write("foreign-root.pem", foreign.root.to_pem());
    let r = openssl(
        d,
        &ts_verify_args("r.tsr", "q.tsq", "foreign-root.pem", "issuing.pem"),
    );
    assert!(!r.ok && r.out.contains("Verification: FAILED"), "{}", r.out);

    // SHA-512 imprints are accepted too.
    must(
        d,
        &[
            "ts", "-query", "-data", "file.txt", "-sha512", "-cert", "-out", "q512.tsq",
        ],
    );
    pki.write("r512.tsr", tsa.respond(&pki.read("q512.tsq"), now, 1002));
    let out = must(
        d,
        &ts_verify_args("r512.tsr", "q512.tsq", "root.pem", "issuing.pem"),
    );
    assert!(out.contains("Verification: OK"), "{out}");
}

#[test]
fn time_stamp_without_certificates() {
    let (pki, tsa) = tsa_setup();
    let d = pki.path();
    must(
        d,
        &[
            "ts", "-query", "-data", "file.txt", "-sha256", "-out", "q3.tsq",
        ],
    );
    pki.write(
        "r3.tsr",
        tsa.respond(&pki.read("q3.tsq"), SystemTime::now(), 7),
    );

    // No certificates in the token: with only the issuing CA available, openssl cannot find
    // the signer...
    let r = openssl(
        d,
        &ts_verify_args("r3.tsr", "q3.tsq", "root.pem", "issuing.pem"),
    );
    assert!(!r.ok && r.out.contains("Verification: FAILED"), "{}", r.out);
    // ...given the TSA certificate, it verifies.
    let out = must(
        d,
        &ts_verify_args("r3.tsr", "q3.tsq", "root.pem", "tsa_and_issuing.pem"),
    );
    assert!(out.contains("Verification: OK"), "{out}");

    let digest: [u8; 32] = Sha256::digest(pki.read("file.txt")).into();
    let nonce = tsq_nonce(&pki.read("q3.tsq"));
    assert!(tsa::verify_response(
        &pki.read("r3.tsr"),
        &digest,
        Some(&nonce),
        std::slice::from_ref(&pki.root)
    )
    .is_err());
    tsa::verify_response(
        &pki.read("r3.tsr"),
        &digest,
        Some(&nonce),
        &[pki.root.clone(), pki.issuing.clone(), tsa.cert.clone()],
    )
    .unwrap();
}

#[test]
fn openssl_understands_our_rejections_and_requests() {
    let (pki, tsa) = tsa_setup();
    let d = pki.path();
    let now = SystemTime::now();

    // openssl reads the status and failure of each of our rejections.
    let rejected = |tsr: &str, reason: &str| {
        let out = must(d, &["ts", "-reply", "-in", tsr, "-text"]);
        assert!(out.contains("Status: Rejected."), "{out}");
        assert!(out.contains(reason), "{out}");
    };
    // openssl verifies one of our answers against the request it was for.
    let verified = |tsr: &str, tsq: &str| {
        let out = must(d, &ts_verify_args(tsr, tsq, "root.pem", "issuing.pem"));
        assert!(out.contains("Verification: OK"), "{out}");
    };
    // openssl's requests: (name, query options, our answer's serial, the rejection's reason or
    // None for a grant).
    let cases: [(&str, &[&str], u64, Option<&str>); 3] = [
        (
            "sha1",
            &["-sha1"],
            1,
            Some("unrecognized or unsupported algorithm identifier"),
        ),
        (
            "pol",
            &["-sha256", "-tspolicy", "1.2.3.4"],
            1,
            Some("the requested TSA policy is not supported by the TSA"),
        ),
        ("ours", &["-sha256", "-tspolicy", POLICY, "-cert"], 2, None),
    ];
    for (name, options, serial, rejection) in cases {
        let (tsq, tsr) = (format!("q-{name}.tsq"), format!("r-{name}.tsr"));
        let mut args = vec!["ts", "-query", "-data", "file.txt"];
        args.extend(options);
        args.extend(["-out", &tsq]);
        must(d, &args);
        pki.write(&tsr, tsa.respond(&pki.read(&tsq), now, serial));
        match rejection {
            Some(reason) => rejected(&tsr, reason),
            None => verified(&tsr, &tsq),
        }
    }

    pki.write("r-garbage.tsr", tsa.respond(b"not a request", now, 1));
    rejected("r-garbage.tsr", "the data submitted has the wrong format");

    // Our request, read by openssl and answered by us, verified by openssl against it.
    let digest: [u8; 32] = Sha256::digest(pki.read("file.txt")).into();
    let (req, nonce) = tsa::build_request(&digest);
    pki.write("ours.tsq", &req);
    let out = must(d, &["ts", "-query", "-in", "ours.tsq", "-text"]);
    assert!(out.contains("Hash Algorithm: sha256"), "{out}");
    assert!(out.contains("Certificate required: yes"), "{out}");
    let resp = tsa.respond(&req, now, 3);
    pki.write("ours.tsr", &resp);
    verified("ours.tsr", "ours.tsq");
    tsa::verify_response(
        &resp,
        &digest,
        Some(&nonce),
        std::slice::from_ref(&pki.root),
    )
    .unwrap();
}

/// The nonce of an OCSP request (the content of the RFC 8954 Nonce OCTET STRING).
fn ocsp_nonce(req: &[u8]) -> Option<Vec<u8>> {
    use der::Decode;
    x509_ocsp::OcspRequest::from_der(req)
        .expect("openssl wrote a valid OCSP request")
        .nonce()
        .map(|n| n.0.as_bytes().to_vec())
}

/// The nonce of a TimeStampReq (the INTEGER's content octets).
fn tsq_nonce(req: &[u8]) -> Vec<u8> {
    use der::Decode;
    x509_tsp::TimeStampReq::from_der(req)
        .expect("openssl wrote a valid TimeStampReq")
        .nonce
        .expect("openssl adds a nonce by default")
        .as_bytes()
        .to_vec()
}
