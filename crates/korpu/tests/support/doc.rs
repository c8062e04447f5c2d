//! Set-up for the `korpu doc` tests: a two-level PKI made with `korpu-pki` (root, issuing CA,
//! leaves valid from a day ago for 30 days), a time-stamping authority and an OCSP responder
//! under it served over HTTP on a loopback port, signer key and certificate files, and a
//! one-page PDF to sign. What each test signs and checks stays in the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{CertStatus, Responder};
use korpu_pki::tsa::Authority;

use super::korpu;

pub const DAY: Duration = Duration::from_secs(86400);

/// A request for `cn` valid from a day ago for 30 days, naming no OCSP responder.
pub fn req<'a>(cn: &str, pk: &'a [u8], profile: Profile) -> IssueRequest<'a> {
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

/// A fresh self-signed root `root_cn` (from [`req`]) and a certificate `cn` of `profile` that it
/// issues, with that certificate's key.
pub fn root_and_leaf(
    root_cn: &str,
    cn: &str,
    profile: Profile,
) -> (Certificate, Certificate, SigningKey) {
    let root_key = SigningKey::generate();
    let root_pk = root_key.public_key_der();
    let root_req = req(root_cn, &root_pk, Profile::Root);
    let root = ca::self_signed(&root_key, root_req, &ca::random_serial()).unwrap();
    let key = SigningKey::generate();
    let pk = key.public_key_der();
    let cert = ca::issue(
        &root,
        &root_key,
        req(cn, &pk, profile),
        &ca::random_serial(),
    )
    .unwrap();
    (root, cert, key)
}

/// "Doc Root" and its "Doc Issuing CA", which issues every leaf.
pub struct Pki {
    pub root: Certificate,
    pub issuing: Certificate,
    pub issuing_key: SigningKey,
}

impl Pki {
    pub fn new() -> Self {
        let (root, issuing, issuing_key) =
            root_and_leaf("Doc Root", "Doc Issuing CA", Profile::IssuingCa);
        Pki {
            root,
            issuing,
            issuing_key,
        }
    }

    pub fn leaf(&self, cn: &str, profile: Profile) -> (Certificate, SigningKey) {
        self.leaf_with_ocsp(cn, profile, None)
    }

    /// A leaf whose certificate names `ocsp_url` (authorityInfoAccess), for fetching.
    pub fn leaf_with_ocsp(
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

    /// A new PKI with its "Doc TSA" (policy 1.3.6.1.4.1.99999.2) and OCSP responder served
    /// ([`serve`], nothing revoked); returns it and the servers' URL.
    pub fn served() -> (Self, String) {
        let pki = Pki::new();
        let tsa = pki.tsa("Doc TSA", "1.3.6.1.4.1.99999.2", None);
        let url = serve(tsa, pki.responder(), Vec::new());
        (pki, url)
    }

    /// Writes `dir/chain.pem` (the issuing CA, for `--chain`) and `dir/root.pem` (for
    /// `--trust`).
    pub fn write_pems(&self, dir: &Path) {
        std::fs::write(dir.join("chain.pem"), self.issuing.to_pem()).unwrap();
        std::fs::write(dir.join("root.pem"), self.root.to_pem()).unwrap();
    }

    /// A time-stamping authority with a leaf certificate `cn` (naming `ocsp_url`, if any)
    /// under the issuing CA, stamping under the policy `policy`.
    pub fn tsa(&self, cn: &str, policy: &str, ocsp_url: Option<String>) -> Authority {
        let (cert, key) = self.leaf_with_ocsp(cn, Profile::Tsa, ocsp_url);
        Authority::new(
            cert,
            key,
            vec![self.issuing.clone()],
            policy.parse().unwrap(),
        )
        .unwrap()
    }

    /// An OCSP responder of the issuing CA, signing with the CA's own key, answers valid for
    /// an hour.
    pub fn responder(&self) -> Responder {
        Responder::new(
            self.issuing.clone(),
            self.issuing.clone(),
            self.issuing_key.clone(),
            Duration::from_secs(3600),
        )
        .unwrap()
    }
}

/// [`serve_on`] a loopback port of its own; returns `http://ADDR`.
pub fn serve(tsa: Authority, ocsp: Responder, revoked: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, tsa, ocsp, revoked);
    format!("http://{addr}")
}

/// POST /tsa (RFC 3161) and POST /ocsp (RFC 6960) on `listener`, on a thread of its own;
/// `revoked` serials answer revoked since a day ago.
pub fn serve_on(listener: TcpListener, tsa: Authority, ocsp: Responder, revoked: Vec<String>) {
    let state = Arc::new((tsa, ocsp, revoked));
    std::thread::spawn(move || {
        let mut serial = 1u64;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let Some((first, body)) = read_request(&conn) else {
                continue;
            };
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

/// One HTTP/1.1 request from `conn`: its request line and its body (Content-Length bytes);
/// None when the body is cut short.
pub fn read_request(conn: &TcpStream) -> Option<(String, Vec<u8>)> {
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
    reader.read_exact(&mut body).ok()?;
    Some((first, body))
}

/// A one-page PDF 1.4 showing `text`.
pub fn pdf(text: &str) -> Vec<u8> {
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

/// `korpu doc sign EXTRA… --key --cert --chain CHAIN --tsa URL/tsa --ocsp URL/ocsp --level
/// LEVEL INPUT OUT`: signed by `who`, time-stamped and with revocation data from the servers
/// at `url` (as [`serve`] returns it).
pub fn sign(
    who: &Signer,
    chain: &Path,
    url: &str,
    level: &str,
    extra: &[&str],
    input: &Path,
    out: &Path,
) -> Output {
    let s = |x: &Path| x.to_str().unwrap().to_owned();
    let (key, cert, chain) = (s(&who.key), s(&who.cert), s(chain));
    let (tsa, ocsp) = (format!("{url}/tsa"), format!("{url}/ocsp"));
    let (input, out) = (s(input), s(out));
    let mut args = vec!["doc", "sign"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--key", &key, "--cert", &cert, "--chain", &chain, "--tsa", &tsa, "--ocsp", &ocsp,
        "--level", level, &input, &out,
    ]);
    korpu(&args)
}

/// `korpu doc sign OPTIONS… --key --cert --level LEVEL INPUT OUT`, signed by `who` with only
/// the `options` given (a chain, a TSA, …).
pub fn sign_with(who: &Signer, options: &[&str], level: &str, input: &Path, out: &Path) -> Output {
    let s = |x: &Path| x.to_str().unwrap().to_owned();
    let (key, cert, input, out) = (s(&who.key), s(&who.cert), s(input), s(out));
    let mut args = vec!["doc", "sign"];
    args.extend_from_slice(options);
    args.extend_from_slice(&[
        "--key", &key, "--cert", &cert, "--level", level, &input, &out,
    ]);
    korpu(&args)
}

/// A signer's private key and certificate files.
pub struct Signer {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// Writes `dir/NAME.key` and `dir/NAME.pem`.
pub fn write_signer(dir: &Path, name: &str, cert: &Certificate, key: &SigningKey) -> Signer {
    let s = Signer {
        key: dir.join(format!("{name}.key")),
        cert: dir.join(format!("{name}.pem")),
    };
    korpu_pki::key::write_private_key(&s.key, key).unwrap();
    std::fs::write(&s.cert, cert.to_pem()).unwrap();
    s
}
