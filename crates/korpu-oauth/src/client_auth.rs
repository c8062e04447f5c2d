//! Client authentication with `private_key_jwt` (OpenID Connect Core §9, RFC 7523 §2.2), the
//! method FAPI 2.0 §5.3.2.1 allows beside mTLS: the client signs a short-lived JWT with a key
//! it registered, the server checks it and refuses its `jti` a second time.
//!
//! Deliberately not here: `client_secret_*` (FAPI 2.0 forbids shared secrets) and the mTLS
//! methods (the hub's TLS layer authenticates those; this crate sees only the result).
use serde_json::Value;

use crate::jose::{JoseError, Jwk, Jws};
use crate::replay::{ReplayCache, Use};

/// The only `client_assertion_type` accepted.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest lifetime (`exp` − now) accepted for an assertion, seconds: a leaked assertion is
/// useless after this, and the replay cache need remember it no longer.
pub const MAX_LIFETIME: i64 = 300;

/// Tolerated clock difference with the client, seconds.
pub const SKEW: i64 = 60;

/// Why a client was not authenticated (`invalid_client`, RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// No client assertion was sent.
    #[error("client authentication is required: send client_assertion_type={ASSERTION_TYPE} and a client_assertion signed with a registered key")]
    Missing,
    /// Another `client_assertion_type` than the JWT bearer one.
    #[error("client_assertion_type must be {ASSERTION_TYPE}")]
    AssertionType,
    /// The assertion is not a usable JWS.
    #[error("client_assertion: {0}")]
    Jose(#[from] JoseError),
    /// `client_assertion`: no registered key of this client verifies it.
    #[error("client_assertion: no registered key of this client verifies it")]
    NoKey,
    /// `client_assertion`: iss and sub must both be the client_id.
    #[error("client_assertion: iss and sub must both be the client_id")]
    Subject,
    /// `client_assertion`: the client_id parameter names another client than the assertion.
    #[error("client_assertion: the client_id parameter names another client than the assertion")]
    ClientIdMismatch,
    /// The audience is not this server's issuer identifier.
    #[error("client_assertion: aud must be this server's issuer identifier {0:?}")]
    Audience(String),
    /// `exp` is missing, past, or too far ahead.
    #[error("client_assertion: exp is missing, past, or more than {MAX_LIFETIME} s ahead")]
    Expiry,
    /// `client_assertion`: iat or nbf lies in the future.
    #[error("client_assertion: iat or nbf lies in the future")]
    NotYetValid,
    /// `client_assertion`: jti is missing.
    #[error("client_assertion: jti is missing")]
    NoJti,
    /// `client_assertion`: this assertion was already used (jti replay).
    #[error("client_assertion: this assertion was already used (jti replay)")]
    Replay,
    /// `client_assertion`: too many assertions in flight, retry shortly.
    #[error("client_assertion: too many assertions in flight, retry shortly")]
    Busy,
}

/// What the request carried for client authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `client_id` form parameter, optional with an assertion.
    pub client_id: Option<&'a str>,
    /// `client_assertion_type`.
    pub assertion_type: Option<&'a str>,
    /// `client_assertion`.
    pub assertion: Option<&'a str>,
}

impl<'a> Presented<'a> {
    /// The client the request claims to be, before any check: the `client_id` parameter or the
    /// assertion's unverified `iss`, so the server knows which registered keys to try.
    pub fn claimed_client(&self) -> Option<String> {
        if let Some(id) = self.client_id {
            return Some(id.to_owned());
        }
        Jws::decode(self.assertion?)
            .ok()?
            .claim_str("iss")
            .map(str::to_owned)
    }
}

/// Checks a `private_key_jwt` assertion for `client_id`, whose registered keys are `keys`;
/// `issuer` is this server's issuer identifier, the audience FAPI 2.0 requires.
pub fn authenticate(
    presented: &Presented<'_>,
    client_id: &str,
    keys: &[Jwk],
    issuer: &str,
    now: i64,
    seen: &mut ReplayCache,
) -> Result<(), ClientAuthError> {
    let (Some(kind), Some(assertion)) = (presented.assertion_type, presented.assertion) else {
        return Err(ClientAuthError::Missing);
    };
    if kind != ASSERTION_TYPE {
        return Err(ClientAuthError::AssertionType);
    }
    let jws = Jws::decode(assertion)?;
    jws.alg()?;
    if !keys.iter().any(|k| jws.verify(k).is_ok()) {
        return Err(ClientAuthError::NoKey);
    }
    if jws.claim_str("iss") != Some(client_id) || jws.claim_str("sub") != Some(client_id) {
        return Err(ClientAuthError::Subject);
    }
    if presented.client_id.is_some_and(|id| id != client_id) {
        return Err(ClientAuthError::ClientIdMismatch);
    }
    // FAPI 2.0 §5.3.2.1: the issuer identifier as the audience, a string or an array holding
    // it. Other audiences (the token endpoint's URL) are refused so an assertion made for one
    // server's endpoint cannot be replayed at another's.
    let aud_ok = match jws.claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some(issuer),
        _ => false,
    };
    if !aud_ok {
        return Err(ClientAuthError::Audience(issuer.to_owned()));
    }
    let exp = jws.claim_i64("exp").ok_or(ClientAuthError::Expiry)?;
    if exp + SKEW < now || exp - now > MAX_LIFETIME + SKEW {
        return Err(ClientAuthError::Expiry);
    }
    for claim in ["iat", "nbf"] {
        if jws.claim_i64(claim).is_some_and(|t| t > now + SKEW) {
            return Err(ClientAuthError::NotYetValid);
        }
    }
    let jti = jws.claim_str("jti").ok_or(ClientAuthError::NoJti)?;
    match seen.first_use(&format!("{client_id}:{jti}"), exp + SKEW, now) {
        Use::First => Ok(()),
        Use::Replay => Err(ClientAuthError::Replay),
        Use::Full => Err(ClientAuthError::Busy),
    }
}
