//! The portal's HTTP server: its shared state, start and stop, the router that assembles the
//! routes of [`crate::routes`] (one module per area), the security headers on every response,
//! and the background refresh of the global configuration and of open applications' status.
//! The request context, extractors and error pages are in [`crate::web`]; the calls over the
//! bridge in [`crate::bridge`].
//!
//! Agencies' application services follow one convention: `POST {service}` with the form's
//! JSON creates an application and answers `{"application_id", "status"}`; `GET
//! {service}/{application_id}` answers `{"status", "history": [{"status", "at", "message"}],
//! "messages": [{"at", "text"}], "document": {"name", "path"} | null}`; the document is
//! fetched with `GET {service}{path}`. Every call carries `X-Road-UserId` = the citizen and
//! names the citizen as data subject where the service declares one.
//!
//! Nothing personal is logged: log lines carry application and request ids, never personal
//! ids, names, e-mail addresses or form contents.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use korpu_conf::GlobalConf;
use korpu_id::ClientId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, RwLock};

use crate::bridge::gateway_client;
use crate::config::PortalConfig;
use crate::oidc;
use crate::routes::{applications, apply, auth, catalogue, consents, notifications, site, tracker};
use crate::store::Store;

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the configuration anchor {path}: {message}")]
    Anchor { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Http(String),
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time comparison, for CSRF tokens.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The provider's discovery document and keys, fetched on first use.
#[derive(Clone)]
pub(crate) struct Provider {
    pub(crate) discovery: oidc::Discovery,
    pub(crate) jwks: Value,
}

pub(crate) struct AppState {
    pub(crate) cfg: PortalConfig,
    pub(crate) store: Store,
    pub(crate) http: reqwest::Client,
    /// For calls to the portal's gateway: its roots and the portal's client certificate.
    pub(crate) gateway_http: reqwest::Client,
    pub(crate) anchor: korpu_conf::Anchor,
    pub(crate) conf: std::sync::RwLock<Option<Arc<GlobalConf>>>,
    pub(crate) client: ClientId,
    pub(crate) issuer: String,
    pub(crate) public_url: String,
    pub(crate) provider: RwLock<Option<Provider>>,
    pub(crate) rate: Mutex<HashMap<IpAddr, (i64, u32)>>,
    pub(crate) secure: bool,
    pub(crate) session_cookie: &'static str,
    pub(crate) dev_idp: Option<crate::devidp::DevIdp>,
}

pub(crate) type Shared = Arc<AppState>;

/// A running portal.
pub struct RunningPortal {
    pub addr: SocketAddr,
    pub public_url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    store: Store,
    grace: Duration,
}

impl RunningPortal {
    /// Stops accepting, lets requests in flight finish (for at most the configured
    /// `shutdown_grace_secs`), closes the database, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(self.grace, self.task).await;
        korpu_service::shutdown::within_grace(self.grace, self.store.close()).await;
    }
}

/// Starts the portal: opens its store, loads the anchor, binds, and serves in the background.
/// The global configuration is downloaded in the background too; until it arrives the
/// catalogue is empty and says so.
pub async fn start(cfg: PortalConfig) -> Result<RunningPortal, StartError> {
    cfg.check_servable()?;
    let anchor_bytes = std::fs::read(&cfg.anchor).map_err(|e| StartError::Anchor {
        path: cfg.anchor.display().to_string(),
        message: e.to_string(),
    })?;
    let anchor = korpu_conf::Anchor::from_json(&anchor_bytes).map_err(|e| StartError::Anchor {
        path: cfg.anchor.display().to_string(),
        message: e.to_string(),
    })?;
    if cfg.database_url.is_empty() {
        korpu_pki::private::create_missing_dir(&cfg.data_dir)
            .map_err(|e| StartError::Store(crate::store::StoreError(e.to_string())))?;
    }
    let store = Store::open(&cfg.effective_database_url()).await?;
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(cfg.upstream_timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let gateway_http = gateway_client(&cfg)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: cfg.listen,
        source,
    })?;
    let mut cfg = cfg;
    // Port 0 in the configuration: the public URL follows the port actually bound.
    if cfg.public_url.is_empty() {
        cfg.listen = addr;
    }
    let public_url = cfg.effective_public_url();
    let issuer = cfg.effective_issuer();
    let secure = public_url.starts_with("https://");
    let client: ClientId = cfg.client.parse().map_err(|e| {
        StartError::Config(crate::config::ConfigError::Invalid {
            origin: "client".into(),
            message: format!("{e}"),
        })
    })?;
    let dev_idp = cfg
        .dev_idp
        .then(|| crate::devidp::DevIdp::new(&format!("{public_url}/dev-idp")));
    let state = Arc::new(AppState {
        store,
        http,
        gateway_http,
        anchor,
        conf: std::sync::RwLock::new(None),
        client,
        issuer,
        public_url: public_url.clone(),
        provider: RwLock::new(None),
        rate: Mutex::new(HashMap::new()),
        secure,
        // The __Host- prefix makes the browser refuse the cookie unless it is Secure, set by
        // this host, with Path=/ — so a sibling domain cannot plant a session.
        session_cookie: if secure { "__Host-mygov" } else { "mygov" },
        dev_idp,
        cfg,
    });
    let (stop, stopped) = watch::channel(false);
    spawn_refreshers(state.clone(), stop.subscribe());
    let app = router(state.clone());
    // No TLS here (a proxy in front terminates it), so only the header-read timeout applies.
    let timeouts = korpu_net::Timeouts {
        tls_handshake: Duration::ZERO,
        header_read: Duration::from_secs(state.cfg.header_read_timeout_secs),
    };
    let grace = Duration::from_secs(state.cfg.shutdown_grace_secs);
    // The pool is shared: closing this handle closes the connections the routes use.
    let store = state.store.clone();
    let task = korpu_net::serve_router(listener, None, app, timeouts, stopped, grace);
    tracing::info!(%addr, url = %public_url, "portal listening");
    Ok(RunningPortal {
        addr,
        public_url,
        stop,
        task,
        store,
        grace,
    })
}

