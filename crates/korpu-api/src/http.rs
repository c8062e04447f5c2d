//! The hub's HTTP endpoints: parse the request's parts (form, `DPoP` header, `Authorization`),
//! hand them to the authorisation server, and answer in the protocol's format — RFC 6749 error
//! JSON on the OAuth endpoints, RFC 9457 problem details with a `WWW-Authenticate: DPoP`
//! challenge (RFC 9449 §7.1) on the API.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use korpu_oauth::dpop;
use korpu_oauth::{AuthServer, Code, Config, Form, OAuthError};
use serde_json::{json, Value};

use crate::config::HubConfig;
use crate::metrics::Metrics;
use crate::quota::{Decision, Limit, Limiter};

/// The hub: its authorisation server, its rate limits and where it is reached.
pub struct Hub {
    server: Mutex<AuthServer>,
    issuer: String,
    max_body: usize,
    limiter: Limiter,
    default_limit: Limit,
    limits: HashMap<String, Limit>,
    metrics: Metrics,
}

impl Hub {
    /// A hub for `config` serving `clients`, counting calls in `limiter`.
    pub fn new(config: &HubConfig, clients: Vec<korpu_oauth::Client>, limiter: Limiter) -> Hub {
        let issuer = config.issuer();
        let mut cfg = Config::new(issuer.clone());
        cfg.access_lifetime = config.access_token_secs;
        cfg.refresh_lifetime = config.refresh_token_secs;
        let mut server = AuthServer::new(cfg);
        for c in clients {
            server.register(c);
        }
        Hub {
            server: Mutex::new(server),
            issuer,
            max_body: config.max_body_bytes,
            limiter,
            default_limit: config.rate_limit,
            limits: config
                .applications
                .iter()
                .filter_map(|a| Some((a.client_id.clone(), a.rate_limit?)))
                .collect(),
            metrics: Metrics::new(),
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn server(&self) -> std::sync::MutexGuard<'_, AuthServer> {
        // A panic while holding the lock leaves no half-made grant behind (each step mutates
        // last), so the state stays usable.
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The hub's routes.
pub fn router(hub: Arc<Hub>) -> Router {
    let limit = hub.max_body;
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/oauth/par", post(oauth))
        .route("/oauth/token", post(oauth))
        .route("/oauth/revoke", post(oauth))
        .route("/oauth/introspect", post(oauth))
        .route("/api/v1/grant", get(grant))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(hub)
}

/// An OAuth endpoint's error answer (RFC 6749 §5.2), never cached.
struct OAuthReply(OAuthError);

impl IntoResponse for OAuthReply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, no_store(), Json(self.0.to_json())).into_response()
    }
}

impl From<OAuthError> for OAuthReply {
    fn from(e: OAuthError) -> Self {
        OAuthReply(e)
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// The form of an OAuth POST: `application/x-www-form-urlencoded`, each name once.
fn form(headers: &HeaderMap, body: &Bytes) -> Result<Form, OAuthError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            Code::InvalidRequest,
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    Form::new(url::form_urlencoded::parse(body).into_owned())
}

/// The request's single `DPoP` header (RFC 9449 §4.3 step 1: more than one is an error).
fn dpop_header(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut all = headers.get_all("dpop").iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(OAuthError::new(
            Code::InvalidDpopProof,
            "send one DPoP header, not several",
        ));
    }
    first
        .map(|v| {
            v.to_str().map_err(|_| {
                OAuthError::new(Code::InvalidDpopProof, "the DPoP header is not ASCII")
            })
        })
        .transpose()
}

