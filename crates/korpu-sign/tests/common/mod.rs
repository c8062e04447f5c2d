//! A test PKI (root → issuing CA → leaves), an in-process TSA and an openssl runner.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::tsa::Authority;
use korpu_sign::LocalTimestamper;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

pub const DAY: Duration = Duration::from_secs(86400);

/// The verdict of an intact, trusted signature validated without revocation data (B-B and B-T
/// with nothing embedded, no fetching): every check passed but revocation, so
/// INDETERMINATE/TRY_LATER (EN 319 102-1 §5.2.6, as DSS), not TOTAL_PASSED.
pub fn assert_valid_without_revocation(r: &korpu_sign::validate::SignatureReport) {
    assert!(r.lacks_only_revocation(), "{r:#?}");
    assert!(r.revocation.starts_with("not checked"), "{r:#?}");
}

pub struct Pki {
    pub root: Certificate,
    pub root_key: SigningKey,
    pub issuing: Certificate,
    pub issuing_key: SigningKey,
}

pub struct Member {
    pub cert: Certificate,
    pub key: SigningKey,
    pub chain: Vec<Certificate>,
}

impl Member {
    pub fn signer(&self) -> korpu_sign::cades::Signer<'_> {
        korpu_sign::cades::Signer {
            key: &self.key,
            cert: &self.cert,
            chain: &self.chain,
        }
    }
}

fn request<'a>(
    cn: &str,
    pk: &'a [u8],
    profile: Profile,
    not_before: SystemTime,
    not_after: SystemTime,
) -> IssueRequest<'a> {
    IssueRequest {
        subject: Subject {
            common_name: cn.into(),
            organization: Some("Korpu Test".into()),
            country: Some("AZ".into()),
        },
        public_key_der: pk,
        profile,
        not_before,
        not_after,
        ocsp_url: None,
    }
}

impl Pki {
    /// CAs valid from a year ago to a year ahead, so tests can sign in the past.
    pub fn new(name: &str) -> Self {
        let now = SystemTime::now();
        let root_key = SigningKey::generate();
        let pk = root_key.public_key_der();
        let root = ca::self_signed(
            &root_key,
            request(
                &format!("{name} Root"),
                &pk,
                Profile::Root,
                now - 365 * DAY,
                now + 365 * DAY,
            ),
            &ca::random_serial(),
        )
        .unwrap();
        let issuing_key = SigningKey::generate();
        let pk = issuing_key.public_key_der();
        let issuing = ca::issue(
            &root,
            &root_key,
            request(
                &format!("{name} Issuing CA"),
                &pk,
                Profile::IssuingCa,
                now - 365 * DAY,
                now + 365 * DAY,
            ),
            &ca::random_serial(),
        )
        .unwrap();
        Pki {
            root,
            root_key,
            issuing,
            issuing_key,
        }
    }

    /// A member signer whose certificate was valid from ten days before `now` until a day
    /// before it, and a TSA whose clock is set to the time in between it returns with them.
    pub fn expired_signer(
        &self,
        id: &str,
        now: SystemTime,
    ) -> (Member, LocalTimestamper, SystemTime) {
        let m = self.leaf_valid(id, Profile::MemberSigning, now - 10 * DAY, now - DAY);
        let then = now - 5 * DAY;
        let tsa = self.tsa();
        tsa.set_time(Some(then));
        (m, tsa, then)
    }

