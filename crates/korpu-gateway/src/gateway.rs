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
use hyper::body::Incoming;
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
use crate::body::{OutBody, SpoolError, Spooled};
use crate::config::{Cidr, GatewayConfig};
use crate::index::IndexedConf;
use crate::metrics::{write_counter, Metrics};
use crate::protocol::{self as p, ErrorKind, XRoadError, XRoadHeaders};
use crate::record::{ExchangeRecord, Recorder};
use crate::tls::{self, OwnTls};

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

struct Peer {
    sender: hyper::client::conn::http2::SendRequest<OutBody>,
    cert: Certificate,
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
    loaded: RwLock<Option<Arc<Loaded>>>,
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
    bodies: Option<Arc<korpu_ledger::body::BodyStore>>,
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
#[error("{0}")]
pub struct StartError(pub String);

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
        let err = |what: &str, e: &dyn std::fmt::Display| StartError(format!("{what}: {e}"));
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
                .map_err(|e| StartError(e.to_string()))
        };
        let sign_key = load_key("sign.p8")?;
        let sign_cert = load_cert("sign.pem")?;
        let tls_key = load_key("tls.p8")?;
        let tls_cert = load_cert("tls.pem")?;
        if sign_cert.public_key_der() != sign_key.public_key_der()
            || tls_cert.public_key_der() != tls_key.public_key_der()
        {
            return Err(StartError("a certificate in the data directory does not belong to its key (sign.pem/sign.p8 or tls.pem/tls.p8)".into()));
        }
        if sign_cert.common_name().as_deref() != Some(&id.member.to_string()) {
            return Err(StartError(format!(
                "sign.pem is not a signing certificate of member {}",
                id.member
            )));
        }
        let networks = cfg
            .client_networks
            .iter()
            .map(|n| crate::config::parse_cidr(n).map_err(StartError))
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
            let key = korpu_ledger::body::BodyKey::load_or_create(&cfg.data_dir.join("body.key"))
                .map_err(|e| err("the body key", &e))?;
            Some(Arc::new(
                korpu_ledger::body::BodyStore::open(cfg.data_dir.join("bodies"), key)
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
            loaded: RwLock::new(None),
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
        self.loaded.read().expect("lock").clone()
    }

    fn own_tls(&self, loaded_issuing: &[Certificate]) -> Result<OwnTls, String> {
        let issuer = loaded_issuing
            .iter()
            .find(|i| self.tls_cert.verify_issued_by(i).is_ok())
            .ok_or("our TLS certificate was not issued by any issuing CA of the configuration")?;
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
    pub fn accept_conf(&self, signed: &[u8], save: bool) -> Result<u64, String> {
        // Expiry is checked when routing, not here, so that an expired saved copy still loads
        // and the gateway can say precisely why it refuses to route.
        let conf =
            korpu_conf::verify(signed, &self.anchor, Timestamp::now()).or_else(|e| match e {
                korpu_conf::ConfError::Expired { .. } if !save => korpu_conf::verify(
                    signed,
                    &self.anchor,
                    Timestamp::from_unix(Timestamp::now().unix().saturating_sub(365 * 86_400)),
                )
                .map_err(|e| e.to_string())
                .or(Err(e.to_string())),
                e => Err(e.to_string()),
            })?;
        if let Some(cur) = self.loaded() {
            if conf.version < cur.conf.version {
                return Err(format!(
                    "refusing version {} of the global configuration: version {} is already in use (a rollback?)",
                    conf.version, cur.conf.version
                ));
            }
        }
        let parse_all = |pems: &[String]| {
            pems.iter()
                .map(|p| Certificate::from_pem(p).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
        };
        let roots = parse_all(&conf.pki.root_certs)?;
        let issuing = parse_all(&conf.pki.issuing_certs)?;
        // The CAs complete the chains of the kept signing certificates in evidence packages.
        for ca in issuing.iter().chain(&roots) {
            self.certs
                .keep(ca)
                .map_err(|e| format!("keeping a CA certificate for evidence: {e}"))?;
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
        *self.loaded.write().expect("lock") = Some(Arc::new(loaded));
        *self.conf_error.lock().expect("lock") = None;
        self.recorder.configuration(signed);
        if save {
            let tmp = self.saved_conf_path().with_extension("tmp");
            std::fs::write(&tmp, signed)
                .and_then(|_| std::fs::rename(&tmp, self.saved_conf_path()))
                .map_err(|e| format!("saving the configuration: {e}"))?;
        }
        Ok(version)
    }

    /// Downloads the configuration from the anchor's URL; keeps the last good one on failure.
    pub async fn refresh_conf(&self) -> Result<u64, String> {
        let result = async {
            let resp = self
                .http_conf
                .get(&self.anchor.conf_url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| format!("downloading {}: {e}", self.anchor.conf_url))?;
            let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
            self.accept_conf(&bytes, true)
        }
        .await;
        if let Err(e) = &result {
            // An alert: the gateway keeps its last good configuration, but an operator must
            // know that a new one was refused (tampering, rollback, or the registry down).
            tracing::error!(alert = true, error = %e, "global configuration refresh failed; keeping the last good one");
            *self.conf_error.lock().expect("lock") = Some(e.clone());
            self.metrics.inc_error("ConfRefreshFailed");
        }
        result
    }

    /// Fetches fresh OCSP responses for our own certificates, to staple to our messages.
    pub async fn refresh_staples(&self) -> Result<(), String> {
        let loaded = self.loaded().ok_or("no global configuration yet")?;
        let url = loaded.conf.central.ocsp_url.clone();
        let mut out = Staples::default();
        for (cert, slot) in [(&self.tls_cert, 0), (&self.sign_cert, 1)] {
            let issuer = loaded
                .issuer_of(cert)
                .ok_or("our certificate has no issuer in the configuration")?;
            let (req, nonce) =
                korpu_pki::ocsp::build_request(cert, issuer).map_err(|e| e.to_string())?;
            let resp = self
                .http_conf
                .post(&url)
                .header("content-type", "application/ocsp-request")
                .body(req)
                .send()
                .await
                .map_err(|e| format!("asking the OCSP responder {url}: {e}"))?
                .bytes()
                .await
                .map_err(|e| e.to_string())?;
            let status = korpu_pki::ocsp::verify_response(
                &resp,
                cert,
                issuer,
                Some(&nonce),
                SystemTime::now(),
            )
            .map_err(|e| format!("the OCSP response about our certificate is not valid: {e}"))?;
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

    /// Checks a peer's stapled OCSP response about `cert`.
    fn check_staple(
        &self,
        loaded: &Loaded,
        cert: &Certificate,
        staple: Option<&str>,
        what: &str,
    ) -> Result<(), String> {
        let staple = staple
            .ok_or_else(|| format!("no OCSP response was stapled for the {what} certificate"))?;
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
                let der = B64.decode(staple).map_err(|_| {
                    format!("the stapled OCSP response for the {what} certificate is not base64")
                })?;
                let issuer = loaded.issuer_of(cert).ok_or_else(|| {
                    format!(
                        "the {what} certificate was not issued by a CA of the global configuration"
                    )
                })?;
                let v = korpu_pki::ocsp::verify_response_dated(&der, cert, issuer, None, now)
                    .map_err(|e| format!("the stapled OCSP response for the {what} certificate is not valid: {e}"))?;
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
            return Err(format!(
                "the stapled OCSP response for the {what} certificate is older than {} s",
                self.cfg.ocsp_max_age_secs
            ));
        }
        match status {
            CertStatus::Good => Ok(()),
            CertStatus::Revoked { .. } => Err(format!(
                "the {what} certificate (serial {}) is revoked",
                cert.serial_hex()
            )),
            CertStatus::Unknown => Err(format!(
                "the OCSP responder does not know the {what} certificate"
            )),
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
    ) -> Result<Arc<Certificate>, String> {
        let signer_b64 = signer_b64.ok_or("the message carries no signing certificate")?;
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
                    .map_err(|_| "the signing certificate is not base64")?;
                let cert = Certificate::from_der(&der)
                    .map_err(|e| format!("the signing certificate does not parse: {e}"))?;
                korpu_pki::cert::verify_chain(&cert, &loaded.issuing, &loaded.roots, now).map_err(
                    |e| format!("the signing certificate does not chain to the platform: {e}"),
                )?;
                // Records will name it; evidence must be able to produce it.
                self.certs
                    .keep(&cert)
                    .map_err(|e| format!("keeping the signing certificate failed: {e}"))?;
                let cert = Arc::new(cert);
                cache_insert(&loaded.signers, signer_b64.to_owned(), cert.clone());
                cert
            }
        };
        if cert.common_name().as_deref() != Some(&member.to_string()) {
            return Err(format!(
                "the message is signed by {:?}, not by member {member}",
                cert.common_name().unwrap_or_default()
            ));
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

    /// Handles a request from a local information system.
    /// `client_cert` is the SHA-256 of the certificate an information system presented on the
    /// TLS client side, `None` on the plain-HTTP side.
    pub async fn handle_client(
        self: Arc<Self>,
        req: Request<Incoming>,
        remote: SocketAddr,
        client_cert: Option<String>,
    ) -> Response<OutBody> {
        let started = Instant::now();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let form = p::ErrorForm::from_accept(req.headers());
        // Plain HTTP is authenticated by network; TLS by the pinned certificate, below.
        if client_cert.is_none() && !self.networks.iter().any(|n| n.contains(remote.ip())) {
            let e = XRoadError::new(
                ErrorKind::UnknownClient,
                format!("{} is not in this gateway's client_networks", remote.ip()),
            );
            self.metrics.inc_error(e.kind.as_str());
            return err_response(&e, "", form);
        }
        match path.split('?').next().unwrap_or("") {
            "/metrics" => {
                let text =
                    self.metrics.render() + &self.signature_metrics() + &self.recorder.metrics();
                return Response::new(OutBody::full(text));
            }
            "/health" => return self.health(),
            "/listClients" => return self.list_clients(form),
            _ => {}
        }
        // Before anything of this request can reach the HTTP/2 connection that all callers
        // share to a provider gateway (issue 13, item 9).
        if let Err(m) = crate::limits::check_headers(
            req.headers(),
            self.cfg.max_header_bytes,
            self.cfg.max_header_count,
        ) {
            let e = XRoadError::new(ErrorKind::BadRequest, m);
            self.metrics.inc_error(e.kind.as_str());
            self.metrics
                .observe("client", e.status(), started.elapsed());
            tracing::warn!(error_type = e.kind.as_str(), error = %e.message, role = "client", "exchange refused");
            return err_response(&e, "", form);
        }
        let mut message_id = String::new();
        let result = self
            .client_exchange(req, &path, &mut message_id, client_cert.as_deref())
            .await;
        let elapsed = started.elapsed();
        match result {
            Ok((resp, rec)) => {
                self.metrics
                    .observe("client", resp.status().as_u16(), elapsed);
                tracing::info!(message_id = %rec.message_id, client = %rec.client, service = %rec.service, role = "client",
                    status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, error = rec.error.as_deref().unwrap_or(""), "exchange");
                resp
            }
            Err(e) => {
                self.metrics.inc_error(e.kind.as_str());
                self.metrics.observe("client", e.status(), elapsed);
                tracing::warn!(message_id = %message_id, error_type = e.kind.as_str(), error = %e.message, role = "client", "exchange refused");
                err_response(&e, &message_id, form)
            }
        }
    }

    async fn client_exchange(
        &self,
        req: Request<Incoming>,
        path: &str,
        message_id: &mut String,
        client_cert: Option<&str>,
    ) -> Result<(Response<OutBody>, ExchangeRecord), XRoadError> {
        let t0 = Instant::now();
        let _in_flight = self.signer.enter();
        let target = p::parse_target(path)?;
        let xh = p::parse_headers(req.headers(), p::new_message_id)?;
        *message_id = xh.message_id.clone();
        if let Some(s) = &xh.service_header {
            if s != &target.service {
                return Err(XRoadError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "X-Road-Service {s} disagrees with the service in the path, {}",
                        target.service
                    ),
                ));
            }
        }
        // PR-REST §4.7: a subsystem with registered certificates must use them.
        let registered = self.cfg.client_certificates.get(&xh.client_text);
        match (registered, client_cert) {
            (Some(pins), Some(fp)) if pins.iter().any(|p| p.eq_ignore_ascii_case(fp)) => {}
            (Some(_), None) => {
                return Err(XRoadError::new(
                    ErrorKind::UnknownClient,
                    format!(
                        "{} must connect over TLS with its registered certificate",
                        xh.client
                    ),
                ))
            }
            (_, Some(fp)) => {
                return Err(XRoadError::new(
                    ErrorKind::UnknownClient,
                    format!(
                        "the TLS client certificate (SHA-256 {fp}) is not registered for {}",
                        xh.client
                    ),
                ))
            }
            (None, None) => {}
        }
        let loaded = self.current_conf(ErrorKind::OutdatedConf)?;
        let conf = &loaded.conf;
        if !conf.gateways_serving(&xh.client).any(|g| g.id == self.id) {
            return Err(XRoadError::new(ErrorKind::UnknownClient, format!("{} is not a client of gateway {}: register it with `korpu central gateway add-client`", xh.client, self.id)));
        }
        if conf.service(&target.service).is_none() {
            if let Some(resp) = self.metaservice(conf, &target, &xh) {
                let rec = self.local_record(&xh, &target.service);
                return Ok((resp?, rec));
            }
            return Err(XRoadError::new(
                ErrorKind::UnknownService,
                format!(
                    "service {} is not in the global configuration",
                    target.service
                ),
            ));
        }
        let service = conf.service(&target.service).expect("checked above");
        // Checked early here to spare the network; the provider's gateway decides.
        authorise(conf, &xh, service, ErrorKind::AccessDenied)?;
        let provider_client = ClientId::Subsystem(target.service.subsystem.clone());
        let mut gateways: Vec<&GatewayInfo> = conf.gateways_serving(&provider_client).collect();
        if let Some(want) = &xh.security_server {
            gateways.retain(|g| &g.id == want);
            if gateways.is_empty() {
                return Err(XRoadError::new(
                    ErrorKind::BadRequest,
                    format!("X-Road-Security-Server {want} does not serve {provider_client}"),
                ));
            }
        }
        if gateways.is_empty() {
            return Err(XRoadError::new(
                ErrorKind::UnknownService,
                format!("no gateway serves {provider_client}"),
            ));
        }
        // Waited for before the body is read, by a client the configuration knows: a client
        // over its share waits alone (issue 13, item 7).
        let _permit = self.client_limits.enter(&xh.client_text).await;
        let (parts, req_body) = req.into_parts();
        let method = parts.method;
        let in_headers = parts.headers;
        let body = self
            .receive(
                req_body,
                "request",
                ErrorKind::TooLarge,
                ErrorKind::BadRequest,
                false,
            )
            .await?;
        self.metrics.add_bytes("request", body.len);

        // What goes to the provider is what is signed: every forwarded header is covered
        // (protocol's module doc), the X-Road ones as this gateway sets them.
        let mut out_headers = p::passthrough_headers(&in_headers);
        p::strip_xroad_response_headers(&mut out_headers);
        for (n, v) in [
            (p::H_CLIENT, Some(&xh.client_text)),
            (p::H_SERVICE, Some(&target.service_text)),
            (p::H_USER, xh.user_id.as_ref()),
            (p::H_ISSUE, xh.issue.as_ref()),
            (p::H_PURPOSE, xh.purpose.as_ref()),
            (p::H_REPRESENTED, xh.represented_party.as_ref()),
        ] {
            if let Some(v) = v {
                p::set(&mut out_headers, n, v);
            }
        }
        p::set_unique(&mut out_headers, p::H_ID, &xh.message_id);
        let covered = p::covered_names(&out_headers);
        let covered_sha256 = p::covered_sha256(
            Some((method.as_str(), &target.path, target.query.as_deref())),
            &covered,
            &out_headers,
            &body.sha256,
        );
        // The data subject as the provider's gateway will find it, signed so that its record
        // can show it was (the provider recomputes it from what it receives).
        let subject = service.data_subject.as_ref().and_then(|loc| {
            find_subject(loc, &out_headers, &target, conf.path_templates(&service.id))
        });
        let created_ms = now_ms();
        let base = p::SignedRequest {
            service: &target.service_text,
            headers: &xh,
            created_ms,
            subject: subject.as_deref(),
            covered_sha256,
        }
        .signature_base();
        let request_hash = p::request_hash(&base);
        let digest_bytes: [u8; 32] = Sha256::digest(base.as_bytes()).into();
        let digest = hex::encode(digest_bytes);
        let signature = self
            .signer
            .sign(base.as_bytes().to_vec(), digest_bytes)
            .await;
        tracing::debug!(phase = "signed", us = t0.elapsed().as_micros() as u64);

        p::set_unique(&mut out_headers, p::H_SIG, &signature);
        p::set_unique(&mut out_headers, p::H_CREATED, &created_ms.to_string());
        // The list repeats from message to message: HPACK may keep it.
        p::set(&mut out_headers, p::H_COVERED, &covered);
        self.staple_headers(&mut out_headers);

        // Try the provider's gateways in order until one answers (X-Road's failover).
        let mut body = Some(body);
        let mut last_err = None;
        let mut answered = None;
        for gw in &gateways {
            let peer = match self.peer(&loaded, gw).await {
                Ok(p) => p,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let mut rb = Request::builder()
                .method(method.clone())
                .uri(format!("https://{}{}", gw.address, path));
            // Every way out of this attempt below ends the loop: the headers go with it.
            *rb.headers_mut().expect("builder") = std::mem::take(&mut out_headers);
            let Some(b) = body.take() else { break };
            let out = rb
                .body(b.into_body())
                .map_err(|e| XRoadError::new(ErrorKind::BadRequest, e.to_string()))?;
            let mut sender = peer.sender.clone();
            let wait =
                Duration::from_secs(self.cfg.provider_timeout_secs + self.cfg.connect_timeout_secs);
            match tokio::time::timeout(wait, sender.send_request(out)).await {
                Ok(Ok(resp)) => {
                    answered = Some((resp, peer, (*gw).clone()));
                    break;
                }
                Ok(Err(e)) => {
                    self.peers.forget(&peer);
                    last_err = Some(XRoadError::new(
                        ErrorKind::CpNetwork,
                        format!("gateway {} at {} failed: {e}", gw.id, gw.address),
                    ));
                    break; // the body is consumed; no retry
                }
                Err(_) => {
                    last_err = Some(XRoadError::new(
                        ErrorKind::CpNetwork,
                        format!(
                            "gateway {} did not answer within {} s",
                            gw.id,
                            wait.as_secs()
                        ),
                    ));
                    break;
                }
            }
        }
        let Some((resp, peer, gw)) = answered else {
            return Err(last_err.unwrap_or_else(|| {
                XRoadError::new(ErrorKind::CpNetwork, "no provider gateway could be reached")
            }));
        };

        tracing::debug!(
            phase = "provider answered",
            us = t0.elapsed().as_micros() as u64
        );
        // The provider gateway's answer: check who sent it and that it is intact.
        let (parts, rbody) = resp.into_parts();
        self.check_staple(
            &loaded,
            &peer.cert,
            header(&parts.headers, p::H_TLS_OCSP),
            "provider gateway TLS",
        )
        .map_err(|e| XRoadError::new(ErrorKind::CpSsl, e))?;
        let mut rbody = self
            .receive(
                rbody,
                "response",
                ErrorKind::CpInternal,
                ErrorKind::CpNetwork,
                false,
            )
            .await?;
        self.metrics.add_bytes("response", rbody.len);
        // The answer is in: what remains before its record is a few checks, so the ledger's
        // group commit can wait for it (answers arrive in bursts, each a moment after another).
        let announced = self.recorder.announce();
        let status = parts.status.as_u16();
        let error_type = header(&parts.headers, p::H_ERROR).map(str::to_owned);
        let Some(rsig) = header(&parts.headers, p::H_SIG) else {
            return Err(unsigned_answer(
                &gw.id,
                status,
                error_type.as_deref(),
                &mut rbody,
            ));
        };
        let provider_member = &gw.id.member;
        let signer = self
            .check_signer(
                &loaded,
                header(&parts.headers, p::H_SIGNER),
                header(&parts.headers, p::H_SIGNER_OCSP),
                provider_member,
            )
            .map_err(|e| {
                XRoadError::new(
                    ErrorKind::CpSignature,
                    format!("the response from {}: {e}", gw.id),
                )
            })?;
        // Every header passed on to the information system must be covered; the X-Road ones
        // this gateway sets itself (and X-Road-Error is a field of the base).
        let rcovered = header(&parts.headers, p::H_COVERED).unwrap_or("");
        if let Some(n) = p::uncovered_header(&parts.headers, rcovered, RESPONSE_OWN_HEADERS) {
            return Err(XRoadError::new(
                ErrorKind::CpSignature,
                format!(
                    "the response from {} carries the header {n}, which its signature does not cover",
                    gw.id
                ),
            ));
        }
        let rbase = p::response_signature_base(
            &digest,
            status,
            error_type.as_deref(),
            &p::covered_sha256(None, rcovered, &parts.headers, &rbody.sha256),
        );
        let rdigest: [u8; 32] = Sha256::digest(rbase.as_bytes()).into();
        let rsig = rsig.to_owned();
        self.verifier
            .verify(&signer, rbase.as_bytes(), &rdigest, &rsig)
            .await
            .map_err(|_| {
                XRoadError::new(
                    ErrorKind::CpSignature,
                    format!(
                        "the response from {} does not match its signature: it was altered in \
                         transit, or answers another request",
                        gw.id
                    ),
                )
            })?;
        // The response's signature base names this request's digest: the answer is bound to
        // this request, whose X-Road-Request-Hash the information system gets.

        tracing::debug!(
            phase = "response verified",
            us = t0.elapsed().as_micros() as u64
        );
        let rec = ExchangeRecord {
            message_id: xh.message_id.clone(),
            time_unix_ms: now_ms(),
            client: xh.client_text.clone(),
            service: target.service_text.clone(),
            gateway: self.id_text.clone(),
            role: "client".into(),
            user_id: xh.user_id.clone(),
            data_subject: None,
            purpose: xh.purpose.clone(),
            request_digest: digest,
            response_digest: Some(hex::encode(rdigest)),
            response_status: Some(status),
            request_signature: signature,
            request_signer_cert_sha256: self.sign_cert.sha256_fingerprint_hex(),
            response_signature: Some(rsig),
            response_signer_cert_sha256: Some(signer.sha256_fingerprint_hex()),
            error: error_type.clone(),
            request_body_sha256: None,
            response_body_sha256: None,
            request_signed: Some(base),
            response_signed: Some(rbase),
        };
        self.recorder
            .record_announced(announced, &rec)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::CpDatabase, e))?;
        tracing::debug!(phase = "recorded", us = t0.elapsed().as_micros() as u64);

        let mut out = Response::new(rbody.into_body());
        *out.status_mut() = parts.status;
        let mut h = p::passthrough_headers(&parts.headers);
        p::strip_xroad_response_headers(&mut h);
        if !rcovered.split(' ').any(|n| n == "date") {
            h.remove(hyper::header::DATE);
        }
        p::set(&mut h, p::H_ID, &xh.message_id);
        p::set(&mut h, p::H_CLIENT, &xh.client_text);
        p::set(&mut h, p::H_SERVICE, &target.service_text);
        if let Some(t) = &error_type {
            p::set(&mut h, p::H_ERROR, t);
        } else {
            p::set(&mut h, p::H_REQUEST_HASH, &request_hash);
        }
        *out.headers_mut() = h;
        Ok((out, rec))
    }

    /// Receives a request or response body under the configured limits; `too_large` and
    /// `broken` are the error types for this side of the exchange.
    async fn receive(
        &self,
        body: Incoming,
        what: &str,
        too_large: ErrorKind,
        broken: ErrorKind,
        sha512: bool,
    ) -> Result<Spooled, XRoadError> {
        // A whole body within `body_timeout_secs`: a sender trickling bytes must not hold an
        // exchange's place (and a spool file) for as long as it likes.
        let limit = Duration::from_secs(self.cfg.body_timeout_secs);
        let (max, memory) = (self.cfg.max_body_bytes, self.cfg.memory_spool_bytes);
        let receive = async move {
            if what == "request" {
                Spooled::receive_request(body, max, memory, sha512).await
            } else {
                Spooled::receive(body, max, memory, sha512).await
            }
        };
        let received = tokio::time::timeout(limit, receive).await.map_err(|_| {
            XRoadError::new(
                broken,
                format!(
                    "the {what} body did not arrive within {} s (body_timeout_secs)",
                    limit.as_secs()
                ),
            )
        })?;
        received.map_err(|e| match e {
            SpoolError::TooLarge { limit } => XRoadError::new(
                too_large,
                format!("the {what} body is larger than {limit} bytes (max_body_bytes)"),
            ),
            SpoolError::Io(m) => {
                XRoadError::new(broken, format!("receiving the {what} failed: {m}"))
            }
        })
    }

    /// A connection to a provider gateway (HTTP/2 over mutual TLS), reused while it lives.
    /// Connecting (TCP, TLS, HTTP/2 handshakes, all within `connect_timeout_secs`) happens
    /// outside the pool's lock, one attempt per peer connection at a time ([`crate::peers`]).
    async fn peer(&self, loaded: &Loaded, gw: &GatewayInfo) -> Result<Arc<Peer>, XRoadError> {
        // A few connections per peer, used in turn: one HTTP/2 connection is driven by one task
        // on each side, which would put every exchange's TLS and framing work on one core.
        let slot = self
            .peer_turn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.peer_connections;
        let key = format!(
            "{}|{}|{}|{slot}",
            gw.id,
            gw.address,
            gw.tls_cert_sha256.join(",")
        );
        let own = OwnTls {
            chain: loaded.own_chain.clone(),
            key: self.tls_key.clone(),
        };
        let roots = loaded.roots.clone();
        let gw = gw.clone();
        let timeout = Duration::from_secs(self.cfg.connect_timeout_secs);
        self.peers
            .get(
                &key,
                |p| !p.sender.is_closed(),
                move || async move {
                    let (id, address) = (gw.id.clone(), gw.address.clone());
                    tokio::time::timeout(timeout, connect_peer(own, roots, gw))
                        .await
                        .unwrap_or_else(|_| {
                            Err(XRoadError::new(
                                ErrorKind::CpNetwork,
                                format!(
                                    "connecting to gateway {id} at {address} took longer than {} s (connect_timeout_secs)",
                                    timeout.as_secs()
                                ),
                            ))
                        })
                },
            )
            .await
    }

    fn local_record(&self, xh: &XRoadHeaders, service: &ServiceId) -> ExchangeRecord {
        ExchangeRecord {
            message_id: xh.message_id.clone(),
            time_unix_ms: now_ms(),
            client: xh.client_text.clone(),
            service: service.to_string(),
            gateway: self.id_text.clone(),
            role: "client".into(),
            user_id: xh.user_id.clone(),
            data_subject: None,
            purpose: xh.purpose.clone(),
            request_digest: String::new(),
            response_digest: None,
            response_status: Some(200),
            request_signature: String::new(),
            request_signer_cert_sha256: String::new(),
            response_signature: None,
            response_signer_cert_sha256: None,
            error: None,
            request_body_sha256: None,
            response_body_sha256: None,
            request_signed: None,
            response_signed: None,
        }
    }

    // ----- server side --------------------------------------------------------------------

    /// Handles a request from another gateway whose TLS certificate is `peer_cert`.
    pub async fn handle_peer(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer_cert: Arc<Certificate>,
    ) -> Response<OutBody> {
        let started = Instant::now();
        let message_id = header(req.headers(), p::H_ID).unwrap_or("").to_owned();
        let form = p::ErrorForm::from_accept(req.headers());
        let mut verified = None;
        let result = self.provider_exchange(req, &peer_cert, &mut verified).await;
        let elapsed = started.elapsed();
        let (resp, rec) = match result {
            Ok(r) => r,
            Err(e) => {
                self.metrics.inc_error(e.kind.as_str());
                tracing::warn!(%message_id, error_type = e.kind.as_str(), error = %e.message, role = "provider", "exchange refused");
                let mut r = err_response(&e, &message_id, form);
                // A refusal is signed, so the caller's gateway can tell it from one forged in
                // transit — but only over a request digest this gateway computed from a request
                // whose signature it verified: signing for a peer not yet authenticated would
                // give anyone a signature over a digest of their choosing.
                if let Some(digest) = verified {
                    let (body, _) = e.render(&message_id, form);
                    let covered = "content-type";
                    let base = p::response_signature_base(
                        &digest,
                        e.status(),
                        Some(e.kind.as_str()),
                        &p::covered_sha256(
                            None,
                            covered,
                            r.headers(),
                            &Sha256::digest(&body).into(),
                        ),
                    );
                    let bdigest: [u8; 32] = Sha256::digest(base.as_bytes()).into();
                    let sig = self.signer.sign(base.into_bytes(), bdigest).await;
                    p::set_unique(r.headers_mut(), p::H_SIG, &sig);
                    p::set(r.headers_mut(), p::H_COVERED, covered);
                }
                self.staple_headers(r.headers_mut());
                self.metrics.observe("provider", e.status(), elapsed);
                return r;
            }
        };
        self.metrics
            .observe("provider", resp.status().as_u16(), elapsed);
        tracing::info!(message_id = %rec.message_id, client = %rec.client, service = %rec.service, role = "provider",
            status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, subject_present = rec.data_subject.is_some(), "exchange");
        resp
    }

    /// `verified` is set to the request's digest once its signature is verified: from then on
    /// the peer is authenticated and a refusal may be signed.
    async fn provider_exchange(
        &self,
        req: Request<Incoming>,
        peer_cert: &Certificate,
        verified: &mut Option<String>,
    ) -> Result<(Response<OutBody>, ExchangeRecord), XRoadError> {
        let t0 = Instant::now();
        let _in_flight = self.signer.enter();
        let loaded = self.current_conf(ErrorKind::SpOutdatedConf)?;
        let conf = &loaded.conf;
        let fingerprint = peer_cert.sha256_fingerprint_hex();
        let peer_gw = conf
            .gateway_by_tls_sha256(&fingerprint)
            .ok_or_else(|| XRoadError::new(ErrorKind::SpSsl, format!("the calling gateway's certificate (SHA-256 {fingerprint}) is not pinned for any gateway in the global configuration")))?;
        self.check_staple(
            &loaded,
            peer_cert,
            header(req.headers(), p::H_TLS_OCSP),
            "calling gateway TLS",
        )
        .map_err(|e| XRoadError::new(ErrorKind::SpSsl, e))?;
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let target = p::parse_target(&path)
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.message))?;
        let xh = p::parse_headers(req.headers(), String::new)
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.message))?;
        if !conf
            .gateways_serving(&xh.client)
            .any(|g| g.id == peer_gw.id)
        {
            return Err(XRoadError::new(
                ErrorKind::SpAccessDenied,
                format!("gateway {} does not serve client {}", peer_gw.id, xh.client),
            ));
        }
        // Per calling gateway, so one peer's load leaves room for the others'.
        let _permit = self.provider_limits.enter(&peer_gw.id.to_string()).await;
        let (parts, req_body) = req.into_parts();
        let method = parts.method;
        let in_headers = parts.headers;
        // Everything this side forwards or reads must be covered by the signature: a header
        // the sender did not list was added on the way (see protocol's module doc).
        let covered = header(&in_headers, p::H_COVERED).unwrap_or("");
        if let Some(n) = p::uncovered_header(&in_headers, covered, &[]) {
            return Err(XRoadError::new(
                ErrorKind::SpSignature,
                format!("the request carries the header {n}, which its signature does not cover"),
            ));
        }
        let created_ms: u64 = header(&in_headers, p::H_CREATED)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorKind::SpSignature,
                    "the request carries no signed creation time",
                )
            })?;
        let mut body = self
            .receive(
                req_body,
                "request",
                ErrorKind::TooLarge,
                ErrorKind::SpBadRequest,
                false,
            )
            .await?;
        let declared = conf.service(&target.service);
        // Found in covered headers, path or query only, and a field of the signature base.
        let data_subject = declared.and_then(|s| {
            s.data_subject
                .as_ref()
                .and_then(|loc| find_subject(loc, &in_headers, &target, conf.path_templates(&s.id)))
        });
        let base = p::SignedRequest {
            service: &target.service_text,
            headers: &xh,
            created_ms,
            subject: data_subject.as_deref(),
            covered_sha256: p::covered_sha256(
                Some((method.as_str(), &target.path, target.query.as_deref())),
                covered,
                &in_headers,
                &body.sha256,
            ),
        }
        .signature_base();
        let signer = self
            .check_signer(
                &loaded,
                header(&in_headers, p::H_SIGNER),
                header(&in_headers, p::H_SIGNER_OCSP),
                xh.client.member(),
            )
            .map_err(|e| XRoadError::new(ErrorKind::SpSignature, e))?;
        let signature = header(&in_headers, p::H_SIG).unwrap_or("").to_owned();
        let digest_bytes: [u8; 32] = Sha256::digest(base.as_bytes()).into();
        self.verifier
            .verify(&signer, base.as_bytes(), &digest_bytes, &signature)
            .await
            .map_err(|_| {
                XRoadError::new(
                    ErrorKind::SpSignature,
                    "the request does not match its signature: it was altered in transit",
                )
            })?;
        let digest = hex::encode(digest_bytes);
        *verified = Some(digest.clone());
        // After the signature (else anyone could burn another client's ids), before anything
        // is forwarded or recorded.
        self.replay
            .accept(
                &xh.client_text,
                &xh.message_id,
                created_ms,
                now_ms(),
                Instant::now(),
            )
            .map_err(|e| {
                let kind = match e {
                    crate::replay::Refused::Replayed(_) => ErrorKind::SpReplayed,
                    _ => ErrorKind::SpStale,
                };
                XRoadError::new(kind, e.to_string())
            })?;
        tracing::debug!(
            phase = "request verified",
            us = t0.elapsed().as_micros() as u64
        );
        let service = conf
            .service(&target.service)
            .filter(|_| {
                conf.gateways_serving_subsystem(&target.service.subsystem)
                    .any(|g| g.id == self.id)
            })
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorKind::SpUnknownService,
                    format!(
                        "service {} is not provided through gateway {}",
                        target.service, self.id
                    ),
                )
            })?;
        let backend = self.backends.get(&target.service).ok_or_else(|| {
            XRoadError::new(
                ErrorKind::SpUnknownService,
                format!(
                    "service {} has no information system configured on gateway {}",
                    target.service, self.id
                ),
            )
        })?;
        authorise(conf, &xh, service, ErrorKind::SpAccessDenied)?;

        // Bodies are kept only for the services this gateway's configuration names.
        let keeper = self
            .bodies
            .as_ref()
            .filter(|_| self.keep_bodies.contains(&target.service));
        let request_body_sha256 = match keeper {
            Some(store) => Some(self.keep_body(store, &mut body, "request").await?),
            None => None,
        };
        let (status_code, rh_in, mut rbody) =
            if backend == SUBJECT_ACCESSES_BACKEND || backend == SUBJECT_ACCESSES_AUDIT_BACKEND {
                let auditor = backend == SUBJECT_ACCESSES_AUDIT_BACKEND;
                self.subject_accesses(&xh, &target, data_subject.as_deref(), auditor)
                    .await?
            } else {
                self.call_system(backend, method.clone(), &in_headers, &xh, &target, body)
                    .await?
            };
        tracing::debug!(
            phase = "system answered",
            us = t0.elapsed().as_micros() as u64
        );
        let response_body_sha256 = match keeper {
            Some(store) => Some(self.keep_body(store, &mut rbody, "response").await?),
            None => None,
        };
        let status = status_code.as_u16();
        let mut rh = p::passthrough_headers(&rh_in);
        p::strip_xroad_response_headers(&mut rh);
        // Every header the client's gateway will pass on is covered.
        let rcovered = p::covered_names(&rh);
        let rbase = p::response_signature_base(
            &digest,
            status,
            None,
            &p::covered_sha256(None, &rcovered, &rh, &rbody.sha256),
        );
        let rdigest: [u8; 32] = Sha256::digest(rbase.as_bytes()).into();
        let rsig = self.signer.sign(rbase.as_bytes().to_vec(), rdigest).await;
        tracing::debug!(
            phase = "response signed",
            us = t0.elapsed().as_micros() as u64
        );
        let rec = ExchangeRecord {
            message_id: xh.message_id.clone(),
            time_unix_ms: now_ms(),
            client: xh.client_text.clone(),
            service: target.service_text.clone(),
            gateway: self.id_text.clone(),
            role: "provider".into(),
            user_id: xh.user_id.clone(),
            data_subject,
            purpose: xh.purpose.clone(),
            request_digest: digest,
            response_digest: Some(hex::encode(rdigest)),
            response_status: Some(status),
            request_signature: signature,
            request_signer_cert_sha256: signer.sha256_fingerprint_hex(),
            response_signature: Some(rsig.clone()),
            response_signer_cert_sha256: Some(self.sign_cert.sha256_fingerprint_hex()),
            error: None,
            request_body_sha256,
            response_body_sha256,
            request_signed: Some(base),
            response_signed: Some(rbase),
        };
        self.recorder
            .record(&rec)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::SpDatabase, e))?;
        tracing::debug!(
            phase = "provider recorded",
            us = t0.elapsed().as_micros() as u64
        );
        p::set_unique(&mut rh, p::H_ID, &xh.message_id);
        p::set(&mut rh, p::H_CLIENT, &xh.client_text);
        p::set(&mut rh, p::H_SERVICE, &target.service_text);
        p::set_unique(&mut rh, p::H_SIG, &rsig);
        p::set(&mut rh, p::H_COVERED, &rcovered);
        self.staple_headers(&mut rh);
        let mut out = Response::new(rbody.into_body());
        *out.status_mut() = status_code;
        *out.headers_mut() = rh;
        Ok((out, rec))
    }

    /// Keeps `body` encrypted in `store`, durably, and returns its hex SHA-256 (its name there).
    async fn keep_body(
        &self,
        store: &Arc<korpu_ledger::body::BodyStore>,
        body: &mut Spooled,
        what: &str,
    ) -> Result<String, XRoadError> {
        if body.len > self.cfg.keep_bodies_max_bytes {
            return Err(XRoadError::new(
                ErrorKind::SpTooLarge,
                format!(
                    "the {what} body ({} bytes) is larger than this service keeps (keep_bodies_max_bytes = {})",
                    body.len, self.cfg.keep_bodies_max_bytes
                ),
            ));
        }
        let failed = |e: String| {
            XRoadError::new(
                ErrorKind::SpDatabase,
                format!("keeping the {what} body failed: {e}"),
            )
        };
        let bytes = body.to_bytes().map_err(|e| failed(e.to_string()))?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.put(&bytes))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))
    }

    /// Calls the provider's information system at `backend` with the verified request.
    async fn call_system(
        &self,
        backend: &str,
        method: hyper::Method,
        in_headers: &HeaderMap,
        xh: &XRoadHeaders,
        target: &p::Target,
        body: Spooled,
    ) -> Result<(hyper::StatusCode, HeaderMap, Spooled), XRoadError> {
        let mut uri = format!("{backend}{}", target.path);
        if let Some(q) = &target.query {
            uri.push('?');
            uri.push_str(q);
        }
        let mut rb = Request::builder().method(method.clone()).uri(&uri);
        let mut h = p::passthrough_headers(in_headers);
        for (n, v) in [
            (p::H_CLIENT, Some(xh.client_text.as_str())),
            (p::H_SERVICE, Some(target.service_text.as_str())),
            (p::H_ID, Some(xh.message_id.as_str())),
            (p::H_USER, xh.user_id.as_deref()),
            (p::H_ISSUE, xh.issue.as_deref()),
            (p::H_PURPOSE, xh.purpose.as_deref()),
            (p::H_REPRESENTED, xh.represented_party.as_deref()),
        ] {
            if let Some(v) = v {
                p::set(&mut h, n, v);
            }
        }
        *rb.headers_mut().expect("builder") = h;
        let out = rb
            .body(body.into_body())
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.to_string()))?;
        let wait = Duration::from_secs(self.cfg.provider_timeout_secs);
        let resp = match tokio::time::timeout(wait, self.provider_http.request(out)).await {
            Err(_) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceTimeout,
                    format!(
                        "the information system behind {} did not answer within {} s",
                        target.service,
                        wait.as_secs()
                    ),
                ))
            }
            Ok(Err(e)) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceFailed,
                    format!(
                        "the information system behind {} failed: {e}",
                        target.service
                    ),
                ))
            }
            Ok(Ok(r)) => r,
        };
        let (parts, rbody) = resp.into_parts();
        // The answer goes back on the connection the calling gateway shares among its callers:
        // headers it would refuse must stop here (issue 13, item 9).
        crate::limits::check_headers(
            &parts.headers,
            self.cfg.max_header_bytes,
            self.cfg.max_header_count,
        )
        .map_err(|m| {
            XRoadError::new(
                ErrorKind::SpServiceFailed,
                format!(
                    "the information system behind {}: {}",
                    target.service,
                    m.replacen("the request", "its response", 1)
                ),
            )
        })?;
        let rbody = match tokio::time::timeout(
            wait,
            Spooled::receive(
                rbody,
                self.cfg.max_body_bytes,
                self.cfg.memory_spool_bytes,
                false,
            ),
        )
        .await
        {
            Err(_) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceTimeout,
                    "the information system's response body did not arrive in time",
                ))
            }
            Ok(Err(SpoolError::TooLarge { limit })) => {
                return Err(XRoadError::new(
                    ErrorKind::SpTooLarge,
                    format!("the response body is larger than {limit} bytes"),
                ))
            }
            Ok(Err(SpoolError::Io(m))) => {
                return Err(XRoadError::new(ErrorKind::SpServiceFailed, m))
            }
            Ok(Ok(b)) => b,
        };
        Ok((parts.status, parts.headers, rbody))
    }

    /// The built-in `korpu:subject-accesses` backend: a data subject's accesses from this
    /// gateway's evidence ledger, newest first, each with its inclusion proof — the portal's
    /// data tracker. Only the subject themself may ask (`X-Road-UserId` = the subject); the
    /// service's access rights decide which client subsystem (the portal) may relay the
    /// question, and the exchange is recorded like any other.
    async fn subject_accesses(
        &self,
        xh: &XRoadHeaders,
        target: &p::Target,
        subject: Option<&str>,
        auditor: bool,
    ) -> Result<(hyper::StatusCode, HeaderMap, Spooled), XRoadError> {
        let subject = subject.filter(|s| !s.is_empty()).ok_or_else(|| {
            XRoadError::new(
                ErrorKind::SpBadRequest,
                format!("{} needs the data subject's id where the service declares it (e.g. ?subject=ID)", target.service),
            )
        })?;
        if auditor {
            // An audit is on the record as someone's act: it must say whose.
            if xh.user_id.as_deref().is_none_or(|u| u.trim().is_empty()) {
                return Err(XRoadError::new(
                    ErrorKind::SpAccessDenied,
                    "an audit of a subject's accesses must name the auditor in X-Road-UserId",
                ));
            }
        } else if xh.user_id.as_deref() != Some(subject) {
            return Err(XRoadError::new(
                ErrorKind::SpAccessDenied,
                "only the data subject may read their own accesses: X-Road-UserId must be the subject's id",
            ));
        }
        let query = |name: &str| {
            target
                .query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k == name).then(|| v.to_owned())
                })
        };
        let number = |name: &str| -> Result<Option<u64>, XRoadError> {
            query(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        XRoadError::new(
                            ErrorKind::SpBadRequest,
                            format!("{name}={v:?} is not a whole number"),
                        )
                    })
                })
                .transpose()
        };
        let limit = number("limit")?
            .unwrap_or(SUBJECT_PAGE_DEFAULT)
            .clamp(1, SUBJECT_PAGE_MAX) as usize;
        let cursor = number("cursor")?;
        let page = self
            .recorder
            .subject_accesses(subject, cursor, limit)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::SpDatabase, e))?;
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let bytes = serde_json::to_vec(&page).expect("json");
        Ok((hyper::StatusCode::OK, h, Spooled::from_bytes(bytes.into())))
    }

    // ----- metaservices and monitoring ----------------------------------------------------

    fn json(v: serde_json::Value) -> Response<OutBody> {
        let mut r = Response::new(OutBody::full(serde_json::to_vec(&v).expect("json")));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        r
    }

    /// The signer's and verifier's counters, in Prometheus text format: signatures made per
    /// message signed is the batch size, verifications per message received the share of
    /// batches verified here.
    fn signature_metrics(&self) -> String {
        let (signatures, signed) = self.signer.counts();
        let (verifications, remembered) = self.verifier.counts();
        let mut s = String::new();
        for (name, help, value) in [
            (
                "korpu_signatures_total",
                "ECDSA signatures made over outgoing messages (one per batch).",
                signatures,
            ),
            (
                "korpu_signed_messages_total",
                "Outgoing messages signed.",
                signed,
            ),
            (
                "korpu_signature_verifications_total",
                "ECDSA verifications of incoming messages' signatures.",
                verifications,
            ),
            (
                "korpu_signature_batch_reuses_total",
                "Incoming messages whose batch signature was already verified for another message.",
                remembered,
            ),
        ] {
            write_counter(&mut s, name, help, value);
        }
        s
    }

    fn health(&self) -> Response<OutBody> {
        let loaded = self.loaded();
        let now = Timestamp::now();
        let ok = loaded.as_ref().is_some_and(|l| now < l.conf.expires_at);
        let mut r = Self::json(serde_json::json!({
            "status": if ok { "ok" } else { "unavailable" },
            "gateway": self.id.to_string(),
            "conf_version": loaded.as_ref().map(|l| l.conf.version),
            "conf_expires_at": loaded.as_ref().map(|l| l.conf.expires_at.to_string()),
            "conf_error": self.conf_error.lock().expect("lock").clone(),
            "ocsp_stapled": self.staples.read().expect("lock").tls.is_some(),
        }));
        if !ok {
            *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        }
        r
    }

    /// PR-META listClients (JSON form).
    fn list_clients(&self, form: p::ErrorForm) -> Response<OutBody> {
        let Some(loaded) = self.loaded() else {
            return err_response(
                &XRoadError::new(ErrorKind::OutdatedConf, "no global configuration yet"),
                "",
                form,
            );
        };
        let mut list = Vec::new();
        for m in &loaded.conf.members {
            let id = |sub: Option<&str>| {
                let mut v = serde_json::json!({
                    "member_class": m.id.class.as_str(), "member_code": m.id.code.as_str(),
                    "object_type": if sub.is_some() { "SUBSYSTEM" } else { "MEMBER" },
                    "xroad_instance": m.id.instance.as_str(),
                });
                if let Some(s) = sub {
                    v["subsystem_code"] = s.into();
                }
                v
            };
            list.push(serde_json::json!({"id": id(None), "name": m.name}));
            for s in &m.subsystems {
                list.push(serde_json::json!({"id": id(Some(s.as_str())), "name": m.name, "subsystemName": s.as_str()}));
            }
        }
        Self::json(serde_json::json!({ "member": list }))
    }

    /// PR-MREST listMethods, allowedMethods and getOpenAPI, answered from the global
    /// configuration, which holds every service's description.
    fn metaservice(
        &self,
        conf: &IndexedConf,
        target: &p::Target,
        xh: &XRoadHeaders,
    ) -> Option<Result<Response<OutBody>, XRoadError>> {
        let sub = &target.service.subsystem;
        let code = target.service.code.as_str();
        let services = conf.services.iter().filter(|s| &s.id.subsystem == sub);
        let describe = |s: &korpu_conf::ServiceInfo| {
            serde_json::json!({
                "member_class": sub.member.class.as_str(), "member_code": sub.member.code.as_str(),
                "object_type": "SERVICE", "service_code": s.id.code.as_str(),
                "service_type": if s.openapi.is_some() { "OPENAPI" } else { "REST" },
                "subsystem_code": sub.code.as_str(), "xroad_instance": sub.member.instance.as_str(),
            })
        };
        match code {
            "listMethods" => Some(Ok(Self::json(
                serde_json::json!({"service": services.map(describe).collect::<Vec<_>>()}),
            ))),
            "allowedMethods" => Some(Ok(Self::json(serde_json::json!({
                "service": services.filter(|s| conf.is_allowed(&xh.client, &s.id)).map(describe).collect::<Vec<_>>()
            })))),
            "getOpenAPI" => {
                let wanted = target
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("serviceCode="));
                let Some(wanted) = wanted else {
                    return Some(Err(XRoadError::new(
                        ErrorKind::BadRequest,
                        "getOpenAPI needs ?serviceCode=SERVICE",
                    )));
                };
                let found = conf
                    .services
                    .iter()
                    .find(|s| &s.id.subsystem == sub && s.id.code.as_str() == wanted);
                Some(match found.and_then(|s| s.openapi.clone()) {
                    Some(doc) => {
                        let ct = if doc.trim_start().starts_with('{') {
                            "application/json"
                        } else {
                            "application/yaml"
                        };
                        let mut r = Response::new(OutBody::full(doc));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                        Ok(r)
                    }
                    None => Err(XRoadError::new(
                        ErrorKind::UnknownService,
                        format!("{sub}/{wanted} has no OpenAPI description"),
                    )),
                })
            }
            _ => None,
        }
    }
}

