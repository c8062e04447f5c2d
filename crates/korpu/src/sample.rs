//! Small sample information systems for the demo and the tests: what an agency's own system
//! behind its gateway looks like. Their data is made up, derived from the request, so that a
//! newcomer sees a plausible answer and a test can check it.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Which agency's system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agency {
    Population,
    Tax,
    Benefits,
}

fn name_for(pin: &str) -> &'static str {
    const NAMES: [&str; 6] = [
        "Aysel Məmmədova",
        "Rəşad Əliyev",
        "Leyla Hüseynova",
        "Tural Quliyev",
        "Nigar Həsənova",
        "Elvin İsmayılov",
    ];
    NAMES[pin.bytes().map(usize::from).sum::<usize>() % NAMES.len()]
}

/// Echoes what arrived: method, path, query, headers and the body's length and SHA-256, so a
/// test can see exactly what the gateways passed through. `?sleep_ms=N` answers late and
/// `?reply_bytes=N` answers with N bytes instead, for timeout and large-response checks.
async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    // Hashed as it streams, so a large body costs the sample system no memory.
    let mut body = body;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(d) = frame.into_data() {
            len += d.len() as u64;
            hasher.update(&d);
        }
    }
    let param = |name: &str| {
        uri.query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(ms) = param("sleep_ms") {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(n) = param("reply_bytes") {
        return vec![b'k'; n.min(1 << 30) as usize].into_response();
    }
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("<binary>"))))
        .collect();
    Json(json!({
        "method": method.as_str(), "path": uri.path(), "query": uri.query(),
        "headers": h, "body_len": len, "body_sha256": hex::encode(hasher.finalize()),
    }))
    .into_response()
}

pub fn router(agency: Agency) -> Router {
    let common = Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .layer(axum::extract::DefaultBodyLimit::disable());
    match agency {
        Agency::Population => common
            .route(
                "/persons/{pin}",
                get(|Path(pin): Path<String>| async move {
                    Json(json!({"pin": pin, "name": name_for(&pin), "birth_date": "1990-04-12", "address": "Bakı, Nizami küç. 10"}))
                }),
            )
            .route(
                "/family/{pin}",
                get(|Path(pin): Path<String>| async move {
                    Json(json!({"pin": pin, "spouse": format!("{pin}S"), "children": [{"pin": format!("{pin}C1"), "birth_date": "2026-11-20"}]}))
                }),
            ),
        Agency::Tax => common.route(
            "/income",
            get(|headers: HeaderMap| async move {
                match headers.get("x-subject-id").and_then(|v| v.to_str().ok()) {
                    Some(pin) => (StatusCode::OK, Json(json!({"pin": pin, "year": 2025, "declared_income_azn": 18400}))),
                    None => (StatusCode::BAD_REQUEST, Json(json!({"error": "X-Subject-Id is required"}))),
                }
            }),
        ),
        Agency::Benefits => common.route(
            "/child-benefit",
            post(|body: Bytes| async move {
                let id = hex::encode(&Sha256::digest(&body)[..6]);
                (StatusCode::CREATED, Json(json!({"application_id": format!("CB-{id}"), "status": "received"})))
            }),
        ),
    }
}

/// Serves `agency`'s sample system on `addr` until the task is dropped; returns the bound
/// address.
pub async fn spawn(agency: Agency, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(agency)).await {
            tracing::error!(error = %e, "sample information system stopped");
        }
    });
    Ok(bound)
}
