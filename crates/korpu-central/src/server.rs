//! The central registry's two listeners, a thin layer over [`Registry`]:
//!
//! - the **management API** (JSON over HTTPS, `Authorization: Bearer <admin token>`), under
//!   `/api/v1/…`;
//! - the **public endpoints** (plain HTTP; everything they serve is signed, so transport
//!   security adds nothing a verifier relies on): `GET /conf` (the signed global
//!   configuration), `GET /anchor`, `POST /ocsp` and `GET /ocsp/{base64}` (RFC 6960 Appendix A),
//!   `POST /tsa` (RFC 3161 over HTTP, RFC 3161 §3.4; per client address rate-limited, 429
//!   with `Retry-After` beyond it), `GET /health`.
//!
//! The signed configuration is rebuilt after every change made through the API and re-signed
//! every `conf_refresh_secs`, so that changes made by another process (a second registry
//! replica, or a direct database restore) are published too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use korpu_conf::GlobalConf;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{watch, RwLock};

use crate::config::CentralConfig;
use crate::error::RegistryError;
use crate::pki::CentralPki;
use crate::registry::{
    AccessRightRequest, CertRequest, GatewayLedgerKey, NewGateway, NewGatewayClient, NewMember,
    NewMemberClass, NewService, NewSubsystem, Registry, RegistrySettings, RevokeRequest,
};
use crate::store::Store;

/// The latest signed configuration.
struct Published {
    version: u64,
    expires_at: korpu_conf::Timestamp,
    signed: Bytes,
}

struct AppState {
    registry: Registry,
    /// One publication at a time in this process, so versions are allocated in order.
    publishing: tokio::sync::Mutex<()>,
    published: RwLock<Published>,
    ocsp: korpu_pki::ocsp::Responder,
    tsa: korpu_pki::tsa::Authority,
    /// Per client address: the TSA signs whatever it is sent, so nobody gets it without end.
    tsa_limit: crate::ratelimit::RateLimiter,
    request_timeout: Duration,
}

type Shared = Arc<AppState>;

/// A running central registry.
pub struct RunningCentral {
    /// Where the management API (HTTPS) listens.
    pub management_addr: SocketAddr,
    /// Where the public endpoints (HTTP) listen.
    pub public_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    store: Store,
    grace: Duration,
}

impl RunningCentral {
    /// Stops accepting, lets requests in flight finish (each listener for at most the
    /// configured `shutdown_grace_secs`), closes the database, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        korpu_service::shutdown::within_grace(self.grace, self.store.close()).await;
    }
}

/// Opens the store and the PKI named by `config`, binds both listeners and starts serving.
pub async fn start(config: &CentralConfig) -> Result<RunningCentral, RegistryError> {
    let store = Store::open_with(&config.effective_database_url(), &config.pool_limits()).await?;
    let pki = CentralPki::load(&config.data_dir)?;
    let management = TcpListener::bind(config.management_listen)
        .await
        .map_err(|e| {
            RegistryError::Store(format!(
                "cannot listen on {}: {e}",
                config.management_listen
            ))
        })?;
    let public = TcpListener::bind(config.public_listen).await.map_err(|e| {
        RegistryError::Store(format!("cannot listen on {}: {e}", config.public_listen))
    })?;
    let management_addr = management
        .local_addr()
        .map_err(|e| RegistryError::Store(e.to_string()))?;
    let public_addr = public
        .local_addr()
        .map_err(|e| RegistryError::Store(e.to_string()))?;
    // With port 0 in the configuration, the public URL must name the port actually bound.
    let public_url = if config.public_url.is_empty() {
        format!("http://{public_addr}")
    } else {
        config.effective_public_url()
    };
    let settings = RegistrySettings {
        instance: config
            .instance
            .parse()
            .map_err(|e| RegistryError::bad_id("instance", e))?,
        leaf_cert_validity: Duration::from_secs(config.leaf_cert_validity_days * 86_400),
        conf_validity: Duration::from_secs(config.conf_validity_secs),
        public_url,
    };
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let tls = tls_acceptor(&pki)?;
    let registry = Registry {
        store: store.clone(),
        pki,
        settings,
    };
    let state = app_state(
        registry,
        &ServingLimits {
            ocsp_validity: Duration::from_secs(config.ocsp_validity_secs),
            tsa_policy: &config.tsa_policy,
            tsa_requests_per_second: config.tsa_requests_per_second,
            tsa_burst: config.tsa_burst,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
        },
    )
    .await?;
    let version = state.published.read().await.version;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let limit = DefaultBodyLimit::max(config.max_body_bytes);
    let mgmt_app = management_router(state.clone()).layer(limit);
    let public_app = public_router(state.clone()).layer(limit);

    let timeouts = korpu_net::Timeouts::from_secs(
        config.tls_handshake_timeout_secs,
        config.header_read_timeout_secs,
    );
    let mut tasks = vec![
        korpu_net::serve_router(
            management,
            Some(tls),
            mgmt_app,
            timeouts,
            shutdown_rx.clone(),
            grace,
        ),
        korpu_net::serve_router(
            public,
            None,
            public_app,
            timeouts,
            shutdown_rx.clone(),
            grace,
        ),
    ];
    let refresh = Duration::from_secs(config.conf_refresh_secs);
    let mut rx = shutdown_rx;
    let st = state.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(refresh) => {
                    if let Err(e) = republish(&st).await {
                        tracing::error!(error = %e, "re-signing the global configuration failed");
                    }
                }
                _ = stopped(&mut rx) => break,
            }
        }
    }));
    tracing::info!(%management_addr, %public_addr, version, "central registry listening");
    Ok(RunningCentral {
        management_addr,
        public_addr,
        shutdown,
        tasks,
        store,
        grace,
    })
}

