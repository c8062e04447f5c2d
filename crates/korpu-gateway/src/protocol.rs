//! The X-Road Message Protocol for REST (PR-REST r1) as pure functions: reading a request's
//! target and X-Road headers (refusing dot segments), filtering headers (PR-REST §4.3
//! "Filtered headers"), the error types and their JSON and XML forms (§4.6), the request hash
//! (§4.3), and the signature bases that gateways sign.
//!
//! **What a signature covers.** As in HTTP Message Signatures (RFC 9421), the signed input
//! names its covered headers explicitly, and the list is itself signed: the sender lists every
//! header it forwards ([`H_COVERED`]), and the receiver recomputes the input from the values it
//! received and *refuses* a message carrying a forwardable header that the list leaves out
//! ([`uncovered_header`]). Refusing rather than dropping: such a header can only have been added
//! on the way, and a refusal shows the tampering where silently dropping would hide it. The
//! signature base (what is signed, and what the record keeps beside its signature) states the
//! facts a record states — message id, creation time, client, service, user, purpose, data
//! subject — and the SHA-256 of the covered block: method, path, query, the covered headers'
//! values in the listed order, and the body's SHA-256. A verifier years later recomputes the
//! base's hash from the record alone.
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
/// When the sender signed the message, Unix milliseconds (covered by the signature).
pub const H_CREATED: &str = "x-korpu-gw-created";
/// The headers the signature covers, lowercase names separated by single spaces, in the order
/// their values enter the covered block (RFC 9421's covered components).
pub const H_COVERED: &str = "x-korpu-gw-covered";

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
    pub kind: ErrorKind,
    pub message: String,
}

impl XRoadError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON body; `detail` carries the message id so an operator can find the exchange.
    pub fn body(&self, message_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": self.kind.as_str(),
            "message": self.message,
            "detail": message_id,
        }))
        .expect("an error always serialises")
    }

    /// The same content in PR-REST's XML form (for `Accept: application/xml` or `text/xml`).
    pub fn xml_body(&self, message_id: &str) -> Vec<u8> {
        let mut out = String::with_capacity(128 + self.message.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>");
        xml_escape_into(&mut out, self.kind.as_str());
        out.push_str("</type><message>");
        xml_escape_into(&mut out, &self.message);
        out.push_str("</message><detail>");
        xml_escape_into(&mut out, message_id);
        out.push_str("</detail></error>\n");
        out.into_bytes()
    }

    /// The body and its content type in the form the caller asked for ([`ErrorForm`]).
    pub fn render(&self, message_id: &str, form: ErrorForm) -> (Vec<u8>, &'static str) {
        match form {
            ErrorForm::Json => (self.body(message_id), ERROR_JSON),
            ErrorForm::Xml => (self.xml_body(message_id), ERROR_XML),
        }
    }
}

/// Content type of the JSON error form.
pub const ERROR_JSON: &str = "application/json;charset=utf-8";
/// Content type of the XML error form.
pub const ERROR_XML: &str = "application/xml;charset=utf-8";

/// Which of PR-REST's two error forms a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorForm {
    #[default]
    Json,
    Xml,
}

impl ErrorForm {
    /// XML when the request's `Accept` prefers `application/xml` or `text/xml` (by q-value,
    /// the earlier listed on a tie) over `application/json`; JSON otherwise, wildcards included.
    pub fn from_accept(headers: &HeaderMap) -> Self {
        let mut best: Option<(u16, Self)> = None;
        for value in headers.get_all(hyper::header::ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for range in value.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or("").trim();
                let form = if media.eq_ignore_ascii_case("application/xml")
                    || media.eq_ignore_ascii_case("text/xml")
                {
                    Self::Xml
                } else if media.eq_ignore_ascii_case("application/json") {
                    Self::Json
                } else {
                    continue;
                };
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
                if q > 0 && best.is_none_or(|(b, _)| q > b) {
                    best = Some((q, form));
                }
            }
        }
        best.map_or(Self::Json, |(_, f)| f)
    }
}

/// Escapes text for XML character data; characters XML 1.0 cannot carry at all (most C0
/// controls) become U+FFFD rather than an ill-formed document.
fn xml_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

