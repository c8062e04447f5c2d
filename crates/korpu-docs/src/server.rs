//! The two HTTP faces of a document exchange server:
//!
//! * the **local API** (`api_listen`, loopback, `Authorization: Bearer <token>`) for
//!   `korpu docs` and the organisation's own systems: `POST /api/v1/documents` (send),
//!   `GET /api/v1/inbox|outbox?status=&cursor=&limit=`, `GET /api/v1/documents/{id}`,
//!   `GET /api/v1/documents/{id}/container`, `POST /api/v1/documents/{id}/open|sign|reject`
//!   (`{"note": …}`), `POST /api/v1/documents/{id}/answer` (a send request; `to` defaults to
//!   the original's sender), `POST /api/v1/documents/{id}/hold` (`{"hold": bool}`) and
//!   `POST /api/v1/expire` (`{"now": unix seconds}`, default the current time);
//! * the **`dx` service** (`dx_listen`), which only the own gateway should reach:
//!   `POST /dx/documents` and `POST /dx/receipts`, with the caller named by the gateway's
//!   `X-Road-Client` header. Errors use the X-Road REST form `{"type", "message"}`.
//!
//! No TLS here: both listeners are meant for loopback or the gateway's private network.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::exchange::{Action, Exchange, SendRequest};
use crate::receipt::Envelope;
use crate::DocsError;

/// An error as an HTTP answer in the X-Road REST error form.
pub struct ApiError(pub DocsError);

impl From<DocsError> for ApiError {
    fn from(e: DocsError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "request failed");
        }
        (
            status,
            Json(json!({"type": self.0.xroad_type(), "message": self.0.to_string()})),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Clone)]
struct ApiState {
    ex: Arc<Exchange>,
    token_sha256: [u8; 32],
}

/// Reads the API token at `path`, creating it (mode 0600, 256 random bits) when missing, and
/// refusing one that group or others can read.
pub fn ensure_token(path: &Path) -> Result<String, DocsError> {
    let cfg = |m: String| DocsError::Config(m);
    match std::fs::metadata(path) {
        Ok(_) => {
            korpu_pki::private::check(path).map_err(|e| cfg(e.to_string()))?;
            let t = std::fs::read_to_string(path)
                .map_err(|e| cfg(format!("reading {}: {e}", path.display())))?;
            let t = t.trim().to_owned();
            if t.len() < 32 {
                return Err(cfg(format!("the token in {} is too short", path.display())));
            }
            Ok(t)
        }
        Err(_) => {
            if let Some(dir) = path.parent() {
                korpu_service::secret::create_missing_dir(dir).map_err(|e| cfg(e.to_string()))?;
            }
            let mut b = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
            let t = hex::encode(b);
            korpu_service::secret::write(path, t.as_bytes()).map_err(|e| cfg(e.to_string()))?;
            Ok(t)
        }
    }
}

fn authorised(st: &ApiState, h: &HeaderMap) -> Result<(), ApiError> {
    let given = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Comparing digests keeps the comparison's timing independent of the token.
    let d: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    if d.iter()
        .zip(st.token_sha256.iter())
        .fold(0u8, |a, (x, y)| a | (x ^ y))
        == 0
    {
        Ok(())
    } else {
        Err(ApiError(DocsError::Unauthorized))
    }
}

/// The local API router.
pub fn api_router(ex: Arc<Exchange>, token: &str) -> Router {
    let limit = (ex.config().max_container_bytes as usize).saturating_mul(2);
    let st = ApiState {
        ex,
        token_sha256: Sha256::digest(token.as_bytes()).into(),
    };
    Router::new()
        .route("/api/v1/documents", post(send))
        .route(
            "/api/v1/inbox",
            get(|st: State<ApiState>, h: HeaderMap, q: Query<ListQuery>| {
                list(st, h, q, crate::store::INBOX)
            }),
        )
        .route(
            "/api/v1/outbox",
            get(|st: State<ApiState>, h: HeaderMap, q: Query<ListQuery>| {
                list(st, h, q, crate::store::OUTBOX)
            }),
        )
        .route("/api/v1/documents/{id}", get(show))
        .route("/api/v1/documents/{id}/container", get(container))
        .route("/api/v1/documents/{id}/{action}", post(action))
        .route("/api/v1/expire", post(expire))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(st)
}