/// What the handlers' state takes from the configuration.
struct ServingLimits<'a> {
    ocsp_validity: Duration,
    tsa_policy: &'a str,
    tsa_requests_per_second: f64,
    tsa_burst: u32,
    request_timeout: Duration,
}

/// The handlers' state: the registry with a first configuration published, and the OCSP and
/// time-stamping signers made from its PKI.
async fn app_state(
    registry: Registry,
    limits: &ServingLimits<'_>,
) -> Result<Shared, RegistryError> {
    let (conf, signed) = registry.publish().await?;
    let ocsp = registry.pki.ocsp_responder(limits.ocsp_validity);
    let tsa = registry.pki.tsa_authority(limits.tsa_policy)?;
    Ok(Arc::new(AppState {
        registry,
        publishing: tokio::sync::Mutex::new(()),
        published: RwLock::new(Published {
            version: conf.version,
            expires_at: conf.expires_at,
            signed: signed.into(),
        }),
        ocsp,
        tsa,
        tsa_limit: crate::ratelimit::RateLimiter::new(
            limits.tsa_requests_per_second,
            limits.tsa_burst,
        ),
        request_timeout: limits.request_timeout,
    }))
}

/// Resolves once shutdown was asked for (or the sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    korpu_net::stopped(rx).await
}

async fn republish(state: &AppState) -> Result<u64, RegistryError> {
    let _one_at_a_time = state.publishing.lock().await;
    let (conf, signed) = state.registry.publish().await?;
    let mut p = state.published.write().await;
    *p = Published {
        version: conf.version,
        expires_at: conf.expires_at,
        signed: signed.into(),
    };
    Ok(conf.version)
}

fn tls_acceptor(pki: &CentralPki) -> Result<tokio_rustls::TlsAcceptor, RegistryError> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = vec![
        CertificateDer::from(pki.tls.cert.der().to_vec()),
        CertificateDer::from(pki.issuing.cert.der().to_vec()),
    ];
    let key_der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(pki.tls.key.inner())
        .map_err(|e| RegistryError::Pki(format!("encoding the management TLS key: {e}")))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.as_bytes().to_vec()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| RegistryError::Pki(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| RegistryError::Pki(format!("the management TLS key: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

// ----- management API ---------------------------------------------------------------------

fn management_router(state: Shared) -> Router {
    Router::new()
        .route(
            "/api/v1/member-classes",
            get(|State(s): State<Shared>| list(s, |c| c.member_classes)).post(add_member_class),
        )
        .route(
            "/api/v1/members",
            get(|State(s): State<Shared>| list(s, |c| c.members)).post(add_member),
        )
        .route("/api/v1/subsystems", post(add_subsystem))
        .route(
            "/api/v1/gateways",
            get(|State(s): State<Shared>| list(s, |c| c.gateways)).post(add_gateway),
        )
        .route("/api/v1/gateway-clients", post(add_gateway_client))
        .route("/api/v1/gateway-ledger-keys", post(set_gateway_ledger_key))
        .route(
            "/api/v1/services",
            get(|State(s): State<Shared>| list(s, |c| c.services)).post(add_service),
        )
        .route(
            "/api/v1/access-rights",
            get(|State(s): State<Shared>| list(s, |c| c.access_rights))
                .post(grant_access)
                .delete(revoke_access),
        )
        .route(
            "/api/v1/certificates",
            get(list_certificates).post(issue_certificate),
        )
        .route("/api/v1/certificates/revoke", post(revoke_certificate))
        .route("/api/v1/conf", get(current_conf))
        .route("/api/v1/conf/publish", post(publish_conf))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .with_state(state)
}

async fn not_found() -> RegistryError {
    RegistryError::NotFound {
        what: "API endpoint",
        id: "at this path; see ARCHITECTURE.md for the list".into(),
    }
}

async fn authenticate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return RegistryError::Unauthorized(
            "administrator credentials required: send `Authorization: Bearer <token>` \
             (the token is in the data directory's admin-token file after `korpu central init`)"
                .into(),
        )
        .into_response();
    };
    match state.registry.authenticate(token.trim()).await {
        Ok(admin) => {
            tracing::info!(%admin, method = %req.method(), path = %req.uri().path(), "management request");
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn time_limit(State(state): State<Shared>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"type": "timeout", "message": "the request took longer than request_timeout_secs"}})),
        )
            .into_response(),
    }
}