impl std::fmt::Display for XRoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The error types of PR-REST §4.6 that Körpü's gateways produce or pass on. Each knows its
/// type string and its HTTP status: `Client.` types are the caller's fault (400),
/// `Server.ClientProxy.` ones arise in the caller's gateway and `Server.ServerProxy.` ones in
/// the provider's (500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    BadRequest,
    InvalidClient,
    UnknownClient,
    UnknownService,
    AccessDenied,
    PurposeRequired,
    TooLarge,
    OutdatedConf,
    CpNetwork,
    CpSsl,
    CpSignature,
    CpInternal,
    CpDatabase,
    SpSsl,
    SpSignature,
    SpAccessDenied,
    SpUnknownService,
    SpOutdatedConf,
    SpServiceFailed,
    SpServiceTimeout,
    SpTooLarge,
    SpDatabase,
    SpBadRequest,
    /// A message id the provider's gateway has already accepted within the acceptance window.
    SpReplayed,
    /// A signature created outside the acceptance window (or in the future beyond the skew).
    SpStale,
}

impl ErrorKind {
    /// Every kind, for tests and for reading a peer's type string.
    pub const ALL: [Self; 25] = [
        Self::BadRequest,
        Self::InvalidClient,
        Self::UnknownClient,
        Self::UnknownService,
        Self::AccessDenied,
        Self::PurposeRequired,
        Self::TooLarge,
        Self::OutdatedConf,
        Self::CpNetwork,
        Self::CpSsl,
        Self::CpSignature,
        Self::CpInternal,
        Self::CpDatabase,
        Self::SpSsl,
        Self::SpSignature,
        Self::SpAccessDenied,
        Self::SpUnknownService,
        Self::SpOutdatedConf,
        Self::SpServiceFailed,
        Self::SpServiceTimeout,
        Self::SpTooLarge,
        Self::SpDatabase,
        Self::SpBadRequest,
        Self::SpReplayed,
        Self::SpStale,
    ];

