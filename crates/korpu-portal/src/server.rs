//! The portal's HTTP side: routes, sessions and cookies, CSRF, security headers, the calls
//! over the bridge, and the background refresh of the global configuration and of open
//! applications' status.
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

use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use korpu_conf::{GlobalConf, ServiceInfo, SubjectLocation};
use korpu_id::{ClientId, ServiceId};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, RwLock};

use crate::config::PortalConfig;
use crate::form;
use crate::html::{esc, url_part, Html};
use crate::i18n::Lang;
use crate::layout::{page, Frame};
use crate::oidc;
use crate::store::{Application, Consent, PendingLogin, Session, Store};

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

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time comparison, for CSRF tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The provider's discovery document and keys, fetched on first use.
#[derive(Clone)]
struct Provider {
    discovery: oidc::Discovery,
    jwks: Value,
}

pub(crate) struct AppState {
    pub(crate) cfg: PortalConfig,
    pub(crate) store: Store,
    pub(crate) http: reqwest::Client,
    /// For calls to the portal's gateway: its roots and the portal's client certificate.
    gateway_http: reqwest::Client,
    anchor: korpu_conf::Anchor,
    pub(crate) conf: std::sync::RwLock<Option<Arc<GlobalConf>>>,
    pub(crate) client: ClientId,
    issuer: String,
    public_url: String,
    provider: RwLock<Option<Provider>>,
    rate: Mutex<HashMap<IpAddr, (i64, u32)>>,
    secure: bool,
    session_cookie: &'static str,
    pub(crate) dev_idp: Option<crate::devidp::DevIdp>,
}

type Shared = Arc<AppState>;

