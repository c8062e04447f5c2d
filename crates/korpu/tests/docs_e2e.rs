//! Document exchange end to end, as separate real processes on loopback ports chosen at run
//! time: a central registry, two organisations each with a gateway and a `korpu docs serve`
//! behind it. A sends a letter to B through both gateways; B opens, signs and answers it; A
//! sees every signed receipt; the gateways' evidence ledgers hold every crossing; OpenSSL
//! accepts a receipt's signature on its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const A: &str = "AZ/GOV/1400001";
const B: &str = "AZ/GOV/1400002";

mod support;
use korpu_testkit::json;
use support::platform::{register_gateway, start_central};
use support::{doc_verify, free_port, korpu, korpu_ok, Proc, KORPU};

struct Org {
    member: &'static str,
    gateway_toml: PathBuf,
    docs_toml: PathBuf,
    gateway: Option<Proc>,
    docs: Option<Proc>,
}

impl Org {
    fn docs(&self, args: &[&str]) -> String {
        let mut all = vec!["docs"];
        all.extend_from_slice(&args[..1]);
        all.extend_from_slice(&["--config", self.docs_toml.to_str().unwrap()]);
        all.extend_from_slice(&args[1..]);
        korpu_ok(&all)
    }

    fn docs_json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.docs(args)).unwrap()
    }

    fn sub(&self) -> String {
        format!("{}/docs", self.member)
    }
}

fn setup(dir: &Path) -> (Proc, Org, Org) {
    let (central, central_toml) = start_central(dir, &[]);
    let admin = |args: &[&str]| support::platform::admin(&central_toml, args);
    let root = dir.join("central/certs/root.pem");
    let mut orgs = Vec::new();
    for (member, name) in [(A, "Ministry of Justice"), (B, "Ministry of Economy")] {
        let tag = if member == A { "a" } else { "b" };
        let gw_dir = dir.join(format!("{tag}-gateway"));
        let docs_dir = dir.join(format!("{tag}-docs"));
        let sub = format!("{member}/docs");
        let (gw_server, gw_client, api, dx) = (free_port(), free_port(), free_port(), free_port());
        register_gateway(
            &central_toml,
            member,
            name,
            &sub,
            &format!("127.0.0.1:{gw_server}"),
            &gw_dir,
        );
        // The document server's own signing key and member certificate.
        korpu_ok(&[
            "docs",
            "keys",
            "--dir",
            docs_dir.to_str().unwrap(),
            "--member",
            member,
        ]);
        admin(&[
            "cert",
            "issue",
            "--kind",
            "signing",
            "--owner",
            member,
            "--csr",
            docs_dir.join("sign.csr.pem").to_str().unwrap(),
            "--out",
            docs_dir.join("sign.pem").to_str().unwrap(),
        ]);
        std::fs::copy(&root, docs_dir.join("trust.pem")).unwrap();
        admin(&[
            "service",
            "add",
            &format!("{sub}/dx"),
            "--title",
            "Document exchange",
        ]);
        let gateway_toml = gw_dir.join("gateway.toml");
        std::fs::write(
            &gateway_toml,
            format!(
                "gateway = \"{member}/gw1\"\nanchor = \"{}\"\ndata_dir = \"{}\"\nclient_listen = \"127.0.0.1:{gw_client}\"\nserver_listen = \"127.0.0.1:{gw_server}\"\nconf_refresh_secs = 1\nocsp_refresh_secs = 1\n[services]\n\"{sub}/dx\" = \"http://127.0.0.1:{dx}/dx\"\n",
                dir.join("central/anchor.json").display(),
                gw_dir.display()
            ),
        )
        .unwrap();
        let docs_toml = docs_dir.join("docs.toml");
        std::fs::write(
            &docs_toml,
            format!(
                "subsystem = \"{sub}\"\ngateway_url = \"http://127.0.0.1:{gw_client}\"\napi_listen = \"127.0.0.1:{api}\"\ndx_listen = \"127.0.0.1:{dx}\"\ndata_dir = \"{}\"\nmax_attachments = 5\n",
                docs_dir.display()
            ),
        )
        .unwrap();
        orgs.push(Org {
            member,
            gateway_toml,
            docs_toml,
            gateway: None,
            docs: None,
        });
    }
    admin(&[
        "access",
        "grant",
        &format!("{B}/docs"),
        &format!("{A}/docs/dx"),
    ]);
    admin(&[
        "access",
        "grant",
        &format!("{A}/docs"),
        &format!("{B}/docs/dx"),
    ]);
    let mut b = orgs.pop().unwrap();
    let mut a = orgs.pop().unwrap();
    for (o, tag) in [(&mut a, "a"), (&mut b, "b")] {
        let (g, _) = Proc::start(
            &[
                "gateway",
                "serve",
                "--config",
                o.gateway_toml.to_str().unwrap(),
            ],
            &[],
            &dir.join(format!("{tag}-gateway.log")),
        );
        o.gateway = Some(g);
        let (d, line) = Proc::start(
            &["docs", "serve", "--config", o.docs_toml.to_str().unwrap()],
            &[],
            &dir.join(format!("{tag}-docs.log")),
        );
        assert!(line.contains(&o.sub()), "{line}");
        o.docs = Some(d);
    }
    (central, a, b)
}

