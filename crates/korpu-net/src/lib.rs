//! Listeners for every Körpü service (gateway sides, central registry, portal): an accept loop
//! with graceful shutdown, and the two timeouts that keep a connection from holding a task and
//! a socket without ever making a request.
//!
//! - **TLS handshake timeout** ([`tls_handshake`]): a client that connects and sends no
//!   ClientHello, or stops half-way, is dropped after [`Timeouts::tls_handshake`].
//! - **Header-read timeout**: a connection must bring its first complete request head within
//!   [`Timeouts::header_read`] ([`FirstRequest`], which covers the byte-sniffing that picks
//!   HTTP/1 or HTTP/2 and the HTTP/2 preface, where hyper has no timer), and on HTTP/1 each
//!   later request head must too (hyper's `header_read_timeout`, set by [`http_builder`]).
//!   An HTTP/2 connection, once it has made a request, is kept while it answers pings.
//!
//! Half-open connections held 150 s and more before these existed (issue 13, item 8).
//! It does not limit request bodies or concurrency: those are each service's own settings.
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

/// The handshake-signature checks and supported schemes of a rustls certificate verifier
/// (client or server side) that holds its `Arc<CryptoProvider>` as `self.0` and leaves which
/// certificates it trusts to something else (a pin checked afterwards, or nothing in tests):
/// the two checks differ only in the rustls function they call. Expands inside the `impl`;
/// the calling crate depends on `rustls`.
#[macro_export]
macro_rules! provider_signature_checks {
    () => {
        $crate::provider_signature_checks!(verify_tls12_signature, verify_tls13_signature);

        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    };
    ($($name:ident),*) => {$(
        fn $name(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            let algorithms = &self.0.signature_verification_algorithms;
            ::rustls::crypto::$name(message, cert, dss, algorithms)
        }
    )*};
}

/// How long a connection may take to become useful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accepting the TCP connection to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// From the connection being ready (TCP accepted, or TLS done) to its first complete
    /// request head; and on HTTP/1, from one request's end to the next one's head.
    pub header_read: Duration,
}

impl Timeouts {
    /// From configuration values in seconds.
    pub fn from_secs(tls_handshake: u64, header_read: u64) -> Self {
        Self {
            tls_handshake: Duration::from_secs(tls_handshake),
            header_read: Duration::from_secs(header_read),
        }
    }
}

/// An HTTP/1 + HTTP/2 (auto-detected) connection builder with the header-read timeout on
/// HTTP/1 and keep-alive pings on HTTP/2 (a peer that stops answering them is dropped).
pub fn http_builder(t: &Timeouts) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(t.header_read);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(t.header_read)
        .keep_alive_timeout(t.header_read);
    b
}

/// Completes a TLS handshake within `t.tls_handshake`.
pub async fn tls_handshake<IO>(
    acceptor: &tokio_rustls::TlsAcceptor,
    io: IO,
    t: &Timeouts,
) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(t.tls_handshake, acceptor.accept(io)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no TLS handshake within {} s (tls_handshake_timeout_secs)",
                t.tls_handshake.as_secs()
            ),
        )),
    }
}

/// Marks that a connection's first request has arrived (cloned into its service).
#[derive(Clone, Default)]
pub struct Arrived(Arc<AtomicBool>);

impl Arrived {
    /// Called by the service on each request; only the first one matters.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A connection that fails its reads with `TimedOut` if no request has [`Arrived`] within the
/// deadline; after the first request it is a plain pass-through.
pub struct FirstRequest<IO> {
    io: IO,
    arrived: Arrived,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> FirstRequest<IO> {
    /// Wraps `io`; the returned [`Arrived`] goes into the connection's service.
    pub fn new(io: IO, t: &Timeouts) -> (Self, Arrived) {
        let arrived = Arrived::default();
        let me = Self {
            io,
            arrived: arrived.clone(),
            deadline: Some(Box::pin(tokio::time::sleep(t.header_read))),
        };
        (me, arrived)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstRequest<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if me.deadline.is_some() && me.arrived.0.load(Ordering::Relaxed) {
            me.deadline = None;
        }
        let r = Pin::new(&mut me.io).poll_read(cx, buf);
        if r.is_pending() {
            // Polled here so that the deadline wakes the connection's task even if the peer
            // never sends another byte.
            if let Some(d) = &mut me.deadline {
                if d.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no request within header_read_timeout_secs",
                    )));
                }
            }
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstRequest<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Resolves once `rx` says stop (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Accepts connections on `listener` until `shutdown`, serving each in a task of its own with
/// a watcher for graceful shutdown; then waits (at most `drain`) for them to finish.
pub fn accept_until_stopped<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
    serve: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(TcpStream, SocketAddr, Watcher) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let (tcp, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        // E.g. out of file descriptors: do not spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = stopped(&mut shutdown) => break,
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp, remote, graceful.watcher()));
        }
        // Stop accepting now, not after the drain: new connections are refused at once.
        drop(listener);
        let _ = tokio::time::timeout(drain, graceful.shutdown()).await;
    })
}

