//! The myGov journey end to end, in a real browser: `korpu demo` (central registry, four
//! gateways, sample information systems and the portal) signing citizens in through a real
//! certified OpenID provider (npm `oidc-provider`), e-mailing notifications to a real SMTP
//! server (Python's `aiosmtpd`), and headless Debian Chromium driven by Playwright with an axe
//! audit of every page (`crates/korpu-portal/e2e/journey.mjs`). Screenshots land in
//! `target/portal-e2e/`.
//!
//! Needs `node` with `npm ci` done in `crates/korpu-portal/e2e`, `/usr/bin/chromium` and
//! `python3 -m aiosmtpd` (scripts/test installs all three); a missing one fails the test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KORPU: &str = env!("CARGO_BIN_EXE_korpu");

mod support;
use support::free_port;

/// Kills a child process when dropped, so a failing assertion leaves nothing running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../korpu-portal/e2e")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Reads lines from a child's stdout until one contains `needle`.
/// Starts `cmd` (stdout piped, stderr inherited) and waits until it prints a line containing
/// `needle`; the process, killed when dropped.
fn start_until(cmd: &mut Command, needle: &str, what: &str) -> Guard {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    wait_for_line(&mut child, needle, what);
    Guard(child)
}

fn wait_for_line(child: &mut Child, needle: &str, what: &str) {
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(out).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "{what} did not start");
        match lines.next() {
            Some(Ok(l)) if l.contains(needle) => break,
            Some(Ok(_)) => continue,
            _ => panic!("{what} exited before it was ready"),
        }
    }
    // Keep draining, so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
}

