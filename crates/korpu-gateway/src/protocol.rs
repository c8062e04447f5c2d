//! The X-Road Message Protocol for REST (PR-REST r1) as pure functions: reading a request's
//! target and X-Road headers, filtering headers (PR-REST §4.3 "Filtered headers"), the error
//! types and their JSON form (§4.6), the request hash (§4.3), and the canonical bytes that
//! gateways sign.
//!
//! Nothing here does I/O; the proxy layers call these functions on header maps and bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use korpu_id::{ClientId, GatewayId, IdError, ServiceId};
use sha2::{Digest, Sha256, Sha512};

pub const H_CLIENT: &str = "x-road-client";
pub const H_SERVICE: &str = "x-road-service";
pub const H_ID: &str = "x-road-id";
pub const H_USER: &str = "x-road-userid";
pub const H_ISSUE: &str = "x-road-issue";
pub const H_REQUEST_HASH: &str = "x-road-request-hash";
pub const H_REQUEST_ID: &str = "x-road-request-id";
pub const H_ERROR: &str = "x-road-error";
pub const H_SECURITY_SERVER: &str = "x-road-security-server";
pub const H_REPRESENTED: &str = "x-road-represented-party";
/// Körpü's extension: why the data is being accessed (e.g. `benefit-eligibility`).
pub const H_PURPOSE: &str = "x-korpu-purpose";

/// Headers used only between gateways; never accepted from, nor passed to, an information
/// system (an information system must not be able to forge them).
pub const INTERNAL_PREFIX: &str = "x-korpu-gw-";
pub const H_SIG: &str = "x-korpu-gw-signature";
pub const H_SIGNER: &str = "x-korpu-gw-signer";
pub const H_SIGNER_OCSP: &str = "x-korpu-gw-signer-ocsp";
pub const H_TLS_OCSP: &str = "x-korpu-gw-tls-ocsp";
pub const H_REQUEST_DIGEST: &str = "x-korpu-gw-request-digest";

/// Hop-by-hop headers and headers that leak the origin host (PR-REST §4.3, "Filtered headers"),
/// plus Content-Length, which the gateway recomputes.
const FILTERED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "user-agent",
    "server",
    "content-length",
    "expect",
    "proxy-connection",
];

/// A gateway error in PR-REST §4.6 form. Types beginning with `Client.` are the caller's
/// fault (HTTP 400); `Server.ClientProxy.` errors arise in the caller's gateway and
/// `Server.ServerProxy.` errors in the provider's (HTTP 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRoadError {
    pub kind: &'static str,
    pub message: String,
}

impl XRoadError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        if self.kind.starts_with("Client.") {
            400
        } else {
            500
        }
    }

    /// The JSON body; `detail` carries the message id so an operator can find the exchange.
    pub fn body(&self, message_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": self.kind,
            "message": self.message,
            "detail": message_id,
        }))
        .expect("an error always serialises")
    }
}

impl std::fmt::Display for XRoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

pub mod kind {
    pub const BAD_REQUEST: &str = "Client.BadRequest";
    pub const INVALID_CLIENT: &str = "Client.InvalidClientIdentifier";
    pub const UNKNOWN_CLIENT: &str = "Client.UnknownClient";
    pub const UNKNOWN_SERVICE: &str = "Client.UnknownService";
    pub const ACCESS_DENIED: &str = "Client.AccessDenied";
    pub const PURPOSE_REQUIRED: &str = "Client.PurposeRequired";
    pub const TOO_LARGE: &str = "Client.RequestTooLarge";
    pub const OUTDATED_CONF: &str = "Server.ClientProxy.OutdatedGlobalConf";
    pub const CP_NETWORK: &str = "Server.ClientProxy.NetworkError";
    pub const CP_SSL: &str = "Server.ClientProxy.SslAuthenticationFailed";
    pub const CP_SIGNATURE: &str = "Server.ClientProxy.InvalidSignature";
    pub const CP_INTERNAL: &str = "Server.ClientProxy.InternalError";
    pub const CP_DATABASE: &str = "Server.ClientProxy.DatabaseError";
    pub const SP_SSL: &str = "Server.ServerProxy.SslAuthenticationFailed";
    pub const SP_SIGNATURE: &str = "Server.ServerProxy.InvalidSignature";
    pub const SP_ACCESS_DENIED: &str = "Server.ServerProxy.AccessDenied";
    pub const SP_UNKNOWN_SERVICE: &str = "Server.ServerProxy.UnknownService";
    pub const SP_OUTDATED_CONF: &str = "Server.ServerProxy.OutdatedGlobalConf";
    pub const SP_SERVICE_FAILED: &str = "Server.ServerProxy.ServiceFailed";
    pub const SP_SERVICE_TIMEOUT: &str = "Server.ServerProxy.ServiceTimeout";
    pub const SP_TOO_LARGE: &str = "Server.ServerProxy.ResponseTooLarge";
    pub const SP_DATABASE: &str = "Server.ServerProxy.DatabaseError";
    pub const SP_BAD_REQUEST: &str = "Server.ServerProxy.BadRequest";
}