/// A running portal.
pub struct RunningPortal {
    pub addr: SocketAddr,
    pub public_url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningPortal {
    /// Stops accepting, lets requests in flight finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
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
    let task = korpu_net::serve_router(
        listener,
        None,
        app,
        timeouts,
        stopped,
        Duration::from_secs(10),
    );
    tracing::info!(%addr, url = %public_url, "portal listening");
    Ok(RunningPortal {
        addr,
        public_url,
        stop,
        task,
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
                        if let Err(e) = poll_status(&s, &a).await {
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
        .route("/", get(home))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .route("/health", get(health))
        .route("/services", get(catalogue))
        .route(
            "/services/{class}/{member}/{subsystem}/{service}",
            get(service_page),
        )
        .route(
            "/services/{class}/{member}/{subsystem}/{service}/apply",
            get(apply_form).post(apply_submit),
        )
        .route("/applications", get(applications))
        .route("/applications/{id}", get(application_page))
        .route("/applications/{id}/document", get(document_download))
        .route("/applications/{id}/verify", get(document_verify))
        .route("/tracker", get(crate::tracker::tracker))
        .route("/consents", get(consents).post(consent_grant))
        .route("/consents/new", get(consent_request))
        .route("/consents/{id}/revoke", post(consent_revoke))
        .route("/notifications", get(notifications))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout));
    if state.dev_idp.is_some() {
        r = r.merge(crate::devidp::routes());
    }
    r.fallback(not_found)
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

// ----- request context ------------------------------------------------------------------------

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn query_get(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Everything a handler needs about who is asking, in which language.
pub(crate) struct Ctx {
    pub(crate) lang: Lang,
    /// The path and query of this request without `lang`, for language links and `next`.
    pub(crate) path: String,
    pub(crate) session: Option<(String, Session)>,
    set_cookies: Vec<String>,
    unread: i64,
}

impl Ctx {
    pub(crate) fn citizen(&self) -> Option<&Session> {
        self.session.as_ref().map(|(_, s)| s)
    }
}

pub(crate) async fn ctx(s: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> Ctx {
    let jar = cookies(headers);
    let q = query_pairs(uri.query());
    let mut set_cookies = Vec::new();
    let from_query = query_get(&q, "lang").and_then(|c| Lang::from_code(&c));
    let lang = match from_query {
        Some(l) => {
            set_cookies.push(s.cookie("lang", l.code(), 365 * 86_400, false));
            l
        }
        None => jar
            .get("lang")
            .and_then(|c| Lang::from_code(c))
            .unwrap_or_default(),
    };
    let rest: Vec<(String, String)> = q.into_iter().filter(|(k, _)| k != "lang").collect();
    let path = if rest.is_empty() {
        page_path(uri.path())
    } else {
        format!(
            "{}?{}",
            page_path(uri.path()),
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish()
        )
    };
    let mut session = None;
    let mut unread = 0;
    if let Some(id) = jar.get(s.session_cookie) {
        let hash = sha256_hex(id);
        if let Ok(Some(sess)) = s.store.session(&hash, now()).await {
            // Idle timeout: each request pushes the expiry forward, at most once a minute.
            let fresh = now() + s.cfg.session_ttl_secs as i64;
            if fresh - sess.expires_at > 60 {
                let _ = s.store.touch_session(&hash, fresh).await;
            }
            unread = s.store.unread_count(&sess.citizen).await.unwrap_or(0);
            session = Some((hash, sess));
        }
    }
    Ctx {
        lang,
        path,
        session,
        set_cookies,
        unread,
    }
}

impl AppState {
    /// The pre-login cookie binding a sign-in's `state` to the browser that started it
    /// (`__Host-` on HTTPS, like the session cookie).
    fn login_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-mygov-login"
        } else {
            "mygov-login"
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64, http_only: bool) -> String {
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
    fn csp(&self) -> String {
        let origin = self.issuer.split('/').take(3).collect::<Vec<_>>().join("/");
        format!("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'")
    }
}

/// An HTML page response with the frame, cookies and the CSP.
pub(crate) fn html_page(
    s: &AppState,
    c: &Ctx,
    status: StatusCode,
    section: &str,
    title: &str,
    body: &str,
) -> Response {
    let frame = Frame {
        lang: c.lang,
        path: &c.path,
        user: c.citizen().map(|u| (u.name.as_str(), u.csrf.as_str())),
        unread: c.unread,
        section,
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page(&frame, title, body),
    )
        .into_response();
    for ck in &c.set_cookies {
        if let Ok(v) = HeaderValue::from_str(ck) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&s.csp()) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut r = Redirect::to(to).into_response();
    for ck in cookies {
        if let Ok(v) = HeaderValue::from_str(ck) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A signed-in citizen, or a redirect to sign in and come back.
macro_rules! signed_in {
    ($c:expr) => {
        match $c.citizen() {
            Some(u) => u.clone(),
            None => {
                return redirect(
                    &format!("/login?next={}", url_part(&$c.path)),
                    &$c.set_cookies,
                )
            }
        }
    };
}

/// Checks the CSRF token of a posted form against the session's.
fn csrf_ok(c: &Ctx, posted: &[(String, String)]) -> bool {
    match (c.citizen(), query_get(posted, "csrf")) {
        (Some(u), Some(t)) => same(&u.csrf, &t),
        _ => false,
    }
}

/// The fields of a posted form, once its CSRF token matches the session's; otherwise the page
/// that refuses it (403), for the handler to return.
fn checked_form(
    s: &AppState,
    c: &Ctx,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<Response>> {
    let posted = query_pairs(std::str::from_utf8(body).ok());
    if csrf_ok(c, &posted) {
        Ok(posted)
    } else {
        Err(Box::new(message_page(
            s,
            c,
            StatusCode::FORBIDDEN,
            "error_title",
            c.lang.t("csrf_failed"),
        )))
    }
}

fn csrf_field(h: &mut Html, u: &Session) {
    h.open(
        "input",
        &[
            ("type", "hidden"),
            ("name", "csrf"),
            ("value", u.csrf.as_str()),
        ],
    );
}

pub(crate) fn message_page(
    s: &AppState,
    c: &Ctx,
    status: StatusCode,
    title_key: &str,
    text: &str,
) -> Response {
    let mut h = Html::new();
    h.el("h1", &[], c.lang.t(title_key));
    h.el("p", &[], text);
    h.raw("<p>");
    h.a("/services", c.lang.t("nav_services"));
    h.raw("</p>");
    html_page(s, c, status, "", c.lang.t(title_key), &h.0)
}

fn fmt_time(t: i64) -> String {
    let ts = korpu_conf::Timestamp::from_unix(t.max(0) as u64).to_string();
    // 2026-11-23T21:30:00Z → 2026-11-23 21:30 UTC
    let ts = ts.trim_end_matches('Z');
    match ts.split_once('T') {
        Some((d, t)) => format!("{d} {} UTC", &t[..t.len().min(5)]),
        None => ts.to_owned(),
    }
}

// ----- static, home, health -------------------------------------------------------------------

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/portal.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../assets/portal.js"),
    )
        .into_response()
}

async fn health(State(s): State<Shared>) -> Response {
    let conf = s.conf();
    let body = json!({"status": if conf.is_some() { "ok" } else { "starting" },
                      "conf_version": conf.map(|c| c.version)});
    let code = if body["status"] == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn home(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let l = c.lang;
    let mut h = Html::new();
    h.el("h1", &[], l.t("home_title"));
    h.el("p", &[("class", "lead")], l.t("home_lead"));
    h.raw(&format!(
        "<a class=\"button\" href=\"/services\">{}</a>",
        esc(l.t("start"))
    ));
    html_page(&s, &c, StatusCode::OK, "", l.t("tagline"), &h.0)
}

async fn not_found(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    message_page(
        &s,
        &c,
        StatusCode::NOT_FOUND,
        "not_found",
        c.lang.t("not_found_lead"),
    )
}

// ----- catalogue ------------------------------------------------------------------------------

fn member_name(conf: &GlobalConf, svc: &ServiceInfo) -> String {
    conf.members
        .iter()
        .find(|m| m.id == svc.id.subsystem.member)
        .map_or_else(|| svc.id.subsystem.member.to_string(), |m| m.name.clone())
}

fn service_path(id: &ServiceId) -> String {
    format!(
        "/services/{}/{}/{}/{}",
        url_part(id.subsystem.member.class.as_str()),
        url_part(id.subsystem.member.code.as_str()),
        url_part(id.subsystem.code.as_str()),
        url_part(id.code.as_str())
    )
}

/// Lowercases for search, folding Azerbaijani and Russian letters case-insensitively.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

async fn catalogue(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let l = c.lang;
    let q = query_pairs(uri.query());
    let term = query_get(&q, "q").unwrap_or_default();
    let category = query_get(&q, "category").unwrap_or_default();
    let conf = s.conf();
    let listed: Vec<&ServiceInfo> = conf
        .as_deref()
        .map(|c| c.services.iter().filter(|s| s.portal.is_some()).collect())
        .unwrap_or_default();
    let mut categories: Vec<String> = listed
        .iter()
        .filter_map(|s| s.portal.as_ref().map(|p| p.category.clone()))
        .collect();
    categories.sort();
    categories.dedup();
    let words: Vec<String> = fold(&term).split_whitespace().map(str::to_owned).collect();
    let hits: Vec<&ServiceInfo> = listed
        .into_iter()
        .filter(|svc| {
            let p = svc.portal.as_ref().expect("filtered");
            if !category.is_empty() && p.category != category {
                return false;
            }
            // A word matches in any language, so a citizen finds the service whichever
            // language they type in.
            let hay = fold(&format!(
                "{} {} {} {} {} {} {} {}",
                p.names.az,
                p.names.en,
                p.names.ru,
                p.descriptions.az,
                p.descriptions.en,
                p.descriptions.ru,
                p.category,
                conf.as_deref()
                    .map(|c| member_name(c, svc))
                    .unwrap_or_default()
            ));
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .collect();
    let mut h = Html::new();
    h.el("h1", &[], l.t("catalogue_title"));
    h.raw("<form class=\"search\" method=\"get\" action=\"/services\" role=\"search\">");
    h.raw("<div class=\"field\">");
    h.el("label", &[("for", "q")], l.t("search_label"));
    h.open(
        "input",
        &[
            ("type", "search"),
            ("id", "q"),
            ("name", "q"),
            ("value", term.as_str()),
        ],
    );
    h.raw("</div><div class=\"field\">");
    h.el("label", &[("for", "category")], l.t("category"));
    h.raw("<select id=\"category\" name=\"category\">");
    h.el("option", &[("value", "")], l.t("all_categories"));
    for cat in &categories {
        if *cat == category {
            h.el("option", &[("value", cat), ("selected", "selected")], cat);
        } else {
            h.el("option", &[("value", cat)], cat);
        }
    }
    h.raw("</select></div>");
    h.raw(&format!(
        "<button class=\"button\" type=\"submit\">{}</button></form>",
        esc(l.t("search_button"))
    ));
    h.raw(&format!(
        "<p role=\"status\">{} {}</p>",
        hits.len(),
        esc(l.t("results"))
    ));
    if hits.is_empty() {
        h.el("p", &[], l.t("no_results"));
    } else {
        h.raw("<ul class=\"cards\">");
        for svc in hits {
            let p = svc.portal.as_ref().expect("filtered");
            h.raw("<li><h2>");
            h.a(&service_path(&svc.id), p.names.get(l.code()));
            h.raw("</h2>");
            h.el("p", &[], p.descriptions.get(l.code()));
            h.raw("<p class=\"meta\">");
            h.text(&format!(
                "{}: {} · {}: {}",
                l.t("agency"),
                conf.as_deref()
                    .map(|c| member_name(c, svc))
                    .unwrap_or_default(),
                l.t("category"),
                p.category
            ));
            h.raw("</p></li>");
        }
        h.raw("</ul>");
    }
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "services",
        l.t("catalogue_title"),
        &h.0,
    )
}

/// The listed service named by the path, from the current configuration.
fn find_service(
    s: &AppState,
    class: &str,
    member: &str,
    subsystem: &str,
    service: &str,
) -> Option<(Arc<GlobalConf>, ServiceInfo)> {
    let conf = s.conf()?;
    let id: ServiceId = format!("{}/{class}/{member}/{subsystem}/{service}", conf.instance)
        .parse()
        .ok()?;
    let svc = conf.service(&id)?.clone();
    svc.portal.as_ref()?;
    Some((conf, svc))
}

type SvcPath = Path<(String, String, String, String)>;

async fn service_page(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let l = c.lang;
    let Some((conf, svc)) = find_service(&s, &class, &member, &subsystem, &service) else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            l.t("not_found_lead"),
        );
    };
    let p = svc.portal.as_ref().expect("listed");
    let name = p.names.get(l.code());
    let mut h = Html::new();
    h.raw("<p>");
    h.a("/services", l.t("back"));
    h.raw("</p>");
    h.el("h1", &[], name);
    h.el("p", &[("class", "lead")], p.descriptions.get(l.code()));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t("agency"));
    h.el("dd", &[], &member_name(&conf, &svc));
    h.el("dt", &[], l.t("category"));
    h.el("dd", &[], &p.category);
    h.raw("</dl>");
    let req = p.requirements.get(l.code());
    if !req.is_empty() {
        h.el("h2", &[], l.t("what_you_need"));
        h.raw("<ul>");
        for line in req.lines().filter(|x| !x.trim().is_empty()) {
            h.el("li", &[], line.trim());
        }
        h.raw("</ul>");
    }
    if p.form_schema.is_some() {
        let apply = format!("{}/apply", service_path(&svc.id));
        if c.citizen().is_some() {
            h.raw(&format!(
                "<a class=\"button\" href=\"{}\">{}</a>",
                esc(&apply),
                esc(l.t("apply_now"))
            ));
        } else {
            h.raw(&format!(
                "<a class=\"button\" href=\"/login?next={}\">{}</a>",
                esc(&url_part(&apply)),
                esc(l.t("login_to_apply"))
            ));
        }
    } else {
        h.el("p", &[], l.t("no_form"));
    }
    html_page(&s, &c, StatusCode::OK, "services", name, &h.0)
}

// ----- applying -------------------------------------------------------------------------------

fn render_apply(
    s: &AppState,
    c: &Ctx,
    svc: &ServiceInfo,
    values: &Map<String, Value>,
    errors: &[form::FieldError],
    notice: Option<&str>,
) -> Response {
    let l = c.lang;
    let u = c.citizen().expect("signed in");
    let p = svc.portal.as_ref().expect("listed");
    let schema = p.form_schema.clone().unwrap_or(Value::Null);
    let name = p.names.get(l.code());
    let mut h = Html::new();
    form::error_summary(&mut h, l, errors);
    if let Some(n) = notice {
        h.raw("<div class=\"notice warn\" role=\"alert\">");
        h.text(n);
        h.raw("</div>");
    }
    h.raw("<span class=\"hint\">");
    h.text(l.t("form_title"));
    h.raw("</span>");
    h.el("h1", &[], name);
    let action = format!("{}/apply", service_path(&svc.id));
    h.open(
        "form",
        &[
            ("method", "post"),
            ("action", action.as_str()),
            ("novalidate", "novalidate"),
        ],
    );
    csrf_field(&mut h, u);
    form::render_fields(&mut h, &schema, l, values, errors);
    h.raw(&format!(
        "<button class=\"button\" type=\"submit\">{}</button></form>",
        esc(l.t("submit"))
    ));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let title = if errors.is_empty() {
        name.to_owned()
    } else {
        format!("{}: {name}", l.t("error_summary"))
    };
    html_page(s, c, status, "services", &title, &h.0)
}

async fn apply_form(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let _u = signed_in!(c);
    match find_service(&s, &class, &member, &subsystem, &service) {
        Some((_, svc)) if svc.portal.as_ref().is_some_and(|p| p.form_schema.is_some()) => {
            render_apply(&s, &c, &svc, &Map::new(), &[], None)
        }
        _ => message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            c.lang.t("not_found_lead"),
        ),
    }
}

async fn apply_submit(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let posted = match checked_form(&s, &c, &body) {
        Ok(posted) => posted,
        Err(refused) => return *refused,
    };
    let Some((conf, svc)) = find_service(&s, &class, &member, &subsystem, &service) else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            c.lang.t("not_found_lead"),
        );
    };
    let Some(schema) = svc.portal.as_ref().and_then(|p| p.form_schema.clone()) else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            c.lang.t("not_found_lead"),
        );
    };
    let data = match form::validate(&schema, &posted, c.lang) {
        Ok(d) => d,
        Err((entered, errors)) => return render_apply(&s, &c, &svc, &entered, &errors, None),
    };
    let body = serde_json::to_vec(&data).expect("JSON serialises");
    let answer = bridge(
        &s,
        &conf,
        &svc,
        Method::POST,
        "",
        &u.citizen,
        "application",
        Some(body),
    )
    .await;
    let reply = match answer {
        Ok((status, bytes)) if status.is_success() => serde_json::from_slice::<Value>(&bytes).ok(),
        Ok((status, _)) => {
            tracing::warn!(service = %svc.id, %status, "the agency refused an application");
            None
        }
        Err(e) => {
            tracing::warn!(service = %svc.id, error = %e, "an application did not reach the agency");
            None
        }
    };
    let Some(agency_ref) = reply
        .as_ref()
        .and_then(|r| r["application_id"].as_str())
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 100
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
    else {
        return render_apply(&s, &c, &svc, &data, &[], Some(c.lang.t("bridge_failed")));
    };
    let status = reply
        .as_ref()
        .and_then(|r| r["status"].as_str())
        .unwrap_or("submitted")
        .to_owned();
    let t = now();
    let app = Application {
        id: format!("A-{}", &sha256_hex(&oidc::random_token(16))[..12]),
        citizen: u.citizen.clone(),
        email: u.email.clone(),
        service: svc.id.to_string(),
        agency_ref,
        status: status.clone(),
        data: String::from_utf8(serde_json::to_vec(&data).expect("JSON")).expect("UTF-8"),
        created_at: t,
        updated_at: t,
    };
    if let Err(e) = s.store.insert_application(&app).await {
        tracing::error!(error = %e, "cannot store an application");
        return message_page(
            &s,
            &c,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            &e.to_string(),
        );
    }
    let _ = s.store.add_event(&app.id, &status, "", t).await;
    tracing::info!(application = %app.id, service = %svc.id, "application submitted");
    redirect(
        &format!("/applications/{}?submitted=1", app.id),
        &c.set_cookies,
    )
}

