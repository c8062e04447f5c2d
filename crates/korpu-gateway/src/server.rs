//! Listeners and background tasks: the client side (plain HTTP for local information systems,
//! plus `/metrics`, `/health`, `/listClients`), the server side (HTTP/2 over mutual TLS 1.3 for
//! other gateways), the configuration and OCSP refresh loops, and graceful shutdown.
//!
//! Every listener goes through `korpu-net`: a TLS handshake must end within
//! `tls_handshake_timeout_secs` and a connection must bring a request head within
//! `header_read_timeout_secs`, so half-open connections cannot pile up (issue 13, item 8).
//! Request limits (concurrency, headers, bodies) are the flows' business (`limits`, `body`).
//!
//! [`GatewayBuilder`] is the one way to start a gateway: it owns the evidence ledger's
//! lifetime (open before the gateway, close after the drain), so no caller has to know the
//! order.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use korpu_ledger::{Ledger, LedgerError};
use korpu_net::{Arrived, FirstRequest, Timeouts};
use korpu_pki::cert::Certificate;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::body::OutBody;
use crate::gateway::{CurrentConf, Gateway, StartError};
use crate::record::{open_ledger, ConfTimestamper, Recorder};
use crate::service::{Caller, GatewayService};
use crate::GatewayConfig;

/// Starts a gateway, and owns what must outlive its exchanges: the evidence ledger it records
/// into is opened before the gateway exists and closed ([`RunningGateway::shutdown`]) only
/// after its last exchange has drained. The ledger's time-stamper reads the configuration the
/// gateway keeps through a [`CurrentConf`] both share, not through the gateway.
///
/// ```no_run
/// # async fn run(config: korpu_gateway::GatewayConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let running = korpu_gateway::GatewayBuilder::new(config).start().await?;
/// // … until asked to stop:
/// running.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct GatewayBuilder {
    config: GatewayConfig,
    recorder: Option<Box<dyn Recorder>>,
}

impl GatewayBuilder {
    pub fn new(config: GatewayConfig) -> Self {
        Self {
            config,
            recorder: None,
        }
    }

    /// Records into `recorder` instead of the evidence ledger (for tools and tests that want
    /// no proofs, e.g. a [`crate::record::JournalRecorder`]); the caller then closes it.
    pub fn recorder(mut self, recorder: Box<dyn Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Opens the ledger (unless a recorder was given), loads the gateway's keys and any saved
    /// configuration, fetches a fresh one and our OCSP responses (a gateway with none still
    /// starts, and answers with OutdatedGlobalConf until one arrives), and binds the
    /// listeners. On failure the ledger opened here is closed again.
    pub async fn start(self) -> Result<RunningGateway, StartError> {
        let conf = CurrentConf::default();
        let (recorder, ledger): (Box<dyn Recorder>, _) = match self.recorder {
            Some(r) => (r, None),
            None => {
                let timestamper = ConfTimestamper::new(conf.clone());
                let ledger = open_ledger(&self.config, timestamper).await?;
                (Box::new(ledger.clone()), Some(ledger))
            }
        };
        match listen(self.config, recorder, conf).await {
            Ok(running) => Ok(RunningGateway { ledger, ..running }),
            Err(e) => {
                if let Some(ledger) = ledger {
                    if let Err(closing) = ledger.close().await {
                        tracing::warn!(error = %closing, "closing the ledger after a failed start");
                    }
                }
                Err(e)
            }
        }
    }
}

/// A running gateway.
pub struct RunningGateway {
    pub gateway: Arc<Gateway>,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    ledger: Option<Ledger>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningGateway {
    /// The evidence ledger it records into; `None` with a recorder of the caller's.
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    /// Stops accepting, lets exchanges in flight finish (at most 30 s), then
    /// closes the ledger: its last records flushed and a final checkpoint signed (and
    /// time-stamped, through the configuration it still shares).
    pub async fn shutdown(self) -> Result<(), LedgerError> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        match self.ledger {
            Some(ledger) => ledger.close().await,
            None => Ok(()),
        }
    }
}

/// Streams a peer gateway may open and reset before the server has accepted them, on one
/// connection before it is cut off (hyper's default is 20; an information system hanging up
/// resets a stream too, so a busy gateway gets more room).
const PENDING_RESET_STREAMS: usize = 256;

/// How long open connections may take to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

fn accept_until_stopped<F, Fut>(
    listener: TcpListener,
    rx: watch::Receiver<bool>,
    serve: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(tokio::net::TcpStream, SocketAddr, hyper_util::server::graceful::Watcher) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    korpu_net::accept_until_stopped(listener, rx, DRAIN_TIMEOUT, serve)
}

/// A side of the gateway ([`crate::service`]) as hyper serves it on one connection: each
/// request first tells the connection's header-read timer that it arrived.
fn for_hyper<S>(
    svc: S,
    arrived: Arrived,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<OutBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<OutBody>, Infallible>> + Send + 'static,
> + Clone
where
    S: tower::Service<Request<Incoming>, Response = Response<OutBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    service_fn(move |req| {
        arrived.request();
        svc.clone().oneshot(req)
    })
}

/// The client side's connection builder. Its own header limits sit well above the
/// configured ones, so a request over those reaches the gateway's check and is refused in
/// PR-REST's error form rather than by the HTTP layer.
fn client_side_builder(
    timeouts: &Timeouts,
    (max_bytes, max_count): (usize, usize),
) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut b = korpu_net::http_builder(timeouts);
    b.http1().max_headers(max_count.saturating_mul(4).max(100));
    b.http2()
        .max_header_list_size(u32::try_from(max_bytes.saturating_mul(8)).unwrap_or(u32::MAX));
    b
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let fail = |source| StartError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    Ok((listener, bound))
}