/// What a request to the client side asks for, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: ServiceId,
    /// `service` in canonical text form, made once for the headers, signatures and record.
    pub service_text: String,
    /// The provider-side path (after the service id), empty or starting with `/`.
    pub path: String,
    /// The query string without `?`, passed through unmodified (PR-REST §4.5).
    pub query: Option<String>,
}

/// Reads `/r1/{serviceId}[/path][?query]` (PR-REST §4.1).
pub fn parse_target(path_and_query: &str) -> Result<Target, XRoadError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (path_and_query, None),
    };
    let rest = path.strip_prefix("/r1/").ok_or_else(|| {
        XRoadError::new(
            kind::BAD_REQUEST,
            format!(
                "the path {path:?} is not an X-Road REST request: it must start with /r1/ \
                 followed by INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE"
            ),
        )
    })?;
    // PR-REST §4.2 asks for bounded URIs; 8 KiB is far above any real service path.
    if path_and_query.len() > 8192 {
        return Err(XRoadError::new(
            kind::BAD_REQUEST,
            "the request URI is longer than 8192 bytes",
        ));
    }
    let (service, rest) = ServiceId::split_rest_path(rest).map_err(|e| {
        XRoadError::new(
            kind::BAD_REQUEST,
            format!("the service id in the path is malformed: {e}"),
        )
    })?;
    Ok(Target {
        service_text: service.to_string(),
        service,
        path: rest.to_owned(),
        query,
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, XRoadError> {
    // PR-REST §4.3: with several X-Road-Client headers, the last one counts.
    match headers.get_all(name).iter().next_back() {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            XRoadError::new(
                kind::BAD_REQUEST,
                format!("header {name} is not visible ASCII"),
            )
        }),
    }
}

/// The X-Road headers of a request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRoadHeaders {
    pub client: ClientId,
    /// `client` in canonical text form, made once for the headers, signatures and record.
    pub client_text: String,
    pub message_id: String,
    pub user_id: Option<String>,
    pub issue: Option<String>,
    pub purpose: Option<String>,
    pub represented_party: Option<String>,
    pub security_server: Option<GatewayId>,
    /// `X-Road-Service`, when given; must agree with the path.
    pub service_header: Option<ServiceId>,
}

