//! The gateway's state and its two request flows.
//!
//! **Client side** (local information systems, PR-REST over HTTP): parse and check the request,
//! check access early from the global configuration, receive the body, sign, send to a provider
//! gateway over HTTP/2 + mutual TLS, verify the signed response, record, answer.
//!
//! **Server side** (other gateways): identify the calling gateway by its pinned certificate and
//! stapled OCSP response, verify the request's signature, enforce access rights, call the
//! provider's information system, sign the response, record, answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use korpu_conf::{Anchor, GatewayInfo, SubjectLocation, Timestamp};
use korpu_id::{ClientId, GatewayId, ServiceId};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::CertStatus;
use sha2::{Digest, Sha256};

use crate::batchsign::{BatchSigner, Verifier};
use crate::body::{InBody, OutBody, SpoolError, Spooled};
use crate::config::{Cidr, GatewayConfig};
use crate::index::IndexedConf;
use crate::metrics::{Metrics, Scrape};
use crate::protocol::{self as p, ErrorKind, XRoadError, XRoadHeaders};
use crate::record::{ExchangeRecord, Recorder, Role};
use crate::tls::{self, OwnTls};

mod client;
mod meta;
mod provider;
mod steps;

use steps::authorise;
pub use steps::find_subject;

/// Verified stapled OCSP responses: certificate SHA-256 → response base64 → (status,
/// thisUpdate).
type StapleVerdicts = HashMap<String, HashMap<String, (CertStatus, SystemTime)>>;

/// A verified global configuration with what is derived from it.
pub struct Loaded {
    /// The document with its lookup tables, built once per version.
    pub conf: IndexedConf,
    pub roots: Vec<Certificate>,
    pub issuing: Vec<Certificate>,
    pub server_tls: Arc<rustls::ServerConfig>,
    /// The TLS client side's configuration, when `client_tls_listen` is set.
    pub client_side_tls: Option<Arc<rustls::ServerConfig>>,
    own_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Signing certificates already chained to this configuration's roots, by their base64
    /// DER as sent. Peers send the same certificate with every message; checking its chain
    /// once per configuration instead of once per message is most of a gateway's CPU saving.
    /// Shared, not copied, per message: a parsed certificate is dozens of allocations.
    signers: Mutex<HashMap<String, Arc<Certificate>>>,
    /// Verified stapled OCSP responses: certificate SHA-256 → response base64 → (status,
    /// thisUpdate). A peer staples the same response until it renews it; the age limit is
    /// still checked on every message. Two levels so that a lookup borrows both keys.
    staples: Mutex<StapleVerdicts>,
}

/// The global configuration in use, shared by the gateway, which replaces it with each newer
/// version, and whoever reads it beside the gateway without holding the gateway itself (the
/// evidence ledger's time-stamper, [`crate::record::ConfTimestamper`]). Cloning it shares it.
#[derive(Clone, Default)]
pub struct CurrentConf(Arc<RwLock<Option<Arc<Loaded>>>>);

impl CurrentConf {
    /// The configuration in use, if one has been taken into use yet.
    pub fn get(&self) -> Option<Arc<Loaded>> {
        self.0.read().expect("lock").clone()
    }

    fn set(&self, loaded: Loaded) {
        *self.0.write().expect("lock") = Some(Arc::new(loaded));
    }
}

/// The HPACK dynamic table each side of a gateway connection offers. Every message carries
/// the sender's signing certificate and two OCSP responses (about 2.5 KB, the same each
/// time); a table that holds them turns them into a few bytes after the first message.
pub const HPACK_TABLE_BYTES: u32 = 64 * 1024;
/// HTTP/2 flow-control windows between gateways, fixed rather than adaptive: adaptive windows
/// probe the path with a PING per round trip, an extra TLS record and wake-up on every busy
/// connection. 2 MiB per stream keeps a 1 Gbit/s path with 16 ms of round trip full; the
/// connection window bounds what one peer can make us buffer.
pub const H2_STREAM_WINDOW: u32 = 2 << 20;
pub const H2_CONNECTION_WINDOW: u32 = 16 << 20;