/// The HTTP client for the portal's gateway: with `gateway_ca` as its only roots, and the
/// portal's client certificate when configured (the gateway pins it for the portal's
/// subsystem, so no other local process can act as myGov).
fn gateway_client(cfg: &PortalConfig) -> Result<reqwest::Client, StartError> {
    let err = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        StartError::Http(format!("{what} {}: {e}", path.display()))
    };
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(cfg.upstream_timeout_secs))
        .redirect(reqwest::redirect::Policy::none());
    if !cfg.gateway_ca.as_os_str().is_empty() {
        let pem =
            std::fs::read(&cfg.gateway_ca).map_err(|e| err("reading", &cfg.gateway_ca, &e))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| err("gateway_ca", &cfg.gateway_ca, &e))?;
        b = b.tls_built_in_root_certs(false);
        for r in roots {
            b = b.add_root_certificate(r);
        }
    }
    if !cfg.gateway_client_key.as_os_str().is_empty() {
        korpu_pki::private::check(&cfg.gateway_client_key)
            .map_err(|e| StartError::Http(e.to_string()))?;
        let mut pem = std::fs::read(&cfg.gateway_client_cert)
            .map_err(|e| err("reading", &cfg.gateway_client_cert, &e))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(&cfg.gateway_client_key)
                .map_err(|e| err("reading", &cfg.gateway_client_key, &e))?,
        );
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| err("gateway_client_cert", &cfg.gateway_client_cert, &e))?;
        b = b.identity(id);
    }
    b.build().map_err(|e| StartError::Http(e.to_string()))
}

