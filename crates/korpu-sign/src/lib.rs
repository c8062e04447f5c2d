//! Körpü document signatures: detached CAdES baseline signatures (ETSI EN 319 122-1, levels
//! B-B, B-T and B-LT), ASiC-E containers carrying them (ETSI EN 319 162-1), and a validator that
//! reports in the spirit of the EU DSS "simple report", or as the ETSI TS 119 102-2 XML
//! validation report ([`report_etsi`]).
//!
//! Like `korpu-pki`, everything here is pure: bytes and times in, bytes and reports out, except
//! [`fetch`], the HTTP client a caller may hand validation to fetch missing revocation data. The
//! time-stamping authority is reached through the [`Timestamper`] trait, so the HTTP client
//! lives elsewhere and tests use [`LocalTimestamper`] over an in-process
//! [`korpu_pki::tsa::Authority`].
//!
//! PAdES signatures in PDF files (ETSI EN 319 142-1, B-B, B-T, B-LT and B-LTA, serial
//! signatures) are in [`pdf`], document time-stamps and the B-LTA level (validating archive
//! time-stamp chains as proof of existence, adding and renewing them) in [`pdf::doc_ts`]; the
//! B-LT validation data (OCSP responses and CRLs for the signer and its CAs) and
//! the revocation check over the whole certification path in [`lt`].
//!
//! Validation also reads what others sign: standalone CAdES (detached and enveloping,
//! [`validate::validate_cades_enveloping`]), ASiC-S ([`asics`]), ASiC-E with XAdES
//! ([`xades`] over the bounded XML reader and canonicalisations of [`xml`]), and tells the
//! format from the bytes ([`detect`]).
//!
//! The verdict rule ([`validate`], applied per SignerInfo by `cms_check`): TOTAL_FAILED only for
//! a check that was computed and failed (HASH_FAILURE, SIG_CRYPTO_FAILURE, revoked before the
//! proven time) or for malformed structure (FORMAT_FAILURE); anything unsupported, weak by the
//! validation [`policy`] or undecidable is INDETERMINATE with its EN 319 102-1 sub-indication.
//! Algorithms are those of [`korpu_pki::alg`]; CMS may be BER; signers may hold RSA or P-384
//! keys ([`keys`]).
//!
//! [`xades_sign`] makes ASiC-E containers with XAdES.
//!
//! Deliberately not here (yet): archive time-stamps for CAdES and ASiC-E (B-LTA is PAdES
//! only), delta CRLs, and signature policies.
#![forbid(unsafe_code)]

pub mod asice;
pub mod asics;
pub mod cades;
mod cms_check;
mod counter;
pub mod detect;
mod ess;
pub mod fetch;
pub mod keys;
pub mod lt;
pub mod pdf;
pub mod policy;
pub mod report_etsi;
pub mod validate;
pub mod xades;
pub mod xades_sign;
pub mod xml;

pub use lt::{LocalOcsp, RevocationFetcher, RevocationSource, ValidationOptions};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use korpu_pki::tsa::{self, Authority};
use korpu_pki::PkiError;

/// What can go wrong while creating a signature or a container.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signing key does not belong to the signer certificate.
    #[error("the signing key does not belong to certificate {0}")]
    KeyMismatch(String),
    /// A certificate or time-stamp operation failed (expired signer, TSA rejection, ...).
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The time-stamping authority could not be reached or refused the request.
    #[error("time-stamping failed: {0}")]
    Timestamp(String),
    /// An existing signature given to be extended could not be parsed.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The structure that was expected.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Encoding our own structure failed (an internal limit was exceeded).
    #[error("cannot encode {what}: {detail}")]
    Encoding {
        /// The structure being encoded.
        what: &'static str,
        /// The encoder's complaint.
        detail: String,
    },
    /// Input to a container builder is not acceptable (a bad file name, no files, ...).
    #[error("invalid container input: {0}")]
    InvalidInput(String),
}

impl SignError {
    pub(crate) fn encoding(what: &'static str, detail: impl ToString) -> Self {
        SignError::Encoding {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        SignError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

/// A source of RFC 3161 time-stamp tokens.
///
/// CAdES B-T (EN 319 122-1 §5.3) stamps the SHA-256 of the signature value; the implementation
/// sends the request to a TSA and returns the TimeStampToken (a DER CMS ContentInfo).
pub trait Timestamper {
    /// Returns a TimeStampToken over `sha256`.
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignError>;
}

/// A [`Timestamper`] backed by an in-process [`Authority`]: for tests, demos and the embedded
/// single-machine setup where the built-in TSA runs beside the signer.
#[derive(Debug)]
pub struct LocalTimestamper {
    authority: Authority,
    serial: AtomicU64,
    clock: Mutex<Option<SystemTime>>,
}

impl LocalTimestamper {
    /// A timestamper stamping the current system time.
    pub fn new(authority: Authority) -> Self {
        LocalTimestamper {
            authority,
            serial: AtomicU64::new(1),
            clock: Mutex::new(None),
        }
    }

    /// Pins the time put in tokens (tests of expiry); `None` returns to the system clock.
    pub fn set_time(&self, at: Option<SystemTime>) {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// The authority behind this timestamper.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

impl Timestamper for LocalTimestamper {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let now = self
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(SystemTime::now);
        let (req, nonce) = tsa::build_request(sha256);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let resp = self.authority.respond(&req, now, serial);
        let token = tsa::token_from_response(&resp)?;
        // Check the answer is for our request before embedding it (against our own TSA this
        // cannot fail, but the check costs nothing and keeps a mixed-up response out).
        let mut trust = vec![self.authority.cert.clone()];
        trust.extend(self.authority.chain.iter().cloned());
        tsa::verify_token(&token, sha256, Some(&nonce), &trust)
            .map_err(|e| SignError::Timestamp(e.to_string()))?;
        Ok(token)
    }
}

/// Takes the TimeStampToken out of a TSA's TimeStampResp (DER) and checks that it answers the
/// request made with `sha256` and `nonce` (RFC 3161 §2.4.2), for [`Timestamper`]s that reach a
/// TSA over a network. The token's signer is judged at validation time, against the
/// verifier's trust anchors, not here.
pub fn token_for_request(
    response_der: &[u8],
    sha256: &[u8; 32],
    nonce: &[u8],
) -> Result<Vec<u8>, SignError> {
    use der::Decode;
    let token = tsa::token_from_response(response_der)?;
    let bad = |why: String| SignError::Timestamp(format!("the TSA's token: {why}"));
    let sd = cades::parse_signed_data(&token).map_err(bad)?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|a| a.decode_as::<der::asn1::OctetString>().ok())
        .ok_or_else(|| bad("no TSTInfo".into()))?;
    let info = x509_tsp::TstInfo::from_der(content.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if info.message_imprint.hashed_message.as_bytes() != sha256.as_slice() {
        return Err(bad("it stamps another digest than ours".into()));
    }
    // Integer encoding may add a leading zero octet to our random nonce.
    let got = info
        .nonce
        .as_ref()
        .map(|n| n.as_bytes())
        .unwrap_or_default();
    let trim = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
    if trim(got) != trim(nonce) {
        return Err(bad(
            "its nonce is not ours (a replayed or mixed-up answer)".into()
        ));
    }
    Ok(token)
}

/// RFC 3339 in UTC with whole seconds, as reports show times.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    match der::DateTime::from_system_time(t) {
        Ok(dt) => dt.to_string(),
        Err(_) => format!("{t:?}"),
    }
}