/// Starts `korpu demo` in `dir` with `env`; waits until it is up and its portal has a
/// configuration. Returns the process guard and demo.json.
fn start_demo(dir: &Path, env: &[(&str, String)]) -> (Guard, serde_json::Value) {
    let mut cmd = Command::new(KORPU);
    cmd.args(["demo", "--dir"]).arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("KORPU_DEMO_STEP_MS", "1500")
        .env("KORPU_LOG", "warn");
    let guard = start_until(&mut cmd, "Press Ctrl-C", "korpu demo");
    let demo_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).unwrap()).unwrap();
    let portal = demo_json["portal"]
        .as_str()
        .expect("demo.json names the portal");
    // The portal needs its first global configuration before the catalogue has anything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = Command::new("curl")
            .args(["-sf", &format!("{portal}/health")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the portal never loaded a configuration"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    (guard, demo_json)
}

/// Runs the browser journey against the demo's portal; panics with its output on failure.
fn run_journey(demo_json: &serde_json::Value, out: &Path) {
    let portal = demo_json["portal"].as_str().unwrap();
    // The tracker must show the ministry's family-composition query about the citizen, with
    // its inclusion proof and checkpoint signature verified.
    let mut journey = Command::new("node")
        .arg(e2e_dir().join("journey.mjs"))
        .args(["--portal", portal])
        .args([
            "--consent",
            demo_json["portal_consent_request"].as_str().unwrap(),
        ])
        .arg("--out")
        .arg(out)
        .args(["--tracker", "required"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node journey.mjs");
    let mut stdout = String::new();
    journey
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    journey
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = journey.wait().unwrap();
    println!("{stdout}\n{stderr}");
    assert!(
        status.success(),
        "the browser journey failed:\n{stdout}\n{stderr}"
    );
}

/// The two journeys run one after the other: each `korpu demo` picks its preferred ports
/// when free, and two starting at once could both see the same port free.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check_tools() -> std::sync::MutexGuard<'static, ()> {
    let e2e = e2e_dir();
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "run `npm ci` in {} first (scripts/test does)",
        e2e.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: apt-get install -y chromium (scripts/test does)"
    );
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `korpu demo` as a newcomer runs it: its own development identity provider, no e-mail.
#[test]
fn the_demo_journey_works_with_its_development_identity_provider() {
    let _serial = check_tools();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut demo, demo_json) = start_demo(
        &dir.path().join("demo"),
        &[("KORPU_PORTAL_LISTEN", format!("127.0.0.1:{port}"))],
    );
    run_journey(&demo_json, &target_dir().join("portal-e2e/dev-idp"));
    stops_cleanly_with_time_stamped_final_checkpoints(&mut demo, &demo_json);
}

/// One more exchange, then SIGINT: the demo exits 0, and the checkpoint each gateway's ledger
/// issues as it closes — the only one covering that exchange — carries its RFC 3161
/// time-stamp (the gateways stay up for their ledgers' time-stamper until the ledgers close).
fn stops_cleanly_with_time_stamped_final_checkpoints(
    demo: &mut Guard,
    demo_json: &serde_json::Value,
) {
    let call = &demo_json["calls"][0];
    assert_eq!(call["expect"], "allowed", "{call}");
    let message_id = format!("before-shutdown-{}", std::process::id());
    let mut curl = Command::new("curl");
    curl.args([
        "-sf",
        "-o",
        "/dev/null",
        "-X",
        call["method"].as_str().unwrap(),
    ]);
    for (name, value) in call["headers"].as_object().unwrap() {
        curl.args(["-H", &format!("{name}: {}", value.as_str().unwrap())]);
    }
    curl.args(["-H", &format!("X-Road-Id: {message_id}")]);
    let called = curl.arg(call["url"].as_str().unwrap()).status().unwrap();
    assert!(called.success(), "the sample call failed: {called}");

    let interrupted = Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = demo.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "korpu demo did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "korpu demo exited with {status}");

    // Both gateways of the exchange recorded it; their ledgers' evidence for it leads to the
    // final checkpoints.
    let mut found = 0;
    for (name, gw) in demo_json["gateways"].as_object().unwrap() {
        let out = Command::new(KORPU)
            .args(["ledger", "evidence", &message_id, "--config"])
            .arg(gw["config"].as_str().unwrap())
            .env("KORPU_LOG", "warn")
            .output()
            .unwrap();
        if !out.status.success() {
            continue;
        }
        let evidence: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            evidence["timestamp"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "the {name} gateway's final checkpoint has no time-stamp: {evidence}"
        );
        found += 1;
    }
    assert_eq!(found, 2, "the exchange is in two gateways' ledgers");
}

/// Signing in through a real certified OpenID provider, with notifications e-mailed to a
/// real SMTP server.
#[test]
fn a_citizen_applies_and_everything_on_the_way_works_in_a_real_browser() {
    let _serial = check_tools();
    let e2e = e2e_dir();
    let dir = tempfile::tempdir().unwrap();
    let (oidc_port, portal_port, smtp_port) = (free_port(), free_port(), free_port());
    let secret = format!("s-{}", std::process::id());

    // A real SMTP server; its debugging handler prints each message it receives.
    let smtp_log = dir.path().join("smtp.log");
    let mut smtp = Command::new("python3")
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{smtp_port}"),
        ])
        .stdout(std::fs::File::create(&smtp_log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 -m aiosmtpd");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", smtp_port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        if let Ok(Some(st)) = smtp.try_wait() {
            panic!("aiosmtpd exited: {st} (pip install aiosmtpd)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _smtp = Guard(smtp);

    let mut oidc = Command::new("node");
    oidc.arg(e2e.join("oidc.mjs")).args([
        oidc_port.to_string(),
        format!("http://127.0.0.1:{portal_port}/callback"),
        secret.clone(),
    ]);
    let _oidc = start_until(&mut oidc, "listening", "oidc-provider");

    let (_demo, demo_json) = start_demo(
        &dir.path().join("demo"),
        &[
            ("KORPU_PORTAL_LISTEN", format!("127.0.0.1:{portal_port}")),
            (
                "KORPU_PORTAL_OIDC_ISSUER",
                format!("http://127.0.0.1:{oidc_port}"),
            ),
            ("KORPU_PORTAL_OIDC_CLIENT_SECRET", secret.clone()),
            ("KORPU_PORTAL_DEV_IDP", "false".into()),
            ("KORPU_PORTAL_SMTP_SERVER", format!("127.0.0.1:{smtp_port}")),
        ],
    );
    let portal = demo_json["portal"].as_str().unwrap().to_owned();
    assert_eq!(portal, format!("http://127.0.0.1:{portal_port}"));
    run_journey(&demo_json, &target_dir().join("portal-e2e"));

    // Sign-in attempts are rate-limited per client address (20 a minute by default).
    let codes: Vec<String> = (0..30)
        .map(|_| {
            let o = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!("{portal}/login"),
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).to_string()
        })
        .collect();
    assert!(codes.iter().any(|c| c == "303"), "{codes:?}");
    assert!(
        codes.iter().any(|c| c == "429"),
        "no rate limit on sign-in: {codes:?}"
    );

    // The notifications went out by e-mail too, to the address the provider gave.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail = std::fs::read_to_string(&smtp_log).unwrap_or_default();
        if mail.matches("To: <aysel@example.az>").count() >= 2 {
            assert!(mail.contains("From: myGov <mygov@localhost>"), "{mail}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no notification e-mails arrived:\n{mail}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Any local process could act as myGov (and read any citizen's data tracker) by sending its
/// subsystem's name over plain HTTP (issue 13, item 17). In the demo the myGov subsystem now
/// gets in only over its gateway's TLS client side with its pinned certificate, while the
/// sample calls written to demo.json keep working exactly as printed.
#[test]
fn in_the_demo_a_plain_http_call_as_the_mygov_subsystem_is_refused() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (_demo, demo_json) = start_demo(
        &dir.path().join("demo"),
        &[("KORPU_PORTAL_LISTEN", format!("127.0.0.1:{port}"))],
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(mygov_is_held_to_its_certificate(&demo_json));
}

async fn mygov_is_held_to_its_certificate(demo_json: &serde_json::Value) {
    let tracker = "/r1/AZ/GOV/1400001/population/korpuSubjectAccesses?subject=AZ1234567";
    let as_mygov = |client: &reqwest::Client, base: &str| {
        client
            .get(format!("{base}{tracker}"))
            .header("X-Road-Client", "AZ/GOV/1400004/mygov")
            .header("X-Road-UserId", "AZ1234567")
            .header("X-Korpu-Purpose", "data-tracker")
            .send()
    };
    let mygov = &demo_json["gateways"]["mygov"];
    let plain = reqwest::Client::new();
    let resp = as_mygov(&plain, mygov["client"].as_str().unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let error = resp
        .headers()
        .get("x-road-error")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.text().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(error.as_deref(), Some("Client.UnknownClient"), "{body}");
    assert!(body.contains("must connect over TLS"), "{body}");

    // With the certificate the gateway pins for it, over TLS, myGov is served.
    let cert = &demo_json["portal_client_certificate"];
    let mut id = std::fs::read(cert["cert"].as_str().unwrap()).unwrap();
    id.push(b'\n');
    id.extend(std::fs::read(cert["key"].as_str().unwrap()).unwrap());
    let root = std::fs::read(demo_json["root_ca"].as_str().unwrap()).unwrap();
    let pinned = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&root).unwrap())
        .identity(reqwest::Identity::from_pem(&id).unwrap())
        .build()
        .unwrap();
    let resp = as_mygov(&pinned, mygov["client_tls"].as_str().unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"entries\""), "{body}");

    // The sample calls, exactly as demo.json gives them (plain HTTP on loopback).
    for call in demo_json["calls"].as_array().unwrap() {
        let mut req = plain.request(
            call["method"].as_str().unwrap().parse().unwrap(),
            call["url"].as_str().unwrap(),
        );
        for (name, value) in call["headers"].as_object().unwrap() {
            req = req.header(name.as_str(), value.as_str().unwrap());
        }
        if let Some(b) = call["body"].as_str() {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.unwrap();
        let ok = resp.status().is_success();
        match call["expect"].as_str().unwrap() {
            "allowed" => assert!(ok, "{call}: {}", resp.status()),
            _ => assert!(!ok, "{call}: {}", resp.status()),
        }
    }
}
