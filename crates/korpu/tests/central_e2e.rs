//! End to end: the real `korpu` binary on loopback ports chosen at run time, driven as an
//! operator would, with openssl as the independent judge of our OCSP answers, time-stamps and
//! certificates, and `korpu conf verify` as a gateway operator would use it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;

const KORPU: &str = env!("CARGO_BIN_EXE_korpu");

mod support;
use support::platform::register_gateway;
use support::{free_port, korpu, korpu_ok, text};

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn openssl(args: &[&str]) -> Output {
    run(Command::new("openssl").args(args))
}

/// The body of a GET of `url`.
async fn get_bytes(url: &str) -> Vec<u8> {
    let resp = reqwest::get(url).await.unwrap();
    resp.bytes().await.unwrap().to_vec()
}

/// An RFC 3161 request for `data` (SHA-256, asking for the TSA's certificate), made by openssl
/// and written to `tsq`; returns `tsq`.
fn ts_query(data: &Path, tsq: &Path) -> PathBuf {
    let out = openssl(&[
        "ts",
        "-query",
        "-data",
        data.to_str().unwrap(),
        "-sha256",
        "-cert",
        "-out",
        tsq.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    tsq.to_owned()
}

/// A central registry process, stopped with SIGTERM when dropped.
struct Central {
    dir: PathBuf,
    public: String,
    child: Child,
}

impl Central {
    fn init(dir: &Path) -> (u16, u16) {
        let (m, p) = (free_port(), free_port());
        korpu_ok(&[
            "central",
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--management-listen",
            &format!("127.0.0.1:{m}"),
            "--public-listen",
            &format!("127.0.0.1:{p}"),
        ]);
        (m, p)
    }

    fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// [`Central::start`] with `KORPU_CENTRAL_*` overrides.
    fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        let (_, p) = Self::init(dir);
        let mut child = Command::new(KORPU)
            .args(["central", "serve", "--config"])
            .arg(dir.join("central.toml"))
            .envs(env.iter().copied())
            .env("KORPU_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("korpu central: management"),
            "unexpected first line {line:?}"
        );
        Central {
            dir: dir.to_owned(),
            public: format!("http://127.0.0.1:{p}"),
            child,
        }
    }

    fn config(&self) -> String {
        self.dir.join("central.toml").display().to_string()
    }

    fn cert(&self, name: &str) -> String {
        self.dir
            .join("certs")
            .join(format!("{name}.pem"))
            .display()
            .to_string()
    }

    fn admin(&self, args: &[&str]) -> String {
        let config = self.config();
        let mut all = vec!["central", "--config", config.as_str()];
        all.extend_from_slice(args);
        korpu_ok(&all)
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        run(Command::new("kill").args(["-TERM", &pid]));
        self.child.wait().unwrap()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn http_post(url: &str, content_type: &str, body: Vec<u8>) -> Vec<u8> {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "POST {url}: {}", resp.status());
    resp.bytes().await.unwrap().to_vec()
}

/// Registers an agency and its gateway, makes the gateway's keys and has both certified.
fn register_agency(c: &Central, work: &Path) -> (PathBuf, PathBuf) {
    let keys = work.join("gw");
    register_gateway(
        Path::new(&c.config()),
        "AZ/GOV/1400001",
        "State Population Registry",
        "AZ/GOV/1400001/population",
        "127.0.0.1:5501",
        &keys,
    );
    c.admin(&[
        "service",
        "add",
        "AZ/GOV/1400001/population/persons",
        "--title",
        "Persons",
        "--version",
        "v1",
        "--subject-path",
        "pin",
        "--purpose-required",
    ]);
    (keys.join("tls.pem"), keys.join("sign.pem"))
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_sets_up_an_instance_and_openssl_accepts_ocsp_and_certificates() {
    let work = tempfile::tempdir().unwrap();
    let c = Central::start(&work.path().join("central"));
    let (tls, sign) = register_agency(&c, work.path());
    let (root, issuing) = (c.cert("root"), c.cert("issuing"));

    for cert in [&tls, &sign] {
        let out = openssl(&[
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &issuing,
            cert.to_str().unwrap(),
        ]);
        assert!(
            out.status.success() && text(&out).contains(": OK"),
            "{}",
            text(&out)
        );
    }
    let out = openssl(&[
        "x509",
        "-in",
        tls.to_str().unwrap(),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName,extendedKeyUsage",
    ]);
    let t = text(&out);
    assert!(
        t.contains("AZ/GOV/1400001/gw1") && t.contains("IP Address:127.0.0.1"),
        "{t}"
    );
    assert!(
        t.contains("TLS Web Server Authentication") && t.contains("TLS Web Client Authentication"),
        "{t}"
    );

    // openssl asks our OCSP responder over HTTP, and checks the signed answer against the root.
    let ocsp = |cert: &Path| {
        openssl(&[
            "ocsp",
            "-issuer",
            &issuing,
            "-cert",
            cert.to_str().unwrap(),
            "-url",
            &format!("{}/ocsp", c.public),
            "-CAfile",
            &root,
        ])
    };
    let out = ocsp(&tls);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains(&format!("{}: good", tls.display())), "{t}");

    let certs = c.admin(&["list", "certificates"]);
    let certs: serde_json::Value = serde_json::from_str(&certs).unwrap();
    let serial = certs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "gateway_tls")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    c.admin(&["cert", "revoke", &serial, "--reason", "key_compromise"]);
    let out = ocsp(&tls);
    let t = text(&out);
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains(&format!("{}: revoked", tls.display())), "{t}");
    assert!(t.contains("Reason: keyCompromise"), "{t}");
    // The signing certificate is untouched.
    assert!(
        text(&ocsp(&sign)).contains(": good"),
        "signing cert should stay good"
    );

    // The same question as an RFC 6960 GET request.
    let req = work.path().join("req.der");
    let out = openssl(&[
        "ocsp",
        "-issuer",
        &issuing,
        "-cert",
        sign.to_str().unwrap(),
        "-reqout",
        req.to_str().unwrap(),
        "-no_nonce",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req).unwrap());
    let resp = get_bytes(&format!("{}/ocsp/{}", c.public, b64.replace('/', "%2F"))).await;
    let resp_path = work.path().join("resp.der");
    std::fs::write(&resp_path, &resp).unwrap();
    let out = openssl(&[
        "ocsp",
        "-respin",
        resp_path.to_str().unwrap(),
        "-issuer",
        &issuing,
        "-cert",
        sign.to_str().unwrap(),
        "-CAfile",
        &root,
    ]);
    let t = text(&out);
    assert!(
        t.contains("Response verify OK") && t.contains(": good"),
        "{t}"
    );

    assert!(
        c.stop().success(),
        "SIGTERM should end the registry cleanly"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_verifies_our_time_stamps() {
    let work = tempfile::tempdir().unwrap();
    let c = Central::start(&work.path().join("central"));
    let data = work.path().join("data.txt");
    let other = work.path().join("other.txt");
    std::fs::write(&data, "a birth was registered").unwrap();
    std::fs::write(&other, "something else").unwrap();
    let tsq = ts_query(&data, &work.path().join("q.tsq"));
    let reply = http_post(
        &format!("{}/tsa", c.public),
        "application/timestamp-query",
        std::fs::read(&tsq).unwrap(),
    )
    .await;
    let tsr = work.path().join("r.tsr");
    std::fs::write(&tsr, reply).unwrap();
    let (root, issuing) = (c.cert("root"), c.cert("issuing"));
    let verify = |args: &[&str]| {
        let mut all = vec![
            "ts",
            "-verify",
            "-in",
            tsr.to_str().unwrap(),
            "-CAfile",
            &root,
            "-untrusted",
            &issuing,
        ];
        all.extend_from_slice(args);
        openssl(&all)
    };
    let out = verify(&["-queryfile", tsq.to_str().unwrap()]);
    assert!(
        out.status.success() && text(&out).contains("Verification: OK"),
        "{}",
        text(&out)
    );
    let out = verify(&["-data", data.to_str().unwrap()]);
    assert!(
        out.status.success() && text(&out).contains("Verification: OK"),
        "{}",
        text(&out)
    );
    let out = verify(&["-data", other.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a time-stamp must not verify for other data:\n{}",
        text(&out)
    );
    let out = openssl(&["ts", "-reply", "-in", tsr.to_str().unwrap(), "-text"]);
    let t = text(&out);
    assert!(
        t.contains("Status: Granted") && t.contains("1.3.6.1.4.1.32473.1.3161"),
        "{t}"
    );
    c.stop();
}

/// The TSA signed anything for anyone: 1 MiB and negative nonces, without limit (issue 13,
/// item 14). Now a client gets its burst, then 429 with Retry-After, while the nonce bounds
/// answer with an RFC 3161 rejection that openssl reads as such.
#[tokio::test(flavor = "multi_thread")]
async fn the_tsa_rate_limits_each_client_and_rejects_oversized_and_negative_nonces() {
    let work = tempfile::tempdir().unwrap();
    let c = Central::start_with(
        &work.path().join("central"),
        &[
            ("KORPU_CENTRAL_TSA_BURST", "3"),
            ("KORPU_CENTRAL_TSA_REQUESTS_PER_SECOND", "0.2"),
        ],
    );
    let data = work.path().join("data.txt");
    std::fs::write(&data, "a birth was registered").unwrap();
    let tsq = ts_query(&data, &work.path().join("q.tsq"));
    let query = std::fs::read(&tsq).unwrap();
    // TimeStampReq ::= SEQUENCE { version, messageImprint, ..., nonce INTEGER, certReq }:
    // the same request with its nonce replaced by `nonce` (content octets).
    let with_nonce = |nonce: &[u8]| -> Vec<u8> {
        fn der_len(n: usize) -> Vec<u8> {
            match n {
                0..=127 => vec![n as u8],
                _ => {
                    let b = n.to_be_bytes();
                    let skip = b.iter().take_while(|&&x| x == 0).count();
                    let mut v = vec![0x80 | (b.len() - skip) as u8];
                    v.extend_from_slice(&b[skip..]);
                    v
                }
            }
        }
        // Walk the outer SEQUENCE's elements: keep all but the INTEGER after messageImprint.
        let (hdr, body) = if query[1] & 0x80 == 0 {
            (2, &query[2..])
        } else {
            let n = (query[1] & 0x7f) as usize;
            (2 + n, &query[2 + n..])
        };
        assert!(hdr > 0);
        let mut elems = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let (len, l) = if body[i + 1] & 0x80 == 0 {
                (body[i + 1] as usize, 1)
            } else {
                let n = (body[i + 1] & 0x7f) as usize;
                (
                    body[i + 2..i + 2 + n]
                        .iter()
                        .fold(0usize, |a, &b| a << 8 | b as usize),
                    1 + n,
                )
            };
            elems.push(body[i..i + 1 + l + len].to_vec());
            i += 1 + l + len;
        }
        let mut inner = Vec::new();
        for (k, e) in elems.iter().enumerate() {
            if k > 1 && e[0] == 0x02 {
                inner.push(0x02);
                inner.extend(der_len(nonce.len()));
                inner.extend_from_slice(nonce);
            } else {
                inner.extend_from_slice(e);
            }
        }
        let mut out = vec![0x30];
        out.extend(der_len(inner.len()));
        out.extend(inner);
        out
    };
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let client = client.clone();
        let url = format!("{}/tsa", c.public);
        async move {
            let r = client
                .post(url)
                .header("content-type", "application/timestamp-query")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let retry = r.headers().get("retry-after").cloned();
            (status, retry, r.bytes().await.unwrap().to_vec())
        }
    };
    let reply_text = |reply: &[u8], name: &str| {
        let tsr = work.path().join(name);
        std::fs::write(&tsr, reply).unwrap();
        text(&openssl(&[
            "ts",
            "-reply",
            "-in",
            tsr.to_str().unwrap(),
            "-text",
        ]))
    };
    // Three within the burst: granted, and rejected as bad data for the two bad nonces.
    let (st, _, reply) = post(query.clone()).await;
    assert!(st.is_success(), "{st}");
    assert!(reply_text(&reply, "ok.tsr").contains("Status: Granted"));
    let (st, _, reply) = post(with_nonce(&[0x7f; 33])).await;
    assert!(st.is_success(), "{st}");
    let t = reply_text(&reply, "big.tsr");
    assert!(
        t.contains("Status: Rejected") && t.contains("the data submitted has the wrong format"),
        "{t}"
    );
    let (st, _, reply) = post(with_nonce(&[0xff, 1, 2, 3, 4, 5, 6, 7])).await;
    assert!(st.is_success(), "{st}");
    let t = reply_text(&reply, "neg.tsr");
    assert!(
        t.contains("Status: Rejected") && t.contains("the data submitted has the wrong format"),
        "{t}"
    );
    // The burst is spent: this client now waits, told for how long.
    let (st, retry, _) = post(query.clone()).await;
    assert_eq!(st, reqwest::StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = retry
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&secs), "Retry-After {secs}");
    c.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_expired_and_foreign_configurations_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let c = Central::start(&work.path().join("central"));
    register_agency(&c, work.path());
    let anchor = c.dir.join("anchor.json").display().to_string();
    let signed = get_bytes(&format!("{}/conf", c.public)).await;
    let good = work.path().join("conf.json");
    std::fs::write(&good, &signed).unwrap();

    let out = korpu_ok(&[
        "conf",
        "verify",
        good.to_str().unwrap(),
        "--anchor",
        &anchor,
    ]);
    assert!(
        out.contains("OK: global configuration of instance AZ"),
        "{out}"
    );
    assert!(out.contains("1 members, 1 gateways, 1 services"), "{out}");

    let refused = |bytes: &[u8], extra: &[&str]| {
        let path = work.path().join("bad.json");
        std::fs::write(&path, bytes).unwrap();
        let mut args = vec![
            "conf",
            "verify",
            path.to_str().unwrap(),
            "--anchor",
            &anchor,
        ];
        args.extend_from_slice(extra);
        let out = korpu(&args);
        assert!(
            !out.status.success(),
            "korpu {args:?} accepted it:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    // One flipped byte, anywhere in the payload or the signature.
    let s = String::from_utf8(signed.clone()).unwrap();
    for field in ["\"payload\": \"", "\"signature\": \""] {
        let start = s.find(field).unwrap() + field.len();
        for offset in [0usize, 17, 40] {
            let mut bytes = signed.clone();
            bytes[start + offset] = if bytes[start + offset] == b'A' {
                b'B'
            } else {
                b'A'
            };
            let err = refused(&bytes, &[]);
            assert!(err.contains("not a valid global configuration"), "{err}");
            assert!(
                err.contains("altered after it was signed") || err.contains("not base64url"),
                "{err}"
            );
        }
    }
    // Expired: the same document checked as of an hour from now.
    let later = korpu_conf::Timestamp::now()
        .plus(Duration::from_secs(3600))
        .to_string();
    let err = refused(&signed, &["--at", &later]);
    assert!(err.contains("expired at"), "{err}");

    // Signed by a key other than the anchor's: re-sign the same content with a fresh key.
    let anchor_doc = korpu_conf::Anchor::from_json(&std::fs::read(&anchor).unwrap()).unwrap();
    let conf = korpu_conf::verify(&signed, &anchor_doc, korpu_conf::Timestamp::now()).unwrap();
    let key = korpu_pki::key::SigningKey::generate();
    let now = std::time::SystemTime::now();
    let cert = korpu_pki::ca::self_signed(
        &key,
        korpu_pki::ca::IssueRequest {
            subject: korpu_pki::ca::Subject {
                common_name: "AZ Global Configuration Signing".into(),
                organization: None,
                country: None,
            },
            public_key_der: &key.public_key_der(),
            profile: korpu_pki::ca::Profile::Root,
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(86_400),
            ocsp_url: None,
        },
        &korpu_pki::ca::random_serial(),
    )
    .unwrap();
    let err = refused(&korpu_conf::sign(&conf, &key, &cert), &[]);
    assert!(
        err.contains("signed by a key that is not in the anchor"),
        "{err}"
    );

    // Not a configuration at all, and a broken anchor.
    let err = refused(b"<html>proxy error</html>", &[]);
    assert!(err.contains("not a signed global configuration"), "{err}");
    let bad_anchor = work.path().join("bad-anchor.json");
    std::fs::write(&bad_anchor, "{}").unwrap();
    let out = korpu(&[
        "conf",
        "verify",
        good.to_str().unwrap(),
        "--anchor",
        bad_anchor.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success() && text(&out).contains("anchor"),
        "{}",
        text(&out)
    );

    // `korpu conf fetch` downloads from the anchor's URL and verifies.
    let fetched = work.path().join("fetched.json");
    let out = korpu_ok(&[
        "conf",
        "fetch",
        "--anchor",
        &anchor,
        "--out",
        fetched.to_str().unwrap(),
    ]);
    assert!(out.contains("OK: global configuration"), "{out}");
    c.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_management_api_needs_an_administrator_and_says_so_in_json() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("central");
    let c = Central::start(&dir);
    let config = korpu_central::CentralConfig::load(Some(&dir.join("central.toml"))).unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(c.cert("root")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .use_rustls_tls()
        .build()
        .unwrap();
    let url = format!("https://{}/api/v1/members", config.management_listen);
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"member": "AZ/GOV/1", "name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "unauthorized");

    // The CLI reports the registry's own words, and exits non-zero.
    let out = korpu(&[
        "central",
        "--config",
        &c.config(),
        "member",
        "add",
        "AZ/GOV/12 34",
        "--name",
        "X",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("400") && err.contains("field member") && err.contains("contains ' '"),
        "{err}"
    );
    c.stop();
}

#[test]
fn a_key_file_others_can_read_stops_the_registry_from_starting() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("central");
    Central::init(&dir);
    let key = dir.join("keys").join("tsa.p8");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = korpu(&[
        "central",
        "--config",
        dir.join("central.toml").to_str().unwrap(),
        "serve",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tsa.p8") && err.contains("chmod 600"), "{err}");

    // And init refuses to overwrite an existing instance.
    let out = korpu(&["central", "init", "--dir", dir.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("already holds a central registry"),
        "{}",
        text(&out)
    );
}

/// SIGTERM ends a running registry with exit status 0 within its configured grace period,
/// even while a client holds a connection with a request half sent.
#[test]
fn sigterm_stops_the_registry_within_its_grace_period() {
    use std::io::Write;
    let work = tempfile::tempdir().unwrap();
    let grace = Duration::from_secs(2);
    let c = Central::start_with(
        &work.path().join("central"),
        &[("KORPU_CENTRAL_SHUTDOWN_GRACE_SECS", "2")],
    );
    let public = c.public.strip_prefix("http://").unwrap();
    let mut held = std::net::TcpStream::connect(public).unwrap();
    held.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = std::time::Instant::now();
    let status = c.stop();
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0), "{status}");
    // The grace period, plus time to close the database and exit on a loaded machine.
    assert!(
        took < grace + Duration::from_secs(3),
        "stopping took {took:?}"
    );
}

#[test]
fn print_config_shows_every_effective_key() {
    let out = run(Command::new(KORPU)
        .args(["central", "serve", "--print-config"])
        .env("KORPU_CENTRAL_CONF_VALIDITY_SECS", "900"));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    for key in [
        "instance",
        "data_dir",
        "database_url",
        "management_listen",
        "public_listen",
        "conf_refresh_secs",
        "max_body_bytes",
        "shutdown_grace_secs",
    ] {
        assert!(t.contains(&format!("{key} = ")), "{key} missing from\n{t}");
    }
    assert!(t.contains("conf_validity_secs = 900"), "{t}");
}

use std::os::unix::fs::PermissionsExt;
