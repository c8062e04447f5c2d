//! The gateway end to end, as separate real processes on loopback ports chosen at run time:
//! a central registry, the population registry's gateway (provider, "A") with its sample
//! information system, and the social ministry's gateway (client, "B"). Each test builds its
//! own instance so it can stop, revoke, expire or intercept parts of it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use korpu_pki::cert::Certificate;
use serde_json::Value;

const PROVIDER: &str = "AZ/GOV/1400001";
const CLIENT: &str = "AZ/GOV/1400003";
const PROVIDER_NAME: &str = "State Population Registry";
const CLIENT_NAME: &str = "Ministry of Labour and Social Protection";
const ECHO: &str = "AZ/GOV/1400001/population/echo";
const PERSONS: &str = "AZ/GOV/1400001/population/persons";
const ACCESSES: &str = "AZ/GOV/1400001/population/accesses";
const ACCESS_AUDIT: &str = "AZ/GOV/1400001/population/accessaudit";

mod support;
use support::platform::{
    configure_gateway, gateway_toml, issue_cert, ledger_records, make_gateway_keys,
    register_gateway, start_central,
};
use support::{free_port, korpu_ok, Proc, KORPU};

/// Settings for an instance, as environment overrides per process.
#[derive(Default, Clone)]
struct Opts {
    central: Vec<(&'static str, String)>,
    a: Vec<(&'static str, String)>,
    b: Vec<(&'static str, String)>,
    /// Register A at this address instead of its real one (for a man in the middle).
    a_registered_address: Option<String>,
}

struct Instance {
    dir: tempfile::TempDir,
    central: Proc,
    a: Option<Proc>,
    b: Option<Proc>,
    system: Option<Proc>,
    a_server: SocketAddr,
    b_client: String,
    a_client: String,
    opts: Opts,
}

impl Instance {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn admin(&self, args: &[&str]) -> String {
        support::platform::admin(&self.path("central/central.toml"), args)
    }

    fn new(opts: Opts) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (central, central_toml) = start_central(dir.path(), &opts.central);
        let a_server: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let b_server: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut inst = Instance {
            dir,
            central,
            a: None,
            b: None,
            system: None,
            a_server,
            b_client: String::new(),
            a_client: String::new(),
            opts: opts.clone(),
        };
        let a_addr = opts
            .a_registered_address
            .clone()
            .unwrap_or_else(|| a_server.to_string());
        let b_addr = b_server.to_string();
        for (member, name, sub, gw_addr) in [
            (PROVIDER, PROVIDER_NAME, "population", a_addr),
            (CLIENT, CLIENT_NAME, "benefits", b_addr),
        ] {
            let (subsystem, dir) = (format!("{member}/{sub}"), inst.path(sub));
            register_gateway(&central_toml, member, name, &subsystem, &gw_addr, &dir);
        }
        inst.admin(&["service", "add", ECHO, "--title", "Echo"]);
        inst.admin(&[
            "service",
            "add",
            PERSONS,
            "--title",
            "Persons",
            "--subject-path",
            "pin",
            "--purpose-required",
        ]);
        // The data tracker: the population registry's gateway answers who accessed a subject's
        // data from its ledger; here the benefits subsystem plays the portal. An auditor's view
        // of the same index (the benefits subsystem plays it too).
        for (service, title) in [
            (ACCESSES, "Who accessed my data"),
            (ACCESS_AUDIT, "Audit of a subject's accesses"),
        ] {
            inst.admin(&[
                "service",
                "add",
                service,
                "--title",
                title,
                "--subject-query",
                "subject",
            ]);
        }
        for service in [ACCESSES, ACCESS_AUDIT, ECHO, PERSONS] {
            inst.admin(&["access", "grant", &format!("{CLIENT}/benefits"), service]);
        }

        let system_addr = format!("127.0.0.1:{}", free_port());
        let (system, _) = Proc::start(
            &[
                "sample-is",
                "--agency",
                "population",
                "--listen",
                &system_addr,
            ],
            &[],
            &inst.path("system.log"),
        );
        inst.system = Some(system);
        let keep = format!("ledger_segment_bytes = 65536\nkeep_bodies = [\"{PERSONS}\"]\n");
        for (sub, member, server, services) in [
            ("population", PROVIDER, a_server, format!("\"{ECHO}\" = \"http://{system_addr}/echo\"\n\"{PERSONS}\" = \"http://{system_addr}/persons\"\n\"{ACCESSES}\" = \"korpu:subject-accesses\"\n\"{ACCESS_AUDIT}\" = \"korpu:subject-accesses-audit\"\n")),
            ("benefits", CLIENT, b_server, String::new()),
        ] {
            let toml_text = gateway_toml(inst.dir.path(), sub, member, server, &keep, &services);
            configure_gateway(&central_toml, member, &inst.path(sub), &toml_text);
        }
        inst.start_gateway(true);
        inst.start_gateway(false);
        inst
    }

    /// Starts gateway A (`provider`) or B.
    fn start_gateway(&mut self, provider: bool) {
        let (sub, env) = if provider {
            ("population", self.opts.a.clone())
        } else {
            ("benefits", self.opts.b.clone())
        };
        let (p, client) = support::platform::start_gateway(self.dir.path(), sub, &env);
        if provider {
            self.a = Some(p);
            self.a_client = client;
        } else {
            self.b = Some(p);
            self.b_client = client;
        }
    }

    /// The records in a gateway's evidence ledger. A ledger belongs to one process at a time,
    /// so the gateway is stopped with kill -9 (whatever it acknowledged is durable), its ledger
    /// read with `korpu ledger dump`, and the gateway started again.
    fn records(&mut self, sub: &str) -> Vec<Value> {
        let provider = sub == "population";
        self.stop_gateway(provider);
        let records = ledger_records(self.dir.path(), sub);
        self.start_gateway(provider);
        records
    }

    /// Kills gateway A (`provider`) or B; its subsystem's name, which names its directory.
    fn stop_gateway(&mut self, provider: bool) -> &'static str {
        if provider {
            self.a.take();
            "population"
        } else {
            self.b.take();
            "benefits"
        }
    }

    /// Stops gateway A (`provider`) or B, puts `prefix` before and `suffix` after its
    /// gateway.toml, and starts it again.
    fn reconfigure(&mut self, provider: bool, prefix: &str, suffix: &str) {
        let sub = self.stop_gateway(provider);
        let config = self.path(sub).join("gateway.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{prefix}{text}{suffix}")).unwrap();
        self.start_gateway(provider);
    }

