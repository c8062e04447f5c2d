//! RFC 3161 time-stamps on checkpoints: the [`Timestamper`] the ledger calls once per checkpoint,
//! an HTTP client for any RFC 3161 TSA ([`TsaClient`]), and the built-in in-process authority
//! ([`LocalTsa`], the embedded default).
//!
//! Both implementations verify the reply (signature, chain to the configured anchors, imprint
//! and nonce) before handing it over: a ledger must not store a token nobody can verify later.
//! What is stored is the whole DER TimeStampResp, which `openssl ts -verify -in` reads.
//!
//! Deliberately not here: retries and TSA fail-over (the ledger logs a failed stamp and issues
//! the checkpoint without one; the next checkpoint gets one), and re-stamping of old checkpoints.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use korpu_pki::cert::Certificate;
use korpu_pki::tsa::{self, Authority};

use crate::LedgerError;

/// Longest TimeStampResp accepted from a TSA; real ones with a chain are a few KiB.
pub const MAX_TSA_REPLY_BYTES: usize = 256 * 1024;
/// MIME type of an RFC 3161 request (§3.4).
const QUERY_MIME: &str = "application/timestamp-query";
/// MIME type of an RFC 3161 reply (§3.4).
const REPLY_MIME: &str = "application/timestamp-reply";

/// Obtains an RFC 3161 time-stamp over a SHA-256 digest.
pub trait Timestamper: Send + Sync + 'static {
    /// A verified DER TimeStampResp whose message imprint is `digest`.
    fn timestamp(
        &self,
        digest: &[u8; 32],
    ) -> impl Future<Output = Result<Vec<u8>, LedgerError>> + Send;
}

/// Object-safe form of [`Timestamper`], so the ledger can hold any implementation.
pub(crate) trait DynTimestamper: Send + Sync {
    fn timestamp_boxed<'a>(
        &'a self,
        digest: &'a [u8; 32],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, LedgerError>> + Send + 'a>>;
}

impl<T: Timestamper> DynTimestamper for T {
    fn timestamp_boxed<'a>(
        &'a self,
        digest: &'a [u8; 32],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, LedgerError>> + Send + 'a>> {
        Box::pin(self.timestamp(digest))
    }
}

/// An RFC 3161 TSA reached over HTTP (RFC 3161 §3.4: POST of the DER request).
#[derive(Clone, Debug)]
pub struct TsaClient {
    url: String,
    trust: Vec<Certificate>,
    http: reqwest::Client,
}

impl TsaClient {
    /// A client for `url` whose replies must chain to one of `trust` (or be signed by a TSA
    /// certificate in `trust`), giving up on a TSA that has not answered within `timeout`.
    /// For an `https` URL whose server certificate is not under a public root, build the
    /// `reqwest::Client` yourself and use [`TsaClient::with_client`].
    pub fn new(
        url: impl Into<String>,
        trust: Vec<Certificate>,
        timeout: Duration,
    ) -> Result<Self, LedgerError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| LedgerError::Timestamp(format!("building the HTTP client: {e}")))?;
        Ok(Self::with_client(url, trust, http))
    }

    /// A client using a prepared HTTP client (TLS roots, proxy, timeouts).
    pub fn with_client(
        url: impl Into<String>,
        trust: Vec<Certificate>,
        http: reqwest::Client,
    ) -> Self {
        TsaClient {
            url: url.into(),
            trust,
            http,
        }
    }
}

impl Timestamper for TsaClient {
    async fn timestamp(&self, digest: &[u8; 32]) -> Result<Vec<u8>, LedgerError> {
        let fail = |m: String| LedgerError::Timestamp(format!("TSA {}: {m}", self.url));
        let (request, nonce) = tsa::build_request(digest);
        let mut resp = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, QUERY_MIME)
            .body(request)
            .send()
            .await
            .map_err(|e| fail(format!("request failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!("answered HTTP {}", resp.status())));
        }
        let mime = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !mime.trim().eq_ignore_ascii_case(REPLY_MIME) {
            return Err(fail(format!(
                "answered with content type \"{mime}\", not {REPLY_MIME}"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fail(format!("reading the reply: {e}")))?
        {
            if body.len() + chunk.len() > MAX_TSA_REPLY_BYTES {
                return Err(fail(format!("reply exceeds {MAX_TSA_REPLY_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        tsa::verify_response(&body, digest, Some(&nonce), &self.trust)
            .map_err(|e| fail(format!("reply does not verify: {e}")))?;
        Ok(body)
    }
}

/// The built-in time-stamping authority, called in process: the embedded default when no
/// external TSA is configured, and what tests use.
#[derive(Debug)]
pub struct LocalTsa {
    authority: Authority,
    trust: Vec<Certificate>,
    serial: AtomicU64,
}

impl LocalTsa {
    /// An authority whose tokens are checked against `trust` before use.
    pub fn new(authority: Authority, trust: Vec<Certificate>) -> Self {
        // Serial numbers must be unique per TSA (RFC 3161 §2.4.2); start from the clock so a
        // restarted process does not reuse the previous run's numbers.
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1)
            .max(1);
        LocalTsa {
            authority,
            trust,
            serial: AtomicU64::new(start),
        }
    }
}

impl Timestamper for LocalTsa {
    async fn timestamp(&self, digest: &[u8; 32]) -> Result<Vec<u8>, LedgerError> {
        let (request, nonce) = tsa::build_request(digest);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let (reply, why) = self
            .authority
            .respond_explained(&request, SystemTime::now(), serial);
        if let Some(why) = why {
            return Err(LedgerError::Timestamp(format!(
                "built-in TSA refused: {why}"
            )));
        }
        tsa::verify_response(&reply, digest, Some(&nonce), &self.trust).map_err(|e| {
            LedgerError::Timestamp(format!("built-in TSA reply does not verify: {e}"))
        })?;
        Ok(reply)
    }
}