    pub fn leaf_valid(
        &self,
        cn: &str,
        profile: Profile,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Member {
        self.leaf(cn, profile, not_before, not_after, None)
    }

    /// A leaf issued by the issuing CA, naming `ocsp_url` as its OCSP responder when given.
    fn leaf(
        &self,
        cn: &str,
        profile: Profile,
        not_before: SystemTime,
        not_after: SystemTime,
        ocsp_url: Option<&str>,
    ) -> Member {
        let key = SigningKey::generate();
        let pk = key.public_key_der();
        let mut req = request(cn, &pk, profile, not_before, not_after);
        req.ocsp_url = ocsp_url.map(Into::into);
        let cert = ca::issue(&self.issuing, &self.issuing_key, req, &ca::random_serial()).unwrap();
        Member {
            cert,
            key,
            chain: vec![self.issuing.clone()],
        }
    }

    pub fn member(&self, cn: &str) -> Member {
        let now = SystemTime::now();
        self.leaf_valid(cn, Profile::MemberSigning, now - 30 * DAY, now + 30 * DAY)
    }

    pub fn tsa(&self) -> LocalTimestamper {
        let now = SystemTime::now();
        self.tsa_of(self.leaf_valid("Korpu TSA", Profile::Tsa, now - 60 * DAY, now + 60 * DAY))
    }

    /// An in-process TSA signing with `m`'s certificate and key.
    fn tsa_of(&self, m: Member) -> LocalTimestamper {
        LocalTimestamper::new(
            Authority::new(
                m.cert,
                m.key,
                vec![self.issuing.clone()],
                "1.3.6.1.4.1.99999.1.1".parse().unwrap(),
            )
            .unwrap(),
        )
    }

    pub fn anchors(&self) -> Vec<Certificate> {
        vec![self.root.clone()]
    }
}

#[path = "../../../korpu-pki/tests/support/ossl.rs"]
pub mod ossl;

#[allow(unused_imports)] // each test binary uses what it needs
pub use ossl::{try_run as openssl, Run};

/// The python that has pyHanko: `KORPU_PYHANKO_PYTHON`, else the virtualenv `scripts/test`
/// makes (pyHanko cannot share an environment with the XAdES judges), else `PYTHON`/python3.
pub fn pyhanko_python() -> String {
    const VENV: &str = "/opt/korpu/pyhanko-venv/bin/python";
    std::env::var("KORPU_PYHANKO_PYTHON")
        .or_else(|_| {
            if Path::new(VENV).exists() {
                Ok(VENV.to_string())
            } else {
                std::env::var("PYTHON")
            }
        })
        .unwrap_or_else(|_| "python3".into())
}

/// Runs the pyHanko helper `script` (in `tests/pyhanko/`) with `args` and returns its
/// stdout; fails the test with its output when it does not succeed.
pub fn run_pyhanko<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let path = format!("{}/tests/pyhanko/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(pyhanko_python())
        .arg(&path)
        .args(args)
        .output()
        .expect("python with pyHanko is needed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyHanko {script} failed (is pyHanko installed? scripts/test installs it):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The verdicts a pyHanko helper prints, one JSON value per line (one per signature).
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The entries of a zip in order: (name, content, stored uncompressed).
pub fn zip_entries(container: &[u8]) -> Vec<(String, Vec<u8>, bool)> {
    let mut z = zip::ZipArchive::new(Cursor::new(container)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (
                e.name().to_owned(),
                v,
                e.compression() == CompressionMethod::Stored,
            )
        })
        .collect()
}

/// A zip of `entries` in order, each stored or deflated as it says.
pub fn zip_rebuild(entries: &[(String, Vec<u8>, bool)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content, stored) in entries {
        let method = if *stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        z.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        z.write_all(content).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// `openssl cms -verify` of the detached DER signature in the file `sig` over the file
/// `content`, trusting `root.pem`, for any purpose (all in `dir`).
pub fn openssl_cms_verify(dir: &Path, sig: &str, content: &str) -> Run {
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            sig,
            "-content",
            content,
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
}

/// The output of an openssl run that must succeed; fails the test with it otherwise.
pub fn succeeded(r: Run) -> String {
    assert!(r.ok, "openssl failed:\n{}", r.out);
    r.out
}

/// A minimal HTTP/1.1 POST endpoint on a port the OS picks, answering each body with
/// `answer(body)`; serves until the test process ends.
pub fn http_post(
    content_type: &'static str,
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let resp = answer(&body);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                resp.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&resp);
        }
    });
    format!("http://{addr}/")
}

/// `tsa` over HTTP (RFC 3161 §3.4), numbering its tokens from `first_serial`.
pub fn http_tsa(tsa: std::sync::Arc<LocalTimestamper>, first_serial: u64) -> String {
    let serial = std::sync::atomic::AtomicU64::new(first_serial);
    http_post("application/timestamp-reply", move |body| {
        let n = serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tsa.authority().respond(body, SystemTime::now(), n)
    })
}

pub mod pdfgen;

impl Pki {
    /// An in-process OCSP source answering as the issuing CA: `revoked` lists serials (hex)
    /// with their revocation times; everything else is good.
    pub fn ocsp(
        &self,
        revoked: Vec<(String, SystemTime)>,
    ) -> korpu_sign::LocalOcsp<impl Fn(&str) -> korpu_pki::ocsp::CertStatus> {
        let responder = korpu_pki::ocsp::Responder::new(
            self.issuing.clone(),
            self.issuing.clone(),
            self.issuing_key.clone(),
            Duration::from_secs(3600),
        )
        .unwrap();
        korpu_sign::LocalOcsp::new(responder, move |serial: &str| {
            match revoked.iter().find(|(s, _)| s == serial) {
                Some((_, at)) => korpu_pki::ocsp::CertStatus::Revoked {
                    at: *at,
                    reason: Some(korpu_pki::ocsp::RevocationReason::KeyCompromise),
                },
                None => korpu_pki::ocsp::CertStatus::Good,
            }
        })
    }
}

impl Pki {
    /// A leaf valid from a month ago to a month ahead whose certificate names an OCSP
    /// responder (Authority Information Access), as validators that only check revocation
    /// when a certificate declares where to (pyHanko) need.
    pub fn leaf_with_ocsp(&self, cn: &str, profile: Profile, ocsp_url: &str) -> Member {
        let now = SystemTime::now();
        self.leaf(cn, profile, now - 30 * DAY, now + 30 * DAY, Some(ocsp_url))
    }

    /// Like [`Pki::tsa`], with an OCSP responder named in the TSA certificate.
    pub fn tsa_with_ocsp(&self, ocsp_url: &str) -> LocalTimestamper {
        self.tsa_of(self.leaf_with_ocsp("Korpu TSA", Profile::Tsa, ocsp_url))
    }
}

/// Serves CRLs: for a certificate, the CRL its issuer published (by issuer subject).
pub struct Crls(pub Vec<(Certificate, Vec<u8>)>);

impl korpu_sign::RevocationSource for Crls {
    fn ocsp(&self, cert: &Certificate, _: &Certificate) -> Result<Vec<u8>, korpu_sign::SignError> {
        Err(korpu_sign::SignError::InvalidInput(format!(
            "no OCSP responder for \"{}\"",
            cert.subject()
        )))
    }
    fn crl(
        &self,
        _: &Certificate,
        issuer: &Certificate,
    ) -> Result<Option<Vec<u8>>, korpu_sign::SignError> {
        Ok(self
            .0
            .iter()
            .find(|(ca, _)| ca == issuer)
            .map(|(_, crl)| crl.clone()))
    }
}