/// One call over the bridge as the portal's subsystem, on behalf of (and about) the citizen.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn bridge(
    s: &AppState,
    _conf: &GlobalConf,
    svc: &ServiceInfo,
    method: Method,
    sub_path: &str,
    citizen: &str,
    purpose: &str,
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, Bytes), String> {
    let mut url = format!(
        "{}/r1/{}{}",
        s.cfg.gateway_url.trim_end_matches('/'),
        svc.id,
        sub_path
    );
    let mut req_headers = reqwest::header::HeaderMap::new();
    let mut put = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            req_headers.insert(k, v);
        }
    };
    put("x-road-client", &s.client.to_string());
    put("x-road-userid", citizen);
    put("x-korpu-purpose", purpose);
    match &svc.data_subject {
        Some(SubjectLocation::Header(name)) => put(name, citizen),
        Some(SubjectLocation::Query(name)) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{sep}{}={}", url_part(name), url_part(citizen));
        }
        Some(SubjectLocation::Path(_)) | None => {}
    }
    let mut req = s.gateway_http.request(method, &url).headers(req_headers);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("the portal's gateway: {e}"))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, bytes))
}

// ----- applications and status ----------------------------------------------------------------

fn status_label(l: Lang, st: &str) -> &'static str {
    match st {
        "submitted" | "received" => l.t("st_submitted"),
        "in_review" => l.t("st_in_review"),
        "decided" => l.t("st_decided"),
        "rejected" => l.t("st_rejected"),
        _ => l.t("st_unknown"),
    }
}

fn service_name(conf: Option<&GlobalConf>, id: &str, l: Lang) -> String {
    conf.and_then(|c| c.services.iter().find(|s| s.id.to_string() == id))
        .and_then(|s| s.portal.as_ref().map(|p| p.names.get(l.code()).to_owned()))
        .unwrap_or_else(|| id.to_owned())
}