/// Parses a JSON body; errors name the missing or wrong field where serde says which.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map_or_else(|| "body".to_owned(), str::to_owned);
        let rule = if field == "body" { "json" } else { "required" };
        RegistryError::Invalid {
            field,
            rule,
            message: format!("the request body is not the expected JSON: {msg}"),
        }
    })
}

type ApiResult = Result<Response, RegistryError>;

/// One part of the configuration as the registry holds it now (not as last published).
async fn list<T: Serialize>(s: Shared, part: fn(GlobalConf) -> T) -> ApiResult {
    Ok(Json(part(s.registry.build_conf().await?)).into_response())
}

/// After a change: publish a new configuration version at once, and answer 201 with `value`.
async fn created(state: &AppState, value: serde_json::Value) -> ApiResult {
    let version = republish(state).await?;
    let mut v = value;
    v["conf_version"] = json!(version);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn add_member_class(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: NewMemberClass = body(&b)?;
    s.registry.add_member_class(&req).await?;
    created(&s, json!({"code": req.code})).await
}

async fn add_member(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let id = s.registry.add_member(&body::<NewMember>(&b)?).await?;
    created(&s, json!({"member": id.to_string()})).await
}

async fn add_subsystem(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let id = s.registry.add_subsystem(&body::<NewSubsystem>(&b)?).await?;
    created(&s, json!({"subsystem": id.to_string()})).await
}

async fn add_gateway(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let id = s.registry.add_gateway(&body::<NewGateway>(&b)?).await?;
    created(&s, json!({"gateway": id.to_string()})).await
}

async fn set_gateway_ledger_key(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: GatewayLedgerKey = body(&b)?;
    let id = s.registry.set_gateway_ledger_key(&req).await?;
    created(
        &s,
        json!({"gateway": id.to_string(), "ledger_key": req.ledger_key}),
    )
    .await
}

async fn add_gateway_client(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: NewGatewayClient = body(&b)?;
    s.registry.add_gateway_client(&req).await?;
    created(&s, json!({"gateway": req.gateway, "client": req.client})).await
}

async fn add_service(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let id = s.registry.add_service(&body::<NewService>(&b)?).await?;
    created(&s, json!({"service": id.to_string()})).await
}

async fn grant_access(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: AccessRightRequest = body(&b)?;
    s.registry.grant_access(&req).await?;
    created(&s, json!({"client": req.client, "service": req.service})).await
}

async fn revoke_access(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: AccessRightRequest = body(&b)?;
    s.registry.revoke_access(&req).await?;
    let version = republish(&s).await?;
    Ok(Json(json!({"revoked": true, "conf_version": version})).into_response())
}

async fn issue_certificate(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let issued = s
        .registry
        .issue_certificate(&body::<CertRequest>(&b)?)
        .await?;
    created(&s, serde_json::to_value(issued).expect("serialisable")).await
}

async fn list_certificates(State(s): State<Shared>) -> ApiResult {
    Ok(Json(s.registry.certificates().await?).into_response())
}

async fn revoke_certificate(State(s): State<Shared>, b: Bytes) -> ApiResult {
    let req: RevokeRequest = body(&b)?;
    s.registry.revoke_certificate(&req).await?;
    let version = republish(&s).await?;
    Ok(Json(json!({"revoked": req.serial, "conf_version": version})).into_response())
}

async fn current_conf(State(s): State<Shared>) -> ApiResult {
    let p = s.published.read().await;
    Ok(Json(json!({"version": p.version, "expires_at": p.expires_at})).into_response())
}

async fn publish_conf(State(s): State<Shared>) -> ApiResult {
    let version = republish(&s).await?;
    Ok(Json(json!({"version": version})).into_response())
}

// ----- public endpoints ---------------------------------------------------------------------

fn public_router(state: Shared) -> Router {
    Router::new()
        .route("/conf", get(get_conf))
        .route("/anchor", get(get_anchor))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .route("/tsa", post(tsa_post))
        .route("/crl/root.crl", get(root_crl))
        .route("/health", get(health))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .with_state(state)
}

fn binary(content_type: &'static str, bytes: impl Into<Bytes>) -> Response {
    let mut r = (StatusCode::OK, bytes.into()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn get_conf(State(s): State<Shared>) -> Response {
    let p = s.published.read().await;
    binary("application/json", p.signed.clone())
}

async fn get_anchor(State(s): State<Shared>) -> ApiResult {
    Ok(binary("application/json", s.registry.anchor()?.to_json()))
}

/// RFC 6960 §2.3 and Appendix A: the request is the body (POST) or base64 in the path (GET).
async fn ocsp_answer(s: &AppState, request: &[u8]) -> Response {
    // Statuses are looked up before signing so the pure responder needs no database.
    let mut statuses = std::collections::HashMap::new();
    if let Ok(serials) = s.ocsp.requested_serials(request) {
        for serial in serials {
            match s.registry.cert_status(&serial).await {
                Ok(st) => {
                    statuses.insert(serial, st);
                }
                Err(e) => {
                    tracing::error!(error = %e, "OCSP status lookup failed");
                    // tryLater (3): the responder cannot answer now.
                    return binary(
                        "application/ocsp-response",
                        vec![0x30, 0x03, 0x0a, 0x01, 0x03],
                    );
                }
            }
        }
    }
    let resp = s
        .ocsp
        .respond(request, std::time::SystemTime::now(), |serial| {
            statuses
                .get(serial)
                .cloned()
                .unwrap_or(korpu_pki::ocsp::CertStatus::Unknown)
        });
    binary("application/ocsp-response", resp)
}

async fn ocsp_post(State(s): State<Shared>, headers: HeaderMap, b: Bytes) -> Response {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        if ct.as_bytes() != b"application/ocsp-request" {
            tracing::debug!(content_type = ?ct, "OCSP request with an unexpected content type");
        }
    }
    ocsp_answer(&s, &b).await
}

async fn ocsp_get(State(s): State<Shared>, Path(encoded): Path<String>) -> Response {
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim_start_matches('/'));
    match decoded {
        Ok(req) => ocsp_answer(&s, &req).await,
        // malformedRequest (1)
        Err(_) => binary(
            "application/ocsp-response",
            vec![0x30, 0x03, 0x0a, 0x01, 0x01],
        ),
    }
}

async fn tsa_post(
    State(s): State<Shared>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    b: Bytes,
) -> Response {
    // Before any parsing or signing. (Without a peer address, only in-process tests, there is
    // no one to count.)
    if let Some(axum::Extension(axum::extract::ConnectInfo(addr))) = peer {
        if let Err(wait) = s.tsa_limit.check(addr.ip(), std::time::Instant::now()) {
            tracing::debug!(client = %addr.ip(), "time-stamp request over the client's rate");
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                "too many time-stamp requests from this address; retry later\n",
            )
                .into_response();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.max(1).to_string()).expect("digits"),
            );
            return r;
        }
    }
    // RFC 3161 serials are positive; a random 63-bit value is unique without shared state.
    let serial = (rand_core::RngCore::next_u64(&mut rand_core::OsRng) >> 1).max(1);
    let resp = s.tsa.respond(&b, std::time::SystemTime::now(), serial);
    binary("application/timestamp-reply", resp)
}

