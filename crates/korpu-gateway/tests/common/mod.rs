//! Shared fixtures for the in-process tests: a platform PKI made in memory, a gateway made
//! from it in a temporary directory, a global configuration signed for it, and requests sent
//! to the gateway's sides as `tower::Service`s (no sockets).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use korpu_conf::{
    AccessRight, Anchor, GatewayInfo, GlobalConf, MemberInfo, ServiceInfo, Timestamp,
};
use korpu_gateway::body::OutBody;
use korpu_gateway::record::JournalRecorder;
use korpu_gateway::service::{Caller, GatewayService};
use korpu_gateway::{Gateway, GatewayConfig};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use tower::ServiceExt;

/// The calling subsystem that has an access right to [`PERSONS`].
pub const CLIENT: &str = "AZ/GOV/1/client";
/// A subsystem of the same gateway without any access right.
pub const STRANGER: &str = "AZ/GOV/1/stranger";
/// The gateway under test, serving [`CLIENT`] and [`STRANGER`].
pub const GATEWAY: &str = "AZ/GOV/1/gw1";
/// The provider's gateway (never reached by these tests unless an exchange forwards).
pub const PROVIDER_GATEWAY: &str = "AZ/GOV/2/gw2";
/// A service of the provider with an OpenAPI description.
pub const PERSONS: &str = "AZ/GOV/2/pro/persons";
/// A service of the provider without one.
pub const PLAIN: &str = "AZ/GOV/2/pro/plain";

/// A CA and what it issues.
pub struct Ca {
    pub key: SigningKey,
    pub cert: Certificate,
}

fn request<'a>(subject: &str, key: &'a [u8], profile: Profile) -> IssueRequest<'a> {
    let now = SystemTime::now();
    IssueRequest {
        subject: Subject::cn(subject),
        public_key_der: key,
        profile,
        // From long ago, so that an expired configuration (verified as of up to a year
        // back) can be signed too.
        not_before: now - Duration::from_secs(400 * 86_400),
        not_after: now + Duration::from_secs(86_400),
        ocsp_url: None,
    }
}

impl Ca {
    pub fn root(name: &str) -> Self {
        let key = SigningKey::generate();
        let spki = key.public_key_der();
        let cert = ca::self_signed(
            &key,
            request(name, &spki, Profile::Root),
            &ca::random_serial(),
        )
        .expect("a root certificate");
        Self { key, cert }
    }

    /// A new key and its certificate issued by this CA.
    pub fn issue(&self, subject: &str, profile: Profile) -> Ca {
        let key = SigningKey::generate();
        let spki = key.public_key_der();
        let cert = ca::issue(
            &self.cert,
            &self.key,
            request(subject, &spki, profile),
            &ca::random_serial(),
        )
        .expect("a certificate");
        Ca { key, cert }
    }
}

/// The platform's trust: a root, an issuing CA, the configuration signer and its anchor.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub root: Ca,
    pub issuing: Ca,
    pub conf_signer: Ca,
    pub anchor: Anchor,
}

