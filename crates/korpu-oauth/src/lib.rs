//! Körpü's OAuth 2.0 authorisation-server core for the Open API hub, to the FAPI 2.0 Security
//! Profile: pushed authorisation requests, authorisation code with PKCE, `private_key_jwt`
//! client authentication and DPoP-bound tokens, with introspection, revocation and discovery
//! metadata. Sans I/O: every check is a function of the request's parsed parts and the clock,
//! so tests drive it without sockets; the hub's HTTP layer moves the bytes.
//!
//! * [`jose`] — public JWKs, RFC 7638 thumbprints, compact JWS verification (PS256, ES256,
//!   EdDSA).
//! * [`pkce`] — S256 challenges and verifiers.
//! * [`dpop`] — RFC 9449 proof checks.
//! * [`client_auth`] — `private_key_jwt` assertions.
//! * [`replay`] — one-time `jti`s.
//! * [`server`] — the authorisation server's grants and tokens.
//! * [`error`] — RFC 6749 error codes and bodies.
//!
//! Deliberately not here: HTTP, persistence shared between hub replicas, the citizen's sign-in
//! and consent screen, and consent semantics (what a consent allows is the hub's check).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_auth;
pub mod dpop;
pub mod error;
pub mod jose;
pub mod pkce;
pub mod replay;
pub mod server;

pub use error::{Code, OAuthError};
pub use jose::{Alg, Jwk};
pub use server::{AuthServer, Client, Config, Form, Grant, Pushed, TokenResponse};