/// The root's CRL about the issuing CA (DER, `application/pkix-crl`); 404 when the root key is
/// kept offline.
async fn root_crl(State(s): State<Shared>) -> Response {
    match s.registry.pki.root_crl(std::time::SystemTime::now()) {
        Some(Ok(der)) => binary("application/pkix-crl", der),
        Some(Err(e)) => {
            tracing::error!(error = %e, "signing the root CRL failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            "the root key is kept offline: this registry publishes no root CRL",
        )
            .into_response(),
    }
}

async fn health(State(s): State<Shared>) -> Response {
    let p = s.published.read().await;
    Json(json!({"status": "ok", "conf_version": p.version, "conf_expires_at": p.expires_at}))
        .into_response()
}

/// The management router without TLS or sockets, for tests that drive it with `oneshot`.
#[doc(hidden)]
pub async fn test_router(registry: Registry) -> Result<Router, RegistryError> {
    let limits = ServingLimits {
        ocsp_validity: Duration::from_secs(3600),
        tsa_policy: crate::pki::DEFAULT_TSA_POLICY,
        tsa_requests_per_second: 20.0,
        tsa_burst: 200,
        request_timeout: Duration::from_secs(30),
    };
    let state = app_state(registry, &limits).await?;
    Ok(management_router(state.clone()).merge(public_router(state)))
}