impl Platform {
    pub fn new() -> Self {
        let root = Ca::root("Test Root");
        let issuing = root.issue("Test Issuing CA", Profile::IssuingCa);
        let conf_signer = root.issue("Test Configuration", Profile::ConfSigning);
        let anchor = Anchor::new(
            "AZ".parse().expect("an instance"),
            "http://127.0.0.1:9/conf".into(),
            std::slice::from_ref(&conf_signer.cert),
        )
        .expect("an anchor");
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            root,
            issuing,
            conf_signer,
            anchor,
        }
    }

    /// A gateway's keys and certificates in `DATA_DIR`, and its configuration (adjusted by
    /// `tune`), not yet running.
    pub fn gateway_config(&self, id: &str, tune: impl FnOnce(&mut GatewayConfig)) -> GatewayConfig {
        let gateway: korpu_id::GatewayId = id.parse().expect("a gateway id");
        let data_dir = self.dir.path().join(id.replace('/', "_"));
        std::fs::create_dir_all(&data_dir).expect("the data directory");
        let sign = self
            .issuing
            .issue(&gateway.member.to_string(), Profile::MemberSigning);
        let tls = self.issuing.issue(
            id,
            Profile::GatewayTls {
                dns_names: vec!["localhost".into()],
                ip_addrs: vec!["127.0.0.1".parse().expect("an address")],
            },
        );
        for (name, ca) in [("sign", &sign), ("tls", &tls)] {
            korpu_pki::key::write_private_key(&data_dir.join(format!("{name}.p8")), &ca.key)
                .expect("a key file");
            std::fs::write(data_dir.join(format!("{name}.pem")), ca.cert.to_pem())
                .expect("a certificate file");
        }
        let anchor = self.dir.path().join("anchor.json");
        std::fs::write(&anchor, self.anchor.to_json()).expect("the anchor");
        let mut cfg = GatewayConfig {
            gateway: id.into(),
            anchor,
            data_dir,
            sign_batch_window_us: 0,
            ..GatewayConfig::default()
        };
        tune(&mut cfg);
        cfg
    }

    /// A gateway recording into a journal, with `conf` taken into use.
    pub fn gateway(
        &self,
        id: &str,
        conf: &GlobalConf,
        tune: impl FnOnce(&mut GatewayConfig),
    ) -> Arc<Gateway> {
        let cfg = self.gateway_config(id, tune);
        let journal =
            JournalRecorder::open(&cfg.data_dir.join("journal.jsonl")).expect("a journal");
        self.start(cfg, Box::new(journal), conf)
    }

    /// The gateway configured by `cfg`, recording into `recorder`, with `conf` taken into use.
    pub fn start(
        &self,
        cfg: GatewayConfig,
        recorder: Box<dyn korpu_gateway::record::Recorder>,
        conf: &GlobalConf,
    ) -> Arc<Gateway> {
        let gw = Gateway::new(cfg, recorder).expect("a gateway");
        gw.accept_conf(&self.sign(conf), false)
            .expect("the configuration is taken into use");
        gw
    }

    /// Good OCSP responses about `gw`'s TLS and signing certificates, stapled to its messages
    /// as if its responder had given them.
    pub fn staple(&self, gw: &Gateway, cfg: &GatewayConfig) {
        let responder = korpu_pki::ocsp::Responder::new(
            self.issuing.cert.clone(),
            self.issuing.cert.clone(),
            self.issuing.key.clone(),
            Duration::from_secs(3600),
        )
        .expect("a responder");
        let good = |name: &str| {
            let cert = certificate(cfg, name);
            let (req, _) =
                korpu_pki::ocsp::build_request(&cert, &self.issuing.cert).expect("an OCSP request");
            responder.respond(&req, SystemTime::now(), |_| {
                korpu_pki::ocsp::CertStatus::Good
            })
        };
        gw.staple(&good("tls.pem"), &good("sign.pem"));
    }

    /// `conf` signed as the central registry would.
    pub fn sign(&self, conf: &GlobalConf) -> Vec<u8> {
        korpu_conf::sign(conf, &self.conf_signer.key, &self.conf_signer.cert)
    }

    /// Two members, two gateways and two services; [`CLIENT`] may call [`PERSONS`].
    pub fn conf(&self) -> GlobalConf {
        let now = Timestamp::now();
        let gateway = |gw: &str, address: &str, clients: &[&str]| GatewayInfo {
            id: id(gw),
            address: address.into(),
            tls_cert_sha256: vec![],
            clients: clients.iter().map(|c| id(c)).collect(),
            ledger_key: None,
        };
        let service = |sid: &str, openapi: Option<&str>| ServiceInfo {
            id: id(sid),
            version: None,
            title: sid.rsplit('/').next().unwrap_or_default().into(),
            openapi: openapi.map(str::to_owned),
            data_subject: None,
            purpose_required: false,
            portal: None,
        };
        GlobalConf {
            format: korpu_conf::CONF_FORMAT.into(),
            instance: id("AZ"),
            version: 1,
            issued_at: now,
            expires_at: now.plus(Duration::from_secs(3600)),
            central: korpu_conf::CentralServices {
                conf_url: self.anchor.conf_url.clone(),
                ocsp_url: "http://127.0.0.1:9/ocsp".into(),
                tsa_url: "http://127.0.0.1:9/tsa".into(),
            },
            pki: korpu_conf::PkiInfo {
                root_certs: vec![self.root.cert.to_pem()],
                issuing_certs: vec![self.issuing.cert.to_pem()],
                ocsp_responder_certs: vec![],
                tsa_certs: vec![],
            },
            member_classes: vec![],
            members: vec![
                MemberInfo {
                    id: id("AZ/GOV/1"),
                    name: "Caller".into(),
                    subsystems: vec![id("client"), id("stranger")],
                },
                MemberInfo {
                    id: id("AZ/GOV/2"),
                    name: "Provider".into(),
                    subsystems: vec![id("pro")],
                },
            ],
            gateways: vec![
                gateway(GATEWAY, "127.0.0.1:9", &[CLIENT, STRANGER]),
                gateway(PROVIDER_GATEWAY, "127.0.0.1:9", &["AZ/GOV/2/pro"]),
            ],
            services: vec![
                service(
                    PERSONS,
                    Some(r#"{"openapi":"3.0.0","paths":{"/persons/{pin}":{}}}"#),
                ),
                service(PLAIN, None),
            ],
            access_rights: vec![AccessRight {
                client: id(CLIENT),
                service: id(PERSONS),
            }],
        }
    }
}

/// A certificate of the gateway configured by `cfg` (`tls.pem`, `sign.pem`).
pub fn certificate(cfg: &GatewayConfig, name: &str) -> Certificate {
    let pem = std::fs::read_to_string(cfg.data_dir.join(name)).expect("the certificate file");
    Certificate::from_pem(&pem).expect("a certificate")
}

/// An identifier of any kind, from its text.
pub fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("an identifier")
}

/// An information system on loopback, as the plain-HTTP client side admits it.
pub fn local_system() -> Caller {
    Caller::InformationSystem {
        remote: SocketAddr::from(([127, 0, 0, 1], 40_000)),
        client_cert: None,
    }
}

/// A request to `path` with `headers`, and `body`.
pub fn request_to(
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method("POST").uri(path);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::new(body.into())).expect("a request")
}

/// What an answer says: its status, headers and whole body.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub async fn of(resp: Response<OutBody>) -> Self {
        let (parts, body) = resp.into_parts();
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.collect().await.expect("the body").to_bytes(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Asserts PR-REST's error form: the status, `X-Road-Error` and the JSON body's type.
    pub fn assert_error(&self, kind: korpu_gateway::protocol::ErrorKind) {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, kind.status(), "{body}");
        assert_eq!(self.header("x-road-error"), Some(kind.as_str()), "{body}");
        assert_eq!(self.json()["type"], kind.as_str(), "{body}");
    }
}

/// Sends `req` to the client side of `gw` as an information system on loopback.
pub async fn call_client(gw: &Arc<Gateway>, req: Request<Full<Bytes>>) -> Answer {
    let resp = GatewayService::new(gw.clone(), local_system())
        .oneshot(req)
        .await
        .expect("infallible");
    Answer::of(resp).await
}

/// Sends an empty request to `path` from `client` to the client side of `gw`.
pub async fn call_as(gw: &Arc<Gateway>, client: &str, path: &str) -> Answer {
    call_client(gw, request_to(path, &[("x-road-client", client)], "")).await
}
