//! The gateway's two HTTP handlers as one [`tower::Service`] over any request body
//! ([`InBody`]), [`GatewayService`]: the client side for local information systems (PR-REST),
//! the provider side for other gateways, as its [`Caller`] says. One value serves one
//! connection, since what authenticates a caller comes with the connection (its address, its
//! TLS certificate), not with each request.
//!
//! [`crate::server`] wraps them for hyper's connections; tests call them in-process with
//! `tower::ServiceExt::oneshot` and an in-memory body, without a socket. They do not limit
//! concurrency through `poll_ready`: the limits apply per client subsystem and per calling
//! gateway, which only the request says ([`crate::limits`]), so every service is always ready
//! and a refused request is answered in PR-REST's error form like any other error.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::{Request, Response};
use korpu_pki::cert::Certificate;

use crate::body::{InBody, OutBody};
use crate::gateway::Gateway;

/// What a call resolves to: an answer, never an error (errors are answers in PR-REST's form).
pub type Answer = Pin<Box<dyn Future<Output = Result<Response<OutBody>, Infallible>> + Send>>;

/// Who calls, as their connection says, and so which side of the gateway answers.
#[derive(Clone)]
pub enum Caller {
    /// A local information system: its address (the plain-HTTP side admits the
    /// `client_networks`) and the SHA-256 (hex) of the certificate it presented on the TLS
    /// client side, `None` on the plain-HTTP side.
    InformationSystem {
        remote: SocketAddr,
        client_cert: Option<String>,
    },
    /// Another gateway, by the TLS certificate it presented (parsed once per connection).
    PeerGateway(Arc<Certificate>),
}

/// One side of the gateway for one connection's caller: the client side for an
/// [`Caller::InformationSystem`], the provider side for a [`Caller::PeerGateway`].
#[derive(Clone)]
pub struct GatewayService {
    gateway: Arc<Gateway>,
    caller: Caller,
}

impl GatewayService {
    pub fn new(gateway: Arc<Gateway>, caller: Caller) -> Self {
        Self { gateway, caller }
    }
}

impl<B: InBody> tower::Service<Request<B>> for GatewayService {
    type Response = Response<OutBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Answer {
        let gateway = self.gateway.clone();
        match self.caller.clone() {
            Caller::InformationSystem {
                remote,
                client_cert,
            } => Box::pin(async move { Ok(gateway.handle_client(req, remote, client_cert).await) }),
            Caller::PeerGateway(cert) => {
                Box::pin(async move { Ok(gateway.handle_peer(req, cert).await) })
            }
        }
    }
}
