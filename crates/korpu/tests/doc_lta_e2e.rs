//! `korpu doc extend` end to end: a PAdES B-T file signed by the CLI is raised to B-LTA
//! (DSS with the signer's and the TSA's revocation data, then a document time-stamp) through a
//! TSA and OCSP responder on a loopback port, renewed with `--fetch` (the responders the
//! certificates name), and `korpu doc verify` lists each archive time-stamp with its time and
//! TSA; a flipped byte fails the signature and every time-stamp; missing options are refused.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{CertStatus, Responder};
use korpu_pki::tsa::Authority;

const KORPU: &str = env!("CARGO_BIN_EXE_korpu");
const DAY: Duration = Duration::from_secs(86400);

struct Pki {
    root: Certificate,
    issuing: Certificate,
    issuing_key: SigningKey,
}

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

impl Pki {
    fn new() -> Self {
        let root_key = SigningKey::generate();
        let pk = root_key.public_key_der();
        let root = ca::self_signed(
            &root_key,
            req("Doc Root", &pk, Profile::Root),
            &ca::random_serial(),
        )
        .unwrap();
        let issuing_key = SigningKey::generate();
        let pk = issuing_key.public_key_der();
        let issuing = ca::issue(
            &root,
            &root_key,
            req("Doc Issuing CA", &pk, Profile::IssuingCa),
            &ca::random_serial(),
        )
        .unwrap();
        Pki {
            root,
            issuing,
            issuing_key,
        }
    }

    fn leaf_with_ocsp(
        &self,
        cn: &str,
        profile: Profile,
        ocsp_url: Option<String>,
    ) -> (Certificate, SigningKey) {
        let key = SigningKey::generate();
        let pk = key.public_key_der();
        let cert = ca::issue(
            &self.issuing,
            &self.issuing_key,
            IssueRequest {
                ocsp_url,
                ..req(cn, &pk, profile)
            },
            &ca::random_serial(),
        )
        .unwrap();
        (cert, key)
    }
}

/// POST /tsa (RFC 3161) and POST /ocsp (RFC 6960) on a loopback port; `revoked` serials answer
/// revoked since a day ago.
fn serve_on(listener: TcpListener, tsa: Authority, ocsp: Responder, revoked: Vec<String>) {
    let state = Arc::new((tsa, ocsp, revoked));
    std::thread::spawn(move || {
        let mut serial = 1u64;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            serial += 1;
            let now = SystemTime::now();
            let (tsa, ocsp, revoked) = &*state;
            let (ctype, resp) = if first.contains("/tsa") {
                (
                    "application/timestamp-reply",
                    tsa.respond(&body, now, serial),
                )
            } else {
                let resp = ocsp.respond(&body, now, |s: &str| {
                    if revoked.iter().any(|r| r == s) {
                        CertStatus::Revoked {
                            at: now - DAY,
                            reason: None,
                        }
                    } else {
                        CertStatus::Good
                    }
                });
                ("application/ocsp-response", resp)
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                resp.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&resp);
        }
    });
}

fn pdf(text: &str) -> Vec<u8> {
    let c = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
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

struct Signer {
    key: PathBuf,
    cert: PathBuf,
}

fn write_signer(dir: &Path, name: &str, cert: &Certificate, key: &SigningKey) -> Signer {
    let s = Signer {
        key: dir.join(format!("{name}.key")),
        cert: dir.join(format!("{name}.pem")),
    };
    korpu_pki::key::write_private_key(&s.key, key).unwrap();
    std::fs::write(&s.cert, cert.to_pem()).unwrap();
    s
}

#[test]
fn doc_extend_b_lta_adds_and_renews_archive_timestamps() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |x: &Path| x.to_str().unwrap().to_string();
    // The responder's URL is known once it listens; certificates that name it are issued
    // after, so `--fetch` can find it in them. The TSA is built first and then served.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ocsp_url = format!("{url}/ocsp");
    let (tsa_cert, tsa_key) =
        pki.leaf_with_ocsp("Doc Archive TSA", Profile::Tsa, Some(ocsp_url.clone()));
    let tsa = Authority::new(
        tsa_cert,
        tsa_key,
        vec![pki.issuing.clone()],
        "1.3.6.1.4.1.99999.3".parse().unwrap(),
    )
    .unwrap();
    let responder = Responder::new(
        pki.issuing.clone(),
        pki.issuing.clone(),
        pki.issuing_key.clone(),
        Duration::from_secs(3600),
    )
    .unwrap();
    serve_on(listener, tsa, responder, Vec::new());
    let (cert, key) = pki.leaf_with_ocsp(
        "AZ/GOV/1201",
        Profile::MemberSigning,
        Some(ocsp_url.clone()),
    );
    let alice = write_signer(dir.path(), "alice", &cert, &key);
    std::fs::write(p("chain.pem"), pki.issuing.to_pem()).unwrap();
    std::fs::write(p("root.pem"), pki.root.to_pem()).unwrap();
    std::fs::write(p("in.pdf"), pdf("Archived permit")).unwrap();
    let tsa_url = format!("{url}/tsa");
    let verify = |file: &Path| korpu(&["doc", "verify", "--trust", &s(&p("root.pem")), &s(file)]);

    let o = korpu(&[
        "doc",
        "sign",
        "--key",
        &s(&alice.key),
        "--cert",
        &s(&alice.cert),
        "--chain",
        &s(&p("chain.pem")),
        "--tsa",
        &tsa_url,
        "--level",
        "b-t",
        &s(&p("in.pdf")),
        &s(&p("bt.pdf")),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    // B-T to B-LTA in one step, with one OCSP responder for everything.
    let o = korpu(&[
        "doc",
        "extend",
        "--level",
        "b-lta",
        "--tsa",
        &tsa_url,
        "--ocsp",
        &ocsp_url,
        &s(&p("bt.pdf")),
        &s(&p("lta.pdf")),
    ]);
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
    let o = korpu(&[
        "doc",
        "extend",
        "--level",
        "b-lta",
        "--tsa",
        &tsa_url,
        "--fetch",
        &s(&p("lta.pdf")),
        &s(&p("renewed.pdf")),
    ]);
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
    let o = korpu(&[
        "doc",
        "verify",
        "--trust",
        &s(&p("root.pem")),
        "--report",
        "etsi",
        &s(&p("renewed.pdf")),
    ]);
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
    let o = korpu(&[
        "doc",
        "extend",
        "--level",
        "b-lta",
        "--ocsp",
        &ocsp_url,
        &s(&p("bt.pdf")),
        &s(&p("x.pdf")),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--tsa"),
        "{}",
        text(&o)
    );
    let o = korpu(&[
        "doc",
        "extend",
        "--level",
        "b-lta",
        "--tsa",
        &tsa_url,
        &s(&p("bt.pdf")),
        &s(&p("x.pdf")),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("--fetch"),
        "{}",
        text(&o)
    );
    assert!(!p("x.pdf").exists());
}