/// The backend address (in a gateway's `[services]` table) that makes the gateway answer a
/// service itself from its evidence ledger's subject index.
pub const SUBJECT_ACCESSES_BACKEND: &str = "korpu:subject-accesses";
/// The same answer for auditors: any subject, to the client subsystems the service's access
/// rights name (an auditor's), still with the caller's `X-Road-UserId` on the record.
pub const SUBJECT_ACCESSES_AUDIT_BACKEND: &str = "korpu:subject-accesses-audit";
/// Entries per data-tracker page unless the caller asks (`limit`), and the most it may ask.
const SUBJECT_PAGE_DEFAULT: u64 = 20;
const SUBJECT_PAGE_MAX: u64 = 100;

/// Beyond this many entries a verification cache starts over (a peer sending ever-new
/// certificates or responses must not grow memory without bound).
const CACHE_LIMIT: usize = 10_000;

fn cache_insert<K: std::hash::Hash + Eq, V>(m: &Mutex<HashMap<K, V>>, k: K, v: V) {
    let mut m = m.lock().expect("lock");
    if m.len() >= CACHE_LIMIT {
        m.clear();
    }
    m.insert(k, v);
}

impl Loaded {
    fn issuer_of(&self, cert: &Certificate) -> Option<&Certificate> {
        self.issuing
            .iter()
            .find(|i| cert.verify_issued_by(i).is_ok())
    }
}

/// What this gateway staples to every message, base64-encoded once per renewal.
#[derive(Default, Clone)]
struct Staples {
    tls: Option<HeaderValue>,
    sign: Option<HeaderValue>,
}

fn b64_header(der: &[u8]) -> HeaderValue {
    HeaderValue::from_str(&B64.encode(der)).expect("base64 is a valid header value")
}

/// A provider gateway as the client side reaches it, with the TLS certificate it presented.
struct Peer {
    link: Link,
    cert: Certificate,
}

/// How requests reach a provider gateway.
enum Link {
    /// One HTTP/2 connection over mutual TLS.
    H2(hyper::client::conn::http2::SendRequest<OutBody>),
    /// The provider gateway's own service in this process ([`Gateway::reach_in_process`]).
    InProcess(crate::service::GatewayService),
}

/// A provider gateway's answer body, whichever the link (no allocation for either).
type PeerBody = http_body_util::Either<hyper::body::Incoming, OutBody>;

impl Peer {
    fn is_closed(&self) -> bool {
        match &self.link {
            Link::H2(sender) => sender.is_closed(),
            Link::InProcess(_) => false,
        }
    }

    async fn send(&self, req: Request<OutBody>) -> Result<Response<PeerBody>, hyper::Error> {
        use http_body_util::Either;
        match &self.link {
            Link::H2(sender) => Ok(sender.clone().send_request(req).await?.map(Either::Left)),
            Link::InProcess(provider) => {
                let answer = tower::ServiceExt::oneshot(provider.clone(), req).await;
                let Ok(answer) = answer;
                Ok(answer.map(Either::Right))
            }
        }
    }
}

