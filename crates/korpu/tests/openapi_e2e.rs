//! `korpu demo` starts the Open API hub with Kapital Bank's application; an independent FAPI 2.0
//! client (npm openid-client) takes the bank's key file from `demo.json`, gets a DPoP-bound
//! token, calls, revokes, is refused; the demo then stops cleanly with the hub in it.
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::Proc;

#[test]
fn the_demo_hub_serves_the_demo_bank_to_openid_client() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    // The summary goes to a file: the demo prints it after demo.json, to a stdout that must
    // stay open.
    let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
    let mut demo = Proc(
        Command::new(support::KORPU)
            .args(["demo", "--dir", demo_dir.to_str().unwrap()])
            .env("KORPU_LOG", "warn")
            .stdout(log("demo.out"))
            .stderr(log("demo.err"))
            .spawn()
            .unwrap(),
    );
    let demo_json = demo_dir.join("demo.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !demo_json.exists() {
        assert!(Instant::now() < deadline, "the demo never wrote demo.json");
        std::thread::sleep(Duration::from_millis(300));
    }
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(&demo_json).unwrap()).unwrap();
    let api = &d["openapi"];
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("../korpu-api/e2e/client.mjs");
    let out = Command::new("node")
        .arg(client)
        .args([
            "run",
            api["hub"].as_str().unwrap(),
            api["client_id"].as_str().unwrap(),
            api["client_key_file"].as_str().unwrap(),
            "catalogue",
        ])
        .output()
        .expect("node runs (scripts/test installs it and openid-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["token"]["ok"], true, "{r}");
    assert_eq!(r["call"]["value"]["status"], 200, "{r}");
    assert_eq!(
        r["call"]["value"]["body"]["client_id"], "kapital-bank",
        "{r}"
    );
    assert_eq!(r["revoke"]["ok"], true, "{r}");
    assert_eq!(r["call_after_revoke"]["status"], 401, "{r}");
    demo.terminate();
}