/// Checks the `DPoP` proof of a request to one of the hub's own endpoints at `path`.
fn proof_for(
    hub: &Hub,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<Option<dpop::Verified>, OAuthError> {
    let Some(proof) = dpop_header(headers)? else {
        return Ok(None);
    };
    // The URI the client addressed is the public one, whatever proxy stands in front.
    let uri = format!("{}{path}", hub.issuer);
    hub.server()
        .check_dpop(
            proof,
            &dpop::Request {
                method,
                uri: &uri,
                access_token: None,
                nonce: None,
                now: now(),
            },
        )
        .map(Some)
}

async fn metadata(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(hub.server().metadata())
}

/// The OAuth endpoints (all `POST` with a form): the form, the `DPoP` proof for the path, then
/// the authorisation server's step for that path.
async fn oauth(
    State(hub): State<Arc<Hub>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthReply> {
    let form = form(&headers, &body)?;
    let proof = proof_for(&hub, &headers, "POST", uri.path())?;
    let (proof, now) = (proof.as_ref(), now());
    let mut server = hub.server();
    Ok(match uri.path() {
        "/oauth/par" => {
            let (request_uri, expires_in) = server.push(&form, proof, now)?;
            let answer = json!({ "request_uri": request_uri, "expires_in": expires_in });
            (StatusCode::CREATED, no_store(), Json(answer)).into_response()
        }
        "/oauth/token" => {
            let grant_type = form.get("grant_type").unwrap_or("").to_owned();
            let answer = server.token(&form, proof, now);
            let outcome = answer
                .as_ref()
                .map_or_else(|e| e.code.as_str(), |_| "issued");
            hub.metrics.token(&grant_type, outcome);
            (no_store(), Json(answer?.to_json())).into_response()
        }
        "/oauth/revoke" => {
            server.revoke(&form, now)?;
            (StatusCode::OK, no_store()).into_response()
        }
        _ => (no_store(), Json(server.introspect(&form, now)?)).into_response(),
    })
}

/// A refused API call, as RFC 9457 problem details.
struct ApiRefusal {
    status: StatusCode,
    title: &'static str,
    error: &'static str,
    detail: String,
    headers: Vec<(header::HeaderName, String)>,
}

impl From<OAuthError> for ApiRefusal {
    /// A token or proof refused, with the `WWW-Authenticate: DPoP` challenge that tells the
    /// client what to fix (RFC 9449 §7.1).
    fn from(e: OAuthError) -> Self {
        let algs: Vec<&str> = korpu_oauth::Alg::ALL.iter().map(|a| a.name()).collect();
        let challenge = format!(
            "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
            e.code.as_str(),
            e.description.replace(['"', '\\'], "'"),
            algs.join(" ")
        );
        ApiRefusal {
            status: StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            title: "The access token or its DPoP proof was refused",
            error: e.code.as_str(),
            detail: e.description,
            headers: vec![(header::WWW_AUTHENTICATE, challenge)],
        }
    }
}

impl IntoResponse for ApiRefusal {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(json!({
                "type": format!("https://korpu.dev/problems/{}", self.error),
                "title": self.title,
                "status": self.status.as_u16(),
                "detail": self.detail,
                "error": self.error,
            })),
        )
            .into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        resp
    }
}

/// The draft IETF `RateLimit-Policy` and `RateLimit` fields for `limit` with `remaining` tokens
/// and `reset` seconds until the next one.
fn rate_headers(limit: Limit, remaining: u32, reset: u64) -> Vec<(header::HeaderName, String)> {
    let window = (f64::from(limit.burst) / limit.rate_per_sec).ceil() as u64;
    vec![
        (
            header::HeaderName::from_static("ratelimit-policy"),
            format!("\"per-api\";q={};w={window}", limit.burst),
        ),
        (
            header::HeaderName::from_static("ratelimit"),
            format!("\"per-api\";r={remaining};t={reset}"),
        ),
    ]
}

impl Hub {
    /// Takes a token from the bucket of `client` for `api`: the headers to send, or the refusal.
    async fn meter(
        &self,
        client: &str,
        api: &str,
    ) -> Result<Vec<(header::HeaderName, String)>, ApiRefusal> {
        let limit = self
            .limits
            .get(client)
            .copied()
            .unwrap_or(self.default_limit);
        match self.limiter.take(&format!("{client}:{api}"), limit).await {
            Ok(Decision::Allowed { remaining }) => {
                self.metrics.call(client, api, "allowed");
                Ok(rate_headers(limit, remaining, 0))
            }
            Ok(Decision::Limited { retry_after_ms }) => {
                self.metrics.call(client, api, "rate_limited");
                let secs = retry_after_ms.div_ceil(1000);
                let mut headers = rate_headers(limit, 0, secs);
                headers.push((header::RETRY_AFTER, secs.to_string()));
                Err(ApiRefusal {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    title: "Too many calls",
                    error: "rate_limited",
                    detail: format!(
                        "this application may make {} calls at once to {api}, refilled at {}/s; retry after {secs} s",
                        limit.burst, limit.rate_per_sec
                    ),
                    headers,
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "rate-limit store unavailable; refusing calls");
                Err(ApiRefusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    title: "Calls cannot be counted right now",
                    error: "temporarily_unavailable",
                    detail: "the hub cannot reach its rate-limit store; retry shortly".into(),
                    headers: vec![(header::RETRY_AFTER, "5".into())],
                })
            }
        }
    }
}

/// `GET /metrics`: the hub's usage in the OpenMetrics text format.
async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    (
        [(header::CONTENT_TYPE, korpu_service::metrics::CONTENT_TYPE)],
        hub.metrics.render(),
    )
        .into_response()
}

/// `GET /api/v1/grant`: what the presented DPoP-bound token allows.
async fn grant(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiRefusal> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let target = format!("{}{}", hub.issuer, uri.path());
    let grant = dpop_header(&headers)
        .and_then(|proof| {
            hub.server()
                .authorize_call(authorization, proof, method.as_str(), &target, now())
        })
        .inspect_err(|e| hub.metrics.refused(e.code.as_str()))?;
    let rate = hub.meter(&grant.client_id, "grant").await?;
    let mut resp = Json(json!({
        "client_id": grant.client_id,
        "scope": grant.scopes.join(" "),
        "subject": grant.subject,
        "consent_id": grant.consent_id,
        "cnf": { "jkt": grant.jkt },
    }))
    .into_response();
    for (name, value) in rate {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    Ok(resp)
}
