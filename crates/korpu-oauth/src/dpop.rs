//! DPoP proofs (RFC 9449): the check of §4.3 that a request carries a fresh proof of
//! possession of the key a token is, or will be, bound to.
//!
//! [`verify`] is a pure function of the proof, the request as the server received it, and the
//! clock; replay of a proof's `jti` is refused through a [`ReplayCache`] the caller keeps.
//!
//! Deliberately not here: server-provided nonces' issuance and rotation (the caller passes the
//! nonce it expects, if any), and reading the `DPoP` header (the caller refuses a request with
//! more than one, §4.3 step 1).
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

use crate::jose::{JoseError, Jwk, Jws};
use crate::replay::{ReplayCache, Use};

/// How far a proof's `iat` may lie in the past or the future, in seconds. RFC 9449 §11.1
/// leaves the window to the server; a minute each way tolerates clock drift while keeping a
/// stolen proof useful for no longer than that.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Oldest acceptable `iat`, seconds before now.
    pub max_age: i64,
    /// Latest acceptable `iat`, seconds after now.
    pub max_skew: i64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            max_age: 60,
            max_skew: 60,
        }
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The target URI as the server is reached at (scheme, host, port, path); query and
    /// fragment, if present, are ignored as §4.3 step 9 says.
    pub uri: &'a str,
    /// The access token presented with the proof (resource requests), for the `ath` check.
    pub access_token: Option<&'a str>,
    /// The nonce the server gave this client, when it demands one.
    pub nonce: Option<&'a str>,
    /// Now, Unix seconds.
    pub now: i64,
}

/// A proof that passed: the key's thumbprint binds tokens (`cnf.jkt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// RFC 7638 thumbprint of the proof's public key.
    pub jkt: String,
    /// The proof's public key.
    pub key: Jwk,
}

/// Why a proof was refused (`invalid_dpop_proof`, or `use_dpop_nonce` for [`DpopError::Nonce`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// The proof is not a usable JWS.
    #[error("DPoP proof: {0}")]
    Jose(#[from] JoseError),
    /// DPoP proof: typ must be "dpop+jwt".
    #[error("DPoP proof: typ must be \"dpop+jwt\"")]
    Type,
    /// The header's `jwk` is missing, private or not accepted.
    #[error("DPoP proof: the header has no usable jwk: {0}")]
    Key(JoseError),
    /// A required claim is missing.
    #[error("DPoP proof: claim {0} is missing or has the wrong type")]
    Missing(&'static str),
    /// `htm` is not the request's method.
    #[error("DPoP proof: htm {got:?} does not match the request's method {want:?}")]
    Method {
        /// The proof's `htm`.
        got: String,
        /// The request's method.
        want: String,
    },
    /// `htu` is not the request's URI.
    #[error("DPoP proof: htu {got:?} does not match the request's URI {want:?}")]
    Uri {
        /// The proof's `htu`.
        got: String,
        /// The request's URI, normalised.
        want: String,
    },
    /// `iat` is outside the window.
    #[error("DPoP proof: iat is outside the accepted window ({0} s from now)")]
    Time(i64),
    /// DPoP proof: ath does not match the access token presented.
    #[error("DPoP proof: ath does not match the access token presented")]
    TokenHash,
    /// DPoP proof: a nonce from this server is required (use the DPoP-Nonce header's value).
    #[error(
        "DPoP proof: a nonce from this server is required (use the DPoP-Nonce header's value)"
    )]
    Nonce,
    /// DPoP proof: this proof was already used (jti replay).
    #[error("DPoP proof: this proof was already used (jti replay)")]
    Replay,
    /// DPoP proof: too many proofs in flight, retry shortly.
    #[error("DPoP proof: too many proofs in flight, retry shortly")]
    Busy,
}

impl DpopError {
    /// The OAuth error code (RFC 9449 §7.1, §8, §9).
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::Nonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// The URI without query or fragment, scheme and host in lower case, default port dropped
/// (RFC 9449 §4.3 step 9, with RFC 3986 §6.2.2–6.2.3 normalisation). `None` if it is not an
/// absolute http(s) URI.
pub fn normalize_uri(uri: &str) -> Option<String> {
    let mut u = url::Url::parse(uri).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// `base64url(SHA-256(token))`, the `ath` claim.
pub fn token_hash(access_token: &str) -> String {
    B64URL.encode(ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()).as_ref())
}

/// Checks a DPoP proof against the request (RFC 9449 §4.3 steps 2–12) and records its `jti`.
pub fn verify(
    proof: &str,
    req: &Request<'_>,
    window: Window,
    seen: &mut ReplayCache,
) -> Result<Verified, DpopError> {
    let jws = Jws::decode(proof)?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err(DpopError::Type);
    }
    jws.alg()?;
    let key = Jwk::from_json(jws.header.get("jwk").unwrap_or(&serde_json::Value::Null))
        .map_err(DpopError::Key)?;
    jws.verify(&key)?;

    let jti = jws.claim_str("jti").ok_or(DpopError::Missing("jti"))?;
    let htm = jws.claim_str("htm").ok_or(DpopError::Missing("htm"))?;
    let htu = jws.claim_str("htu").ok_or(DpopError::Missing("htu"))?;
    let iat = jws.claim_i64("iat").ok_or(DpopError::Missing("iat"))?;
    if htm != req.method {
        return Err(DpopError::Method {
            got: htm.into(),
            want: req.method.into(),
        });
    }
    let want = normalize_uri(req.uri).unwrap_or_default();
    if normalize_uri(htu).as_deref() != Some(want.as_str()) {
        return Err(DpopError::Uri {
            got: htu.into(),
            want,
        });
    }
    if let Some(nonce) = req.nonce {
        if jws.claim_str("nonce") != Some(nonce) {
            return Err(DpopError::Nonce);
        }
    }
    let offset = iat - req.now;
    if offset < -window.max_age || offset > window.max_skew {
        return Err(DpopError::Time(offset));
    }
    if let Some(token) = req.access_token {
        if jws.claim_str("ath") != Some(token_hash(token).as_str()) {
            return Err(DpopError::TokenHash);
        }
    }
    let jkt = key.thumbprint();
    // Keyed by the key as well: two clients choosing the same jti do not collide.
    let expires = iat + window.max_age + 1;
    match seen.first_use(&format!("{jkt}:{jti}"), expires, req.now) {
        Use::First => Ok(Verified { jkt, key }),
        Use::Replay => Err(DpopError::Replay),
        Use::Full => Err(DpopError::Busy),
    }
}