/// Serves an axum `Router` on `listener` (over TLS when `tls` is given) with both timeouts,
/// until `shutdown`, then drains for at most `drain`. Each request carries
/// `axum::extract::ConnectInfo<SocketAddr>` with the remote address.
pub fn serve_router(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    timeouts: Timeouts,
    shutdown: watch::Receiver<bool>,
    drain: Duration,
) -> tokio::task::JoinHandle<()> {
    accept_until_stopped(listener, shutdown, drain, move |tcp, remote, watcher| {
        let tls = tls.clone();
        let app = app.clone();
        async move {
            match tls {
                Some(acceptor) => match tls_handshake(&acceptor, tcp, &timeouts).await {
                    Ok(stream) => serve_one(stream, remote, app, timeouts, watcher).await,
                    Err(e) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                },
                None => serve_one(tcp, remote, app, timeouts, watcher).await,
            }
        }
    })
}

async fn serve_one<IO>(
    io: IO,
    remote: SocketAddr,
    app: axum::Router,
    timeouts: Timeouts,
    watcher: Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt;
    let (io, arrived) = FirstRequest::new(io, &timeouts);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        arrived.request();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(remote));
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let builder = http_builder(&timeouts);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{closed_within, get_and_close, tls_pair};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SHORT: Timeouts = Timeouts {
        tls_handshake: Duration::from_millis(500),
        header_read: Duration::from_millis(500),
    };

    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> (SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(
                |axum::extract::ConnectInfo(a): axum::extract::ConnectInfo<SocketAddr>| async move {
                    format!("hello {}", a.ip())
                },
            ),
        );
        let (tx, rx) = watch::channel(false);
        serve_router(listener, tls, app, SHORT, rx, Duration::from_secs(1));
        (addr, tx)
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
        let (addr, _stop) = start(None).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let took = closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("closed");
        assert!(took >= Duration::from_millis(400), "{took:?}");
    }

    #[tokio::test]
    async fn a_partial_header_is_cut_after_the_header_read_timeout() {
        let (addr, _stop) = start(None).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5))
            .await
            .is_some());
        // The same for a second request on a kept-alive connection.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("hello 127.0.0.1"));
        s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5))
            .await
            .is_some());
    }

    #[tokio::test]
    async fn a_connection_that_starts_no_tls_handshake_is_closed() {
        #[derive(Debug)]
        struct NoCert;
        impl rustls::server::ResolvesServerCert for NoCert {
            fn resolve(
                &self,
                _: rustls::server::ClientHello<'_>,
            ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                None
            }
        }
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(NoCert));
        let (addr, _stop) = start(Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5))
            .await
            .is_some());
        // A ClientHello that stops half-way is cut as well.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5))
            .await
            .is_some());
    }

    #[tokio::test]
    async fn a_tls_connection_that_makes_no_request_after_its_handshake_is_closed() {
        let (server, client) = tls_pair();
        let (addr, _stop) = start(Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))).await;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .expect("the handshake completes");
        let t = Instant::now();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "still open 5 s after the handshake");
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        // The same connection with a request in time is served.
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn requests_in_time_are_served_and_a_stop_ends_the_loop() {
        let (addr, stop) = start(None).await;
        assert!(get_and_close(addr, "/").await.starts_with("HTTP/1.1 200"));
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