/// The rule both gateways apply: `xh.client` needs an access right to `service`, and a purpose
/// when the service requires one. `denied` is the error type for this side of the exchange.
/// Connects to a provider gateway: TCP, TLS 1.3 with its pinned certificate, HTTP/2. Owns what
/// it needs, since it runs in a task of its own (see [`crate::peers`]); the caller bounds it.
async fn connect_peer(
    own: OwnTls,
    roots: Vec<Certificate>,
    gw: GatewayInfo,
) -> Result<Arc<Peer>, XRoadError> {
    let fail = |m: String| XRoadError::new(ErrorKind::CpNetwork, m);
    let cfg = tls::client_config(&own, &roots, gw.tls_cert_sha256.clone())
        .map_err(|e| XRoadError::new(ErrorKind::CpInternal, e))?;
    let host = gw
        .address
        .rsplit_once(':')
        .map_or(gw.address.as_str(), |(h, _)| h)
        .trim_matches(['[', ']']);
    let server_name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
        fail(format!(
            "gateway {} has an unusable address {}",
            gw.id, gw.address
        ))
    })?;
    let connect = tokio::net::TcpStream::connect(&gw.address);
    let tcp = connect.await.map_err(|e| {
        fail(format!(
            "cannot connect to gateway {} at {}: {e}",
            gw.id, gw.address
        ))
    })?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            XRoadError::new(
                ErrorKind::CpSsl,
                format!("TLS with gateway {} failed: {e}", gw.id),
            )
        })?;
    let cert_der = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| {
            XRoadError::new(
                ErrorKind::CpSsl,
                "the provider gateway presented no certificate",
            )
        })?;
    let cert = Certificate::from_der(cert_der.as_ref())
        .map_err(|e| XRoadError::new(ErrorKind::CpSsl, e.to_string()))?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .header_table_size(HPACK_TABLE_BYTES)
        .max_header_list_size(crate::limits::PEER_HEADER_LIST_BYTES as u32)
        .handshake(TokioIo::new(tls))
        .await
        .map_err(|e| fail(format!("HTTP/2 with gateway {} failed: {e}", gw.id)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "gateway connection closed");
        }
    });
    Ok(Arc::new(Peer { sender, cert }))
}

