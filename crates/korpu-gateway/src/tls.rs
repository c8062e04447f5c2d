//! TLS between gateways: TLS 1.3 only, mutual authentication, certificates chaining to the
//! platform roots from the global configuration, and the provider's certificate pinned to the
//! SHA-256 that the configuration holds for the gateway being called.
//!
//! The client's certificate is checked against the roots during the handshake; *which*
//! gateway it belongs to (its pin) and whether it is revoked (its stapled OCSP response) are
//! checked per request by the server side, which can then answer in the protocol's error form.

use std::sync::Arc;

use korpu_pki::cert::Certificate;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("a platform root certificate is unusable: {0}")]
    Root(rustls::Error),
    #[error("{0}")]
    Key(p256::pkcs8::Error),
    #[error("{0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{0}")]
    Rustls(rustls::Error),
    #[error("our TLS key does not fit our certificate: {0}")]
    KeyMismatch(rustls::Error),
}

fn roots(root_certs: &[Certificate]) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    for c in root_certs {
        store
            .add(CertificateDer::from(c.der().to_vec()))
            .map_err(TlsConfigError::Root)?;
    }
    Ok(store)
}

fn key_der(key: &korpu_pki::key::SigningKey) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let der =
        p256::pkcs8::EncodePrivateKey::to_pkcs8_der(key.inner()).map_err(TlsConfigError::Key)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        der.as_bytes().to_vec(),
    )))
}

/// Our certificate chain as presented in handshakes: the TLS certificate, then its issuer.
pub struct OwnTls {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: korpu_pki::key::SigningKey,
}

/// The server side's TLS configuration: client certificates are required and must chain to a
/// platform root.
pub fn server_config(
    own: &OwnTls,
    root_certs: &[Certificate],
) -> Result<rustls::ServerConfig, TlsConfigError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(root_certs)?),
        provider(),
    )
    .build()?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsConfigError::Rustls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(own.chain.clone(), key_der(&own.key)?)
        .map_err(TlsConfigError::KeyMismatch)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Verifies a provider gateway's certificate: the usual chain and name checks, then the pin.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    pins: Vec<String>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let fingerprint = hex::encode(Sha256::digest(end_entity.as_ref()));
        // The pin is what makes a certificate *this* gateway's: a valid platform certificate
        // of another member must not be able to impersonate it.
        if !self.pins.contains(&fingerprint) {
            return Err(rustls::Error::General(format!(
                "the gateway's certificate (SHA-256 {fingerprint}) is not the one the global configuration pins for it"
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client side's TLS configuration for calling one gateway whose certificate must have one
/// of `pins`.
pub fn client_config(
    own: &OwnTls,
    root_certs: &[Certificate],
    pins: Vec<String>,
) -> Result<rustls::ClientConfig, TlsConfigError> {
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(root_certs)?),
        provider(),
    )
    .build()?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsConfigError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier { inner, pins }))
        .with_client_auth_cert(own.chain.clone(), key_der(&own.key)?)
        .map_err(TlsConfigError::KeyMismatch)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Accepts any client certificate whose holder proves possession of its key; *which*
/// certificates are acceptable is decided per client subsystem by its pinned fingerprints, as
/// X-Road does for information systems (their certificates are often self-signed).
#[derive(Debug)]
struct PinnedLaterClientVerifier(Arc<rustls::crypto::CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for PinnedLaterClientVerifier {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    korpu_net::provider_signature_checks!();
}

/// The TLS client side's configuration (for information systems): our gateway certificate,
/// a client certificate required, pinned per subsystem afterwards.
pub fn information_system_config(own: &OwnTls) -> Result<rustls::ServerConfig, TlsConfigError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsConfigError::Rustls)?
        .with_client_cert_verifier(Arc::new(PinnedLaterClientVerifier(provider())))
        .with_single_cert(own.chain.clone(), key_der(&own.key)?)
        .map_err(TlsConfigError::KeyMismatch)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