fn bounded(name: &str, v: Option<&str>) -> Result<Option<String>, XRoadError> {
    match v {
        Some(s) if s.len() > 1024 => Err(XRoadError::new(
            kind::BAD_REQUEST,
            format!("header {name} is longer than 1024 bytes"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
        None => Ok(None),
    }
}

/// Reads the X-Road headers; `new_id` makes an `X-Road-Id` when the client sent none.
pub fn parse_headers(
    headers: &HeaderMap,
    new_id: impl FnOnce() -> String,
) -> Result<XRoadHeaders, XRoadError> {
    let client_text = header_str(headers, H_CLIENT)?.ok_or_else(|| {
        XRoadError::new(
            kind::INVALID_CLIENT,
            "the X-Road-Client header is missing: say which subsystem calls, e.g. \
             X-Road-Client: AZ/GOV/1400003/benefits",
        )
    })?;
    let client: ClientId = client_text.trim().parse().map_err(|e: IdError| {
        XRoadError::new(
            kind::INVALID_CLIENT,
            format!("the X-Road-Client header is malformed: {e}"),
        )
    })?;
    let security_server = header_str(headers, H_SECURITY_SERVER)?
        .map(|s| s.trim().parse::<GatewayId>())
        .transpose()
        .map_err(|e| {
            XRoadError::new(
                kind::BAD_REQUEST,
                format!("the X-Road-Security-Server header is malformed: {e}"),
            )
        })?;
    let service_header = header_str(headers, H_SERVICE)?
        .map(|s| s.trim().parse::<ServiceId>())
        .transpose()
        .map_err(|e| {
            XRoadError::new(
                kind::BAD_REQUEST,
                format!("the X-Road-Service header is malformed: {e}"),
            )
        })?;
    let message_id = match bounded(H_ID, header_str(headers, H_ID)?)? {
        Some(id) if !id.trim().is_empty() => id,
        _ => new_id(),
    };
    Ok(XRoadHeaders {
        client_text: client.to_string(),
        client,
        message_id,
        user_id: bounded(H_USER, header_str(headers, H_USER)?)?,
        issue: bounded(H_ISSUE, header_str(headers, H_ISSUE)?)?,
        purpose: bounded(H_PURPOSE, header_str(headers, H_PURPOSE)?)?,
        represented_party: bounded(H_REPRESENTED, header_str(headers, H_REPRESENTED)?)?,
        security_server,
        service_header,
    })
}

/// A random UUID v4 in text form, for `X-Road-Id`.
pub fn new_message_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Copies the headers that pass through X-Road unmodified: user-defined ones and the standard
/// ones not filtered by PR-REST §4.3. Gateway-internal headers never pass.
pub fn passthrough_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    // Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection_named: Vec<String> = from
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for (name, value) in from {
        let n = name.as_str();
        if FILTERED.contains(&n)
            || n.starts_with(INTERNAL_PREFIX)
            || connection_named.iter().any(|c| c == n)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Removes the X-Road protocol headers that the gateway itself sets on responses.
pub fn strip_xroad_response_headers(h: &mut HeaderMap) {
    for n in [H_CLIENT, H_SERVICE, H_ID, H_REQUEST_HASH, H_ERROR] {
        h.remove(n);
    }
}

pub fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Sets a header whose value is new in every message (message id, signature, digest).
/// HPACK would otherwise add each such value to the connection's header table, where it
/// pushes out the values that do repeat (the signer's certificate, the OCSP staples) and
/// they would be sent again in full; marked sensitive, it is sent as a plain literal.
pub fn set_unique(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(mut v) = HeaderValue::from_str(value) {
        v.set_sensitive(true);
        h.insert(HeaderName::from_static(name), v);
    }
}

/// What the two gateways sign about a request. Every field that decides what the provider
/// does, or what the evidence says, is covered; the body by its SHA-256 (SHA-NI makes it four
/// times faster than SHA-512 here, and a gateway hashes every body that passes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub service: &'a ServiceId,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a XRoadHeaders,
    pub content_type: Option<&'a str>,
    pub body_sha256: &'a [u8; 32],
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    // Length-prefixed fields: no value can be crafted to shift another field's boundaries.
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

impl SignedRequest<'_> {
    /// The canonical header part: what `X-Road-Request-Hash` calls "headers".
    pub fn canonical_headers(&self) -> Vec<u8> {
        let h = self.headers;
        let mut out = b"korpu-request/1\n".to_vec();
        push_field(&mut out, "method", self.method);
        push_field(&mut out, "service", &self.service.to_string());
        push_field(&mut out, "path", self.path);
        push_field(&mut out, "query", self.query.unwrap_or(""));
        push_field(&mut out, "client", &h.client_text);
        push_field(&mut out, "id", &h.message_id);
        push_field(&mut out, "user", h.user_id.as_deref().unwrap_or(""));
        push_field(&mut out, "issue", h.issue.as_deref().unwrap_or(""));
        push_field(&mut out, "purpose", h.purpose.as_deref().unwrap_or(""));
        push_field(
            &mut out,
            "represented",
            h.represented_party.as_deref().unwrap_or(""),
        );
        push_field(&mut out, "content-type", self.content_type.unwrap_or(""));
        out
    }

    /// The bytes that are signed: canonical headers and the body's SHA-256.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = self.canonical_headers();
        push_field(&mut out, "body-sha256", &hex::encode(self.body_sha256));
        out
    }

    /// PR-REST §4.3's `X-Road-Request-Hash`: base64(SHA512(SHA512(headers) + SHA512(body))).
    /// Only the client's gateway computes it, for its information system; between gateways
    /// the response signature binds the response to the request's digest instead.
    pub fn request_hash(&self, body_sha512: &[u8; 64]) -> String {
        request_hash_of(&self.canonical_headers(), body_sha512)
    }

    /// [`Self::signing_input`] and [`Self::request_hash`] together, the canonical headers
    /// built once for both (the client's gateway needs both for every request).
    pub fn signing_input_and_request_hash(&self, body_sha512: &[u8; 64]) -> (Vec<u8>, String) {
        let mut out = self.canonical_headers();
        let hash = request_hash_of(&out, body_sha512);
        push_field(&mut out, "body-sha256", &hex::encode(self.body_sha256));
        (out, hash)
    }

    /// The hex SHA-256 of the signing input: the request digest in the evidence record.
    pub fn digest_hex(&self) -> String {
        hex::encode(Sha256::digest(self.signing_input()))
    }
}

fn request_hash_of(canonical_headers: &[u8], body_sha512: &[u8; 64]) -> String {
    let mut h = Sha512::new();
    h.update(Sha512::digest(canonical_headers));
    h.update(body_sha512);
    B64.encode(h.finalize())
}

/// What the provider's gateway signs about a response, bound to its request.
pub fn response_signing_input(
    request_digest_hex: &str,
    status: u16,
    content_type: Option<&str>,
    body_sha256: &[u8; 32],
) -> Vec<u8> {
    let mut out = b"korpu-response/1\n".to_vec();
    push_field(&mut out, "request", request_digest_hex);
    push_field(&mut out, "status", &status.to_string());
    push_field(&mut out, "content-type", content_type.unwrap_or(""));
    push_field(&mut out, "body-sha256", &hex::encode(body_sha256));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_pr_rest_says() {
        let t =
            parse_target("/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE/v1/bar/zyggy?quu=1")
                .unwrap();
        assert_eq!(
            t.service.to_string(),
            "INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE"
        );
        assert_eq!(t.path, "/v1/bar/zyggy");
        assert_eq!(t.query.as_deref(), Some("quu=1"));
        let t = parse_target("/r1/A/B/C/D/E").unwrap();
        assert_eq!(t.path, "");
        assert_eq!(
            parse_target("/r2/A/B/C/D/E").unwrap_err().kind,
            kind::BAD_REQUEST
        );
        assert_eq!(
            parse_target("/r1/A/B/C").unwrap_err().kind,
            kind::BAD_REQUEST
        );
        assert!(parse_target("/r1/A/B/C/D/E%20F")
            .unwrap_err()
            .message
            .contains("' '"));
    }

    #[test]
    fn headers_are_read_and_the_last_client_header_counts() {
        let mut h = HeaderMap::new();
        assert_eq!(
            parse_headers(&h, new_message_id).unwrap_err().kind,
            kind::INVALID_CLIENT
        );
        h.append(H_CLIENT, HeaderValue::from_static("AZ/GOV/1/first"));
        h.append(H_CLIENT, HeaderValue::from_static("AZ/GOV/1/second"));
        h.insert(H_USER, HeaderValue::from_static("AZ1234567"));
        let x = parse_headers(&h, || "generated".into()).unwrap();
        assert_eq!(x.client.to_string(), "AZ/GOV/1/second");
        assert_eq!(x.message_id, "generated");
        assert_eq!(x.user_id.as_deref(), Some("AZ1234567"));
        h.insert(H_CLIENT, HeaderValue::from_static("AZ/GOV"));
        let e = parse_headers(&h, new_message_id).unwrap_err();
        assert_eq!((e.kind, e.status()), (kind::INVALID_CLIENT, 400));
    }

    #[test]
    fn filtered_and_internal_headers_do_not_pass() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("host", "a"),
            ("user-agent", "curl"),
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("x-korpu-gw-signature", "forged"),
            ("transfer-encoding", "chunked"),
            ("x-powered-by", "PHP"),
            ("accept", "application/xml"),
            ("cache-control", "no-cache"),
            ("content-type", "text/plain"),
        ] {
            h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let out = passthrough_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        for n in ["x-powered-by", "accept", "cache-control", "content-type"] {
            assert!(out.contains_key(n), "{n}");
        }
    }

    #[test]
    fn message_ids_are_uuid_v4() {
        let id = new_message_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_message_id());
    }

    #[test]
    fn every_signed_field_changes_the_digest() {
        let service: ServiceId = "AZ/GOV/1/pop/persons".parse().unwrap();
        let headers = XRoadHeaders {
            client: "AZ/GOV/3/benefits".parse().unwrap(),
            client_text: "AZ/GOV/3/benefits".into(),
            message_id: "m1".into(),
            user_id: Some("AZ1".into()),
            issue: None,
            purpose: Some("benefit".into()),
            represented_party: None,
            security_server: None,
            service_header: None,
        };
        let body = [7u8; 32];
        let base = SignedRequest {
            method: "GET",
            service: &service,
            path: "/persons/1",
            query: None,
            headers: &headers,
            content_type: None,
            body_sha256: &body,
        };
        let d0 = base.digest_hex();
        let mut other_headers = headers.clone();
        other_headers.purpose = Some("curiosity".into());
        let other_body = [8u8; 32];
        let variants = [
            SignedRequest {
                method: "POST",
                ..base.clone()
            },
            SignedRequest {
                path: "/persons/2",
                ..base.clone()
            },
            SignedRequest {
                query: Some("x=1"),
                ..base.clone()
            },
            SignedRequest {
                headers: &other_headers,
                ..base.clone()
            },
            SignedRequest {
                body_sha256: &other_body,
                ..base.clone()
            },
            SignedRequest {
                content_type: Some("text/plain"),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.digest_hex(), d0, "{v:?}");
        }
        assert_eq!(base.request_hash(&[0; 64]).len(), 88);
        let (input, hash) = base.signing_input_and_request_hash(&[0; 64]);
        assert_eq!(
            (input, hash),
            (base.signing_input(), base.request_hash(&[0; 64]))
        );
    }
}
