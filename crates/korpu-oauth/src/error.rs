//! OAuth errors in the protocol's own shape: the RFC 6749 §5.2 `error` code with an
//! `error_description` that says what to fix, and the HTTP status each code goes with.
use serde_json::{json, Value};

/// The error codes this server answers with (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
/// RFC 9126 §2.3, RFC 9449 §7.1 and §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A parameter is missing, repeated, malformed or not allowed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The code, refresh token or verifier is not valid for this client.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not one this server supports.
    UnsupportedGrantType,
    /// The scope is unknown or beyond what the client registered.
    InvalidScope,
    /// The resource owner refused.
    AccessDenied,
    /// The access token presented is not valid (resource requests).
    InvalidToken,
    /// The DPoP proof is not valid.
    InvalidDpopProof,
    /// The request must be retried with the server's DPoP nonce.
    UseDpopNonce,
    /// The pushed request's `request_uri` is unknown, used or expired.
    InvalidRequestUri,
}

impl Code {
    /// The `error` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidRequest => "invalid_request",
            Code::InvalidClient => "invalid_client",
            Code::InvalidGrant => "invalid_grant",
            Code::UnauthorizedClient => "unauthorized_client",
            Code::UnsupportedGrantType => "unsupported_grant_type",
            Code::InvalidScope => "invalid_scope",
            Code::AccessDenied => "access_denied",
            Code::InvalidToken => "invalid_token",
            Code::InvalidDpopProof => "invalid_dpop_proof",
            Code::UseDpopNonce => "use_dpop_nonce",
            Code::InvalidRequestUri => "invalid_request_uri",
        }
    }

    /// The HTTP status the code is answered with.
    pub fn status(self) -> u16 {
        match self {
            Code::InvalidClient | Code::InvalidToken => 401,
            Code::AccessDenied => 403,
            _ => 400,
        }
    }
}

/// An OAuth error: the code and a description for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The `error` code.
    pub code: Code,
    /// The `error_description`.
    pub description: String,
}

impl OAuthError {
    /// An error with its description.
    pub fn new(code: Code, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// The JSON body (RFC 6749 §5.2).
    pub fn to_json(&self) -> Value {
        json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl From<crate::client_auth::ClientAuthError> for OAuthError {
    fn from(e: crate::client_auth::ClientAuthError) -> Self {
        OAuthError::new(Code::InvalidClient, e.to_string())
    }
}

impl From<crate::dpop::DpopError> for OAuthError {
    fn from(e: crate::dpop::DpopError) -> Self {
        let code = match e {
            crate::dpop::DpopError::Nonce => Code::UseDpopNonce,
            _ => Code::InvalidDpopProof,
        };
        OAuthError::new(code, e.to_string())
    }
}
