//! The client side of X-Road PR-REST for information systems: what the portal, the docs
//! server and the demo's sample systems use to call a service through their own gateway.
//!
//! - [`ClientOptions::build`]: the HTTP client for one gateway (timeout, no redirects, optional
//!   pinned roots and TLS client certificate, PR-REST §4.7).
//! - [`Request`]: a typed builder for `{gateway}/r1/{serviceId}{path}` with `X-Road-Client`,
//!   `X-Road-UserId`, `X-Korpu-Purpose`, the data subject (header or query parameter), extra
//!   headers and a body.
//! - [`Answer`] / [`ErrorBody`]: the answer, and the PR-REST error form (`{"type", "message",
//!   "detail"}`, also named by the `X-Road-Error` header) parsed from a failed one.
//!
//! - [`record`]: the exchange record, the protocol's evidence format, with its canonical
//!   encoding (what gateways log and the data tracker verifies).
//!
//! It does not interpret services' answers, and it is not the gateway's server side.

pub mod record;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

/// Why the HTTP client for a gateway could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// A file (roots, certificate, key) could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM file did not hold what it should; `what` names the setting.
    #[error("{what} {}: {message}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    /// reqwest refused the configuration.
    #[error("{0}")]
    Build(String),
}

/// How to reach one gateway's client side. The default has no timeout and reqwest's defaults
/// (the sample systems' setting: the gateway bounds the exchange).
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Whole-request timeout; `None`: none.
    pub timeout: Option<Duration>,
    /// Use rustls explicitly and never follow redirects (the portal's setting). `false` keeps
    /// reqwest's defaults apart from the timeout (the docs server's setting).
    pub strict: bool,
    /// PEM bundle whose certificates are the only trusted roots; `None`: the built-in roots.
    pub roots: Option<PathBuf>,
    /// TLS client certificate chain and key (PEM) the gateway pins for the subsystem.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientOptions {
    /// A client with `timeout` and reqwest's defaults otherwise.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..Self::default()
        }
    }

    /// Builds the HTTP client. The key file is not checked for its mode here; callers that
    /// enforce private-file permissions do so before.
    pub fn build(&self) -> Result<reqwest::Client, ClientBuildError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ClientBuildError::Read {
                path: p.to_owned(),
                source,
            })
        };
        let pem_err =
            |what: &'static str, path: &Path, e: &dyn std::fmt::Display| ClientBuildError::Pem {
                what,
                path: path.to_owned(),
                message: e.to_string(),
            };
        let mut b = reqwest::Client::builder();
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        if self.strict {
            b = b
                .use_rustls_tls()
                .redirect(reqwest::redirect::Policy::none());
        }
        if let Some(roots) = &self.roots {
            let pem = read(roots)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| pem_err("gateway_ca", roots, &e))?;
            b = b.tls_built_in_root_certs(false);
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| pem_err("gateway_client_cert", cert, &e))?;
            b = b.identity(id);
        }
        b.build()
            .map_err(|e| ClientBuildError::Build(e.to_string()))
    }
}

/// Where the service expects the data subject (the service's `data_subject` in the global
/// configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// In this request header.
    Header(String),
    /// In this query parameter (percent-encoded, appended to the URL).
    Query(String),
}

/// One PR-REST request through the own gateway, built step by step.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Bytes>,
}