    /// The type string as PR-REST spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "Client.BadRequest",
            Self::InvalidClient => "Client.InvalidClientIdentifier",
            Self::UnknownClient => "Client.UnknownClient",
            Self::UnknownService => "Client.UnknownService",
            Self::AccessDenied => "Client.AccessDenied",
            Self::PurposeRequired => "Client.PurposeRequired",
            Self::TooLarge => "Client.RequestTooLarge",
            Self::OutdatedConf => "Server.ClientProxy.OutdatedGlobalConf",
            Self::CpNetwork => "Server.ClientProxy.NetworkError",
            Self::CpSsl => "Server.ClientProxy.SslAuthenticationFailed",
            Self::CpSignature => "Server.ClientProxy.InvalidSignature",
            Self::CpInternal => "Server.ClientProxy.InternalError",
            Self::CpDatabase => "Server.ClientProxy.DatabaseError",
            Self::SpSsl => "Server.ServerProxy.SslAuthenticationFailed",
            Self::SpSignature => "Server.ServerProxy.InvalidSignature",
            Self::SpAccessDenied => "Server.ServerProxy.AccessDenied",
            Self::SpUnknownService => "Server.ServerProxy.UnknownService",
            Self::SpOutdatedConf => "Server.ServerProxy.OutdatedGlobalConf",
            Self::SpServiceFailed => "Server.ServerProxy.ServiceFailed",
            Self::SpServiceTimeout => "Server.ServerProxy.ServiceTimeout",
            Self::SpTooLarge => "Server.ServerProxy.ResponseTooLarge",
            Self::SpDatabase => "Server.ServerProxy.DatabaseError",
            Self::SpBadRequest => "Server.ServerProxy.BadRequest",
            Self::SpReplayed => "Server.ServerProxy.ReplayedMessage",
            Self::SpStale => "Server.ServerProxy.StaleMessage",
        }
    }

    /// The HTTP status an error of this kind is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::InvalidClient
            | Self::UnknownClient
            | Self::UnknownService
            | Self::AccessDenied
            | Self::PurposeRequired
            | Self::TooLarge => 400,
            Self::OutdatedConf
            | Self::CpNetwork
            | Self::CpSsl
            | Self::CpSignature
            | Self::CpInternal
            | Self::CpDatabase
            | Self::SpSsl
            | Self::SpSignature
            | Self::SpAccessDenied
            | Self::SpUnknownService
            | Self::SpOutdatedConf
            | Self::SpServiceFailed
            | Self::SpServiceTimeout
            | Self::SpTooLarge
            | Self::SpDatabase
            | Self::SpBadRequest
            | Self::SpReplayed
            | Self::SpStale => 500,
        }
    }

    /// The kind of an error type a provider's gateway sent unsigned, when it is one a
    /// provider's gateway may send (never a `Server.ClientProxy.` type, which only the
    /// caller's own gateway may claim).
    pub fn from_peer(t: &str) -> Option<Self> {
        match t {
            "Client.BadRequest" => Some(Self::BadRequest),
            "Client.InvalidClientIdentifier" => Some(Self::InvalidClient),
            "Client.UnknownClient" => Some(Self::UnknownClient),
            "Client.UnknownService" => Some(Self::UnknownService),
            "Client.AccessDenied" => Some(Self::AccessDenied),
            "Client.PurposeRequired" => Some(Self::PurposeRequired),
            "Client.RequestTooLarge" => Some(Self::TooLarge),
            "Server.ServerProxy.SslAuthenticationFailed" => Some(Self::SpSsl),
            "Server.ServerProxy.InvalidSignature" => Some(Self::SpSignature),
            "Server.ServerProxy.AccessDenied" => Some(Self::SpAccessDenied),
            "Server.ServerProxy.UnknownService" => Some(Self::SpUnknownService),
            "Server.ServerProxy.OutdatedGlobalConf" => Some(Self::SpOutdatedConf),
            "Server.ServerProxy.ServiceFailed" => Some(Self::SpServiceFailed),
            "Server.ServerProxy.ServiceTimeout" => Some(Self::SpServiceTimeout),
            "Server.ServerProxy.ResponseTooLarge" => Some(Self::SpTooLarge),
            "Server.ServerProxy.DatabaseError" => Some(Self::SpDatabase),
            "Server.ServerProxy.BadRequest" => Some(Self::SpBadRequest),
            "Server.ServerProxy.ReplayedMessage" => Some(Self::SpReplayed),
            "Server.ServerProxy.StaleMessage" => Some(Self::SpStale),
            _ => None,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
            ErrorKind::BadRequest,
            format!(
                "the path {path:?} is not an X-Road REST request: it must start with /r1/ \
                 followed by INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE"
            ),
        )
    })?;
    // PR-REST §4.2 asks for bounded URIs; 8 KiB is far above any real service path.
    if path_and_query.len() > 8192 {
        return Err(XRoadError::new(
            ErrorKind::BadRequest,
            "the request URI is longer than 8192 bytes",
        ));
    }
    // Refused before anything reads the path (access check, data subject, forwarding): a
    // backend that normalises `/echo/../family` serves `family` under `echo`'s right, and a
    // recorded subject of `..` hides an access from its subject.
    if let Some(seg) = rest.split('/').find(|s| is_dot_segment(s)) {
        return Err(XRoadError::new(
            ErrorKind::BadRequest,
            format!(
                "the path segment {seg:?} is a dot segment (also when percent-encoded); \
                 X-Road paths must name their resource directly"
            ),
        ));
    }
    let (service, rest) = ServiceId::split_rest_path(rest).map_err(|e| {
        XRoadError::new(
            ErrorKind::BadRequest,
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

/// Whether a path segment is `.` or `..` once percent-decoded — also when it would become one
/// or contain one after a decoding backend splits it at an encoded slash or backslash
/// (`..%2Ffamily`, `x%5C..`), or decodes it twice (`%252e%252e`).
pub fn is_dot_segment(seg: &str) -> bool {
    if !seg.contains(['.', '%', '\\']) {
        return false;
    }
    let mut bytes = seg.as_bytes().to_vec();
    // Each pass decodes one layer; three covers any backend we know of.
    for _ in 0..3 {
        if bytes
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|part| part == b"." || part == b"..")
        {
            return true;
        }
        if !bytes.contains(&b'%') {
            return false;
        }
        let decoded: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
        if decoded == bytes {
            return false;
        }
        bytes = decoded;
    }
    bytes
        .split(|b| *b == b'/' || *b == b'\\')
        .any(|part| part == b"." || part == b"..")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, XRoadError> {
    // PR-REST §4.3: with several X-Road-Client headers, the last one counts.
    match headers.get_all(name).iter().next_back() {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            XRoadError::new(
                ErrorKind::BadRequest,
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
            ErrorKind::BadRequest,
            format!("header {name} is longer than 1024 bytes"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
        None => Ok(None),
    }
}

/// An optional identifier header (`name`, spelt `label` in messages): absent is `None`, present
/// it must parse.
fn id_header<T: std::str::FromStr<Err = IdError>>(
    headers: &HeaderMap,
    name: &str,
    label: &str,
) -> Result<Option<T>, XRoadError> {
    header_str(headers, name)?
        .map(|s| s.trim().parse::<T>())
        .transpose()
        .map_err(|e| {
            XRoadError::new(
                ErrorKind::BadRequest,
                format!("the {label} header is malformed: {e}"),
            )
        })
}

/// Reads the X-Road headers; `new_id` makes an `X-Road-Id` when the client sent none.
pub fn parse_headers(
    headers: &HeaderMap,
    new_id: impl FnOnce() -> String,
) -> Result<XRoadHeaders, XRoadError> {
    let client_text = header_str(headers, H_CLIENT)?.ok_or_else(|| {
        XRoadError::new(
            ErrorKind::InvalidClient,
            "the X-Road-Client header is missing: say which subsystem calls, e.g. \
             X-Road-Client: AZ/GOV/1400003/benefits",
        )
    })?;
    let client: ClientId = client_text.trim().parse().map_err(|e: IdError| {
        XRoadError::new(
            ErrorKind::InvalidClient,
            format!("the X-Road-Client header is malformed: {e}"),
        )
    })?;
    let security_server =
        id_header::<GatewayId>(headers, H_SECURITY_SERVER, "X-Road-Security-Server")?;
    let service_header = id_header::<ServiceId>(headers, H_SERVICE, "X-Road-Service")?;
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

/// Whether a header, when present, must be covered by a message's signature: every header a
/// gateway forwards (to the provider's information system, or back to the caller's) or reads.
/// Filtered (hop-by-hop) headers are never forwarded and gateway-internal ones never leave the
/// gateways; those are covered, where they matter, as fields of the signature base.
pub fn must_cover(name: &str) -> bool {
    !FILTERED.contains(&name) && !name.starts_with(INTERNAL_PREFIX)
}

/// The covered-header list ([`H_COVERED`]) for the headers a gateway sends: each forwarded
/// name once, in the map's order.
pub fn covered_names(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for name in headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| must_cover(n))
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(name);
    }
    out
}

/// The first header of a received message that would be forwarded (or read) although its
/// signature's list `covered` leaves it out; `exempt` names headers the receiver replaces
/// with its own values and never forwards as received.
pub fn uncovered_header<'a>(
    headers: &'a HeaderMap,
    covered: &str,
    exempt: &[&str],
) -> Option<&'a str> {
    headers
        .keys()
        .map(HeaderName::as_str)
        .find(|n| must_cover(n) && !exempt.contains(n) && !covered.split(' ').any(|c| c == *n))
}

/// Where signed fields are written: the signature base, or straight into a hash.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

fn push_field(out: &mut impl Sink, name: &[u8], value: &[u8]) {
    // Length-prefixed fields: no value can be crafted to shift another field's boundaries.
    out.put(name);
    out.put(b"=");
    out.put(value.len().to_string().as_bytes());
    out.put(b":");
    out.put(value);
    out.put(b"\n");
}

/// The SHA-256 of a message's covered block: for a request its method, path and query, then
/// the covered-header list, each listed header's values in order (a listed header that is
/// absent contributes none, so removing or adding one changes the block), and the body's
/// SHA-256.
pub fn covered_sha256(
    request: Option<(&str, &str, Option<&str>)>,
    covered: &str,
    headers: &HeaderMap,
    body_sha256: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"korpu-covered/1\n");
    if let Some((method, path, query)) = request {
        push_field(&mut h, b"@method", method.as_bytes());
        push_field(&mut h, b"@path", path.as_bytes());
        push_field(&mut h, b"@query", query.unwrap_or("").as_bytes());
    }
    push_field(&mut h, b"@headers", covered.as_bytes());
    for name in covered.split(' ').filter(|n| !n.is_empty()) {
        for value in headers.get_all(name) {
            push_field(&mut h, name.as_bytes(), value.as_bytes());
        }
    }
    push_field(&mut h, b"@body-sha256", hex::encode(body_sha256).as_bytes());
    h.finalize().into()
}

/// What the two gateways sign about a request: its signature base states, as fields, what
/// the records state (message id, creation time, client, service, user, purpose, data
/// subject), and covers everything forwarded through [`covered_sha256`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest<'a> {
    pub service: &'a str,
    pub headers: &'a XRoadHeaders,
    /// When the sender signed, Unix milliseconds ([`H_CREATED`]).
    pub created_ms: u64,
    /// The data subject as the service declares where to find it, `None` when it declares
    /// none or the request carries none.
    pub subject: Option<&'a str>,
    /// [`covered_sha256`] of the request as sent.
    pub covered_sha256: [u8; 32],
}