async fn send(
    State(st): State<ApiState>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorised(&st, &h)?;
    let req: SendRequest = serde_json::from_slice(&body)
        .map_err(|e| DocsError::Invalid(format!("the send request: {e}")))?;
    let doc = st.ex.send(req).await?;
    Ok((StatusCode::CREATED, Json(json!(doc))))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/inbox` and `/api/v1/outbox`: one handler, given its mailbox by the route.
async fn list(
    State(st): State<ApiState>,
    h: HeaderMap,
    Query(q): Query<ListQuery>,
    mailbox: &'static str,
) -> ApiResult<Json<Value>> {
    authorised(&st, &h)?;
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    Ok(Json(
        st.ex
            .list(mailbox, status, q.cursor.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

async fn show(
    State(st): State<ApiState>,
    h: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    authorised(&st, &h)?;
    Ok(Json(st.ex.show(&id).await?))
}

async fn container(
    State(st): State<ApiState>,
    h: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    authorised(&st, &h)?;
    let bytes = st.ex.container(&id).await?;
    Ok(([("content-type", korpu_sign::asice::MIMETYPE)], bytes).into_response())
}

async fn action(
    State(st): State<ApiState>,
    h: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authorised(&st, &h)?;
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| DocsError::Invalid(format!("the request body: {e}")))?
    };
    let note = v["note"].as_str().map(str::to_owned);
    let act = match action.as_str() {
        "open" => Action::Open,
        "sign" => Action::Sign,
        "reject" => Action::Reject,
        "answer" => {
            let mut req: SendRequest = serde_json::from_value(v)
                .map_err(|e| DocsError::Invalid(format!("the answer: {e}")))?;
            if req.to.is_empty() {
                let orig = st
                    .ex
                    .store()
                    .document(&id)
                    .await?
                    .ok_or_else(|| DocsError::UnknownDocument(id.clone()))?;
                req.to = orig.sender;
            }
            req.reply_to = Some(id);
            let doc = st.ex.send(req).await?;
            return Ok(Json(json!(doc)));
        }
        "hold" => {
            let hold = v["hold"].as_bool().unwrap_or(true);
            st.ex.hold(&id, hold).await?;
            return Ok(Json(json!({"id": id, "hold": hold})));
        }
        other => {
            return Err(ApiError(DocsError::Invalid(format!(
                "unknown action {other:?}; use open, sign, reject, answer or hold"
            ))))
        }
    };
    let doc = st.ex.act(&id, act, note).await?;
    Ok(Json(json!(doc)))
}

async fn expire(State(st): State<ApiState>, h: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    authorised(&st, &h)?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let now = v["now"].as_i64().unwrap_or_else(crate::exchange::unix_now);
    let removed = st.ex.expire(now).await?;
    Ok(Json(json!({"removed": removed})))
}

/// The `dx` service router (what the gateway forwards to).
pub fn dx_router(ex: Arc<Exchange>) -> Router {
    let limit = ex.config().max_container_bytes as usize + 1;
    Router::new()
        .route("/dx/documents", post(dx_document))
        .route("/dx/receipts", post(dx_receipt))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(ex)
}

fn client_of(h: &HeaderMap) -> Result<String, ApiError> {
    h.get("x-road-client")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError(DocsError::Invalid(
                "no X-Road-Client header: documents arrive through the gateway".into(),
            ))
        })
}

async fn dx_document(
    State(ex): State<Arc<Exchange>>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Envelope>)> {
    let client = client_of(&h)?;
    let env = ex.receive_document(&client, &body).await?;
    Ok((StatusCode::CREATED, Json(env)))
}

async fn dx_receipt(
    State(ex): State<Arc<Exchange>>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let client = client_of(&h)?;
    let env: Envelope = serde_json::from_slice(&body)
        .map_err(|e| DocsError::Invalid(format!("the receipt envelope: {e}")))?;
    ex.receive_receipt(&client, env).await?;
    Ok(Json(json!({"recorded": true})))
}

/// A started server: both listeners bound.
pub struct Running {
    /// Where the local API listens.
    pub api_addr: SocketAddr,
    /// Where the `dx` service listens.
    pub dx_addr: SocketAddr,
    api: tokio::task::JoinHandle<()>,
    dx: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    store: crate::store::Store,
    grace: Duration,
}

/// Binds both listeners and serves until [`Running::shutdown`].
pub async fn start(ex: Arc<Exchange>) -> Result<Running, DocsError> {
    let token = ensure_token(&ex.config().token_path())?;
    let bind = |a: SocketAddr| async move {
        tokio::net::TcpListener::bind(a)
            .await
            .map_err(|e| DocsError::Config(format!("cannot listen on {a}: {e}")))
    };
    let api_l = bind(ex.config().api_listen).await?;
    let dx_l = bind(ex.config().dx_listen).await?;
    let api_addr = api_l
        .local_addr()
        .map_err(|e| DocsError::Config(e.to_string()))?;
    let dx_addr = dx_l
        .local_addr()
        .map_err(|e| DocsError::Config(e.to_string()))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    // Both listeners close a connection that delivers no request head in time, so a caller
    // holding sockets open cannot exhaust the server (issue 13, item 8).
    let timeouts = korpu_net::Timeouts {
        tls_handshake: Duration::ZERO,
        header_read: Duration::from_secs(ex.config().header_read_timeout_secs),
    };
    // How long requests in flight may finish after [`Running::shutdown`].
    let grace = Duration::from_secs(ex.config().shutdown_grace_secs);
    let store = ex.store().clone();
    let api_app = api_router(ex.clone(), &token);
    let dx_app = dx_router(ex);
    let api = korpu_net::serve_router(api_l, None, api_app, timeouts, rx.clone(), grace);
    let dx = korpu_net::serve_router(dx_l, None, dx_app, timeouts, rx, grace);
    Ok(Running {
        api_addr,
        dx_addr,
        api,
        dx,
        stop,
        store,
        grace,
    })
}

impl Running {
    /// Stops accepting, finishes requests in flight (for at most the configured
    /// `shutdown_grace_secs`), closes the database, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.api.await;
        let _ = self.dx.await;
        korpu_service::shutdown::within_grace(self.grace, self.store.close()).await;
    }
}