/// The gateway ([`GatewayBuilder::start`]), recording into `recorder`, with its background
/// refresh and its listeners.
async fn listen(
    cfg: GatewayConfig,
    recorder: Box<dyn Recorder>,
    conf: CurrentConf,
) -> Result<RunningGateway, StartError> {
    let (client_l, client_addr) = bind(cfg.client_listen).await?;
    let (server_l, server_addr) = bind(cfg.server_listen).await?;
    let client_tls_l = match cfg.client_tls_listen {
        Some(a) => Some(bind(a).await?.0),
        None => None,
    };
    let conf_every = Duration::from_secs(cfg.conf_refresh_secs);
    let ocsp_every = Duration::from_secs(cfg.ocsp_refresh_secs);
    let timeouts =
        Timeouts::from_secs(cfg.tls_handshake_timeout_secs, cfg.header_read_timeout_secs);
    let limits = (cfg.max_header_bytes, cfg.max_header_count);
    let gw = Gateway::sharing_conf(cfg, recorder, conf)?;
    if let Err(e) = gw.refresh_conf().await {
        tracing::warn!(error = %e, "starting without a fresh global configuration");
    }
    if let Err(e) = gw.refresh_staples().await {
        tracing::warn!(error = %e, "starting without stapled OCSP responses");
    }
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();

    // Background refresh of the configuration and of our own OCSP responses.
    for (every, is_conf) in [(conf_every, true), (ocsp_every, false)] {
        let gw = gw.clone();
        let mut rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {
                        if is_conf {
                            let _ = gw.refresh_conf().await;
                        } else if let Err(e) = gw.refresh_staples().await {
                            tracing::error!(alert = true, error = %e, "renewing our OCSP responses failed");
                        }
                    }
                    _ = korpu_net::stopped(&mut rx) => break,
                }
            }
        }));
    }

    // Client side: plain HTTP/1.1 and h2c from local information systems.
    {
        let gw = gw.clone();
        tasks.push(accept_until_stopped(client_l, rx.clone(), move |tcp, remote, watcher| {
            let gw = gw.clone();
            async move {
                let (io, arrived) = FirstRequest::new(tcp, &timeouts);
                let caller = Caller::InformationSystem { remote, client_cert: None };
                let svc = for_hyper(GatewayService::new(gw, caller), arrived);
                let conn = client_side_builder(&timeouts, limits)
                    .serve_connection(TokioIo::new(io), svc)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%remote, error = %e, "client connection ended with an error");
                }
            }
        }));
    }

    // TLS client side: information systems with client certificates (PR-REST §4.7).
    if let Some(listener) = client_tls_l {
        let gw = gw.clone();
        tasks.push(accept_until_stopped(listener, rx.clone(), move |tcp, remote, watcher| {
            let gw = gw.clone();
            async move {
                let Some(tls) = gw.loaded().and_then(|l| l.client_side_tls.clone()) else {
                    tracing::warn!(%remote, "refusing an information system: no global configuration yet");
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                let stream = match korpu_net::tls_handshake(&acceptor, tcp, &timeouts).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(%remote, error = %e, "TLS handshake with an information system failed");
                        return;
                    }
                };
                let Some(fp) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| {
                    use sha2::Digest;
                    hex::encode(sha2::Sha256::digest(c.as_ref()))
                }) else {
                    return;
                };
                let (io, arrived) = FirstRequest::new(stream, &timeouts);
                let caller = Caller::InformationSystem { remote, client_cert: Some(fp) };
                let svc = for_hyper(GatewayService::new(gw, caller), arrived);
                let conn = client_side_builder(&timeouts, limits)
                    .serve_connection(TokioIo::new(io), svc)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%remote, error = %e, "information system connection ended with an error");
                }
            }
        }));
    }

    // Server side: HTTP/2 over mutual TLS 1.3 from other gateways.
    {
        let gw = gw.clone();
        tasks.push(accept_until_stopped(server_l, rx.clone(), move |tcp, remote, watcher| {
            let gw = gw.clone();
            async move {
                let Some(loaded) = gw.loaded() else {
                    tracing::warn!(%remote, "refusing a gateway connection: no global configuration yet");
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(loaded.server_tls.clone());
                let tls = match korpu_net::tls_handshake(&acceptor, tcp, &timeouts).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(%remote, error = %e, "TLS handshake with a gateway failed");
                        gw.metrics.inc_error("Server.ServerProxy.SslAuthenticationFailed");
                        return;
                    }
                };
                // Parsed once per connection and shared by its requests.
                let Some(cert) = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| Certificate::from_der(c.as_ref()).ok())
                    .map(Arc::new)
                else {
                    return;
                };
                let (io, arrived) = FirstRequest::new(tls, &timeouts);
                let svc = for_hyper(GatewayService::new(gw, Caller::PeerGateway(cert)), arrived);
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .initial_stream_window_size(crate::gateway::H2_STREAM_WINDOW)
                    .initial_connection_window_size(crate::gateway::H2_CONNECTION_WINDOW)
                    .max_concurrent_streams(1024)
                    .header_table_size(crate::gateway::HPACK_TABLE_BYTES)
                    .max_header_list_size(crate::limits::PEER_HEADER_LIST_BYTES as u32)
                    // A peer gateway that stops answering pings is dropped; one that resets
                    // streams as fast as it opens them (HTTP/2 "rapid reset") is cut off.
                    .timer(TokioTimer::new())
                    .keep_alive_interval(timeouts.header_read)
                    .keep_alive_timeout(timeouts.header_read)
                    .max_pending_accept_reset_streams(PENDING_RESET_STREAMS);
                let conn = builder.serve_connection(TokioIo::new(io), svc);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%remote, error = %e, "gateway connection ended with an error");
                }
            }
        }));
    }
    tracing::info!(gateway = %gw.id, %client_addr, %server_addr, "gateway listening");
    Ok(RunningGateway {
        gateway: gw,
        client_addr,
        server_addr,
        ledger: None,
        shutdown,
        tasks,
    })
}
