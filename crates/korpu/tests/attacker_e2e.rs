//! The gateway tried as an attacker would (issue 13), against real processes on loopback ports
//! chosen at run time: a central registry, the population registry's gateway (provider, "A")
//! in front of an information system that this test runs itself (so it can tell exactly what
//! reached it), and the social ministry's gateway (client, "B").
//!
//! The attacker holds B's gateway TLS key (not its signing key) and sits between the two
//! gateways: A is registered at the attacker's relay, which terminates B's TLS with A's
//! certificate, keeps a copy of every signed request, and passes it on to A over its own TLS
//! connection with B's key. From there it sends captured requests again — unchanged, with
//! another data subject, with other headers — and its own requests with signatures and digests
//! of its choosing.
//!
//! The edges (items 7, 9) are tried as a careless or hostile information system would: a flood
//! of uploads that never finish, a declared body over the limit, a trickling body, a 70 KB
//! header among other callers' exchanges.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::{TokioExecutor, TokioIo};
use korpu_gateway::tls::OwnTls;
use korpu_pki::cert::Certificate;
use serde_json::Value;

const PROVIDER: &str = "AZ/GOV/1400001";
const CLIENT: &str = "AZ/GOV/1400003";
const B_CLIENT: &str = "AZ/GOV/1400003/benefits";
const ECHO: &str = "AZ/GOV/1400001/population/echo";
const FAMILY: &str = "AZ/GOV/1400001/population/family";
/// Declares its data subject in the `X-Subject-Id` header, as the demo's tax service does.
const INCOME: &str = "AZ/GOV/1400001/population/income";

mod support;
use support::platform::{configure_gateway, register_gateway, start_central};
use support::{free_port, korpu_ok, Proc};