/// Percent-encodes a query name or value (every byte but ASCII letters and digits).
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Request {
    /// `method {gateway}/r1/{service}{path}`; `path` starts with `/` (or is empty) and may carry
    /// a query; a trailing `/` of `gateway` is dropped.
    pub fn new(method: Method, gateway: &str, service: &str, path: &str) -> Self {
        Self {
            method,
            url: format!("{}/r1/{service}{path}", gateway.trim_end_matches('/')),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// The URL as it will be requested.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers as they will be sent (the body's `Content-Type` included).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sets a header. A name or value that is not valid in HTTP is left out, like every
    /// setter here: a user id or subject with a control character is not sent at all rather than
    /// failing the call (the gateway then answers for the missing header).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(k, v);
        }
        self
    }

    /// `X-Road-Client`: the calling subsystem.
    pub fn client(self, client: &str) -> Self {
        self.header("x-road-client", client)
    }

    /// `X-Road-UserId`: the person the call is made for.
    pub fn user_id(self, user: &str) -> Self {
        self.header("x-road-userid", user)
    }

    /// `X-Korpu-Purpose`: the declared purpose of processing.
    pub fn purpose(self, purpose: &str) -> Self {
        self.header("x-korpu-purpose", purpose)
    }

    /// `X-Road-Id`: the caller's message id (the gateway makes one when absent).
    pub fn message_id(self, id: &str) -> Self {
        self.header("x-road-id", id)
    }

    /// Puts the data subject where the service expects it; `None` (or a path subject, already
    /// in `path`) adds nothing.
    pub fn subject(mut self, at: Option<&Subject>, subject: &str) -> Self {
        match at {
            Some(Subject::Header(name)) => self.header(name, subject),
            Some(Subject::Query(name)) => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                self.url = format!("{}{sep}{}={}", self.url, enc(name), enc(subject));
                self
            }
            None => self,
        }
    }

    /// The body, with its `Content-Type`.
    pub fn body(self, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut r = self.header("content-type", content_type);
        r.body = Some(body.into());
        r
    }

    /// Sends the request with `http` and reads the whole answer, whatever its status.
    pub async fn send(self, http: &reqwest::Client) -> Result<Answer, SendError> {
        let mut req = http.request(self.method, &self.url).headers(self.headers);
        if let Some(b) = self.body {
            req = req.body(b);
        }
        let resp = req.send().await.map_err(SendError::Send)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(SendError::Read)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// Why no answer was read.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request could not be sent (connection, TLS, timeout).
    #[error("{0}")]
    Send(#[source] reqwest::Error),
    /// The answer's body could not be read.
    #[error("reading the answer: {0}")]
    Read(#[source] reqwest::Error),
}

/// A whole answer from the gateway.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `Ok(self)` on a 2xx status, else the PR-REST error parsed from the answer.
    // The error is as large as the answer it replaces and is built once per failed call.
    #[allow(clippy::result_large_err)]
    pub fn error_for_status(self) -> Result<Answer, ErrorBody> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(ErrorBody::parse(self.status, &self.headers, &self.body))
        }
    }
}

/// A failed answer in the PR-REST error form: `{"type", "message", "detail"}` in JSON, with
/// the type also in the `X-Road-Error` header. Answers in another form keep their first 500
/// characters as `raw`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ErrorBody {
    pub status: StatusCode,
    /// The JSON's `type`, e.g. `Server.ServerProxy.AccessDenied`.
    pub kind: Option<String>,
    pub message: Option<String>,
    pub detail: Option<String>,
    /// The `X-Road-Error` header, if any.
    pub x_road_error: Option<String>,
    /// The body's first 500 characters (lossy UTF-8), for answers not in the error form.
    pub raw: String,
}

impl ErrorBody {
    /// Parses a failed answer; never fails (what is missing stays `None`).
    pub fn parse(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Self {
            status,
            kind: s("type"),
            message: s("message"),
            detail: s("detail"),
            x_road_error: headers
                .get("x-road-error")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
            raw: String::from_utf8_lossy(body).chars().take(500).collect(),
        }
    }

    /// The error's type: the JSON's, else the `X-Road-Error` header's.
    pub fn error_type(&self) -> Option<&str> {
        self.kind.as_deref().or(self.x_road_error.as_deref())
    }

    /// `type: message` when the JSON has both, else the raw body's start.
    pub fn summary(&self) -> String {
        match (&self.kind, &self.message) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            _ => self.raw.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