/// Asks the agency for an application's status; records and notifies a change. Returns the
/// agency's answer.
async fn poll_status(s: &AppState, a: &Application) -> Result<Value, String> {
    let conf = s.conf().ok_or("no global configuration yet")?;
    let id: ServiceId = a.service.parse().map_err(|e| format!("{e}"))?;
    let svc = conf
        .service(&id)
        .ok_or("the service is no longer registered")?
        .clone();
    let (status, bytes) = bridge(
        s,
        &conf,
        &svc,
        Method::GET,
        &format!("/{}", a.agency_ref),
        &a.citizen,
        "application-status",
        None,
    )
    .await?;
    if !status.is_success() {
        return Err(format!("the agency answered {status}"));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let new = v["status"].as_str().unwrap_or("").to_owned();
    if !new.is_empty() && new != a.status {
        let msg = v["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|e| e["message"].as_str())
            .unwrap_or("")
            .to_owned();
        if s.store
            .set_status(&a.id, &a.status, &new, &msg, now())
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!(application = %a.id, status = %new, "application status changed");
            let link = format!("/applications/{}", a.id);
            crate::notify::status_changed(s, a, &new, &link).await;
        }
    }
    Ok(v)
}

async fn applications(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let apps = match s.store.applications_of(&u.citizen).await {
        Ok(a) => a,
        Err(e) => {
            return message_page(
                &s,
                &c,
                StatusCode::INTERNAL_SERVER_ERROR,
                "error_title",
                &e.to_string(),
            )
        }
    };
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t("applications_title"));
    if apps.is_empty() {
        h.el("p", &[], l.t("no_applications"));
    } else {
        h.raw("<table><thead><tr>");
        for k in ["reference", "nav_services", "submitted_at", "status"] {
            h.el("th", &[("scope", "col")], l.t(k));
        }
        h.raw("</tr></thead><tbody>");
        for a in apps {
            h.raw("<tr><td>");
            h.a(&format!("/applications/{}", a.id), &a.id);
            h.raw("</td>");
            h.el("td", &[], &service_name(conf.as_deref(), &a.service, l));
            h.el("td", &[], &fmt_time(a.created_at));
            h.raw("<td>");
            h.el("span", &[("class", "tag")], status_label(l, &a.status));
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        l.t("applications_title"),
        &h.0,
    )
}

async fn application_page(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            l.t("not_found_lead"),
        );
    };
    // The agency is asked now, so the page is current even between background refreshes.
    let remote = poll_status(&s, &a).await;
    let a = s
        .store
        .application(&u.citizen, &id)
        .await
        .ok()
        .flatten()
        .unwrap_or(a);
    let conf = s.conf();
    let mut h = Html::new();
    if query_pairs(uri.query())
        .iter()
        .any(|(k, _)| k == "submitted")
    {
        h.raw("<div class=\"notice\" role=\"status\"><h2>");
        h.text(l.t("applied_ok"));
        h.raw("</h2><p>");
        h.text(&format!("{}: {}", l.t("reference"), a.id));
        h.raw("</p></div>");
    }
    h.el("h1", &[], &service_name(conf.as_deref(), &a.service, l));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t("reference"));
    h.el("dd", &[], &a.id);
    h.el("dt", &[], l.t("submitted_at"));
    h.el("dd", &[], &fmt_time(a.created_at));
    h.el("dt", &[], l.t("status"));
    h.raw("<dd>");
    h.el(
        "span",
        &[("class", "tag"), ("id", "status")],
        status_label(l, &a.status),
    );
    h.raw("</dd></dl>");
    h.raw(&format!(
        "<p><a class=\"button secondary\" href=\"/applications/{}\">{}</a></p>",
        esc(&a.id),
        esc(l.t("refresh"))
    ));
    h.el("h2", &[], l.t("history"));
    match &remote {
        Ok(v) => {
            h.raw("<table><thead><tr>");
            h.el("th", &[("scope", "col")], l.t("when"));
            h.el("th", &[("scope", "col")], l.t("status"));
            h.raw("</tr></thead><tbody>");
            for e in v["history"].as_array().cloned().unwrap_or_default() {
                h.raw("<tr>");
                h.el("td", &[], e["at"].as_str().unwrap_or(""));
                h.el(
                    "td",
                    &[],
                    status_label(l, e["status"].as_str().unwrap_or("")),
                );
                h.raw("</tr>");
            }
            h.raw("</tbody></table>");
            let msgs = v["messages"].as_array().cloned().unwrap_or_default();
            if !msgs.is_empty() {
                h.el("h2", &[], l.t("messages"));
                h.raw("<ul>");
                for m in msgs {
                    h.raw("<li>");
                    h.el("span", &[("class", "meta")], m["at"].as_str().unwrap_or(""));
                    h.raw(" ");
                    h.text(m["text"].as_str().unwrap_or(""));
                    h.raw("</li>");
                }
                h.raw("</ul>");
            }
            if let Some(doc) = v["document"].as_object() {
                h.el("h2", &[], l.t("documents"));
                let name = doc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("document.pdf");
                h.raw("<p>");
                h.el(
                    "a",
                    &[
                        ("href", &format!("/applications/{}/document", a.id)),
                        ("download", name),
                    ],
                    &format!("{} {name}", l.t("download")),
                );
                h.raw("</p><p>");
                h.a(&format!("/applications/{}/verify", a.id), l.t("verify"));
                h.raw("</p>");
            }
        }
        Err(_) => {
            h.raw("<div class=\"notice warn\" role=\"status\">");
            h.text(l.t("bridge_failed"));
            h.raw("</div><ul>");
            for e in s.store.events(&a.id).await.unwrap_or_default() {
                h.el(
                    "li",
                    &[],
                    &format!("{} — {}", fmt_time(e.at), status_label(l, &e.status)),
                );
            }
            h.raw("</ul>");
        }
    }
    html_page(&s, &c, StatusCode::OK, "applications", &a.id, &h.0)
}

/// The document of a decided application, fetched over the bridge.
async fn fetch_document(s: &AppState, a: &Application) -> Result<(String, Bytes), String> {
    let v = poll_status(s, a).await?;
    let doc = v["document"].as_object().ok_or("no document yet")?;
    let path = doc.get("path").and_then(Value::as_str).unwrap_or("");
    // Only a path under this application's resource: the agency's answer cannot make the
    // portal fetch anything else on the citizen's behalf.
    let prefix = format!("/{}/", a.agency_ref);
    if !path.starts_with(&prefix) || path.contains("..") || path.contains('?') {
        return Err("the agency named a document outside the application".into());
    }
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or("document.pdf")
        .to_owned();
    let conf = s.conf().ok_or("no configuration")?;
    let id: ServiceId = a.service.parse().map_err(|e| format!("{e}"))?;
    let svc = conf.service(&id).ok_or("unknown service")?.clone();
    let (status, bytes) = bridge(
        s,
        &conf,
        &svc,
        Method::GET,
        path,
        &a.citizen,
        "application-document",
        None,
    )
    .await?;
    if !status.is_success() {
        return Err(format!("the agency answered {status}"));
    }
    Ok((name, bytes))
}

async fn document_download(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            c.lang.t("not_found_lead"),
        );
    };
    match fetch_document(&s, &a).await {
        Ok((name, bytes)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => message_page(&s, &c, StatusCode::BAD_GATEWAY, "error_title", &e),
    }
}

async fn document_verify(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            l.t("not_found_lead"),
        );
    };
    let mut h = Html::new();
    h.el("h1", &[], l.t("verify"));
    match fetch_document(&s, &a).await {
        Ok((name, bytes)) => {
            let verdict = crate::verify::verify_pdf(&s.conf(), &bytes);
            h.el("p", &[], &name);
            match verdict {
                Ok(signer) => {
                    h.raw("<div class=\"notice\" role=\"status\" id=\"verdict\"><p><span class=\"tag ok\">");
                    h.text(l.t("proof_ok"));
                    h.raw("</span> ");
                    h.text(&format!("{} {signer}", l.t("verified_by")));
                    h.raw("</p></div>");
                }
                Err(e) => {
                    h.raw("<div class=\"notice warn\" role=\"status\" id=\"verdict\"><p><span class=\"tag bad\">");
                    h.text(l.t("proof_bad"));
                    h.raw("</span> ");
                    h.text(&format!("{} {e}", l.t("not_verified")));
                    h.raw("</p></div>");
                }
            }
        }
        Err(e) => {
            h.el("p", &[], &e);
        }
    }
    h.raw("<p>");
    h.a(&format!("/applications/{}", a.id), l.t("back"));
    h.raw("</p>");
    html_page(&s, &c, StatusCode::OK, "applications", l.t("verify"), &h.0)
}

// ----- consent --------------------------------------------------------------------------------

fn client_label(conf: Option<&GlobalConf>, client: &str, l: Lang) -> (String, bool) {
    let Ok(id) = client.parse::<ClientId>() else {
        return (l.t("unknown_company").to_owned(), false);
    };
    match conf.and_then(|c| c.members.iter().find(|m| &m.id == id.member())) {
        Some(m) => (m.name.clone(), true),
        None => (l.t("unknown_company").to_owned(), false),
    }
}