    /// The verifier key of a gateway's evidence ledger (`korpu ledger key`).
    fn ledger_key(&self, sub: &str) -> String {
        let config = self.path(sub).join("gateway.toml");
        let key = korpu_ok(&["ledger", "key", "--config", config.to_str().unwrap()]);
        key.trim().to_owned()
    }

    /// `korpu ledger evidence ID` from A's ledger, written to `out`; the package.
    fn evidence(&self, id: &str, out: &Path) -> Value {
        let config = self.path("population").join("gateway.toml");
        let (config, out_s) = (config.to_str().unwrap(), out.to_str().unwrap());
        korpu_ok(&["ledger", "evidence", id, "--config", config, "--out", out_s]);
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
    }

    /// Writes `v` to the file `name` in the instance's directory; its path.
    fn write_json(&self, name: &str, v: &Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
        path
    }

    /// `korpu ledger verify ARCHIVE` with only the configuration anchor.
    fn verify_archive(&self, archive: &Path) -> Ran {
        run(Command::new(KORPU)
            .args(["ledger", "verify"])
            .arg(archive)
            .arg("--anchor")
            .arg(self.path("central/anchor.json")))
    }

    /// `korpu ledger verify-evidence FILE --log-key KEY` with the platform's roots.
    fn verify_evidence(&self, file: &Path, key: &str) -> Ran {
        run(Command::new(KORPU)
            .args(["ledger", "verify-evidence"])
            .arg(file)
            .args(["--log-key", key, "--roots"])
            .arg(self.path("central/certs/root.pem")))
    }

    /// openssl's verdict on the DER ECDSA signature `sig` over the raw `digest` by `signer`,
    /// the three written to files `NAME-signer.pem`, `NAME.digest` and `NAME.sig` first.
    fn openssl_verify(&self, name: &str, signer: &Certificate, digest: &[u8], sig: &[u8]) -> Ran {
        let signer_pem = self.path(&format!("{name}-signer.pem"));
        let (digest_bin, sig_der) = (
            self.path(&format!("{name}.digest")),
            self.path(&format!("{name}.sig")),
        );
        std::fs::write(&signer_pem, signer.to_pem()).unwrap();
        std::fs::write(&digest_bin, digest).unwrap();
        std::fs::write(&sig_der, sig).unwrap();
        run(Command::new("openssl")
            .args(["pkeyutl", "-verify", "-certin", "-inkey"])
            .arg(&signer_pem)
            .arg("-in")
            .arg(&digest_bin)
            .arg("-sigfile")
            .arg(&sig_der))
    }

    /// `method` on `path` (a service id, then any path and query) through B's client side, as
    /// the benefits subsystem, with `headers` added.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut all = vec![B_CLIENT_HEADER];
        all.extend_from_slice(headers);
        call(&format!("{}/r1/{path}", self.b_client), method, &all, body).await
    }

    /// A plain GET of `path` through B's client side, as the benefits subsystem.
    async fn get(&self, path: &str) -> Answer {
        self.exchange("GET", path, &[], Vec::new()).await
    }

    /// GETs `path` through B until an exchange is refused (a change taking effect); that
    /// answer. Fails with `never` when none is refused within 20 s.
    async fn first_refusal(&self, path: &str, never: &str) -> Answer {
        eventually(Duration::from_secs(20), || async move {
            let answer = self.get(path).await;
            if answer.0 == 200 {
                Err(never.to_owned())
            } else {
                Ok(answer)
            }
        })
        .await
    }

    /// The person `AZ1234567` from the personal-data service, for benefit eligibility, with
    /// `headers` added.
    async fn persons(&self, headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("X-Korpu-Purpose", "benefit-eligibility")];
        all.extend_from_slice(headers);
        let path = format!("{PERSONS}/AZ1234567");
        self.exchange("GET", &path, &all, Vec::new()).await
    }

    /// A GET of `path` through B as the benefits subsystem, on behalf of the end user `user`
    /// (`X-Road-UserId`) when there is one.
    async fn get_as(&self, path: &str, user: Option<&str>) -> Answer {
        let headers: Vec<_> = user.map(|u| ("X-Road-UserId", u)).into_iter().collect();
        self.exchange("GET", path, &headers, Vec::new()).await
    }

    /// Asks gateway B's client side for `path` (`/metrics`, `/health`, ...), with no headers.
    async fn b_local(&self, path: &str) -> Answer {
        call(&format!("{}{path}", self.b_client), "GET", &[], Vec::new()).await
    }
}