fn spawn_refreshers(state: Shared, stop: watch::Receiver<bool>) {
    let s = state.clone();
    let mut st = stop.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = refresh_conf(&s).await {
                tracing::warn!(error = %e, "global configuration not refreshed");
            }
            let wait = if s.conf.read().expect("lock").is_some() {
                s.cfg.conf_refresh_secs
            } else {
                1
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                _ = st.wait_for(|v| *v) => return,
            }
        }
    });
    let s = state;
    let mut st = stop;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(s.cfg.status_refresh_secs)) => {}
                _ = st.wait_for(|v| *v) => return,
            }
            let _ = s.store.sweep(now(), now() - 600).await;
            match s.store.open_applications().await {
                Ok(apps) => {
                    for a in apps {
                        if let Err(e) = applications::poll_status(&s, &a).await {
                            tracing::debug!(application = %a.id, error = %e, "status not refreshed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list open applications"),
            }
        }
    });
}

/// Downloads the signed global configuration and verifies it against the anchor, as a gateway
/// does; a document that does not verify is never used.
async fn refresh_conf(s: &AppState) -> Result<u64, String> {
    let resp = s
        .http
        .get(&s.anchor.conf_url)
        .send()
        .await
        .map_err(|e| format!("{}: {e}", s.anchor.conf_url))?;
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    let conf = korpu_conf::verify(&bytes, &s.anchor, korpu_conf::Timestamp::now())
        .map_err(|e| format!("the downloaded configuration does not verify: {e}"))?;
    let version = conf.version;
    let mut slot = s.conf.write().expect("lock");
    if slot.as_ref().is_none_or(|c| c.version <= version) {
        *slot = Some(Arc::new(conf));
    }
    Ok(version)
}

fn router(state: Shared) -> Router {
    let limit = axum::extract::DefaultBodyLimit::max(state.cfg.max_body_bytes);
    let mut r = Router::new()
        .route("/", get(site::home))
        .route("/static/portal.css", get(site::css))
        .route("/static/portal.js", get(site::js))
        .route("/health", get(site::health))
        .route("/services", get(catalogue::catalogue))
        .route(
            "/services/{class}/{member}/{subsystem}/{service}",
            get(catalogue::service_page),
        )
        .route(
            "/services/{class}/{member}/{subsystem}/{service}/apply",
            get(apply::apply_form).post(apply::apply_submit),
        )
        .route("/applications", get(applications::applications))
        .route("/applications/{id}", get(applications::application_page))
        .route(
            "/applications/{id}/document",
            get(applications::document_download),
        )
        .route(
            "/applications/{id}/verify",
            get(applications::document_verify),
        )
        .route("/tracker", get(tracker::tracker))
        .route(
            "/consents",
            get(consents::consents).post(consents::consent_grant),
        )
        .route("/consents/new", get(consents::consent_request))
        .route("/consents/{id}/revoke", post(consents::consent_revoke))
        .route("/notifications", get(notifications::notifications))
        .route("/login", get(auth::login))
        .route("/callback", get(auth::callback))
        .route("/logout", post(auth::logout));
    if state.dev_idp.is_some() {
        r = r.merge(crate::devidp::routes());
    }
    r.fallback(site::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::web::render_errors,
        ))
        .layer(limit)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers on every response. The CSP allows only the portal's own files, and forms may post
/// only to the portal and the identity provider; framing is refused (clickjacking).
async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // The portal's own time for this response (W3C Server-Timing), which the benchmark reads.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "app;dur={:.2}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        h.insert("server-timing", v);
    }
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    if !h.contains_key("content-security-policy") {
        set(h, "content-security-policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    }
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show personal data: never kept by shared or browser caches.
        set(h, "cache-control", "no-store");
    }
    resp
}

impl AppState {
    /// The pre-login cookie binding a sign-in's `state` to the browser that started it
    /// (`__Host-` on HTTPS, like the session cookie).
    pub(crate) fn login_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mygov-login"
        } else {
            "mygov-login"
        }
    }

    pub(crate) fn cookie(&self, name: &str, value: &str, max_age: i64, http_only: bool) -> String {
        format!(
            "{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{}{}",
            if http_only { "; HttpOnly" } else { "" },
            if self.secure { "; Secure" } else { "" }
        )
    }

    pub(crate) fn conf(&self) -> Option<Arc<GlobalConf>> {
        self.conf.read().expect("lock").clone()
    }

    /// The CSP with the identity provider's origin allowed as a form target (the dev IdP's
    /// consent form posts to it).
    pub(crate) fn csp(&self) -> String {
        let origin = self.issuer.split('/').take(3).collect::<Vec<_>>().join("/");
        format!("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'")
    }
}