fn authorise(
    conf: &IndexedConf,
    xh: &XRoadHeaders,
    service: &korpu_conf::ServiceInfo,
    denied: ErrorKind,
) -> Result<(), XRoadError> {
    if !conf.is_allowed(&xh.client, &service.id) {
        return Err(XRoadError::new(
            denied,
            format!("{} has no access right to {}", xh.client, service.id),
        ));
    }
    if service.purpose_required && xh.purpose.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(XRoadError::new(
            ErrorKind::PurposeRequired,
            format!(
                "service {} requires a purpose: send X-Korpu-Purpose",
                service.id
            ),
        ));
    }
    Ok(())
}

/// Finds the data subject's id in a request, where the service says it is. A path parameter
/// is matched against the service's OpenAPI path templates (`/persons/{pin}`); without a
/// matching template it is the last path segment. `templates` are the OpenAPI description's
/// path templates ([`IndexedConf::path_templates`]).
pub fn find_subject(
    loc: &SubjectLocation,
    headers: &HeaderMap,
    target: &p::Target,
    templates: &[String],
) -> Option<String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    match loc {
        SubjectLocation::Header(name) => HeaderName::from_bytes(name.as_bytes())
            .ok()
            .and_then(|n| header(headers, n.as_str()).map(str::to_owned)),
        SubjectLocation::Query(name) => target.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k) == *name).then(|| decode(v))
        }),
        SubjectLocation::Path(name) => {
            let segs: Vec<&str> = target.path.split('/').filter(|s| !s.is_empty()).collect();
            let placeholder = format!("{{{name}}}");
            for t in templates {
                let tsegs: Vec<&str> = t.split('/').filter(|s| !s.is_empty()).collect();
                if tsegs.len() != segs.len() {
                    continue;
                }
                let mut value = None;
                let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
                    if *t == placeholder {
                        value = Some(decode(s));
                        true
                    } else {
                        t.starts_with('{') || t == s
                    }
                });
                if fits && value.is_some() {
                    return value;
                }
            }
            segs.last().map(|s| decode(s))
        }
    }
}
