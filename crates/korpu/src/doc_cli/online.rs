//! The online services `doc sign` and `doc extend` call: a time-stamping authority and an
//! OCSP responder at a given URL (RFC 3161 §3.4, RFC 6960 appendix A, over HTTP), or the
//! OCSP responders and CRL distribution points the certificates themselves name. The signing
//! libraries are synchronous, so these are called from a blocking thread. Verification never
//! uses them unless asked to fetch revocation data.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use korpu_pki::cert::Certificate;
use korpu_pki::{ocsp, tsa};
use korpu_sign::{RevocationSource, SignError, Timestamper};

/// How long one TSA or OCSP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest TSA or OCSP answer accepted.
const MAX_RESPONSE: usize = 1 << 20;

/// The HTTP client for a TSA or an OCSP responder.
pub(super) fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")
}

/// A [`RevocationSource`] asking, for each certificate, the OCSP responder its Authority
/// Information Access names, else the CRL distribution point (plain HTTP, bounded by the
/// fetcher's limits).
pub(super) struct CertUrls(pub(super) korpu_sign::fetch::HttpFetcher);

impl RevocationSource for CertUrls {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        use korpu_sign::RevocationFetcher;
        let mut last = format!("\"{}\" names no OCSP responder", cert.subject());
        for url in korpu_pki::crl::ocsp_urls(cert) {
            let (req, nonce) = ocsp::build_request(cert, issuer)?;
            match self.0.post(&url, "application/ocsp-request", &req) {
                Ok(resp) => {
                    match ocsp::verify_response(
                        &resp,
                        cert,
                        issuer,
                        Some(&nonce),
                        SystemTime::now(),
                    ) {
                        Ok(_) => return Ok(resp),
                        Err(e) => last = format!("{url}: {e}"),
                    }
                }
                Err(e) => last = format!("{url}: {e}"),
            }
        }
        Err(SignError::InvalidInput(format!("OCSP: {last}")))
    }

    fn crl(&self, cert: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        use korpu_sign::RevocationFetcher;
        for url in korpu_pki::crl::crl_urls(cert) {
            let Ok(body) = self.0.get(&url) else { continue };
            // Only a CRL its issuer signed is worth embedding.
            if let Ok(crl) = korpu_pki::crl::Crl::from_der_or_pem(&body) {
                if crl.verify_issued_by(issuer).is_ok() {
                    return Ok(Some(crl.der().to_vec()));
                }
            }
        }
        Ok(None)
    }
}

/// A TSA or OCSP responder over HTTP, called from a blocking thread.
pub(super) struct Http {
    pub(super) url: String,
    pub(super) client: reqwest::Client,
    pub(super) handle: tokio::runtime::Handle,
}

impl Http {
    fn post(&self, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.handle.block_on(async {
            let resp = self
                .client
                .post(&self.url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if !resp.status().is_success() {
                return Err(format!("{} answered {}", self.url, resp.status()));
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if bytes.len() > MAX_RESPONSE {
                return Err(format!("{} sent more than {MAX_RESPONSE} bytes", self.url));
            }
            Ok(bytes.to_vec())
        })
    }
}

impl Timestamper for Http {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let (req, nonce) = tsa::build_request(sha256);
        let resp = self
            .post("application/timestamp-query", req)
            .map_err(SignError::Timestamp)?;
        // The token must answer our request (imprint and nonce); its signer is judged at
        // validation time against the verifier's anchors.
        korpu_sign::token_for_request(&resp, sha256, &nonce)
    }
}

impl RevocationSource for Http {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        let (req, nonce) = ocsp::build_request(cert, issuer)?;
        let resp = self
            .post("application/ocsp-request", req)
            .map_err(|e| SignError::InvalidInput(format!("OCSP: {e}")))?;
        ocsp::verify_response(&resp, cert, issuer, Some(&nonce), SystemTime::now())?;
        Ok(resp)
    }

    /// When the CA publishes CRLs: the one at the certificate's distribution point (plain
    /// HTTP), checked to be the issuer's and to speak for the certificate, so that B-LT carries
    /// it where the OCSP responder has no answer (an intermediate CA, a CRL-only CA).
    fn crl(&self, cert: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        use korpu_sign::RevocationFetcher;
        let fetcher = korpu_sign::fetch::HttpFetcher::default();
        for url in korpu_pki::crl::crl_urls(cert) {
            let Ok(bytes) = fetcher.get(&url) else {
                continue;
            };
            let Ok(crl) = korpu_pki::crl::Crl::from_der_or_pem(&bytes) else {
                continue;
            };
            if crl
                .verify_issued_by(issuer)
                .and_then(|()| crl.status(cert))
                .is_ok()
            {
                return Ok(Some(crl.der().to_vec()));
            }
        }
        Ok(None)
    }
}
