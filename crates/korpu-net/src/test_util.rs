//! Helpers for the tests of crates that serve through these listeners (enabled by the
//! `test-util` feature, which only dev-dependencies turn on): how long a listener takes to
//! drop a connection (and the idle and half-sent ones it must drop), a plain request made in
//! time, and throwaway TLS material (a self-signed
//! certificate, a server config presenting it and a client config that accepts anything).
//! Not for production code: the client config checks no certificate at all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use korpu_pki::ca::{IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes; the time it took, or `None` if it was still open after
/// `limit`.
pub async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// The two connections a listener must drop within its header-read timeout, named for
/// failure messages: one that sends nothing, and one that stops in the middle of the head of
/// a request for `path`.
pub async fn idle_and_partial(addr: SocketAddr, path: &str) -> Vec<(&'static str, TcpStream)> {
    let idle = TcpStream::connect(addr).await.unwrap();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    partial.write_all(head.as_bytes()).await.unwrap();
    vec![
        ("an idle connection", idle),
        ("a partial request head", partial),
    ]
}

/// Each of `conns` is closed by the server within `limit`; a failure names the connection and
/// `context` (where, with which timeout).
pub async fn assert_all_closed(conns: &mut [(&str, TcpStream)], limit: Duration, context: &str) {
    for (what, s) in conns {
        assert!(
            closed_within(s, limit).await.is_some(),
            "{what} {context} was still open after {limit:?}"
        );
    }
}

/// `GET path` over a new plain connection to `addr`, asking the server to close it after the
/// answer; the whole answer (head and body) as text.
pub async fn get_and_close(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh key and a self-signed root certificate for it with the common name `cn`, valid for
/// an hour from now.
pub fn self_signed(cn: &str) -> (SigningKey, Certificate) {
    let key = SigningKey::generate();
    let spki = key.public_key_der();
    let now = std::time::SystemTime::now();
    let request = IssueRequest {
        subject: Subject::cn(cn),
        public_key_der: &spki,
        profile: Profile::Root,
        not_before: now,
        not_after: now + Duration::from_secs(3600),
        ocsp_url: None,
    };
    let serial = korpu_pki::ca::random_serial();
    let cert = korpu_pki::ca::self_signed(&key, request, &serial).expect("a self-signed root");
    (key, cert)
}

/// A TLS 1.3 server config presenting a throwaway self-signed certificate for `localhost`, and
/// a client config that accepts it (it accepts any certificate: only what happens after the
/// handshake is under test).
pub fn tls_pair() -> (rustls::ServerConfig, rustls::ClientConfig) {
    use p256::pkcs8::EncodePrivateKey;
    let (key, cert) = self_signed("localhost");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let der = key.inner().to_pkcs8_der().expect("a P-256 key encodes");
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.as_bytes().to_vec())),
        )
        .expect("the certificate matches its key");
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
        .with_no_client_auth();
    (server, client)
}

/// A server-certificate verifier that accepts every certificate, but still checks that the
/// handshake is signed by the key of the certificate presented.
#[derive(Debug)]
pub struct AnyServerCert(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::provider_signature_checks!();
}