/// Sends until the gateways have the configuration naming the new services (published every
/// second), then returns the document id.
fn send_when_ready(from: &Org, args: &[&str]) -> String {
    // `korpu doc send`, the spelling of `korpu docs send`.
    let mut all = vec!["doc", "send", "--config", from.docs_toml.to_str().unwrap()];
    all.extend_from_slice(args);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = korpu(&all);
        if out.status.success() {
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            return s.split_whitespace().next().unwrap().to_owned();
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(Instant::now() < deadline, "send never succeeded: {err}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn statuses(shown: &Value) -> Vec<String> {
    shown["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["verified"], true, "{r}");
            r["status"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn documents_cross_the_bridge_with_signed_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_central, mut a, mut b) = setup(dir);
    let letter = dir.join("letter.txt");
    std::fs::write(&letter, "Please confirm the attached contract.\n").unwrap();
    let contract = dir.join("contract.pdf");
    std::fs::write(&contract, b"%PDF-1.7 not really a PDF, just bytes\n").unwrap();

    // A sends to B; the answer carries B's delivered receipt.
    let id = send_when_ready(
        &a,
        &[
            "--to",
            &b.sub(),
            "--title",
            "Contract for signature",
            "--type",
            "contract",
            "--register-no",
            "MJ-2026/0042",
            "--deadline",
            "2099-01-31",
            "--retention",
            "10y",
            letter.to_str().unwrap(),
            contract.to_str().unwrap(),
        ],
    );

    // Bad input is refused with a reason: an unknown recipient (the gateway's verdict comes
    // back), a deadline in the past, an unknown retention class.
    let cfg = a.docs_toml.to_str().unwrap();
    let l = letter.to_str().unwrap();
    let base = [
        "docs",
        "send",
        "--config",
        cfg,
        "--title",
        "t",
        "--type",
        "letter",
        "--register-no",
        "1",
    ];
    let refused = |extra: &[&str]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        let out = korpu(&all);
        assert!(!out.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&["--to", "AZ/GOV/1400009/docs", l]);
    assert!(
        err.contains("502") && err.contains("AZ/GOV/1400009/docs"),
        "{err}"
    );
    let err = refused(&["--to", &b.sub(), "--deadline", "2001-01-01", l]);
    assert!(err.contains("in the past"), "{err}");
    let err = refused(&["--to", &b.sub(), "--retention", "forever", l]);
    assert!(err.contains("retention class"), "{err}");

    // The effective configuration, with an environment override.
    let out = Command::new(KORPU)
        .args(["docs", "serve", "--config", cfg, "--print-config"])
        .env("KORPU_DOCS_MAX_ATTACHMENTS", "7")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("subsystem = \"AZ/GOV/1400001/docs\""),
        "{printed}"
    );
    assert!(printed.contains("max_attachments = 7"), "{printed}");

    // B's inbox shows it.
    let inbox = b.docs_json(&["inbox", "--json"]);
    let got = &inbox["documents"][0];
    assert_eq!(got["id"], id.as_str(), "{inbox}");
    assert_eq!(got["sender"], a.sub().as_str());
    assert_eq!(got["register_no"], "MJ-2026/0042");
    assert_eq!(got["status"], "delivered");
    assert!(b.docs(&["inbox"]).contains("Contract for signature"));
    // The spelling, `korpu doc inbox`, is the same command.
    assert_eq!(
        korpu_ok(&["doc", "inbox", "--config", b.docs_toml.to_str().unwrap()]),
        b.docs(&["inbox"])
    );

    // B opens and signs; A's outbox shows every step with verified receipts.
    assert!(b.docs(&["open", &id]).contains("opened"));
    assert!(b
        .docs(&["sign", &id, "--note", "signed by the minister"])
        .contains("signed"));
    let shown = a.docs_json(&["show", &id]);
    assert_eq!(shown["document"]["status"], "signed", "{shown}");
    assert_eq!(statuses(&shown), ["sent", "delivered", "opened", "signed"]);
    let outbox = a.docs_json(&["outbox", "--json", "--status", "signed"]);
    assert_eq!(outbox["documents"][0]["id"], id.as_str());
    // Rejecting what is signed is refused with a reason.
    let out = korpu(&[
        "docs",
        "reject",
        "--config",
        b.docs_toml.to_str().unwrap(),
        &id,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot become rejected"));

    // The countersigned container A now holds: two valid signatures, by A and by B.
    let container = dir.join("signed.asice");
    a.docs(&["container", &id, "--out", container.to_str().unwrap()]);
    let root = dir.join("central/certs/root.pem");
    // The exchange signs at B-B: offline, the signers' revocation cannot be established.
    let offline = doc_verify(
        root.to_str().unwrap(),
        &["--json"],
        container.to_str().unwrap(),
    );
    assert!(!offline.status.success());
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(offline["indication"], "INDETERMINATE", "{offline}");
    assert_eq!(
        offline["signatures"][0]["report"]["sub_indication"], "TRY_LATER",
        "{offline}"
    );
    // Allowed to fetch, the verifier asks the central registry's OCSP responder, which the
    // members' certificates name: both signatures pass.
    let report: Value = serde_json::from_str(&korpu_ok(&[
        "doc",
        "verify",
        "--trust",
        root.to_str().unwrap(),
        "--fetch-revocation",
        "--json",
        container.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(report["indication"], "TOTAL_PASSED", "{report}");
    let text = report.to_string();
    assert!(
        text.contains("CN=AZ/GOV/1400001") && text.contains("CN=AZ/GOV/1400002"),
        "{text}"
    );

    // B replies; the thread links them on both sides and the original becomes answered.
    let reply = dir.join("reply.txt");
    std::fs::write(&reply, "Signed and returned.\n").unwrap();
    let reply_id = send_when_ready(
        &b,
        &[
            "--to",
            &a.sub(),
            "--title",
            "Re: Contract for signature",
            "--type",
            "letter",
            "--register-no",
            "ME-2026/0777",
            "--reply-to",
            &id,
            reply.to_str().unwrap(),
        ],
    );
    let shown = a.docs_json(&["show", &reply_id]);
    assert_eq!(shown["document"]["reply_to"], id.as_str());
    let thread = json::strs(&shown, "thread", "id");
    assert_eq!(thread.len(), 2, "{shown}");
    assert!(thread.contains(&id.as_str()) && thread.contains(&reply_id.as_str()));
    let original = a.docs_json(&["show", &id]);
    assert_eq!(original["document"]["status"], "answered");
    assert_eq!(
        statuses(&original),
        ["sent", "delivered", "opened", "signed", "answered"]
    );
    assert_eq!(
        b.docs_json(&["show", &reply_id])["thread"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // OpenSSL, knowing only the instance's root, accepts B's signed receipt — and not an
    // altered one.
    let rdir = dir.join("receipt");
    a.docs(&[
        "receipt",
        &id,
        "--status",
        "signed",
        "--out-dir",
        rdir.to_str().unwrap(),
    ]);
    let verify = |content: &Path| {
        Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(rdir.join("receipt.p7s"))
            .arg("-content")
            .arg(content)
            .arg("-CAfile")
            .arg(&root)
            .args(["-purpose", "any", "-out", "/dev/null"])
            .output()
            .unwrap()
    };
    let ok = verify(&rdir.join("receipt.json"));
    assert!(
        ok.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("Verification successful"));
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(rdir.join("receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["status"], "signed");
    assert_eq!(receipt["by"], b.sub().as_str());
    let forged = rdir.join("forged.json");
    std::fs::write(
        &forged,
        String::from_utf8(std::fs::read(rdir.join("receipt.json")).unwrap())
            .unwrap()
            .replace("signed", "rejected"),
    )
    .unwrap();
    assert!(
        !verify(&forged).status.success(),
        "openssl accepted an altered receipt"
    );

    // Both evidence ledgers hold every crossing: A's letter (1 document), and from B the
    // opened and signed receipts, the reply and its answered receipt (4).
    for (o, tag) in [(&mut a, "a"), (&mut b, "b")] {
        o.docs.take().unwrap().terminate();
        o.gateway.take().unwrap().terminate();
        let dump = korpu_ok(&[
            "ledger",
            "dump",
            "--config",
            o.gateway_toml.to_str().unwrap(),
        ]);
        let records: Vec<Value> = dump
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let count = |client: &str, service: &str| {
            records
                .iter()
                .filter(|r| {
                    r["client"] == client
                        && r["service"] == service
                        && r["response_status"].as_u64().is_some_and(|s| s < 300)
                })
                .count()
        };
        let (a_to_b, b_to_a) = (
            count(&format!("{A}/docs"), &format!("{B}/docs/dx")),
            count(&format!("{B}/docs"), &format!("{A}/docs/dx")),
        );
        assert_eq!((a_to_b, b_to_a), (1, 4), "gateway {tag}: {dump}");
    }
}