fn item_label(conf: Option<&GlobalConf>, item: &str, l: Lang) -> String {
    conf.and_then(|c| c.services.iter().find(|s| s.id.to_string() == item))
        .map(|s| match &s.portal {
            Some(p) => p.names.get(l.code()).to_owned(),
            None => s.title.clone(),
        })
        .unwrap_or_else(|| item.to_owned())
}

/// A company's request for consent, e.g. linked from its application:
/// `/consents/new?client=AZ/COM/…/app&purpose=…&item=SERVICE&item=SERVICE`.
async fn consent_request(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let q = query_pairs(uri.query());
    let client = query_get(&q, "client").unwrap_or_default();
    let purpose = query_get(&q, "purpose").unwrap_or_default();
    let items: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.clone())
        .collect();
    let conf = s.conf();
    let (company, known) = client_label(conf.as_deref(), &client, l);
    let items_known = items.iter().all(|i| {
        i.parse::<ServiceId>()
            .ok()
            .is_some_and(|id| conf.as_deref().is_some_and(|c| c.service(&id).is_some()))
    });
    if !known
        || items.is_empty()
        || !items_known
        || purpose.trim().is_empty()
        || purpose.len() > 500
    {
        return message_page(
            &s,
            &c,
            StatusCode::BAD_REQUEST,
            "error_title",
            l.t("not_found_lead"),
        );
    }
    let mut h = Html::new();
    h.el("h1", &[], l.t("consent_request"));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t("company"));
    h.el("dd", &[], &company);
    h.el("dt", &[], l.t("application"));
    h.el("dd", &[], &client);
    h.el("dt", &[], l.t("purpose"));
    h.el("dd", &[], &purpose);
    h.raw("</dl>");
    h.el("h2", &[], l.t("data_items"));
    h.raw("<ul>");
    for i in &items {
        h.el("li", &[], &item_label(conf.as_deref(), i, l));
    }
    h.raw("</ul>");
    h.raw("<form method=\"post\" action=\"/consents\" novalidate>");
    csrf_field(&mut h, &u);
    for (k, v) in [("client", client.as_str()), ("purpose", purpose.as_str())] {
        h.open("input", &[("type", "hidden"), ("name", k), ("value", v)]);
    }
    for i in &items {
        h.open(
            "input",
            &[("type", "hidden"), ("name", "item"), ("value", i.as_str())],
        );
    }
    h.raw("<fieldset class=\"field\">");
    h.el("legend", &[], l.t("expiry"));
    for (i, (days, key)) in [("30", "days_30"), ("90", "days_90"), ("365", "days_365")]
        .iter()
        .enumerate()
    {
        let id = format!("days-{days}");
        h.raw("<div class=\"radio\">");
        let mut attrs = vec![
            ("type", "radio"),
            ("id", id.as_str()),
            ("name", "days"),
            ("value", *days),
        ];
        if i == 0 {
            attrs.push(("checked", "checked"));
        }
        h.open("input", &attrs);
        h.el("label", &[("for", id.as_str())], l.t(key));
        h.raw("</div>");
    }
    h.raw("</fieldset>");
    h.raw(&format!(
        "<button class=\"button\" type=\"submit\">{}</button></form>",
        esc(l.t("grant"))
    ));
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "consents",
        l.t("consent_request"),
        &h.0,
    )
}

async fn consent_grant(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let posted = match checked_form(&s, &c, &body) {
        Ok(posted) => posted,
        Err(refused) => return *refused,
    };
    let client = query_get(&posted, "client").unwrap_or_default();
    let purpose = query_get(&posted, "purpose").unwrap_or_default();
    let items: Vec<String> = posted
        .iter()
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.clone())
        .collect();
    let days: i64 = match query_get(&posted, "days").as_deref() {
        Some("90") => 90,
        Some("365") => 365,
        _ => 30,
    };
    let conf = s.conf();
    let (_, known) = client_label(conf.as_deref(), &client, l);
    let ok_items = !items.is_empty()
        && items.iter().all(|i| {
            i.parse::<ServiceId>()
                .ok()
                .is_some_and(|id| conf.as_deref().is_some_and(|c| c.service(&id).is_some()))
        });
    if !known || !ok_items || purpose.trim().is_empty() || purpose.len() > 500 {
        return message_page(
            &s,
            &c,
            StatusCode::BAD_REQUEST,
            "error_title",
            l.t("not_found_lead"),
        );
    }
    let t = now();
    let consent = Consent {
        id: format!("C-{}", &sha256_hex(&oidc::random_token(16))[..12]),
        client: client.clone(),
        purpose,
        items: serde_json::to_string(&items).expect("JSON"),
        created_at: t,
        expires_at: t + days * 86_400,
        revoked_at: None,
    };
    if let Err(e) = s.store.insert_consent(&u.citizen, &consent).await {
        return message_page(
            &s,
            &c,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            &e.to_string(),
        );
    }
    let (company, _) = client_label(conf.as_deref(), &client, l);
    crate::notify::notify(
        &s,
        &u.citizen,
        &u.email,
        "consent_granted",
        &company,
        "/consents",
    )
    .await;
    redirect("/consents", &c.set_cookies)
}

async fn consent_revoke(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    if let Err(refused) = checked_form(&s, &c, &body) {
        return *refused;
    }
    match s.store.revoke_consent(&u.citizen, &id, now()).await {
        Ok(true) => {
            let conf = s.conf();
            let client = s
                .store
                .consents_of(&u.citizen)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|x| x.id == id)
                .map(|x| x.client)
                .unwrap_or_default();
            let (company, _) = client_label(conf.as_deref(), &client, c.lang);
            crate::notify::notify(
                &s,
                &u.citizen,
                &u.email,
                "consent_revoked",
                &company,
                "/consents",
            )
            .await;
            redirect("/consents", &c.set_cookies)
        }
        Ok(false) => message_page(
            &s,
            &c,
            StatusCode::NOT_FOUND,
            "not_found",
            c.lang.t("not_found_lead"),
        ),
        Err(e) => message_page(
            &s,
            &c,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            &e.to_string(),
        ),
    }
}

