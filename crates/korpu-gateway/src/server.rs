//! Listeners and background tasks: the client side (plain HTTP for local information systems,
//! plus `/metrics`, `/health`, `/listClients`), the server side (HTTP/2 over mutual TLS 1.3 for
//! other gateways), the configuration and OCSP refresh loops, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use korpu_pki::cert::Certificate;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gateway::{Gateway, StartError};
use crate::record::Recorder;
use crate::GatewayConfig;

/// A running gateway.
pub struct RunningGateway {
    pub gateway: Arc<Gateway>,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningGateway {
    /// Stops accepting, lets exchanges in flight finish (at most `drain`), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// How long open connections may take to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `listener` until shutdown, serving each in a task of its own with a
/// watcher for graceful shutdown; then waits (at most [`DRAIN_TIMEOUT`]) for them to finish.
fn accept_until_stopped<F, Fut>(
    listener: TcpListener,
    mut rx: watch::Receiver<bool>,
    serve: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(tokio::net::TcpStream, SocketAddr, hyper_util::server::graceful::Watcher) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        loop {
            let (tcp, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
                _ = stopped(&mut rx) => break,
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp, remote, graceful.watcher()));
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    })
}

/// Starts a gateway: loads its keys, fetches the configuration (a gateway with none still
/// starts and answers with OutdatedGlobalConf until one arrives), binds both listeners.
pub async fn start(
    cfg: GatewayConfig,
    recorder: Box<dyn Recorder>,
) -> Result<RunningGateway, StartError> {
    let client_l = TcpListener::bind(cfg.client_listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", cfg.client_listen)))?;
    let server_l = TcpListener::bind(cfg.server_listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", cfg.server_listen)))?;
    let client_addr = client_l
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    let client_tls_l = match cfg.client_tls_listen {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| StartError(format!("cannot listen on {a}: {e}")))?,
        ),
        None => None,
    };
    let server_addr = server_l
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    let conf_every = Duration::from_secs(cfg.conf_refresh_secs);
    let ocsp_every = Duration::from_secs(cfg.ocsp_refresh_secs);
    let gw = Gateway::new(cfg, recorder)?;
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
                    _ = stopped(&mut rx) => break,
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
                let svc = service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.handle_client(req, remote, None).await) }
                });
                let conn = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
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
                let stream = match tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await {
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
                let svc = service_fn(move |req| {
                    let gw = gw.clone();
                    let fp = fp.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.handle_client(req, remote, Some(fp)).await) }
                });
                let conn = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
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
                let tls = match tokio_rustls::TlsAcceptor::from(loaded.server_tls.clone()).accept(tcp).await {
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
                let svc = service_fn(move |req| {
                    let gw = gw.clone();
                    let cert = cert.clone();
                    async move { Ok::<_, std::convert::Infallible>(gw.handle_peer(req, cert).await) }
                });
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .initial_stream_window_size(crate::gateway::H2_STREAM_WINDOW)
                    .initial_connection_window_size(crate::gateway::H2_CONNECTION_WINDOW)
                    .max_concurrent_streams(1024)
                    .header_table_size(crate::gateway::HPACK_TABLE_BYTES);
                let conn = builder.serve_connection(TokioIo::new(tls), svc);
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
        shutdown,
        tasks,
    })
}
