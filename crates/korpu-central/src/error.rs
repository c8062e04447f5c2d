//! The registry's errors, and their one mapping to the management API's JSON error form:
//!
//! ```json
//! {"error": {"type": "invalid_field", "field": "member", "rule": "allowed_characters",
//!            "message": "member code \"12 34\" contains ' ', which is not allowed: …"}}
//! ```
//!
//! `type` is stable and machine-readable; `field` names the request field at fault (absent when
//! no single field is); `rule` names the rule it broke; `message` says how to fix it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use korpu_id::IdError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        field: String,
        rule: &'static str,
        message: String,
    },
    /// The thing being created exists already.
    #[error("{what} {id} already exists")]
    Duplicate { what: &'static str, id: String },
    /// The thing being acted upon does not exist.
    #[error("no {what} {id} is registered")]
    NotFound { what: &'static str, id: String },
    /// No valid administrator credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The database failed.
    #[error("registry database error: {0}")]
    Store(String),
    /// Our own keys or certificates failed (a broken installation, not a bad request).
    #[error("registry PKI error: {0}")]
    Pki(String),
}

impl RegistryError {
    /// An invalid identifier in `field`.
    pub fn bad_id(field: &'static str, e: IdError) -> Self {
        let rule = match e {
            IdError::Empty(_) => "non_empty",
            IdError::TooLong { .. } => "max_length",
            IdError::BadChar { .. } => "allowed_characters",
            IdError::BadEncoding(_) => "percent_encoding",
            IdError::PartCount { .. } => "identifier_parts",
        };
        Self::Invalid {
            field: field.to_owned(),
            rule,
            message: e.to_string(),
        }
    }

    /// `field` refers to something that is not registered.
    pub fn unregistered(field: &'static str, what: &str, id: &str) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            rule: "registered",
            message: format!("{what} {id} is not registered; register it first"),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Duplicate { .. } => StatusCode::CONFLICT,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Store(_) | Self::Pki(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::Duplicate { .. } => "duplicate",
            Self::NotFound { .. } => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Store(_) | Self::Pki(_) => "internal",
        }
    }

    /// The JSON body of the management API's error response.
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = json!({"type": self.kind(), "message": self.to_string()});
        match self {
            Self::Invalid { field, rule, .. } => {
                e["field"] = json!(field);
                e["rule"] = json!(rule);
            }
            Self::Duplicate { .. } => e["rule"] = json!("unique"),
            _ => {}
        }
        json!({ "error": e })
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "management request failed");
        }
        let mut resp = (self.status(), axum::Json(self.to_json())).into_response();
        if matches!(self, Self::Unauthorized(_)) {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"korpu-central\""),
            );
        }
        resp
    }
}