async fn consents(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let list = s.store.consents_of(&u.citizen).await.unwrap_or_default();
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t("consents_title"));
    h.el("p", &[("class", "lead")], l.t("consents_lead"));
    if list.is_empty() {
        h.el("p", &[], l.t("no_consents"));
    }
    let t = now();
    for (i, x) in list.iter().enumerate() {
        let (company, _) = client_label(conf.as_deref(), &x.client, l);
        let items: Vec<String> = serde_json::from_str(&x.items).unwrap_or_default();
        let state = if x.revoked_at.is_some() {
            ("revoked", "bad")
        } else if x.expires_at <= t {
            ("expired", "bad")
        } else {
            ("granted", "ok")
        };
        h.raw(&format!("<section aria-labelledby=\"consent-{i}\">"));
        h.el("h2", &[("id", &format!("consent-{i}"))], &company);
        h.raw("<dl class=\"summary\">");
        h.el("dt", &[], l.t("status"));
        h.raw("<dd>");
        h.el(
            "span",
            &[("class", &format!("tag {}", state.1))],
            l.t(state.0),
        );
        h.raw("</dd>");
        h.el("dt", &[], l.t("application"));
        h.el("dd", &[], &x.client);
        h.el("dt", &[], l.t("purpose"));
        h.el("dd", &[], &x.purpose);
        h.el("dt", &[], l.t("data_items"));
        h.raw("<dd><ul>");
        for it in &items {
            h.el("li", &[], &item_label(conf.as_deref(), it, l));
        }
        h.raw("</ul></dd>");
        h.el("dt", &[], l.t("valid_until"));
        h.el("dd", &[], &fmt_time(x.expires_at));
        h.el("dt", &[], l.t("history"));
        h.raw("<dd><ul>");
        for (action, at) in s.store.consent_history(&x.id).await.unwrap_or_default() {
            let key = if action == "revoked" {
                "revoked"
            } else {
                "granted"
            };
            h.el("li", &[], &format!("{} — {}", fmt_time(at), l.t(key)));
        }
        h.raw("</ul></dd></dl>");
        if state.0 == "granted" {
            h.raw(&format!(
                "<form method=\"post\" action=\"/consents/{}/revoke\">",
                esc(&x.id)
            ));
            csrf_field(&mut h, &u);
            h.raw(&format!(
                "<button class=\"button warning\" type=\"submit\" aria-label=\"{}: {}\">{}</button></form>",
                esc(l.t("revoke")),
                esc(&company),
                esc(l.t("revoke"))
            ));
        }
        h.raw("</section>");
    }
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "consents",
        l.t("consents_title"),
        &h.0,
    )
}

// ----- notifications --------------------------------------------------------------------------

async fn notifications(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let u = signed_in!(c);
    let l = c.lang;
    let list = s
        .store
        .notifications_of(&u.citizen)
        .await
        .unwrap_or_default();
    let _ = s.store.mark_read(&u.citizen, now()).await;
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t("notifications_title"));
    if list.is_empty() {
        h.el("p", &[], l.t("no_notifications"));
    } else {
        h.raw("<ul class=\"cards\">");
        for n in list {
            h.raw("<li>");
            h.el("p", &[("class", "meta")], &fmt_time(n.created_at));
            h.raw("<p>");
            if n.read_at.is_none() {
                h.raw("<strong>");
            }
            h.text(&crate::notify::text(
                conf.as_deref(),
                l,
                &n.kind,
                &n.subject,
            ));
            if n.read_at.is_none() {
                h.raw("</strong>");
            }
            h.raw(" ");
            h.a(&n.link, l.t("continue"));
            h.raw("</p></li>");
        }
        h.raw("</ul>");
    }
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "notifications",
        l.t("notifications_title"),
        &h.0,
    )
}

// ----- sign-in --------------------------------------------------------------------------------

/// Only same-origin paths may be a `next`: an open redirect would let a phishing link borrow
/// the portal's address. Anything else becomes `/`; no `next` at all, `/applications`.
fn safe_next(next: Option<String>) -> String {
    match next {
        None => "/applications".into(),
        Some(n) if is_local_path(&n) => n,
        Some(_) => "/".into(),
    }
}

/// Whether `p`, sent as a `Location`, stays on this origin whatever a browser does with it.
/// The WHATWG URL parser drops tabs and newlines (`/\t/evil` is `//evil`), treats `\` as `/`
/// in http(s) URLs (`/\evil` is `//evil`), and `//host` is another origin; so a path must start
/// with exactly one `/`, and neither it nor its percent-decoded forms (`%09`, `%5C`, …, a
/// handler might decode them and redirect again) may hold a backslash, a control character
/// or a second leading slash.
pub(crate) fn is_local_path(p: &str) -> bool {
    let ok = |b: &[u8]| {
        b.first() == Some(&b'/')
            && b.get(1) != Some(&b'/')
            && !b.iter().any(|&c| c == b'\\' || c < 0x20 || c == 0x7f)
    };
    if p.len() >= 2000 || !ok(p.as_bytes()) {
        return false;
    }
    // Decoded until nothing changes (a few rounds at most: each one shortens the text).
    let mut form = p.as_bytes().to_vec();
    for _ in 0..4 {
        let decoded: Vec<u8> = percent_encoding::percent_decode(&form).collect();
        if decoded == form {
            return true;
        }
        if !ok(&decoded) {
            return false;
        }
        form = decoded;
    }
    false
}

/// A request path made safe to write back into a page: leading slashes and backslashes
/// collapsed to one `/`, so `//evil.example/x` (a valid request target) never becomes a
/// link to another origin.
fn page_path(p: &str) -> String {
    format!("/{}", p.trim_start_matches(['/', '\\']))
}

/// Counts a sign-in attempt from `ip`; false when over the per-minute limit.
fn rate_ok(s: &AppState, ip: IpAddr) -> bool {
    let minute = now() / 60;
    let mut m = s.rate.lock().expect("lock");
    if m.len() > 100_000 {
        m.retain(|_, (min, _)| *min == minute);
    }
    let e = m.entry(ip).or_insert((minute, 0));
    if e.0 != minute {
        *e = (minute, 0);
    }
    e.1 += 1;
    e.1 <= s.cfg.login_rate_per_minute
}

async fn provider(s: &AppState, refresh_keys: bool) -> Result<Provider, oidc::OidcError> {
    if !refresh_keys {
        if let Some(p) = s.provider.read().await.clone() {
            return Ok(p);
        }
    }
    let discovery = oidc::discover(&s.http, &s.issuer).await?;
    let jwks = oidc::fetch_jwks(&s.http, &discovery).await?;
    let p = Provider { discovery, jwks };
    *s.provider.write().await = Some(p.clone());
    Ok(p)
}

fn redirect_uri(s: &AppState) -> String {
    format!("{}/callback", s.public_url)
}