/// The first line of a request's signature base (the format's version).
pub const REQUEST_BASE_V2: &str = "korpu-request/2";
/// The first line of a response's signature base.
pub const RESPONSE_BASE_V2: &str = "korpu-response/2";

impl SignedRequest<'_> {
    /// The signature base: what is signed (its SHA-256 is the record's request digest) and
    /// what the record keeps to prove its fields were signed.
    pub fn signature_base(&self) -> String {
        let h = self.headers;
        let mut out = Vec::with_capacity(384);
        out.put(REQUEST_BASE_V2.as_bytes());
        out.put(b"\n");
        let (created, covered) = (
            self.created_ms.to_string(),
            hex::encode(self.covered_sha256),
        );
        let fields: [(&str, &str); 8] = [
            ("id", &h.message_id),
            ("created", &created),
            ("client", &h.client_text),
            ("service", self.service),
            ("user", h.user_id.as_deref().unwrap_or("")),
            ("purpose", h.purpose.as_deref().unwrap_or("")),
            ("subject", self.subject.unwrap_or("")),
            ("covered-sha256", &covered),
        ];
        for (name, value) in fields {
            push_field(&mut out, name.as_bytes(), value.as_bytes());
        }
        String::from_utf8(out).expect("every field is text")
    }
}

/// PR-REST §4.3's `X-Road-Request-Hash`: base64 SHA-512 of the request message as signed —
/// its signature base, which holds the message id, the creation time and (through the covered
/// block) the body, so it differs per exchange and binds an answer to one request.
pub fn request_hash(signature_base: &str) -> String {
    B64.encode(Sha512::digest(signature_base.as_bytes()))
}

/// What the provider's gateway signs about a response, bound to its request by the request's
/// digest; `error` is the `X-Road-Error` it sends (recorded by both gateways).
pub fn response_signature_base(
    request_digest_hex: &str,
    status: u16,
    error: Option<&str>,
    covered_sha256: &[u8; 32],
) -> String {
    let mut out = Vec::with_capacity(256);
    out.put(RESPONSE_BASE_V2.as_bytes());
    out.put(b"\n");
    let (status, covered) = (status.to_string(), hex::encode(covered_sha256));
    let fields: [(&str, &str); 4] = [
        ("request", request_digest_hex),
        ("status", &status),
        ("error", error.unwrap_or("")),
        ("covered-sha256", &covered),
    ];
    for (name, value) in fields {
        push_field(&mut out, name.as_bytes(), value.as_bytes());
    }
    String::from_utf8(out).expect("every field is text")
}

#[cfg(test)]
mod tests;
