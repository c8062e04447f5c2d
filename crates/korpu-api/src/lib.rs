//! Körpü's Open API hub (issue 16), first part: the OAuth 2.0 authorisation server of
//! [`korpu_oauth`] over HTTP — discovery metadata (RFC 8414), pushed authorisation requests
//! (RFC 9126), the token endpoint (client credentials, authorisation code, refresh), revocation
//! (RFC 7009), introspection (RFC 7662) — and `GET /api/v1/grant`, the hub's own protected
//! resource that tells an application what its DPoP-bound token allows — with rate limits per
//! application and API ([`quota`]: token buckets in process or shared through Redis, `429` with
//! `Retry-After` and `RateLimit` headers).
//!
//! Deliberately not here yet: the citizen's authorisation step (sign-in and consent in myGov),
//! calls to the state's services over the bridge, consent records shared with the portal,
//! usage metering, the developer portal, and persistence of grants (they live in this process: a
//! restart ends every grant, and several replicas do not share them).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod http;
pub mod metrics;
pub mod quota;

pub use config::{Application, HubConfig};
pub use http::{router, Hub};

/// Serves the hub on `config.listen` until `shutdown` resolves.
pub async fn serve(
    hub: std::sync::Arc<Hub>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(hub))
        .with_graceful_shutdown(shutdown)
        .await
}