async fn login(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(q): RawQuery,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    if !rate_ok(&s, peer.ip()) {
        return message_page(
            &s,
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            "error_title",
            c.lang.t("too_many"),
        );
    }
    let next = safe_next(query_get(&query_pairs(q.as_deref()), "next"));
    let p = match provider(&s, false).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "identity provider unavailable");
            return message_page(
                &s,
                &c,
                StatusCode::BAD_GATEWAY,
                "error_title",
                c.lang.t("login_failed"),
            );
        }
    };
    let state = oidc::random_token(24);
    let nonce = oidc::random_token(24);
    let verifier = oidc::random_token(48);
    let pending = PendingLogin {
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        next,
        created_at: now(),
    };
    if let Err(e) = s.store.insert_login(&state, &pending).await {
        return message_page(
            &s,
            &c,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            &e.to_string(),
        );
    }
    let url = oidc::authorize_url(
        &p.discovery,
        &s.cfg.oidc_client_id,
        &redirect_uri(&s),
        "openid profile email",
        &state,
        &nonce,
        &oidc::pkce_challenge(&verifier),
        c.lang.code(),
    );
    // Login CSRF (RFC 6749 §10.12): the state, and with it the nonce and PKCE verifier kept
    // under it, belongs to this browser only. SameSite=Lax still sends it on the provider's
    // top-level redirect back to /callback; an attacker's callback link, opened in a victim's
    // browser, arrives without it.
    let mut cookies = c.set_cookies.clone();
    cookies.push(s.cookie(s.login_cookie(), &state, LOGIN_TTL_SECS, true));
    redirect(&url, &cookies)
}

/// How long a sign-in may take between /login and /callback.
const LOGIN_TTL_SECS: i64 = 600;

async fn callback(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    let l = c.lang;
    if !rate_ok(&s, peer.ip()) {
        return message_page(
            &s,
            &c,
            StatusCode::TOO_MANY_REQUESTS,
            "error_title",
            l.t("too_many"),
        );
    }
    let q = query_pairs(uri.query());
    // The pre-login cookie is spent whatever happens next.
    let mut c = c;
    c.set_cookies.push(s.cookie(s.login_cookie(), "", 0, true));
    let c = c;
    let fail = |why: &str| {
        tracing::warn!(reason = %why, "sign-in failed");
        message_page(
            &s,
            &c,
            StatusCode::BAD_REQUEST,
            "error_title",
            l.t("login_failed"),
        )
    };
    let (Some(code), Some(state)) = (query_get(&q, "code"), query_get(&q, "state")) else {
        return fail(&format!(
            "no code: {}",
            query_get(&q, "error").unwrap_or_default()
        ));
    };
    // Checked before the state is looked up (and spent): a link made for another browser
    // neither signs this one in nor spoils the sign-in it was made for.
    if !cookies(&headers)
        .get(s.login_cookie())
        .is_some_and(|mine| same(mine, &state))
    {
        return fail("the state does not belong to this browser (no or another pre-login cookie)");
    }
    let pending = match s.store.take_login(&state).await {
        Ok(Some(p)) if now() - p.created_at < LOGIN_TTL_SECS => p,
        _ => return fail("unknown or expired state"),
    };
    let p = match provider(&s, false).await {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    let token = match oidc::exchange_code(
        &s.http,
        &p.discovery,
        &s.cfg.oidc_client_id,
        &s.cfg.oidc_client_secret,
        &redirect_uri(&s),
        &code,
        &pending.verifier,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => return fail(&e.to_string()),
    };
    // A key id the cached JWKS lacks means the provider rotated its keys: fetch them again.
    let p = match oidc::token_kid(&token) {
        Some(kid) if !oidc::jwks_has(&p.jwks, &kid) => match provider(&s, true).await {
            Ok(p) => p,
            Err(e) => return fail(&e.to_string()),
        },
        _ => p,
    };
    let claims = match oidc::verify_id_token(
        &token,
        &p.jwks,
        &p.discovery.issuer,
        &s.cfg.oidc_client_id,
        &pending.nonce,
        now(),
    ) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let Some(citizen) = claims
        .get(&s.cfg.oidc_id_claim)
        .and_then(Value::as_str)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 100
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
    else {
        return fail("the ID token lacks the configured personal id claim");
    };
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(citizen)
        .chars()
        .take(200)
        .collect::<String>();
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(254)
        .collect::<String>();
    let sid = oidc::random_token(32);
    let session = Session {
        citizen: citizen.to_owned(),
        name,
        email,
        csrf: oidc::random_token(32),
        expires_at: now() + s.cfg.session_ttl_secs as i64,
    };
    if let Err(e) = s
        .store
        .insert_session(&sha256_hex(&sid), &session, now())
        .await
    {
        return fail(&e.to_string());
    }
    tracing::info!("citizen signed in");
    let mut cookies = c.set_cookies.clone();
    cookies.push(s.cookie(s.session_cookie, &sid, s.cfg.session_ttl_secs as i64, true));
    redirect(&pending.next, &cookies)
}

async fn logout(
    State(s): State<Shared>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let c = ctx(&s, &headers, &uri).await;
    if let Err(refused) = checked_form(&s, &c, &body) {
        return *refused;
    }
    if let Some((hash, _)) = &c.session {
        let _ = s.store.delete_session(hash).await;
    }
    let mut cookies = c.set_cookies.clone();
    cookies.push(s.cookie(s.session_cookie, "", 0, true));
    redirect("/", &cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next(Some("/services?q=x".into())), "/services?q=x");
        assert_eq!(safe_next(None), "/applications");
        assert_eq!(safe_next(Some("//evil.example/".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example/".into())), "/");
        assert_eq!(safe_next(Some("/\\evil".into())), "/");
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    /// `/login?next=/%09/evil.example/` used to redirect to `/\t/evil.example/`, which a
    /// browser's URL parser reads as `//evil.example/` (issue 13, item 12).
    #[test]
    fn next_refuses_what_a_browser_would_take_off_site() {
        for bad in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r/evil.example/",
            "/%09/evil.example/",
            "/%0a/evil.example/",
            "/%0D/evil.example/",
            "/\\evil",
            "/%5cevil",
            "/%5Cevil.example/",
            "//evil",
            "/%2f/evil.example/",
            "/%252f/evil.example/",
            "/%2509/evil.example/",
            "\\/evil",
            " /evil",
            "\t/evil",
            "evil",
            "/x\u{7f}",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad:?} was accepted");
            assert_eq!(safe_next(Some(bad.into())), "/", "{bad:?}");
        }
        for good in [
            "/",
            "/services?q=benefit",
            "/applications/42",
            "/a%20b",
            "/tracker#x",
        ] {
            assert!(is_local_path(good), "{good:?} was refused");
        }
    }

    #[test]
    fn page_paths_have_one_leading_slash() {
        assert_eq!(page_path("//evil.example/x"), "/evil.example/x");
        assert_eq!(page_path("/\\evil.example/x"), "/evil.example/x");
        assert_eq!(page_path("/services"), "/services");
    }
}
