//! The portal's calls over the bridge: the HTTP client for its own gateway (pinned roots,
//! the portal's client certificate) and one call as the portal's subsystem on behalf of, and
//! about, a citizen. It does not interpret agencies' answers; the route modules do.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use korpu_conf::{GlobalConf, ServiceInfo, SubjectLocation};

use crate::config::PortalConfig;
use crate::html::url_part;
use crate::server::{AppState, StartError};

/// The HTTP client for the portal's gateway: with `gateway_ca` as its only roots, and the
/// portal's client certificate when configured (the gateway pins it for the portal's
/// subsystem, so no other local process can act as myGov).
pub(crate) fn gateway_client(cfg: &PortalConfig) -> Result<reqwest::Client, StartError> {
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
