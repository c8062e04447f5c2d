//! The portal's calls over the bridge: the HTTP client for its own gateway (pinned roots,
//! the portal's client certificate) and one call as the portal's subsystem on behalf of, and
//! about, a citizen. It does not interpret agencies' answers; the route modules do.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use korpu_conf::{GlobalConf, ServiceInfo, SubjectLocation};
use korpu_xroad::{ClientOptions, Request, SendError, Subject};

use crate::config::PortalConfig;
use crate::server::{AppState, StartError};

/// The HTTP client for the portal's gateway: with `gateway_ca` as its only roots, and the
/// portal's client certificate when configured (the gateway pins it for the portal's
/// subsystem, so no other local process can act as myGov).
pub(crate) fn gateway_client(cfg: &PortalConfig) -> Result<reqwest::Client, StartError> {
    let mut o = ClientOptions::new(Duration::from_secs(cfg.upstream_timeout_secs));
    o.strict = true;
    if !cfg.gateway_ca.as_os_str().is_empty() {
        o.roots = Some(cfg.gateway_ca.clone());
    }
    if !cfg.gateway_client_key.as_os_str().is_empty() {
        korpu_pki::private::check(&cfg.gateway_client_key)
            .map_err(|e| StartError::Http(e.to_string()))?;
        o.identity = Some((
            cfg.gateway_client_cert.clone(),
            cfg.gateway_client_key.clone(),
        ));
    }
    o.build().map_err(|e| StartError::Http(e.to_string()))
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
    let subject = match &svc.data_subject {
        Some(SubjectLocation::Header(name)) => Some(Subject::Header(name.clone())),
        Some(SubjectLocation::Query(name)) => Some(Subject::Query(name.clone())),
        Some(SubjectLocation::Path(_)) | None => None,
    };
    let mut req = Request::new(method, &s.cfg.gateway_url, &svc.id.to_string(), sub_path)
        .client(&s.client.to_string())
        .user_id(citizen)
        .purpose(purpose)
        .subject(subject.as_ref(), citizen);
    if let Some(b) = body {
        req = req.body("application/json", b);
    }
    let ans = req.send(&s.gateway_http).await.map_err(|e| match e {
        SendError::Send(e) => format!("the portal's gateway: {e}"),
        SendError::Read(e) => e.to_string(),
    })?;
    Ok((ans.status, ans.body))
}