/// What the provider's information system received: one entry per request, its path and
/// headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl Seen {
    fn paths(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn subjects(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, h)| h.get("x-subject-id")?.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// The provider's information system: answers every request with what it received, and
/// remembers it.
async fn start_system(seen: Seen) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let path = req.uri().to_string();
                            let answer = serde_json::json!({
                                "path": path,
                                "subject": req.headers().get("x-subject-id").and_then(|v| v.to_str().ok()),
                            });
                            seen.0.lock().unwrap().push((path, req.headers().clone()));
                            let mut r =
                                hyper::Response::new(Full::new(Bytes::from(answer.to_string())));
                            r.headers_mut().insert(
                                "content-type",
                                HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

struct Instance {
    dir: tempfile::TempDir,
    _central: Proc,
    a: Option<Proc>,
    b: Option<Proc>,
    a_server: SocketAddr,
    b_client: String,
    a_env: Vec<(&'static str, String)>,
    seen: Seen,
}

impl Instance {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn admin(&self, args: &[&str]) -> String {
        support::platform::admin(&self.path("central/central.toml"), args)
    }

    /// A and B, with A registered at `a_registered` (the attacker's relay) and started with
    /// the environment overrides `a_env`.
    async fn new(a_registered: Option<SocketAddr>, a_env: Vec<(&'static str, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (central, central_toml) = start_central(dir.path(), &[]);
        let a_server: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let b_server: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let seen = Seen::default();
        let system = start_system(seen.clone()).await;
        let mut inst = Instance {
            dir,
            _central: central,
            a: None,
            b: None,
            a_server,
            b_client: String::new(),
            a_env,
            seen,
        };
        let a_addr = a_registered.unwrap_or(a_server).to_string();
        for (member, name, sub, gw_addr) in [
            (PROVIDER, "State Population Registry", "population", a_addr),
            (
                CLIENT,
                "Ministry of Labour",
                "benefits",
                b_server.to_string(),
            ),
        ] {
            register_gateway(
                &central_toml,
                member,
                name,
                &format!("{member}/{sub}"),
                &gw_addr,
                &inst.path(sub),
            );
        }
        inst.admin(&["service", "add", ECHO, "--title", "Echo"]);
        inst.admin(&[
            "service",
            "add",
            FAMILY,
            "--title",
            "Family",
            "--subject-path",
            "pin",
        ]);
        inst.admin(&[
            "service",
            "add",
            INCOME,
            "--title",
            "Income",
            "--subject-header",
            "X-Subject-Id",
            "--purpose-required",
        ]);
        // B may call echo and income, not family.
        inst.admin(&["access", "grant", B_CLIENT, ECHO]);
        inst.admin(&["access", "grant", B_CLIENT, INCOME]);
        let anchor = inst.path("central/anchor.json");
        for (sub, member, server, services) in [
            (
                "population",
                PROVIDER,
                a_server,
                format!(
                    "\"{ECHO}\" = \"http://{system}/echo\"\n\"{FAMILY}\" = \"http://{system}/family\"\n\"{INCOME}\" = \"http://{system}/income\"\n"
                ),
            ),
            ("benefits", CLIENT, b_server, String::new()),
        ] {
            let toml_text = format!(
                "gateway = \"{member}/gw1\"\nanchor = \"{}\"\ndata_dir = \"{}\"\nclient_listen = \"127.0.0.1:{}\"\nserver_listen = \"{server}\"\nconf_refresh_secs = 1\nocsp_refresh_secs = 1\nledger_checkpoint_secs = 1\n[services]\n{services}",
                anchor.display(),
                inst.path(sub).display(),
                free_port()
            );
            configure_gateway(&central_toml, member, &inst.path(sub), &toml_text);
        }
        inst.start_gateway(true);
        inst.start_gateway(false);
        inst
    }

    fn start_gateway(&mut self, provider: bool) {
        let (sub, env) = if provider {
            ("population", self.a_env.clone())
        } else {
            ("benefits", Vec::new())
        };
        let (p, client) = support::platform::start_gateway(self.dir.path(), sub, &env);
        if provider {
            self.a = Some(p);
        } else {
            self.b = Some(p);
            self.b_client = client;
        }
    }

    /// The records in a gateway's evidence ledger (the gateway is stopped with kill -9 —
    /// what it acknowledged is durable — read with `korpu ledger dump`, and started again).
    fn records(&mut self, sub: &str) -> Vec<Value> {
        let provider = sub == "population";
        if provider {
            self.a.take();
        } else {
            self.b.take();
        }
        let config = self.path(sub).join("gateway.toml");
        let out = korpu_ok(&["ledger", "dump", "--config", config.to_str().unwrap()]);
        self.start_gateway(provider);
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The platform's root and issuing CA certificates, from the central registry's files.
    fn cas(&self) -> (Certificate, Certificate) {
        let mut found = HashMap::new();
        let mut dirs = vec![self.path("central")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Some(name @ ("root.pem" | "issuing.pem")) =
                    p.file_name().and_then(|n| n.to_str())
                {
                    found.insert(name.to_owned(), std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let cert = |n: &str| Certificate::from_pem(&found[n]).unwrap();
        (cert("root.pem"), cert("issuing.pem"))
    }

    /// A gateway's TLS identity (its certificate chain and key), as an attacker who stole it.
    fn tls_identity(&self, sub: &str) -> OwnTls {
        let (_, issuing) = self.cas();
        let cert = Certificate::from_pem(
            &std::fs::read_to_string(self.path(sub).join("tls.pem")).unwrap(),
        )
        .unwrap();
        OwnTls {
            chain: vec![cert.der().to_vec().into(), issuing.der().to_vec().into()],
            key: korpu_pki::key::read_private_key(&self.path(sub).join("tls.p8")).unwrap(),
        }
    }

    /// An HTTP/2 connection to A over TLS with B's stolen key: as gateway B, as far as TLS
    /// can tell.
    async fn connect_to_a_as_b(&self) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
        let (root, _) = self.cas();
        let a_cert = Certificate::from_pem(
            &std::fs::read_to_string(self.path("population").join("tls.pem")).unwrap(),
        )
        .unwrap();
        let cfg = korpu_gateway::tls::client_config(
            &self.tls_identity("benefits"),
            &[root],
            vec![a_cert.sha256_fingerprint_hex()],
        )
        .unwrap();
        let mut last = None;
        // A may be restarting (records()): try for a few seconds.
        for _ in 0..100 {
            match tokio::net::TcpStream::connect(self.a_server).await {
                Ok(tcp) => {
                    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg.clone()))
                        .connect("127.0.0.1".try_into().unwrap(), tcp)
                        .await
                        .unwrap();
                    let (sender, conn) =
                        hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                            .handshake(TokioIo::new(tls))
                            .await
                            .unwrap();
                    tokio::spawn(conn);
                    return sender;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("gateway A does not accept connections: {last:?}");
    }

    /// Sends `req` to A over a fresh connection as B; the answer's status, headers and body.
    async fn send_to_a(&self, req: &Captured) -> (u16, HeaderMap, Bytes) {
        let mut sender = self.connect_to_a_as_b().await;
        send_captured(&mut sender, self.a_server, req).await
    }
}

/// A request between the gateways as the attacker saw it.
#[derive(Clone, Debug)]
struct Captured {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Captured {
    fn with_header(&self, name: &'static str, value: &str) -> Self {
        let mut c = self.clone();
        c.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
        c
    }
}

/// The attacker's relay between B and A: terminates B's TLS with A's certificate and key,
/// keeps each request, and — while `forward` is set — passes it on to A as B, altered as
/// `tamper` says ([`TAMPER_REQUEST_STAPLE`], [`TAMPER_RESPONSE_SIGNATURE`]).
struct Relay {
    captured: Arc<Mutex<Vec<Captured>>>,
    forward: Arc<AtomicBool>,
    tamper: Arc<AtomicU8>,
}

/// The relay drops the calling gateway's stapled TLS OCSP response from requests.
const TAMPER_REQUEST_STAPLE: u8 = 1;
/// The relay drops the provider's signature from responses.
const TAMPER_RESPONSE_SIGNATURE: u8 = 2;
/// The relay delivers each request to A but answers it with A's answer to the one before.
const TAMPER_EARLIER_RESPONSE: u8 = 3;

/// A's answer as the relay passes it on.
type Answer = (u16, HeaderMap, Bytes);

impl Relay {
    fn start(listener: TcpListener, inst: &Instance) -> Self {
        let (root, _) = inst.cas();
        let server = Arc::new(
            korpu_gateway::tls::server_config(&inst.tls_identity("population"), &[root]).unwrap(),
        );
        let relay = Relay {
            captured: Arc::default(),
            forward: Arc::new(AtomicBool::new(true)),
            tamper: Arc::default(),
        };
        let (captured, forward) = (relay.captured.clone(), relay.forward.clone());
        let tamper = relay.tamper.clone();
        let last: Arc<Mutex<Option<Answer>>> = Arc::default();
        // Forwarding needs the instance's paths; what it needs is cheap to carry.
        let upstream = Arc::new(Upstream {
            a_server: inst.a_server,
            client: korpu_gateway::tls::client_config(
                &inst.tls_identity("benefits"),
                &[inst.cas().0],
                vec![Certificate::from_pem(
                    &std::fs::read_to_string(inst.path("population").join("tls.pem")).unwrap(),
                )
                .unwrap()
                .sha256_fingerprint_hex()],
            )
            .unwrap(),
        });
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (server, captured, forward, upstream) = (
                    server.clone(),
                    captured.clone(),
                    forward.clone(),
                    upstream.clone(),
                );
                let (tamper, last) = (tamper.clone(), last.clone());
                tokio::spawn(async move {
                    let Ok(tls) = tokio_rustls::TlsAcceptor::from(server).accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (captured, forward, upstream) =
                                (captured.clone(), forward.clone(), upstream.clone());
                            let tamper = tamper.load(Ordering::SeqCst);
                            let last = last.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let mut c = Captured {
                                    method: parts.method.to_string(),
                                    path: parts
                                        .uri
                                        .path_and_query()
                                        .map_or("/".into(), |pq| pq.to_string()),
                                    headers: parts.headers,
                                    body: body.collect().await.unwrap().to_bytes(),
                                };
                                captured.lock().unwrap().push(c.clone());
                                let mut out = hyper::Response::new(Full::new(Bytes::new()));
                                if !forward.load(Ordering::SeqCst) {
                                    *out.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                                    return Ok::<_, std::convert::Infallible>(out);
                                }
                                if tamper == TAMPER_REQUEST_STAPLE {
                                    c.headers.remove("x-korpu-gw-tls-ocsp");
                                }
                                let fresh = upstream.send(&c).await;
                                let earlier = last.lock().unwrap().replace(fresh.clone());
                                let (status, mut headers, body) = match earlier {
                                    Some(e) if tamper == TAMPER_EARLIER_RESPONSE => e,
                                    _ => fresh,
                                };
                                if tamper == TAMPER_RESPONSE_SIGNATURE {
                                    headers.remove("x-korpu-gw-signature");
                                }
                                *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                *out.headers_mut() = headers;
                                *out.body_mut() = Full::new(body);
                                Ok(out)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        relay
    }

    fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }
}

struct Upstream {
    a_server: SocketAddr,
    client: rustls::ClientConfig,
}

impl Upstream {
    async fn send(&self, req: &Captured) -> (u16, HeaderMap, Bytes) {
        let tcp = tokio::net::TcpStream::connect(self.a_server).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(self.client.clone()))
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        send_captured(&mut sender, self.a_server, req).await
    }
}

/// Sends the captured request `req` to A's server side at `a_server` over `sender`; the
/// answer's status, headers and body.
async fn send_captured(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    a_server: SocketAddr,
    req: &Captured,
) -> (u16, HeaderMap, Bytes) {
    let mut r = hyper::Request::builder()
        .method(req.method.as_str())
        .uri(format!("https://{a_server}{}", req.path))
        .body(Full::new(req.body.clone()))
        .unwrap();
    *r.headers_mut() = req.headers.clone();
    let resp = sender.send_request(r).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status.as_u16(), parts.headers, body)
}

/// An instance whose gateways talk through the attacker's relay.
async fn intercepted(a_env: Vec<(&'static str, String)>) -> (Instance, Relay) {
    let relay_listener = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
    let relay_addr = relay_listener.local_addr().unwrap();
    let inst = Instance::new(Some(relay_addr), a_env).await;
    let relay = Relay::start(relay_listener, &inst);
    (inst, relay)
}

/// Calls B's client side as an information system would.
async fn call_b(
    inst: &Instance,
    service: &str,
    rest: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut req = client
        .get(format!("{}/r1/{service}{rest}", inst.b_client))
        .header("X-Road-Client", B_CLIENT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.bytes().await.unwrap().to_vec())
}

/// Sends one raw HTTP/1.1 request line to B (HTTP clients would normalise dot segments away
/// before sending, an attacker's client does not); the status and body.
fn raw_call_b(inst: &Instance, path: &str, extra: &str) -> (u16, String) {
    let addr = inst
        .b_client
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Road-Client: {B_CLIENT}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    status_and_body(&out)
}

/// The status code and body of a whole HTTP/1.1 answer `out`.
fn status_and_body(out: &str) -> (u16, String) {
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {out:?}"));
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// One signed request for `subject`'s income, made by B for its information system and
/// captured on the way; with its message id.
async fn captured_income_request(
    inst: &Instance,
    relay: &Relay,
    subject: &str,
) -> (Captured, String) {
    let before = relay.captured().len();
    let (status, h, body) = call_b(
        inst,
        INCOME,
        "/declared?year=2025",
        &[
            ("X-Subject-Id", subject),
            ("X-Korpu-Purpose", "benefit-eligibility"),
        ],
    )
    .await;
    let captured = relay.captured();
    assert_eq!(captured.len(), before + 1, "the relay saw the request");
    let c = captured[before].clone();
    let id = header(&c.headers, "x-road-id").unwrap().to_owned();
    if relay.forward.load(Ordering::SeqCst) {
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            h.get("x-road-id").and_then(|v| v.to_str().ok()),
            Some(id.as_str())
        );
    }
    (c, id)
}

fn provider_records_for<'a>(records: &'a [Value], id: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["message_id"] == id && r["role"] == "provider")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_captured_request_resent_with_another_data_subject_or_header_is_refused_and_not_recorded()
{
    let (mut inst, relay) = intercepted(Vec::new()).await;
    let (captured, id) = captured_income_request(&inst, &relay, "AZ1111111").await;
    assert_eq!(inst.seen.subjects(), ["AZ1111111"]);
    // The data subject, the user, the purpose, the path, another header: each one changed.
    let mut forged = vec![
        captured.with_header("x-subject-id", "AZ2222222"),
        captured.with_header("x-road-userid", "AZ2222222"),
        captured.with_header("x-korpu-purpose", "curiosity"),
        captured.with_header("accept", "text/plain"),
    ];
    let mut other_path = captured.clone();
    other_path.path = other_path.path.replace("year=2025", "year=2024");
    forged.push(other_path);
    // A header the client's gateway did not send: added on the way, not covered.
    forged.push(captured.with_header("x-subject-id-2", "AZ2222222"));
    // A fresh message id does not help either: the id is signed.
    forged.push(
        captured
            .with_header("x-subject-id", "AZ2222222")
            .with_header("x-road-id", "00000000-0000-4000-8000-000000000000"),
    );
    for f in &forged {
        let (status, h, body) = inst.send_to_a(f).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 500, "{f:?}: {v}");
        assert_eq!(v["type"], "Server.ServerProxy.InvalidSignature", "{v}");
        assert_eq!(
            header(&h, "x-road-error"),
            Some("Server.ServerProxy.InvalidSignature")
        );
    }
    assert_eq!(
        inst.seen.subjects(),
        ["AZ1111111"],
        "no forged request reached the information system"
    );
    let records = inst.records("population");
    let served = provider_records_for(&records, &id);
    assert_eq!(served.len(), 1, "{records:?}");
    assert_eq!(served[0]["data_subject"], "AZ1111111");
    assert!(
        !records.iter().any(|r| r["data_subject"] == "AZ2222222"),
        "nothing recorded for the forged subject: {records:?}"
    );
    // The record carries the base its signature covers, which names the subject.
    let signed = served[0]["request_signed"].as_str().unwrap();
    assert!(signed.contains("\nsubject=9:AZ1111111\n"), "{signed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_captured_request_sent_again_is_refused_as_a_replay_and_recorded_once() {
    let (mut inst, relay) = intercepted(Vec::new()).await;
    let (captured, id) = captured_income_request(&inst, &relay, "AZ1111111").await;
    for _ in 0..2 {
        let (status, h, body) = inst.send_to_a(&captured).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 500, "{v}");
        assert_eq!(v["type"], "Server.ServerProxy.ReplayedMessage", "{v}");
        // The request was authenticated (a genuine, if replayed, signature): the refusal is
        // signed over its digest.
        assert!(h.contains_key("x-korpu-gw-signature"));
    }
    assert_eq!(inst.seen.paths().len(), 1, "answered once");
    let records = inst.records("population");
    assert_eq!(provider_records_for(&records, &id).len(), 1, "{records:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_captured_request_is_refused_once_its_signature_is_older_than_the_window_or_the_provider_restarted(
) {
    let (mut inst, relay) = intercepted(vec![
        ("KORPU_GATEWAY_REPLAY_WINDOW_SECS", "2".into()),
        ("KORPU_GATEWAY_MAX_CLOCK_SKEW_SECS", "0".into()),
    ])
    .await;
    // Captured, never delivered: A has not seen these ids.
    relay.forward.store(false, Ordering::SeqCst);
    let (before_restart, _) = captured_income_request(&inst, &relay, "AZ1111111").await;
    // Across a restart, A no longer remembers ids: it refuses what was created before it
    // started (whatever was accepted before the restart was).
    inst.a.take();
    inst.start_gateway(true);
    let stale = |status: u16, body: &[u8], why: &str| {
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (status, v["type"].as_str()),
            (500, Some("Server.ServerProxy.StaleMessage")),
            "{v}"
        );
        assert!(v["message"].as_str().unwrap().contains(why), "{v}");
    };
    let (status, _, body) = inst.send_to_a(&before_restart).await;
    stale(status, &body, "before this gateway started");
    // Created after the start, delivered after the window.
    let (late, _) = captured_income_request(&inst, &relay, "AZ1111112").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _, body) = inst.send_to_a(&late).await;
    stale(status, &body, "older than the acceptance window");
    assert!(inst.seen.paths().is_empty(), "{:?}", inst.seen.paths());
    let records = inst.records("population");
    assert!(
        !records.iter().any(|r| r["role"] == "provider"),
        "{records:?}"
    );
    // An honest exchange still passes, signed now.
    relay.forward.store(true, Ordering::SeqCst);
    captured_income_request(&inst, &relay, "AZ1111113").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dot_segments_are_refused_before_the_access_check_and_never_reach_the_system() {
    let (inst, relay) = intercepted(Vec::new()).await;
    let prefix = format!("/r1/{ECHO}");
    for rest in [
        "/../family/AZ1234567",
        "/./x",
        "/%2e%2e/family/AZ1234567",
        "/%2E%2E/family/AZ1234567",
        "/.%2E/family/AZ1234567",
        "/..%2Ffamily%2FAZ1234567",
        "/x/..",
    ] {
        let (status, body) = raw_call_b(&inst, &format!("{prefix}{rest}"), "");
        assert_eq!(status, 400, "{rest}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], "Client.BadRequest", "{rest}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("dot segment"),
            "{v}"
        );
    }
    // B has no right to family: a dot segment is refused as such, before the access check.
    let (status, body) = raw_call_b(&inst, &format!("/r1/{FAMILY}/AZ1234567/../../echo"), "");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, v["type"].as_str()),
        (400, Some("Client.BadRequest")),
        "{v}"
    );
    // Straight to A, past B's checks: refused by A too, unsigned (not authenticated yet).
    let (genuine, _) = captured_income_request(&inst, &relay, "AZ1111111").await;
    let mut dotted = genuine.clone();
    dotted.path = format!("/r1/{ECHO}/%2e%2e/family/AZ1234567");
    let (status, h, body) = inst.send_to_a(&dotted).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 500, "{v}");
    assert_eq!(v["type"], "Server.ServerProxy.BadRequest", "{v}");
    assert!(!h.contains_key("x-korpu-gw-signature"));
    let paths = inst.seen.paths();
    assert_eq!(
        paths.len(),
        1,
        "only the genuine request reached the system: {paths:?}"
    );
    assert!(!paths[0].contains("family"), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_peer_gets_no_signature_over_a_digest_of_its_choosing() {
    let (inst, relay) = intercepted(Vec::new()).await;
    let (genuine, _) = captured_income_request(&inst, &relay, "AZ1111111").await;
    let chosen = "ab".repeat(32);
    let mut attempts = Vec::new();
    // B's TLS key, but no valid signature: a bogus one, or none at all, each with the digest
    // the attacker wants signed in the header the old protocol took it from.
    for sig in [Some("MEUCIQ=="), None] {
        let mut c = genuine.with_header("x-korpu-gw-request-digest", &chosen);
        c.headers
            .insert("x-road-id", HeaderValue::from_static("attacker-1"));
        match sig {
            Some(s) => {
                c.headers
                    .insert("x-korpu-gw-signature", HeaderValue::from_static(s));
            }
            None => {
                c.headers.remove("x-korpu-gw-signature");
            }
        }
        attempts.push(c);
    }
    // Stapled OCSP missing: refused even before the signature is looked at.
    let mut no_staple = genuine.clone();
    no_staple.headers.remove("x-korpu-gw-tls-ocsp");
    attempts.push(no_staple);
    for c in &attempts {
        let (status, h, body) = inst.send_to_a(c).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 500, "{v}");
        assert!(
            v["type"]
                .as_str()
                .unwrap()
                .starts_with("Server.ServerProxy."),
            "{v}"
        );
        assert!(
            !h.contains_key("x-korpu-gw-signature"),
            "an unauthenticated peer got a signed answer: {h:?}"
        );
    }
    assert_eq!(inst.seen.paths().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_in_pr_rest_xml_when_the_caller_accepts_xml() {
    let (inst, _relay) = intercepted(Vec::new()).await;
    for accept in [
        "application/xml",
        "text/xml",
        "application/json;q=0.1, application/xml",
    ] {
        let (status, h, body) = call_b(&inst, FAMILY, "/AZ1234567", &[("Accept", accept)]).await;
        let text = String::from_utf8(body).unwrap();
        assert_eq!(status, 400, "{text}");
        assert_eq!(
            h.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/xml;charset=utf-8")
        );
        assert_eq!(
            h.get("x-road-error").and_then(|v| v.to_str().ok()),
            Some("Client.AccessDenied")
        );
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>Client.AccessDenied</type><message>"),
            "{text}"
        );
        assert!(text.contains("</message><detail>") && text.ends_with("</detail></error>\n"));
    }
    // Without Accept, or preferring JSON: the JSON form, the same content.
    let (_, h, body) = call_b(&inst, FAMILY, "/AZ1234567", &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "Client.AccessDenied");
    assert!(h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json")));
}

// ----- the edges: one caller's load or fault must not reach the others (items 7, 9) -------

const A_CLIENT: &str = "AZ/GOV/1400001/population";
/// A second information system of the population registry, behind the same gateway.
const A_OTHER: &str = "AZ/GOV/1400001/records";

/// A's client side (host:port), from its configuration file.
#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_refusal_is_passed_on_by_type_and_an_unsigned_answer_refused_neither_recorded()
{
    let (mut inst, relay) = intercepted(Vec::new()).await;
    // A refuses B's request before authenticating it (no stapled OCSP response): unsigned.
    relay.tamper.store(TAMPER_REQUEST_STAPLE, Ordering::SeqCst);
    let (status, h, body) = call_b(
        &inst,
        INCOME,
        "/declared",
        &[
            ("X-Subject-Id", "AZ1111111"),
            ("X-Korpu-Purpose", "benefit-eligibility"),
        ],
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 500, "{v}");
    assert_eq!(
        v["type"], "Server.ServerProxy.SslAuthenticationFailed",
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("without signing its answer"),
        "{v}"
    );
    let refused_id = h["x-road-id"].to_str().unwrap().to_owned();
    // An answer whose signature went missing on the way is refused as unsigned.
    let (_, unsigned_id) =
        refused_as_invalid_signature(&inst, &relay, TAMPER_RESPONSE_SIGNATURE, "/x").await;
    assert_unrecorded(&mut inst, "benefits", &[&refused_id, &unsigned_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_to_another_request_is_refused_and_identical_requests_get_their_own_request_hash()
{
    let (mut inst, relay) = intercepted(Vec::new()).await;
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let (status, h, body) = call_b(&inst, ECHO, "/same?q=1", &[]).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        hashes.push(h["x-road-request-hash"].to_str().unwrap().to_owned());
    }
    assert_ne!(hashes[0], hashes[1], "one request hash per message");
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &hashes[0])
            .unwrap()
            .len(),
        64,
        "SHA-512"
    );
    // A genuine, signed answer of A's, but to the previous request.
    let (v, id) =
        refused_as_invalid_signature(&inst, &relay, TAMPER_EARLIER_RESPONSE, "/same?q=1").await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("answers another request"),
        "{v}"
    );
    assert_unrecorded(&mut inst, "benefits", &[&id]);
}

/// With the relay tampering as `how`, B's call of the echo service at `path` must be refused
/// as `Server.ClientProxy.InvalidSignature`; returns the error and the exchange's X-Road-Id.
async fn refused_as_invalid_signature(
    inst: &Instance,
    relay: &Relay,
    how: u8,
    path: &str,
) -> (Value, String) {
    relay.tamper.store(how, Ordering::SeqCst);
    let (status, h, body) = call_b(inst, ECHO, path, &[]).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["type"].as_str()),
        (500, Some("Server.ClientProxy.InvalidSignature")),
        "{v}"
    );
    (v, h["x-road-id"].to_str().unwrap().to_owned())
}

/// `sub`'s ledger holds no record of the exchanges `ids`.
fn assert_unrecorded(inst: &mut Instance, sub: &str, ids: &[&str]) {
    let records = inst.records(sub);
    assert!(
        !records
            .iter()
            .any(|r| ids.iter().any(|id| r["message_id"] == *id)),
        "{records:?}"
    );
}

fn a_client_side(inst: &Instance) -> String {
    let text = std::fs::read_to_string(inst.path("population").join("gateway.toml")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("client_listen = "))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

/// An instance whose gateway A runs with `a_env`, A's own information systems allowed to call
/// echo ([`a_clients_may_call_echo`]); returns it and A's client side.
async fn with_a_clients_calling_echo(a_env: Vec<(&'static str, String)>) -> (Instance, String) {
    let inst = Instance::new(None, a_env).await;
    let a = a_clients_may_call_echo(&inst).await;
    (inst, a)
}

/// Lets A's own information systems (population, and a second one, records) call echo
/// through A's client side, and waits until A's configuration says so.
async fn a_clients_may_call_echo(inst: &Instance) -> String {
    inst.admin(&["subsystem", "add", A_OTHER]);
    inst.admin(&["gateway", "add-client", &format!("{PROVIDER}/gw1"), A_OTHER]);
    inst.admin(&["access", "grant", A_CLIENT, ECHO]);
    inst.admin(&["access", "grant", A_OTHER, ECHO]);
    let a = a_client_side(inst);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s1, _) = raw_call(&a, "GET", &format!("/r1/{ECHO}/ready"), A_CLIENT, "").await;
        let (s2, _) = raw_call(&a, "GET", &format!("/r1/{ECHO}/ready"), A_OTHER, "").await;
        if (s1, s2) == (200, 200) {
            return a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A never let its own systems call echo"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One raw HTTP/1.1 request (`extra` is more header lines, each ending in CRLF) as `client`,
/// with no body; the status and body, or a panic if no answer came within 20 s.
async fn raw_call(
    addr: &str,
    method: &str,
    path: &str,
    client: &str,
    extra: &str,
) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut tcp = connected_having_sent(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Road-Client: {client}\r\n{extra}Connection: close\r\n\r\n"
        ),
    )
    .await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path} within 20 s"))
        .unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    status_and_body(&out)
}

/// Starts an upload that never finishes: the head and a few bytes of a declared body.
async fn slow_upload(addr: &str, client: &str, declared: u64) -> tokio::net::TcpStream {
    connected_having_sent(
        addr,
        format!(
            "POST /r1/{ECHO}/upload HTTP/1.1\r\nHost: {addr}\r\nX-Road-Client: {client}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\nfirst bytes"
        ),
    )
    .await
}

/// A connection to `addr` that has sent `bytes`.
async fn connected_having_sent(addr: &str, bytes: String) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes.as_bytes()).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_uploads_from_one_information_system_stall_neither_the_provider_side_nor_other_systems(
) {
    // Small limits, so that a handful of uploads is a flood: 8 exchanges per side, 4 per
    // client subsystem.
    let (inst, a) = with_a_clients_calling_echo(vec![
        ("KORPU_GATEWAY_MAX_CONCURRENT_EXCHANGES", "8".into()),
        ("KORPU_GATEWAY_MAX_CONCURRENT_PER_CLIENT", "4".into()),
    ])
    .await;
    // Twenty uploads from one of A's systems that never finish: more than A's whole client side.
    let mut flood = Vec::new();
    for _ in 0..20 {
        flood.push(slow_upload(&a, A_CLIENT, 50_000).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another member's calls reach A's provider side...
    for i in 0..5 {
        let (status, _, body) = tokio::time::timeout(
            Duration::from_secs(10),
            call_b(&inst, ECHO, &format!("/during-flood?i={i}"), &[]),
        )
        .await
        .unwrap_or_else(|_| panic!("B's exchange {i} stalled behind A's slow uploads"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    // ...and A's other information system still gets through A's client side.
    for i in 0..5 {
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(10),
            raw_call(&a, "GET", &format!("/r1/{ECHO}/other?i={i}"), A_OTHER, ""),
        )
        .await
        .unwrap_or_else(|_| panic!("records' exchange {i} stalled behind population's uploads"));
        assert_eq!(status, 200, "{body}");
    }
    drop(flood);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_body_over_the_limit_is_refused_unread_and_a_trickling_body_is_cut() {
    let (_inst, a) = with_a_clients_calling_echo(vec![
        ("KORPU_GATEWAY_MAX_BODY_BYTES", "65536".into()),
        ("KORPU_GATEWAY_BODY_TIMEOUT_SECS", "2".into()),
    ])
    .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The answer (its head and JSON body), without waiting for the connection to close: the
    // gateway may keep reading and discarding what the client still sends.
    let answer = |mut tcp: tokio::net::TcpStream| async move {
        let mut out = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                let text = String::from_utf8_lossy(&out);
                if text
                    .split_once("\r\n\r\n")
                    .is_some_and(|(_, body)| body.trim_end().ends_with('}'))
                {
                    break;
                }
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    // 10 MB declared, nothing sent: answered at once, from the length alone.
    let started = std::time::Instant::now();
    let tcp = slow_upload(&a, A_CLIENT, 10_000_000).await;
    let out = answer(tcp).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    assert!(out.contains("Client.RequestTooLarge"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A body that trickles in (a byte every 300 ms) is cut after body_timeout_secs.
    let started = std::time::Instant::now();
    let mut tcp = slow_upload(&a, A_CLIENT, 1000).await;
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if tcp.write_all(b"x").await.is_err() {
                break;
            }
        }
        tcp
    });
    let tcp = trickle.await.unwrap();
    let out = answer(tcp).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out:?}");
    assert!(out.contains("body_timeout_secs"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_70_kb_header_is_refused_to_its_sender_alone_while_other_callers_exchanges_succeed() {
    let inst = Arc::new(Instance::new(None, Vec::new()).await);
    let huge = "a".repeat(70 * 1024);
    // 16 callers making 8 exchanges each, while the offender sends its 70 KB header 8 times.
    let mut callers = Vec::new();
    for c in 0..16 {
        let inst = inst.clone();
        callers.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..8 {
                let (status, _, body) =
                    call_b(&inst, ECHO, &format!("/concurrent?c={c}&i={i}"), &[]).await;
                if status != 200 {
                    failed.push(format!("{status} {}", String::from_utf8_lossy(&body)));
                }
            }
            failed
        }));
    }
    let mut offender = Vec::new();
    for _ in 0..8 {
        offender.push(call_b(&inst, ECHO, "/big", &[("X-Big", huge.as_str())]).await);
    }
    let mut failed = Vec::new();
    for c in callers {
        failed.extend(c.await.unwrap());
    }
    assert!(
        failed.is_empty(),
        "other callers' exchanges failed: {failed:?}"
    );
    for (status, h, body) in offender {
        let v: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{status}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(
            (status, v["type"].as_str()),
            (400, Some("Client.BadRequest")),
            "{v}"
        );
        assert_eq!(header_of(&h, "x-road-error"), Some("Client.BadRequest"));
        assert!(
            v["message"].as_str().unwrap().contains("max_header_bytes"),
            "{v}"
        );
    }
    // Nothing of it reached the provider's system.
    assert!(inst.seen.paths().iter().all(|p| !p.contains("/big")));
}

fn header_of<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}