/// Tries `attempt` every 300 ms until it gives `Ok`; after `limit`, fails with its last `Err`.
async fn eventually<T, F>(limit: Duration, mut attempt: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// How a command ended: whether it succeeded, and what it wrote.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Both outputs, for assertion messages and for verdicts that may come on either.
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to its end.
fn run(cmd: &mut Command) -> Ran {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The bytes of a base64 (standard alphabet) string field of an evidence package.
fn base64_field(v: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// The certificate an evidence package carries for its record's request signer.
fn request_signer(ev: &Value) -> Certificate {
    let fp = ev["record"]["request_signer_cert_sha256"].as_str().unwrap();
    ev["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Certificate::from_pem(p.as_str().unwrap()).unwrap())
        .find(|c| c.sha256_fingerprint_hex() == fp)
        .expect("the package carries the request signer's certificate")
}

/// An answer: its status, headers and body.
type Answer = (u16, reqwest::header::HeaderMap, Vec<u8>);

/// Asserts a 200 answer, showing the body otherwise.
fn assert_ok((status, _, body): &Answer) {
    assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn call(url: &str, method: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut req = client().request(method.parse().unwrap(), url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.bytes().await.unwrap().to_vec())
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

const B_CLIENT_HEADER: (&str, &str) = ("X-Road-Client", "AZ/GOV/1400003/benefits");

/// Checks that a response is the X-Road error `kind`, with the header and the JSON body.
fn assert_xroad_error(
    status: u16,
    h: &reqwest::header::HeaderMap,
    body: &[u8],
    kind: &str,
    status_want: u16,
) -> Value {
    let v = json(body);
    assert_eq!(v["type"], kind, "{v}");
    assert_eq!(status, status_want, "{v}");
    assert_eq!(
        h.get("x-road-error").and_then(|v| v.to_str().ok()),
        Some(kind),
        "{v}"
    );
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rest_protocol_passes_every_method_query_and_body_and_records_both_sides() {
    let mut inst = Instance::new(Opts::default());
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let body: Vec<u8> = if method == "GET" {
            vec![]
        } else {
            (0..=255u8).cycle().take(70_000).collect()
        };
        let (status, h, resp) = inst
            .exchange(
                method,
                &format!("{ECHO}/a/b%20c?x=1&y=%2F&x=2"),
                &[
                    ("X-Road-UserId", "AZ9876543"),
                    ("X-Road-Issue", "CB-1"),
                    ("X-Custom", "kept"),
                    ("Content-Type", "application/octet-stream"),
                ],
                body.clone(),
            )
            .await;
        assert_eq!(status, 200, "{method}: {}", String::from_utf8_lossy(&resp));
        let v = json(&resp);
        assert_eq!(v["method"], method);
        assert_eq!(v["path"], "/echo/a/b%20c");
        assert_eq!(v["query"], "x=1&y=%2F&x=2");
        assert_eq!(v["body_len"], body.len());
        use sha2::Digest;
        assert_eq!(v["body_sha256"], hex::encode(sha2::Sha256::digest(&body)));
        let sent = &v["headers"];
        assert_eq!(sent["x-custom"], "kept");
        assert_eq!(sent["x-road-client"], "AZ/GOV/1400003/benefits");
        assert_eq!(sent["x-road-userid"], "AZ9876543");
        assert_eq!(sent["x-road-issue"], "CB-1");
        assert!(
            sent.as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("x-korpu-gw-")),
            "internal headers leaked: {sent}"
        );
        let id = h.get("x-road-id").unwrap().to_str().unwrap();
        assert_eq!(sent["x-road-id"], id);
        assert_eq!(h.get("x-road-request-hash").unwrap().len(), 88);
        assert_eq!(h.get("x-road-service").unwrap(), ECHO);
    }
    // A client-chosen X-Road-Id is kept.
    let (_, h, _) = inst
        .exchange("GET", ECHO, &[("X-Road-Id", "my-id-1")], vec![])
        .await;
    assert_eq!(h.get("x-road-id").unwrap(), "my-id-1");

    // Both gateways recorded every exchange, with both signatures, before answering.
    let a = inst.records("population");
    let b = inst.records("benefits");
    assert_eq!(a.len(), 7);
    assert_eq!(b.len(), 7);
    for r in a.iter().chain(&b) {
        for field in ["request_signature", "response_signature"] {
            assert!(r[field].as_str().is_some_and(|s| s.len() > 60), "{r}");
        }
    }
    assert!(b
        .iter()
        .any(|r| r["message_id"] == "my-id-1" && r["role"] == "client"));
    assert!(a
        .iter()
        .any(|r| r["message_id"] == "my-id-1" && r["role"] == "provider"));

    // The data subject and purpose of a personal-data service are recorded by the provider.
    assert_ok(&inst.persons(&[]).await);
    let rec = inst.records("population").into_iter().last().unwrap();
    assert_eq!(rec["data_subject"], "AZ1234567");
    assert_eq!(rec["purpose"], "benefit-eligibility");

    // Metaservices, monitoring.
    let (_, _, resp) = inst.get("AZ/GOV/1400001/population/listMethods").await;
    let codes: Vec<String> = json(&resp)["service"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["accessaudit", "accesses", "echo", "persons"]);
    let (_, _, resp) = inst.get("AZ/GOV/1400001/population/allowedMethods").await;
    assert_eq!(json(&resp)["service"].as_array().unwrap().len(), 4);
    let (_, _, resp) = inst.b_local("/listClients").await;
    assert!(json(&resp)["member"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"]["subsystem_code"] == "population"));
    let (_, _, resp) = inst.b_local("/metrics").await;
    let metrics = String::from_utf8(resp).unwrap();
    assert!(
        // B was restarted when its records were read: since then, persons and two metaservices.
        metrics.contains("korpu_exchanges_total{role=\"client\",status=\"2xx\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("korpu_exchange_duration_seconds_count{role=\"client\"}"),
        "{metrics}"
    );
    // The ledger's group commit shows: records made durable, and the commits that did it.
    let counters = |a, b| (metric::<u64>(&metrics, a), metric::<u64>(&metrics, b));
    let check = |holds: bool| assert!(holds, "{metrics}");
    let (appends, commits) = counters("korpu_ledger_appends_total", "korpu_ledger_commits_total");
    check(appends >= 1 && (1..=appends).contains(&commits));
    // So do the batch signatures: messages signed per signature made, and the answers whose
    // signature needed an ECDSA verification here.
    let (signatures, signed) = counters("korpu_signatures_total", "korpu_signed_messages_total");
    check(signed >= 1 && (1..=signed).contains(&signatures));
    let (verifications, reuses) = counters(
        "korpu_signature_verifications_total",
        "korpu_signature_batch_reuses_total",
    );
    check(verifications >= 1 && verifications + reuses <= signed);
    // And the time the ledger's writer spends on commits, to tell a slow disk from a busy CPU.
    assert!(
        metric::<f64>(&metrics, "korpu_ledger_commit_seconds_total") > 0.0,
        "{metrics}"
    );
    assert_ok(&call(&format!("{}/health", inst.a_client), "GET", &[], vec![]).await);
}

/// The value of the unlabelled metric `name` in a Prometheus text exposition.
fn metric<T: std::str::FromStr>(metrics: &str, name: &str) -> T {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from {metrics}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_class_is_answered_in_the_protocols_form() {
    let opts = Opts {
        a: vec![("KORPU_GATEWAY_PROVIDER_TIMEOUT_SECS", "1".into())],
        b: vec![("KORPU_GATEWAY_MAX_BODY_BYTES", "1048576".into())],
        ..Opts::default()
    };
    let mut inst = Instance::new(opts);
    let b = inst.b_client.clone();
    let (benefits, bad, unknown) = (
        Some(B_CLIENT_HEADER.1),
        Some("AZ/GOV"),
        Some("AZ/GOV/1400003/nosuch"),
    );
    let echo = format!("r1/{ECHO}");
    let (nosuch, r2) = (
        format!("r1/{PROVIDER}/population/nosuch"),
        format!("r2/{ECHO}"),
    );
    let (purpose_less, slow) = (format!("r1/{PERSONS}/AZ1"), format!("{echo}?sleep_ms=3000"));
    // (path, X-Road-Client, body length, expected error type, expected status)
    let cases: [(&str, Option<&str>, usize, &str, u16); 8] = [
        (&echo, None, 0, "Client.InvalidClientIdentifier", 400),
        (&echo, bad, 0, "Client.InvalidClientIdentifier", 400),
        (&echo, unknown, 0, "Client.UnknownClient", 400),
        (&nosuch, benefits, 0, "Client.UnknownService", 400),
        (&r2, benefits, 0, "Client.BadRequest", 400),
        (&purpose_less, benefits, 0, "Client.PurposeRequired", 400),
        (&echo, benefits, 2 << 20, "Client.RequestTooLarge", 400),
        (&slow, benefits, 0, "Server.ServerProxy.ServiceTimeout", 500),
    ];
    for (path, client, body_len, kind, status_want) in cases {
        let headers: Vec<_> = client.map(|c| ("X-Road-Client", c)).into_iter().collect();
        let method = if body_len == 0 { "GET" } else { "POST" };
        let body = vec![0u8; body_len];
        let (status, h, resp) = call(&format!("{b}/{path}"), method, &headers, body).await;
        assert_xroad_error(status, &h, &resp, kind, status_want);
    }
    // Access denied: revoke the right; the client gateway learns it from the next configuration.
    inst.admin(&["access", "revoke", "AZ/GOV/1400003/benefits", ECHO]);
    let never = "the revoked access right was never enforced";
    let (status, h, resp) = inst.first_refusal(ECHO, never).await;
    // Whichever gateway learns of the revocation first refuses: the client's early check, or
    // the provider's, which decides.
    if json(&resp)["type"] == "Client.AccessDenied" {
        assert_xroad_error(status, &h, &resp, "Client.AccessDenied", 400);
    } else {
        assert_xroad_error(status, &h, &resp, "Server.ServerProxy.AccessDenied", 500);
    }
    inst.admin(&["access", "grant", "AZ/GOV/1400003/benefits", ECHO]);
    // Provider's information system unreachable.
    inst.system.take();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, h, resp) = inst.get(ECHO).await;
    assert_xroad_error(status, &h, &resp, "Server.ServerProxy.ServiceFailed", 500);
    // Provider's gateway unreachable.
    inst.a.take();
    let (status, h, resp) = inst.get(ECHO).await;
    assert_xroad_error(status, &h, &resp, "Server.ClientProxy.NetworkError", 500);
    let (_, _, resp) = inst.b_local("/metrics").await;
    let metrics = String::from_utf8(resp).unwrap();
    assert!(
        metrics.contains("korpu_errors_total{type=\"Server.ClientProxy.NetworkError\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_body_streams_through_in_bounded_memory() {
    let inst = Instance::new(Opts::default());
    let size: u64 = 1 << 30;
    // A streamed 1 GiB body, generated on the fly.
    let chunk = Arc::new(vec![0x5au8; 1 << 20]);
    let stream = futures_stream(chunk.clone(), size / chunk.len() as u64);
    let resp = client()
        .post(format!("{}/r1/{ECHO}", inst.b_client))
        .header("X-Road-Client", "AZ/GOV/1400003/benefits")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["body_len"], size);
    for p in [&inst.a, &inst.b] {
        let pid = p.as_ref().unwrap().0.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let hwm_kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(
            hwm_kb < 200 * 1024,
            "a gateway's peak memory was {hwm_kb} KiB for a 1 GiB body"
        );
    }
}

fn futures_stream(
    chunk: Arc<Vec<u8>>,
    n: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::iter((0..n).map(move |_| Ok(bytes::Bytes::copy_from_slice(&chunk))))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_configuration_stops_routing_and_says_why() {
    let opts = Opts {
        central: vec![
            ("KORPU_CENTRAL_CONF_VALIDITY_SECS", "4".into()),
            ("KORPU_CENTRAL_CONF_REFRESH_SECS", "2".into()),
        ],
        ..Opts::default()
    };
    let mut inst = Instance::new(opts);
    assert_ok(&inst.get(ECHO).await);
    inst.central.kill9();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, h, resp) = inst.get(ECHO).await;
    let v = assert_xroad_error(
        status,
        &h,
        &resp,
        "Server.ClientProxy.OutdatedGlobalConf",
        500,
    );
    assert!(v["message"].as_str().unwrap().contains("expired at"), "{v}");
    let (status, _, resp) = inst.b_local("/health").await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&resp));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_gateway_certificate_is_refused_through_ocsp() {
    // A keeps its configuration (and so still pins B's certificate); only OCSP can tell.
    let opts = Opts {
        a: vec![("KORPU_GATEWAY_CONF_REFRESH_SECS", "3600".into())],
        ..Opts::default()
    };
    let inst = Instance::new(opts);
    assert_ok(&inst.get(ECHO).await);
    let certs: Value = serde_json::from_str(&inst.admin(&["list", "certificates"])).unwrap();
    let serial = certs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "gateway_tls" && c["owner"] == "AZ/GOV/1400003/gw1")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    inst.admin(&["cert", "revoke", &serial, "--reason", "key_compromise"]);
    let never = "a revoked certificate was still accepted";
    let (status, h, resp) = inst.first_refusal(ECHO, never).await;
    let kind = "Server.ServerProxy.SslAuthenticationFailed";
    let v = assert_xroad_error(status, &h, &resp, kind, 500);
    assert!(v["message"].as_str().unwrap().contains("revoked"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_does_not_match_its_pin_is_refused() {
    // B keeps its configuration; A gets a new (valid, platform-issued) certificate that B's
    // configuration does not pin.
    let opts = Opts {
        b: vec![("KORPU_GATEWAY_CONF_REFRESH_SECS", "3600".into())],
        ..Opts::default()
    };
    let mut inst = Instance::new(opts);
    assert_ok(&inst.get(ECHO).await);
    let a_dir = inst.path("population");
    inst.a.take();
    let new_dir = inst.path("new-keys");
    make_gateway_keys(&new_dir, "AZ/GOV/1400001/gw1");
    let central_toml = inst.path("central/central.toml");
    issue_cert(
        &central_toml,
        "gateway-tls",
        "AZ/GOV/1400001/gw1",
        &new_dir,
        "tls",
    );
    for file in ["tls.pem", "tls.p8"] {
        std::fs::copy(new_dir.join(file), a_dir.join(file)).unwrap();
    }
    inst.start_gateway(true);
    let (status, h, resp) = inst.get(ECHO).await;
    let kind = "Server.ClientProxy.SslAuthenticationFailed";
    let v = assert_xroad_error(status, &h, &resp, kind, 500);
    assert!(v["message"].as_str().unwrap().contains("pins"), "{v}");
}

/// A TCP relay that flips one byte of the client-to-server stream once `after` bytes passed.
fn flipping_relay(listen: TcpListener, target: SocketAddr, after: usize, flipped: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        for inbound in listen.incoming() {
            let Ok(inbound) = inbound else { continue };
            let Ok(outbound) = TcpStream::connect(target) else {
                continue;
            };
            let (mut in_r, mut out_w) =
                (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
            let (mut out_r, mut in_w) = (outbound, inbound);
            let flipped = flipped.clone();
            std::thread::spawn(move || {
                let mut seen = 0usize;
                let mut buf = [0u8; 16384];
                while let Ok(n) = in_r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if seen <= after && after < seen + n && !flipped.swap(true, Ordering::SeqCst) {
                        buf[after - seen] ^= 0x01;
                    }
                    seen += n;
                    if out_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = out_w.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out_r, &mut in_w);
                let _ = in_w.shutdown(std::net::Shutdown::Both);
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_byte_flipped_between_gateways_is_detected_and_refused() {
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let opts = Opts {
        a_registered_address: Some(relay_addr.to_string()),
        ..Opts::default()
    };
    let mut inst = Instance::new(opts);
    let flipped = Arc::new(AtomicBool::new(false));
    // Past the TLS handshake, inside the first request's encrypted records.
    flipping_relay(relay, inst.a_server, 6000, flipped.clone());
    let (status, h, resp) = inst.exchange("POST", ECHO, &[], vec![7u8; 20_000]).await;
    assert!(
        flipped.load(Ordering::SeqCst),
        "the relay never flipped a byte"
    );
    assert_xroad_error(status, &h, &resp, "Server.ClientProxy.NetworkError", 500);
    // Nothing was delivered to the provider, and the refusal is in the client gateway's log.
    assert!(inst.records("population").is_empty());
    let logs: String = std::fs::read_dir(inst.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("benefits-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("exchange refused"), "{logs}");
    // The next exchange, on a fresh connection, goes through untouched.
    assert_ok(&inst.exchange("POST", ECHO, &[], vec![7u8; 20_000]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_loses_no_answered_exchange() {
    let mut inst = Instance::new(Opts::default());
    let url = format!("{}/r1/{ECHO}", inst.b_client);
    for victim_is_provider in [true, false] {
        let answered = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..16 {
            let (url, answered, stop) = (url.clone(), answered.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let id = format!("load-{victim_is_provider}-{w}-{i}");
                    let r = http
                        .post(&url)
                        .header("X-Road-Client", "AZ/GOV/1400003/benefits")
                        .header("X-Road-Id", &id)
                        .body(vec![1u8; 512])
                        .send()
                        .await;
                    if let Ok(r) = r {
                        if r.status() == 200 && r.bytes().await.is_ok() {
                            answered.lock().unwrap().push(id);
                        }
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if victim_is_provider {
            inst.a.as_mut().unwrap().kill9();
        } else {
            inst.b.as_mut().unwrap().kill9();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            let _ = w.await;
        }
        inst.start_gateway(victim_is_provider);
        let answered = answered.lock().unwrap().clone();
        assert!(
            answered.len() > 20,
            "too little load got through: {}",
            answered.len()
        );
        for (sub, role) in [("population", "provider"), ("benefits", "client")] {
            let ids: std::collections::HashSet<String> = inst
                .records(sub)
                .into_iter()
                .filter(|r| r["role"] == role)
                .map(|r| r["message_id"].as_str().unwrap().to_owned())
                .collect();
            let missing: Vec<&String> = answered.iter().filter(|id| !ids.contains(*id)).collect();
            assert!(
                missing.is_empty(),
                "{} answered exchanges missing from {sub}'s record: {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
        }
        // The restarted gateway works (the first call may find the old connection dead).
        let mut ok = false;
        for _ in 0..5 {
            if inst.get(ECHO).await.0 == 200 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(ok, "the restarted gateway does not route");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_for_an_exchange_verifies_offline_and_with_openssl() {
    use sha2::Digest;
    let mut inst = Instance::new(Opts::default());
    let (status, _, resp) = inst.persons(&[("X-Road-Id", "evidence-1")]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    // Enough exchanges to fill a few 64 KiB ledger segments, which are sealed and archived.
    for i in 0..150 {
        let (status, _, _) = inst
            .exchange(
                "POST",
                ECHO,
                &[("X-Road-Id", &format!("fill-{i}"))],
                vec![b'x'; 256],
            )
            .await;
        assert_eq!(status, 200);
    }
    // A graceful stop closes the ledger with a final, time-stamped checkpoint.
    inst.a.take().unwrap().terminate();

    // The sealed segments' archives verify offline from the anchor alone: the signed global
    // configuration inside names the log's key and the platform roots.
    let archive_dir = inst.path("population").join("ledger-archive");
    let mut archives: Vec<PathBuf> = walk(&archive_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".korpu-archive"))
        .collect();
    archives.sort();
    assert!(
        !archives.is_empty(),
        "no archive under {}",
        archive_dir.display()
    );
    for a in &archives {
        let ran = inst.verify_archive(a);
        assert!(ran.ok, "{}: {}", a.display(), ran.text());
    }
    // One flipped byte, and the verifier names what is wrong and fails.
    let mut bytes = std::fs::read(&archives[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    let flipped = inst.path("flipped.korpu-archive");
    std::fs::write(&flipped, bytes).unwrap();
    assert!(!inst.verify_archive(&flipped).ok);
    let key = inst.ledger_key("population");
    let ev_path = inst.path("evidence.json");
    let ev = inst.evidence("evidence-1", &ev_path);
    let ran = inst.verify_evidence(&ev_path, &key);
    let text = ran.text();
    assert!(ran.ok, "{text}");
    assert!(
        text.contains("OK: message evidence-1") && text.contains("time-stamped"),
        "{text}"
    );
    assert!(
        text.contains("signatures verified: AZ/GOV/1400003, AZ/GOV/1400001"),
        "{text}"
    );

    // openssl agrees that the time-stamp is over this checkpoint.
    assert_eq!(ev["record"]["data_subject"], "AZ1234567");
    let tsr = inst.path("checkpoint.tsr");
    std::fs::write(&tsr, base64_field(&ev["timestamp"])).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(
        ev["checkpoint"].as_str().unwrap().as_bytes(),
    ));
    let (roots, issuing) = (
        inst.path("central/certs/root.pem"),
        inst.path("central/certs/issuing.pem"),
    );
    let ran = run(Command::new("openssl")
        .args(["ts", "-verify", "-digest", &digest, "-in"])
        .arg(&tsr)
        .arg("-CAfile")
        .arg(&roots)
        .arg("-untrusted")
        .arg(&issuing));
    let text = ran.text();
    assert!(ran.ok && text.contains("Verification: OK"), "{text}");

    // openssl agrees that the client's member signed the request digest the record keeps,
    // with the certificate the package carries.
    let fp = ev["record"]["request_signer_cert_sha256"].as_str().unwrap();
    let signer = request_signer(&ev);
    let digest = hex::decode(ev["record"]["request_digest"].as_str().unwrap()).unwrap();
    let sig = base64_field(&ev["record"]["request_signature"]);
    let ran = inst.openssl_verify("request", &signer, &digest, &sig);
    let text = ran.text();
    assert!(
        ran.ok && text.contains("Signature Verified Successfully"),
        "{text}"
    );

    // A package that leaves out a signer's certificate is refused, naming it: the record
    // cannot be changed to suit other certificates without breaking its inclusion proof.
    let mut stripped = ev.clone();
    stripped["certificates"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p.as_str().unwrap() != signer.to_pem());
    let ran = inst.verify_evidence(&inst.write_json("stripped.json", &stripped), &key);
    let want = format!("no certificate with SHA-256 {fp}");
    assert!(!ran.ok && ran.stderr.contains(&want), "{}", ran.stderr);

    // An edited record, and another log's key, are refused with the reason.
    let mut edited = ev.clone();
    edited["record"]["purpose"] = "curiosity".into();
    let ran = inst.verify_evidence(&inst.write_json("edited.json", &edited), &key);
    let want = "is not in the checkpointed tree";
    assert!(!ran.ok && ran.stderr.contains(want), "{}", ran.stderr);
    inst.b.take();
    let ran = inst.verify_evidence(&ev_path, &inst.ledger_key("benefits"));
    let want = "not signed by the given log key";
    assert!(!ran.ok && ran.stderr.contains(want), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_exchanges_are_signed_in_batches_whose_evidence_verifies() {
    let mut inst = Instance::new(Opts::default());
    // Exchanges in flight together are signed together: one ECDSA signature over the Merkle
    // root of their digests, and a path per message (korpu_pki::batch).
    let mut tasks = Vec::new();
    for i in 0..48 {
        let url = format!("{}/r1/{ECHO}", inst.b_client);
        tasks.push(tokio::spawn(async move {
            let id = format!("batch-{i}");
            let (status, _, body) = call(
                &url,
                "POST",
                &[B_CLIENT_HEADER, ("X-Road-Id", &id)],
                vec![b'b'; 64],
            )
            .await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    inst.a.take().unwrap().terminate();
    let key = inst.ledger_key("population");
    let mut batched = None;
    for i in 0..48 {
        let ev_path = inst.path(&format!("batch-{i}.json"));
        let ev = inst.evidence(&format!("batch-{i}"), &ev_path);
        let ran = inst.verify_evidence(&ev_path, &key);
        assert!(ran.ok, "batch-{i}: {}", ran.text());
        if ev["record"]["request_signature"]
            .as_str()
            .unwrap()
            .starts_with("b1.")
        {
            batched = Some((ev, ev_path));
        }
    }
    let (ev, ev_path) = batched.expect("48 concurrent exchanges made at least one signing batch");

    // openssl agrees: the batch's signature, by the client's member, is over the root that the
    // record's request digest and its path lead to.
    let sig =
        korpu_pki::batch::Signature::parse(ev["record"]["request_signature"].as_str().unwrap())
            .unwrap();
    let digest: [u8; 32] = hex::decode(ev["record"]["request_digest"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signer = request_signer(&ev);
    let signed = sig.signed_digest(&digest).unwrap();
    let ran = inst.openssl_verify("batch", &signer, &signed, sig.der());
    let text = ran.text();
    assert!(
        ran.ok && text.contains("Signature Verified Successfully"),
        "{text}"
    );

    // A batched signature moved to another place in its batch, or with a changed path, no
    // longer verifies (the record is also no longer the one in the tree).
    let korpu_pki::batch::Signature::Batch {
        index,
        size,
        path,
        der,
    } = sig
    else {
        unreachable!("checked above")
    };
    let moved = korpu_pki::batch::Signature::Batch {
        index: (index + 1) % size,
        size,
        path: path.clone(),
        der: der.clone(),
    };
    let moved_digest = moved.signed_digest(&digest).unwrap_or([0; 32]);
    assert!(
        !inst
            .openssl_verify("batch", &signer, &moved_digest, &der)
            .ok
    );
    let mut edited = ev.clone();
    let mut bent = path;
    bent[0][0] ^= 1;
    edited["record"]["request_signature"] = korpu_pki::batch::Signature::Batch {
        index,
        size,
        path: bent,
        der,
    }
    .encode()
    .into();
    let edited_path = inst.write_json("batch-edited.json", &edited);
    assert!(!inst.verify_evidence(&edited_path, &key).ok);
    assert!(inst.verify_evidence(&ev_path, &key).ok);
}

#[tokio::test(flavor = "multi_thread")]
async fn information_systems_can_be_held_to_their_tls_client_certificates() {
    let mut inst = Instance::new(Opts::default());
    // Two self-signed information-system certificates, as an agency would make them.
    for name in ["is", "other"] {
        let ran = run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes",
                "-days",
                "30",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
            ])
            .arg(inst.path(&format!("{name}.key")))
            .arg("-out")
            .arg(inst.path(&format!("{name}.pem"))));
        assert!(ran.ok, "{}", ran.stderr);
    }
    let pem = std::fs::read_to_string(inst.path("is.pem")).unwrap();
    let fp = Certificate::from_pem(&pem)
        .unwrap()
        .sha256_fingerprint_hex();
    let tls_port = free_port();
    inst.reconfigure(
        false,
        &format!("client_tls_listen = \"127.0.0.1:{tls_port}\"\n"),
        &format!("\n[client_certificates]\n\"AZ/GOV/1400003/benefits\" = [\"{fp}\"]\n"),
    );

    let root = reqwest::Certificate::from_pem(
        &std::fs::read(inst.path("central/certs/root.pem")).unwrap(),
    )
    .unwrap();
    let url = format!("https://127.0.0.1:{tls_port}/r1/{ECHO}");
    // B's TLS client side, as the benefits subsystem, presenting the certificate `name`.
    let get_as = |name: Option<&str>| {
        let mut client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root.clone());
        if let Some(name) = name {
            let mut id = std::fs::read(inst.path(&format!("{name}.pem"))).unwrap();
            id.extend(std::fs::read(inst.path(&format!("{name}.key"))).unwrap());
            client = client.identity(reqwest::Identity::from_pem(&id).unwrap());
        }
        let request = client
            .build()
            .unwrap()
            .get(&url)
            .header(B_CLIENT_HEADER.0, B_CLIENT_HEADER.1);
        async move { request.send().await }
    };
    assert_eq!(get_as(Some("is")).await.unwrap().status(), 200);

    let resp = get_as(Some("other")).await.unwrap();
    let (status, h) = (resp.status().as_u16(), resp.headers().clone());
    let body = resp.bytes().await.unwrap();
    let v = assert_xroad_error(status, &h, &body, "Client.UnknownClient", 400);
    assert!(
        v["message"].as_str().unwrap().contains("not registered"),
        "{v}"
    );

    // The same subsystem over plain HTTP is refused: it must use its certificate.
    let (status, h, body) = inst.get(ECHO).await;
    let v = assert_xroad_error(status, &h, &body, "Client.UnknownClient", 400);
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("must connect over TLS"), "{v}");

    // Without a client certificate there is no TLS connection at all.
    assert!(get_as(None).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_tracker_lists_a_subjects_accesses_with_proofs_and_only_to_them() {
    let inst = Instance::new(Opts::default());
    let (status, _, resp) = inst
        .persons(&[
            ("X-Road-Id", "tracked-1"),
            ("X-Road-UserId", "AZ-OFFICER-7"),
        ])
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));

    // The access becomes provable with the next checkpoint (every second here).
    let tracker = format!("{ACCESSES}?subject=AZ1234567&limit=10");
    let (inst_ref, tracker_ref) = (&inst, &tracker);
    let (entry, page) = eventually(Duration::from_secs(20), move || async move {
        let answer = inst_ref.get_as(tracker_ref, Some("AZ1234567")).await;
        assert_ok(&answer);
        let page = json(&answer.2);
        match entries(&page)
            .iter()
            .find(|e| e["message_id"] == "tracked-1")
        {
            Some(e) => Ok((e.clone(), page.clone())),
            None => Err(format!("the access never appeared: {page}")),
        }
    })
    .await;
    assert_eq!(entry["client"], "AZ/GOV/1400003/benefits");
    assert_eq!(entry["service"], PERSONS);
    assert_eq!(entry["purpose"], "benefit-eligibility");
    assert!(entry["time"].as_str().unwrap().ends_with('Z'), "{entry}");

    // Its inclusion proof leads to the root of the signed checkpoint it comes with.
    let hash = |h: &Value| -> korpu_ledger::Hash {
        hex::decode(h.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let note = entry["proof"]["checkpoint"].as_str().unwrap();
    let body = &note[..note.find("\n\n").unwrap() + 1];
    let cp = korpu_ledger::Checkpoint::parse_body(body).unwrap();
    assert_eq!(entry["proof"]["tree_size"], cp.size);
    let proof: Vec<korpu_ledger::Hash> = entry["proof"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let index = entry["index"].as_u64().unwrap();
    korpu_ledger::merkle::verify_inclusion(
        index,
        cp.size,
        &hash(&entry["leaf_hash"]),
        &proof,
        &cp.root,
    )
    .unwrap();
    let mut forged = hash(&entry["leaf_hash"]);
    forged[0] ^= 1;
    assert!(
        korpu_ledger::merkle::verify_inclusion(index, cp.size, &forged, &proof, &cp.root).is_err()
    );
    assert!(entries(&page).len() <= 10);

    // An auditor, through the audit service its access right names, reads any subject's
    // accesses, but only when it says who is auditing.
    let audit = format!("{ACCESS_AUDIT}?subject=AZ1234567&limit=10");
    let answer = inst.get_as(&audit, Some("AUDITOR-17")).await;
    assert_ok(&answer);
    let audited = json(&answer.2);
    assert!(
        entries(&audited)
            .iter()
            .any(|e| e["message_id"] == "tracked-1"),
        "{audited}"
    );

    // Nobody else may read them (nor the auditor without saying who it is), and the refusal
    // comes in the protocol's form.
    let denied = "Server.ServerProxy.AccessDenied";
    let no_subject = format!("{ACCESSES}?limit=10");
    for (path, user, want) in [
        (&audit, None, denied),
        (&tracker, Some("AZ7654321"), denied),
        (&tracker, None, denied),
        (
            &no_subject,
            Some("AZ1234567"),
            "Server.ServerProxy.BadRequest",
        ),
    ] {
        let (status, h, resp) = inst.get_as(path, user).await;
        assert_eq!(status, 500, "{}", String::from_utf8_lossy(&resp));
        assert_eq!(h.get("x-road-error").unwrap(), want);
    }
}

/// The entries of a data-tracker page.
fn entries(page: &Value) -> &Vec<Value> {
    page["entries"].as_array().unwrap()
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_kept_encrypted_only_for_services_that_ask() {
    use sha2::Digest;
    let mut inst = Instance::new(Opts::default());
    let (status, _, person) = inst.persons(&[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&person));
    let (status, _, _) = inst.exchange("POST", ECHO, &[], b"not kept".to_vec()).await;
    assert_eq!(status, 200);

    let records = inst.records("population");
    let kept = records
        .iter()
        .find(|r| r["service"] == PERSONS)
        .expect("the persons exchange is recorded");
    let digest = hex::encode(sha2::Sha256::digest(&person));
    assert_eq!(kept["response_body_sha256"], digest.as_str());
    assert_eq!(
        kept["request_body_sha256"],
        hex::encode(sha2::Sha256::digest(b"")).as_str()
    );
    let echo = records.iter().find(|r| r["service"] == ECHO).unwrap();
    assert!(echo.get("request_body_sha256").is_none(), "{echo}");

    // On disk the body is ciphertext; with the gateway's key it opens to exactly what was sent.
    let dir = inst.path("population");
    let files: Vec<PathBuf> = walk(&dir.join("bodies"));
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        assert!(
            !raw.windows(9).any(|w| w == b"AZ1234567"),
            "{} holds plaintext",
            f.display()
        );
    }
    let key = korpu_gateway::bodystore::BodyKey::load_or_create(&dir.join("body.key")).unwrap();
    let store = korpu_gateway::bodystore::BodyStore::open(dir.join("bodies"), key).unwrap();
    assert_eq!(store.get(&digest).unwrap(), person);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("body.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the body key is readable by others");
}

/// Reads until the peer closes: how long that took, or `None` if still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(t.elapsed());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(t.elapsed()),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_gateway_listener_closes_connections_that_make_no_request_in_time() {
    let mut inst = Instance::new(Opts {
        a: vec![
            ("KORPU_GATEWAY_HEADER_READ_TIMEOUT_SECS", "1".into()),
            ("KORPU_GATEWAY_TLS_HANDSHAKE_TIMEOUT_SECS", "1".into()),
        ],
        ..Opts::default()
    });
    // A with a TLS client side too.
    let tls_client_side = format!("127.0.0.1:{}", free_port());
    let listen = format!("client_tls_listen = \"{tls_client_side}\"\n");
    inst.reconfigure(true, &listen, "");
    let client_side = inst.a_client.trim_start_matches("http://").to_owned();
    let open = |addr: &str, send: &[u8]| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(send).unwrap();
        s
    };
    let half_hello: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    let server_side = inst.a_server.to_string();
    let mut conns = vec![
        ("client side, nothing sent", open(&client_side, b"")),
        (
            "client side, a partial request head",
            open(&client_side, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "),
        ),
        (
            "client side, half an HTTP/2 preface",
            open(&client_side, b"PRI * HTTP/2.0\r\n"),
        ),
        (
            "TLS client side, no ClientHello",
            open(&tls_client_side, b""),
        ),
        (
            "TLS client side, half a ClientHello",
            open(&tls_client_side, half_hello),
        ),
        ("provider side, no ClientHello", open(&server_side, b"")),
        (
            "provider side, half a ClientHello",
            open(&server_side, half_hello),
        ),
    ];
    // Each is closed within the 1 s timeouts (a few seconds of slack for a busy machine);
    // before, they stayed open as long as the client liked.
    for (what, s) in &mut conns {
        assert!(
            closed_within(s, Duration::from_secs(6)).is_some(),
            "{what}: still open after 6 s with 1 s timeouts"
        );
    }
    // A request in time is answered.
    let (status, _, _) = call(&format!("{}/health", inst.a_client), "GET", &[], Vec::new()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_gateway_that_never_answers_does_not_hold_up_exchanges_with_others() {
    let inst = Instance::new(Opts {
        b: vec![("KORPU_GATEWAY_CONNECT_TIMEOUT_SECS", "4".into())],
        ..Opts::default()
    });
    // A gateway whose address accepts TCP connections (the kernel's backlog) but never
    // answers: accept is never called, so no TLS handshake ever completes.
    let silent = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    const SILENT: &str = "AZ/GOV/1400009";
    let status_service = format!("{SILENT}/silent/status");
    inst.admin(&["member", "add", SILENT, "--name", "Silent Agency"]);
    inst.admin(&["subsystem", "add", &format!("{SILENT}/silent")]);
    inst.admin(&[
        "gateway",
        "add",
        &format!("{SILENT}/gw1"),
        "--address",
        &silent_addr,
    ]);
    inst.admin(&[
        "gateway",
        "add-client",
        &format!("{SILENT}/gw1"),
        &format!("{SILENT}/silent"),
    ]);
    inst.admin(&["service", "add", &status_service, "--title", "Status"]);
    inst.admin(&[
        "access",
        "grant",
        &format!("{CLIENT}/benefits"),
        &status_service,
    ]);
    // Until B has the configuration that names the silent gateway (refreshed every second).
    let list_clients = format!("{}/listClients", inst.b_client);
    let list_clients = &list_clients;
    eventually(Duration::from_secs(30), move || async move {
        let accept = [("Accept", "application/json")];
        let (_, _, body) = call(list_clients, "GET", &accept, Vec::new()).await;
        if String::from_utf8_lossy(&body).contains("1400009") {
            Ok(())
        } else {
            Err("B never saw the new configuration".to_owned())
        }
    })
    .await;
    // One exchange towards the silent gateway, left connecting...
    let b = inst.b_client.clone();
    let started = Instant::now();
    let stuck = tokio::spawn(async move {
        call(
            &format!("{b}/r1/{status_service}/now"),
            "GET",
            &[B_CLIENT_HEADER],
            Vec::new(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...while exchanges with the population registry go on, each promptly: a connection to
    // it is made (and reused) beside the attempt on the silent gateway, not after it.
    for i in 0..8 {
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            inst.get(&format!("{ECHO}/during?i={i}")),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("exchange {i} with A waited on the attempt to reach the silent gateway")
        });
        assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    }
    assert!(
        !stuck.is_finished(),
        "the silent gateway's attempt was still under way"
    );
    // The attempt ends at connect_timeout_secs with the protocol's error.
    let (status, h, body) = stuck.await.unwrap();
    let took = started.elapsed();
    let v = assert_xroad_error(status, &h, &body, "Server.ClientProxy.NetworkError", 500);
    assert!(
        took < Duration::from_secs(15),
        "the attempt took {took:?} with a 4 s connect timeout: {v}"
    );
    drop(silent);
}