/// One gateway.
pub struct Gateway {
    pub cfg: GatewayConfig,
    pub id: GatewayId,
    /// `id` in text form, as records carry it.
    id_text: String,
    anchor: Anchor,
    sign_cert: Certificate,
    /// `sign_cert` as the signer header carries it.
    sign_cert_header: HeaderValue,
    tls_key: SigningKey,
    tls_cert: Certificate,
    loaded: CurrentConf,
    conf_error: Mutex<Option<String>>,
    staples: RwLock<Staples>,
    peers: crate::peers::Pool<Peer>,
    peer_turn: std::sync::atomic::AtomicUsize,
    /// `peer_connections`, with 0 resolved to the number of CPU cores.
    peer_connections: usize,
    provider_http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        OutBody,
    >,
    recorder: Box<dyn Recorder>,
    certs: crate::certstore::CertStore,
    /// Where bodies of `keep_bodies` services go, encrypted; `None` when no service keeps any.
    bodies: Option<Arc<crate::bodystore::BodyStore>>,
    keep_bodies: std::collections::HashSet<ServiceId>,
    pub metrics: Metrics,
    /// Exchanges in progress on the client side, per client subsystem within it.
    client_limits: crate::limits::Limiter,
    /// Exchanges in progress on the provider side, per calling gateway within it.
    provider_limits: crate::limits::Limiter,
    signer: Arc<BatchSigner>,
    verifier: Verifier,
    /// Refuses replayed and stale requests on the provider side.
    replay: crate::replay::ReplayGuard,
    networks: Vec<Cidr>,
    backends: HashMap<ServiceId, String>,
    http_conf: reqwest::Client,
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its keys, certificates, anchor or configuration values do not fit (the message says
    /// which file or key, and what is wrong with it).
    #[error("{0}")]
    Setup(String),
    /// A listening address is taken or not this machine's: change `client_listen`,
    /// `server_listen` or `client_tls_listen`, or stop what holds it.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The evidence ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] crate::record::LedgerOpenError),
}

/// Why a global configuration was not taken into use (it stays the one in use before).
#[derive(Debug, thiserror::Error)]
pub enum ConfLoadError {
    #[error("downloading {url}: {source}")]
    Download { url: String, source: reqwest::Error },
    #[error("{0}")]
    Read(reqwest::Error),
    #[error("{0}")]
    Verify(#[from] korpu_conf::ConfError),
    #[error("refusing version {new} of the global configuration: version {current} is already in use (a rollback?)")]
    Rollback { new: u64, current: u64 },
    #[error("{0}")]
    Certificate(korpu_pki::PkiError),
    #[error("keeping a CA certificate for evidence: {0}")]
    KeepCa(std::io::Error),
    #[error("our TLS certificate was not issued by any issuing CA of the configuration")]
    OwnTlsIssuer,
    #[error("{0}")]
    Tls(#[from] tls::TlsConfigError),
    #[error("saving the configuration: {0}")]
    Save(std::io::Error),
}

/// Why our own OCSP responses could not be renewed (the previous ones stay stapled).
#[derive(Debug, thiserror::Error)]
pub enum StapleRenewError {
    #[error("no global configuration yet")]
    NoConf,
    #[error("our certificate has no issuer in the configuration")]
    NoIssuer,
    #[error("{0}")]
    Request(korpu_pki::PkiError),
    #[error("asking the OCSP responder {url}: {source}")]
    Responder { url: String, source: reqwest::Error },
    #[error("{0}")]
    Read(reqwest::Error),
    #[error("the OCSP response about our certificate is not valid: {0}")]
    Invalid(korpu_pki::PkiError),
}

/// Why a peer's certificate (its TLS or signing certificate, `what`) or the OCSP response
/// stapled for it is refused; the caller gives it its error type.
#[derive(Debug, thiserror::Error)]
pub enum PeerCertError {
    #[error("no OCSP response was stapled for the {what} certificate")]
    NoStaple { what: &'static str },
    #[error("the stapled OCSP response for the {what} certificate is not base64")]
    StapleNotBase64 { what: &'static str },
    #[error("the {what} certificate was not issued by a CA of the global configuration")]
    UnknownIssuer { what: &'static str },
    #[error("the stapled OCSP response for the {what} certificate is not valid: {source}")]
    StapleInvalid {
        what: &'static str,
        source: korpu_pki::PkiError,
    },
    #[error("the stapled OCSP response for the {what} certificate is older than {max_age_secs} s")]
    StapleTooOld {
        what: &'static str,
        max_age_secs: u64,
    },
    #[error("the {what} certificate (serial {serial}) is revoked")]
    Revoked { what: &'static str, serial: String },
    #[error("the OCSP responder does not know the {what} certificate")]
    UnknownToResponder { what: &'static str },
    #[error("the message carries no signing certificate")]
    NoSigner,
    #[error("the signing certificate is not base64")]
    SignerNotBase64,
    #[error("the signing certificate does not parse: {0}")]
    SignerUnparsable(korpu_pki::PkiError),
    #[error("the signing certificate does not chain to the platform: {0}")]
    SignerChain(korpu_pki::PkiError),
    #[error("keeping the signing certificate failed: {0}")]
    KeepSigner(std::io::Error),
    #[error("the message is signed by {signed_by:?}, not by member {member}")]
    WrongMember {
        signed_by: String,
        member: korpu_id::MemberId,
    },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The one place errors become answers: PR-REST's error form (JSON, or XML when the caller's
/// `Accept` asks for it), with `X-Road-Error` and `X-Road-Id`.
fn err_response(e: &XRoadError, message_id: &str, form: p::ErrorForm) -> Response<OutBody> {
    let (body, content_type) = e.render(message_id, form);
    let mut r = Response::new(OutBody::full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(e.status()).expect("400 or 500");
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    p::set(h, p::H_ERROR, e.kind.as_str());
    p::set(h, p::H_ID, message_id);
    r
}

/// Response headers the client's gateway replaces with its own values and never passes on as
/// received, so their signature need not cover them (`X-Road-Error` is a field of the base).
/// `Date` is among them when uncovered: the provider's HTTP server adds it after signing, and
/// our own server then sets its own.
const RESPONSE_OWN_HEADERS: &[&str] = &[
    p::H_CLIENT,
    p::H_SERVICE,
    p::H_ID,
    p::H_REQUEST_HASH,
    p::H_ERROR,
    "date",
];

/// What the client's gateway makes of an unsigned answer. The provider's gateway signs every
/// answer to a request it authenticated; an unsigned one says it could not (our TLS staple,
/// signer or signature refused, its configuration outdated…). It came over the pinned TLS
/// connection, so its error type is passed on, but nothing about it is evidence, and it is
/// not recorded.
fn unsigned_answer(
    provider: &GatewayId,
    status: u16,
    error_type: Option<&str>,
    body: &mut Spooled,
) -> XRoadError {
    let Some(kind) = error_type
        .and_then(ErrorKind::from_peer)
        .filter(|_| status >= 400)
    else {
        return XRoadError::new(
            ErrorKind::CpSignature,
            format!("the response from {provider} is not signed"),
        );
    };
    let message = Some(body)
        .filter(|b| b.len <= 64 << 10)
        .and_then(|b| b.to_bytes().ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    XRoadError::new(
        kind,
        format!("gateway {provider} refused the request without signing its answer (it could not authenticate it): {message}"),
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl Gateway {
    /// Loads keys and certificates, the anchor and any saved configuration.
    pub fn new(cfg: GatewayConfig, recorder: Box<dyn Recorder>) -> Result<Arc<Self>, StartError> {
        Self::sharing_conf(cfg, recorder, CurrentConf::default())
    }

    /// [`Gateway::new`], keeping the configuration in use in `current`, which others may
    /// share (see [`CurrentConf`]).
    pub fn sharing_conf(
        cfg: GatewayConfig,
        recorder: Box<dyn Recorder>,
        current: CurrentConf,
    ) -> Result<Arc<Self>, StartError> {
        let err = |what: &str, e: &dyn std::fmt::Display| StartError::Setup(format!("{what}: {e}"));
        let id: GatewayId = cfg.gateway.parse().map_err(|e| err("gateway", &e))?;
        let anchor_bytes = std::fs::read(&cfg.anchor)
            .map_err(|e| err(&format!("reading anchor {}", cfg.anchor.display()), &e))?;
        let anchor = Anchor::from_json(&anchor_bytes).map_err(|e| err("anchor", &e))?;
        let load_cert = |name: &str| {
            let path = cfg.data_dir.join(name);
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| err(&format!("reading {}", path.display()), &e))?;
            Certificate::from_pem(&pem).map_err(|e| err(&path.display().to_string(), &e))
        };
        let load_key = |name: &str| {
            korpu_pki::key::read_private_key(&cfg.data_dir.join(name))
                .map_err(|e| StartError::Setup(e.to_string()))
        };
        let sign_key = load_key("sign.p8")?;
        let sign_cert = load_cert("sign.pem")?;
        let tls_key = load_key("tls.p8")?;
        let tls_cert = load_cert("tls.pem")?;
        if sign_cert.public_key_der() != sign_key.public_key_der()
            || tls_cert.public_key_der() != tls_key.public_key_der()
        {
            return Err(StartError::Setup("a certificate in the data directory does not belong to its key (sign.pem/sign.p8 or tls.pem/tls.p8)".into()));
        }
        if sign_cert.common_name().as_deref() != Some(&id.member.to_string()) {
            return Err(StartError::Setup(format!(
                "sign.pem is not a signing certificate of member {}",
                id.member
            )));
        }
        let networks = cfg
            .client_networks
            .iter()
            .map(|n| crate::config::parse_cidr(n).map_err(|e| StartError::Setup(e.to_string())))
            .collect::<Result<_, _>>()?;
        let backends = cfg
            .services
            .iter()
            .map(|(s, u)| {
                Ok((
                    s.parse::<ServiceId>().map_err(|e| err("services", &e))?,
                    u.trim_end_matches('/').to_owned(),
                ))
            })
            .collect::<Result<_, StartError>>()?;
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(cfg.connect_timeout_secs)));
        connector.set_nodelay(true);
        let provider_http =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        let http_conf = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| err("HTTP client", &e))?;
        let client_limits = crate::limits::Limiter::new(
            cfg.max_concurrent_exchanges,
            cfg.max_concurrent_per_client,
        );
        let provider_limits =
            crate::limits::Limiter::new(cfg.max_concurrent_exchanges, cfg.max_concurrent_per_peer);
        let certs = crate::certstore::CertStore::open(&cfg.data_dir)
            .map_err(|e| err(&format!("{}/certs", cfg.data_dir.display()), &e))?;
        certs
            .keep(&sign_cert)
            .map_err(|e| err("keeping sign.pem for evidence", &e))?;
        let keep_bodies: std::collections::HashSet<ServiceId> = cfg
            .keep_bodies
            .iter()
            .map(|s| s.parse::<ServiceId>().map_err(|e| err("keep_bodies", &e)))
            .collect::<Result<_, _>>()?;
        let bodies = if keep_bodies.is_empty() {
            None
        } else {
            let key = crate::bodystore::BodyKey::load_or_create(&cfg.data_dir.join("body.key"))
                .map_err(|e| err("the body key", &e))?;
            Some(Arc::new(
                crate::bodystore::BodyStore::open(cfg.data_dir.join("bodies"), key)
                    .map_err(|e| err("the body store", &e))?,
            ))
        };
        let signer = BatchSigner::start(
            sign_key,
            Duration::from_micros(cfg.sign_batch_window_us),
            cfg.sign_batch_max,
        );
        let gw = Arc::new(Self {
            id_text: id.to_string(),
            id,
            anchor,
            signer,
            verifier: Verifier::default(),
            replay: crate::replay::ReplayGuard::new(
                Duration::from_secs(cfg.replay_window_secs),
                Duration::from_secs(cfg.max_clock_skew_secs),
                cfg.replay_max_ids,
                now_ms(),
            ),
            sign_cert_header: b64_header(sign_cert.der()),
            sign_cert,
            tls_key,
            tls_cert,
            loaded: current,
            conf_error: Mutex::new(None),
            staples: RwLock::new(Staples::default()),
            peers: crate::peers::Pool::default(),
            peer_turn: std::sync::atomic::AtomicUsize::new(0),
            peer_connections: match cfg.peer_connections {
                0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                n => n,
            },
            provider_http,
            recorder,
            certs,
            bodies,
            keep_bodies,
            metrics: Metrics::default(),
            client_limits,
            provider_limits,
            networks,
            backends,
            http_conf,
            cfg,
        });
        // The last good configuration survives restarts, so a gateway can serve while the
        // central registry is unreachable (until the document expires).
        if let Ok(saved) = std::fs::read(gw.saved_conf_path()) {
            if let Err(e) = gw.accept_conf(&saved, false) {
                tracing::warn!(error = %e, "the saved global configuration is not usable");
            }
        }
        Ok(gw)
    }

    fn saved_conf_path(&self) -> std::path::PathBuf {
        self.cfg.data_dir.join("globalconf.json")
    }

    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.loaded.get()
    }

    fn own_tls(&self, loaded_issuing: &[Certificate]) -> Result<OwnTls, ConfLoadError> {
        let issuer = loaded_issuing
            .iter()
            .find(|i| self.tls_cert.verify_issued_by(i).is_ok())
            .ok_or(ConfLoadError::OwnTlsIssuer)?;
        Ok(OwnTls {
            chain: vec![
                self.tls_cert.der().to_vec().into(),
                issuer.der().to_vec().into(),
            ],
            key: self.tls_key.clone(),
        })
    }

    /// Verifies a signed configuration and, if it is good and not older than the current
    /// one, makes it current (and saves it when `save`).
    pub fn accept_conf(&self, signed: &[u8], save: bool) -> Result<u64, ConfLoadError> {
        // Expiry is checked when routing, not here, so that an expired saved copy still loads
        // and the gateway can say precisely why it refuses to route.
        let conf =
            korpu_conf::verify(signed, &self.anchor, Timestamp::now()).or_else(|e| match e {
                korpu_conf::ConfError::Expired { .. } if !save => korpu_conf::verify(
                    signed,
                    &self.anchor,
                    Timestamp::from_unix(Timestamp::now().unix().saturating_sub(365 * 86_400)),
                )
                .or(Err(e)),
                e => Err(e),
            })?;
        if let Some(cur) = self.loaded() {
            if conf.version < cur.conf.version {
                return Err(ConfLoadError::Rollback {
                    new: conf.version,
                    current: cur.conf.version,
                });
            }
        }
        let parse_all = |pems: &[String]| {
            pems.iter()
                .map(|p| Certificate::from_pem(p).map_err(ConfLoadError::Certificate))
                .collect::<Result<Vec<_>, _>>()
        };
        let roots = parse_all(&conf.pki.root_certs)?;
        let issuing = parse_all(&conf.pki.issuing_certs)?;
        // The CAs complete the chains of the kept signing certificates in evidence packages.
        for ca in issuing.iter().chain(&roots) {
            self.certs.keep(ca).map_err(ConfLoadError::KeepCa)?;
        }
        let own = self.own_tls(&issuing)?;
        let server_tls = Arc::new(tls::server_config(&own, &roots)?);
        let client_side_tls = match self.cfg.client_tls_listen {
            Some(_) => Some(Arc::new(tls::information_system_config(&own)?)),
            None => None,
        };
        let version = conf.version;
        let loaded = Loaded {
            conf: IndexedConf::new(conf),
            roots,
            issuing,
            server_tls,
            client_side_tls,
            own_chain: own.chain,
            signers: Mutex::new(HashMap::new()),
            staples: Mutex::new(HashMap::new()),
        };
        self.loaded.set(loaded);
        *self.conf_error.lock().expect("lock") = None;
        self.recorder.configuration(signed);
        if save {
            let tmp = self.saved_conf_path().with_extension("tmp");
            std::fs::write(&tmp, signed)
                .and_then(|_| std::fs::rename(&tmp, self.saved_conf_path()))
                .map_err(ConfLoadError::Save)?;
        }
        Ok(version)
    }

    /// Downloads the configuration from the anchor's URL; keeps the last good one on failure.
    pub async fn refresh_conf(&self) -> Result<u64, ConfLoadError> {
        let result = async {
            let resp = self
                .http_conf
                .get(&self.anchor.conf_url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|source| ConfLoadError::Download {
                    url: self.anchor.conf_url.clone(),
                    source,
                })?;
            let bytes = resp.bytes().await.map_err(ConfLoadError::Read)?;
            self.accept_conf(&bytes, true)
        }
        .await;
        if let Err(e) = &result {
            // An alert: the gateway keeps its last good configuration, but an operator must
            // know that a new one was refused (tampering, rollback, or the registry down).
            tracing::error!(alert = true, error = %e, "global configuration refresh failed; keeping the last good one");
            *self.conf_error.lock().expect("lock") = Some(e.to_string());
            self.metrics.inc_error("ConfRefreshFailed");
        }
        result
    }

    /// Fetches fresh OCSP responses for our own certificates, to staple to our messages.
    pub async fn refresh_staples(&self) -> Result<(), StapleRenewError> {
        let loaded = self.loaded().ok_or(StapleRenewError::NoConf)?;
        let url = loaded.conf.central.ocsp_url.clone();
        let mut out = Staples::default();
        for (cert, slot) in [(&self.tls_cert, 0), (&self.sign_cert, 1)] {
            let issuer = loaded.issuer_of(cert).ok_or(StapleRenewError::NoIssuer)?;
            let (req, nonce) =
                korpu_pki::ocsp::build_request(cert, issuer).map_err(StapleRenewError::Request)?;
            let resp = self
                .http_conf
                .post(&url)
                .header("content-type", "application/ocsp-request")
                .body(req)
                .send()
                .await
                .map_err(|source| StapleRenewError::Responder {
                    url: url.clone(),
                    source,
                })?
                .bytes()
                .await
                .map_err(StapleRenewError::Read)?;
            let status = korpu_pki::ocsp::verify_response(
                &resp,
                cert,
                issuer,
                Some(&nonce),
                SystemTime::now(),
            )
            .map_err(StapleRenewError::Invalid)?;
            if status != CertStatus::Good {
                tracing::error!(alert = true, serial = %cert.serial_hex(), ?status, "our own certificate is not good: peers will refuse our messages");
            }
            if slot == 0 {
                out.tls = Some(b64_header(&resp));
            } else {
                out.sign = Some(b64_header(&resp));
            }
        }
        *self.staples.write().expect("lock") = out;
        Ok(())
    }

    /// Staples these OCSP responses (DER) about our TLS and signing certificates to our
    /// messages, as [`Gateway::refresh_staples`] does with those it fetches: for responses
    /// obtained otherwise (in-process tests, which have no responder to ask).
    pub fn staple(&self, tls_ocsp: &[u8], sign_ocsp: &[u8]) {
        *self.staples.write().expect("lock") = Staples {
            tls: Some(b64_header(tls_ocsp)),
            sign: Some(b64_header(sign_ocsp)),
        };
    }

    /// Checks a peer's stapled OCSP response about `cert`.
    fn check_staple(
        &self,
        loaded: &Loaded,
        cert: &Certificate,
        staple: Option<&str>,
        what: &'static str,
    ) -> Result<(), PeerCertError> {
        let staple = staple.ok_or(PeerCertError::NoStaple { what })?;
        let fingerprint = cert.sha256_fingerprint_hex();
        let cached = loaded
            .staples
            .lock()
            .expect("lock")
            .get(&fingerprint)
            .and_then(|by_staple| by_staple.get(staple))
            .copied();
        let now = SystemTime::now();
        let (status, this_update) = match cached {
            Some(v) => v,
            None => {
                let der = B64
                    .decode(staple)
                    .map_err(|_| PeerCertError::StapleNotBase64 { what })?;
                let issuer = loaded
                    .issuer_of(cert)
                    .ok_or(PeerCertError::UnknownIssuer { what })?;
                let v = korpu_pki::ocsp::verify_response_dated(&der, cert, issuer, None, now)
                    .map_err(|source| PeerCertError::StapleInvalid { what, source })?;
                let mut staples = loaded.staples.lock().expect("lock");
                let known: usize = staples.values().map(HashMap::len).sum();
                if known >= CACHE_LIMIT {
                    staples.clear();
                }
                staples
                    .entry(fingerprint)
                    .or_default()
                    .insert(staple.to_owned(), v);
                v
            }
        };
        if now.duration_since(this_update).unwrap_or_default()
            > Duration::from_secs(self.cfg.ocsp_max_age_secs)
        {
            return Err(PeerCertError::StapleTooOld {
                what,
                max_age_secs: self.cfg.ocsp_max_age_secs,
            });
        }
        match status {
            CertStatus::Good => Ok(()),
            CertStatus::Revoked { .. } => Err(PeerCertError::Revoked {
                what,
                serial: cert.serial_hex(),
            }),
            CertStatus::Unknown => Err(PeerCertError::UnknownToResponder { what }),
        }
    }

    /// Checks a signing certificate sent with a message: chains to the platform, names
    /// `member`, is not revoked.
    fn check_signer(
        &self,
        loaded: &Loaded,
        signer_b64: Option<&str>,
        staple: Option<&str>,
        member: &korpu_id::MemberId,
    ) -> Result<Arc<Certificate>, PeerCertError> {
        let signer_b64 = signer_b64.ok_or(PeerCertError::NoSigner)?;
        let cached = loaded
            .signers
            .lock()
            .expect("lock")
            .get(signer_b64)
            .cloned();
        let now = SystemTime::now();
        let cert = match cached {
            Some(c) if c.check_validity(now).is_ok() => c,
            _ => {
                let der = B64
                    .decode(signer_b64)
                    .map_err(|_| PeerCertError::SignerNotBase64)?;
                let cert = Certificate::from_der(&der).map_err(PeerCertError::SignerUnparsable)?;
                korpu_pki::cert::verify_chain(&cert, &loaded.issuing, &loaded.roots, now)
                    .map_err(PeerCertError::SignerChain)?;
                // Records will name it; evidence must be able to produce it.
                self.certs.keep(&cert).map_err(PeerCertError::KeepSigner)?;
                let cert = Arc::new(cert);
                cache_insert(&loaded.signers, signer_b64.to_owned(), cert.clone());
                cert
            }
        };
        if cert.common_name().as_deref() != Some(&member.to_string()) {
            return Err(PeerCertError::WrongMember {
                signed_by: cert.common_name().unwrap_or_default(),
                member: member.clone(),
            });
        }
        self.check_staple(loaded, &cert, staple, "signing")?;
        Ok(cert)
    }

    fn current_conf(&self, outdated_kind: ErrorKind) -> Result<Arc<Loaded>, XRoadError> {
        let loaded = self.loaded().ok_or_else(|| {
            XRoadError::new(
                outdated_kind,
                "this gateway has no valid global configuration yet",
            )
        })?;
        let now = Timestamp::now();
        if now >= loaded.conf.expires_at {
            let why = self
                .conf_error
                .lock()
                .expect("lock")
                .clone()
                .unwrap_or_else(|| "no refresh has succeeded since".into());
            return Err(XRoadError::new(
                outdated_kind,
                format!(
                    "the global configuration (version {}) expired at {}, so this gateway refuses to route; last refresh: {why}",
                    loaded.conf.version, loaded.conf.expires_at
                ),
            ));
        }
        Ok(loaded)
    }

    fn staple_headers(&self, h: &mut HeaderMap) {
        let s = self.staples.read().expect("lock").clone();
        if let Some(t) = s.tls {
            h.insert(HeaderName::from_static(p::H_TLS_OCSP), t);
        }
        if let Some(t) = s.sign {
            h.insert(HeaderName::from_static(p::H_SIGNER_OCSP), t);
        }
        h.insert(
            HeaderName::from_static(p::H_SIGNER),
            self.sign_cert_header.clone(),
        );
    }

    // ----- client side --------------------------------------------------------------------
}
