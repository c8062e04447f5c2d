//! The gateway's configuration file (TOML), every key overridable by `KORPU_GATEWAY_<KEY>`.
//! `korpu gateway serve --print-config` prints the effective values.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use korpu_service::config::ServiceConfig;

/// The largest `max_header_bytes`: what provider gateways accept
/// ([`crate::limits::PEER_HEADER_LIST_BYTES`]) less room for the headers a gateway adds (its
/// signature, certificate and OCSP responses, about 3 KB).
const MAX_HEADER_BYTES_LIMIT: usize = crate::limits::PEER_HEADER_LIST_BYTES - (16 << 10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// This gateway's identifier, INSTANCE/CLASS/MEMBER/GATEWAY. Required.
    pub gateway: String,
    /// The configuration anchor file from the central registry. Default `anchor.json`.
    pub anchor: PathBuf,
    /// Holds the keys (`sign.p8`, `sign.pem`, `tls.p8`, `tls.pem`), the last good global
    /// configuration and the exchange record. Default `korpu-gateway`.
    pub data_dir: PathBuf,
    /// Where local information systems connect (HTTP, X-Road REST). Default `127.0.0.1:8080`.
    pub client_listen: SocketAddr,
    /// Where other gateways connect (HTTP/2 over mutual TLS 1.3). Default `0.0.0.0:5500`.
    pub server_listen: SocketAddr,
    /// Networks (CIDR) from which information systems may use the plain-HTTP client side.
    /// Default loopback only.
    pub client_networks: Vec<String>,
    /// Where information systems connect over TLS with a client certificate (PR-REST §4.7),
    /// e.g. `0.0.0.0:8443`. Unset (the default): no TLS client side.
    pub client_tls_listen: Option<SocketAddr>,
    /// Client subsystems that must connect over TLS: client id → SHA-256 (hex) of each
    /// certificate its information systems may present (self-signed is fine: the pin is the
    /// trust). A client listed here is refused on the plain-HTTP side.
    pub client_certificates: BTreeMap<String, Vec<String>>,
    /// Services this gateway provides: service id → the information system's base URL
    /// (`http://…`), to which the request's path and query are appended; or
    /// `korpu:subject-accesses` for a service this gateway answers itself from its evidence
    /// ledger's subject index (the data tracker; register the service with its data subject
    /// in the query parameter `subject`), answered only to the subject; or
    /// `korpu:subject-accesses-audit`, the same for auditors: any subject, to whoever the
    /// service's access rights allow, with the auditor named in `X-Road-UserId`.
    pub services: BTreeMap<String, String>,
    /// How often the global configuration is downloaded, in seconds. Default 30.
    pub conf_refresh_secs: u64,
    /// How often this gateway renews the OCSP responses for its own certificates, which it
    /// staples to every message, in seconds. Default 60.
    pub ocsp_refresh_secs: u64,
    /// The oldest OCSP response (by its thisUpdate) a gateway accepts from a peer, in seconds.
    /// Default 600.
    pub ocsp_max_age_secs: u64,
    /// Largest request or response body, in bytes. Default 1 GiB.
    pub max_body_bytes: u64,
    /// Bodies up to this size are held in memory; larger ones are spooled to a temporary file,
    /// so memory stays bounded whatever the body size. Default 1 MiB.
    pub memory_spool_bytes: usize,
    /// Connecting to another gateway, in seconds. Default 5.
    pub connect_timeout_secs: u64,
    /// Waiting for the provider's information system to answer, in seconds. Default 60.
    pub provider_timeout_secs: u64,
    /// Most exchanges each side handles at once, the client side (local information systems)
    /// and the provider side (other gateways) counted apart, so load on one cannot stall the
    /// other; more wait. Default 1024.
    pub max_concurrent_exchanges: usize,
    /// Most exchanges one client subsystem may have in progress on the client side; more of
    /// its requests wait (before their bodies are read) without holding the side's places.
    /// Default 256.
    pub max_concurrent_per_client: usize,
    /// Most exchanges one calling gateway may have in progress on the provider side; more
    /// wait. Default 512.
    pub max_concurrent_per_peer: usize,
    /// Longest time to receive a whole request or response body, in seconds: a body that
    /// trickles in slower is cut, with an error to its sender. A `Content-Length` over
    /// `max_body_bytes` is refused before the body is read. Default 300.
    pub body_timeout_secs: u64,
    /// Largest header list a local information system may send, in bytes counted as HTTP/2
    /// does (name + value + 32 per field); larger requests are refused with
    /// `Client.BadRequest` before anything reaches the connection to the provider's gateway,
    /// which all callers share. At most 49152. Default 16384.
    pub max_header_bytes: usize,
    /// Most header fields a local information system may send. Default 100.
    pub max_header_count: usize,
    /// Longest time from accepting a connection to the end of its TLS handshake, on the
    /// provider side and the TLS client side, in seconds. Default 10.
    pub tls_handshake_timeout_secs: u64,
    /// Longest time a connection may take to bring a complete request head after it opened
    /// (and, on HTTP/1, after its previous request), on every listener, in seconds; an HTTP/2
    /// connection that stops answering pings for this long is closed too. Default 30.
    pub header_read_timeout_secs: u64,
    /// HTTP/2 connections kept to each other gateway, used in turn. Default 0: one per CPU
    /// core (each connection's TLS and framing run on one task at a time).
    pub peer_connections: usize,
    /// The longest the signer collects messages for one batch, in microseconds: messages
    /// signed together share one ECDSA signature over their Merkle root (`korpu_pki::batch`),
    /// which the receiving gateway also verifies once per batch. The signer collects only what
    /// the tasks ready to run bring, round by round, and stops at the first round that brings
    /// none, so a lone exchange is signed at once; 0 signs every message alone. Default 2000.
    pub sign_batch_window_us: u64,
    /// Most messages in one signing batch. Default 256.
    pub sign_batch_max: usize,
    /// The evidence ledger signs and time-stamps a checkpoint at least this often while
    /// exchanges arrive, in seconds; a record is provable (evidence, data tracker) once a
    /// checkpoint covers it. Default 10.
    pub ledger_checkpoint_secs: u64,
    /// Where the ledger archives sealed segments as self-contained archives: a directory, or
    /// an `s3://bucket/prefix` URL when built with S3 support. Empty (the default):
    /// `DATA_DIR/ledger-archive`; `none`: no archiving.
    pub ledger_archive: String,
    /// Size of the ledger's segment files in bytes; a full segment is sealed and archived.
    /// Default 64 MiB.
    pub ledger_segment_bytes: u64,
    /// Services (ids) provided here whose request and response bodies this gateway keeps,
    /// encrypted with AES-256-GCM under `DATA_DIR/body.key` in `DATA_DIR/bodies`, named in
    /// the records by their SHA-256. Default: none — bodies are not stored.
    pub keep_bodies: Vec<String>,
    /// Largest body a keeping service may exchange (it is encrypted in memory), in bytes;
    /// larger ones are refused. Default 16 MiB.
    pub keep_bodies_max_bytes: u64,
    /// The provider side accepts a signed request only if it was created at most this long
    /// ago, and only once per message id within it (replay protection), in seconds.
    /// Default 300.
    pub replay_window_secs: u64,
    /// How far other gateways' clocks may be ahead of (or behind, on top of the window) ours,
    /// in seconds. Default 30.
    pub max_clock_skew_secs: u64,
    /// Most message ids the replay guard remembers at once (about 40 bytes each); when full,
    /// new requests are refused until old ids leave the window. Default 10,000,000.
    pub replay_max_ids: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            gateway: String::new(),
            anchor: PathBuf::from("anchor.json"),
            data_dir: PathBuf::from("korpu-gateway"),
            client_listen: "127.0.0.1:8080".parse().expect("valid"),
            server_listen: "0.0.0.0:5500".parse().expect("valid"),
            client_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            client_tls_listen: None,
            client_certificates: BTreeMap::new(),
            services: BTreeMap::new(),
            conf_refresh_secs: 30,
            ocsp_refresh_secs: 60,
            ocsp_max_age_secs: 600,
            max_body_bytes: 1 << 30,
            memory_spool_bytes: 1 << 20,
            connect_timeout_secs: 5,
            provider_timeout_secs: 60,
            max_concurrent_exchanges: 1024,
            max_concurrent_per_client: 256,
            max_concurrent_per_peer: 512,
            body_timeout_secs: 300,
            max_header_bytes: 16 << 10,
            max_header_count: 100,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 30,
            peer_connections: 0,
            sign_batch_window_us: 2000,
            sign_batch_max: 256,
            ledger_checkpoint_secs: 10,
            ledger_archive: String::new(),
            ledger_segment_bytes: 64 << 20,
            keep_bodies: Vec::new(),
            keep_bodies_max_bytes: 16 << 20,
            replay_window_secs: 300,
            max_clock_skew_secs: 30,
            replay_max_ids: 10_000_000,
        }
    }
}

/// A configuration file that could not be used (shared by every Körpü server).
pub use korpu_service::ConfigError;

/// Loading, `KORPU_GATEWAY_*` overrides and `--print-config` come from
/// [`ServiceConfig`]; a nested table (`services`, `client_certificates`) is overridden as a
/// whole, by an inline table.
impl ServiceConfig for GatewayConfig {
    const ENV_PREFIX: &'static str = "KORPU_GATEWAY_";

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::invalid(origin, message);
        let config = self;
        config
            .gateway
            .parse::<korpu_id::GatewayId>()
            .map_err(|e| bad(format!("gateway: {e}")))?;
        for n in &config.client_networks {
            parse_cidr(n).map_err(|e| bad(format!("client_networks: {e}")))?;
        }
        for (client, pins) in &config.client_certificates {
            client
                .parse::<korpu_id::ClientId>()
                .map_err(|e| bad(format!("client_certificates: {client:?}: {e}")))?;
            if let Some(p) = pins
                .iter()
                .find(|p| p.len() != 64 || !p.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(bad(format!(
                    "client_certificates: {client}: {p:?} is not a hex SHA-256"
                )));
            }
        }
        for (service, url) in &config.services {
            service
                .parse::<korpu_id::ServiceId>()
                .map_err(|e| bad(format!("services: {service:?}: {e}")))?;
            if !url.starts_with("http://")
                && url != crate::gateway::SUBJECT_ACCESSES_BACKEND
                && url != crate::gateway::SUBJECT_ACCESSES_AUDIT_BACKEND
            {
                return Err(bad(format!(
                    "services: {service}: {url:?} must be an http:// URL, {:?} or {:?}",
                    crate::gateway::SUBJECT_ACCESSES_BACKEND,
                    crate::gateway::SUBJECT_ACCESSES_AUDIT_BACKEND
                )));
            }
        }
        if config.max_header_bytes > MAX_HEADER_BYTES_LIMIT {
            return Err(bad(format!(
                "max_header_bytes ({}) must be at most {MAX_HEADER_BYTES_LIMIT}: with the gateway's own headers, a request must fit the header list that provider gateways accept ({} bytes)",
                config.max_header_bytes,
                crate::limits::PEER_HEADER_LIST_BYTES
            )));
        }
        for (name, v) in [
            (
                "max_concurrent_exchanges",
                config.max_concurrent_exchanges as u64,
            ),
            (
                "max_concurrent_per_client",
                config.max_concurrent_per_client as u64,
            ),
            (
                "max_concurrent_per_peer",
                config.max_concurrent_per_peer as u64,
            ),
            ("body_timeout_secs", config.body_timeout_secs),
            (
                "tls_handshake_timeout_secs",
                config.tls_handshake_timeout_secs,
            ),
            ("header_read_timeout_secs", config.header_read_timeout_secs),
        ] {
            if v == 0 {
                return Err(bad(format!("{name} must be at least 1")));
            }
        }
        for service in &config.keep_bodies {
            service
                .parse::<korpu_id::ServiceId>()
                .map_err(|e| bad(format!("keep_bodies: {service:?}: {e}")))?;
        }
        Ok(())
    }
}

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Why a network (`ADDRESS/PREFIX`) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not ADDRESS/PREFIX")]
    Address(String),
    #[error("{0:?}: bad prefix")]
    Prefix(String),
    #[error("{text:?}: prefix longer than {max}")]
    PrefixTooLong { text: String, max: u8 },
}

pub fn parse_cidr(s: &str) -> Result<Cidr, CidrError> {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let addr: IpAddr = a.parse().map_err(|_| CidrError::Address(s.to_owned()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if p.is_empty() {
        max
    } else {
        p.parse::<u8>()
            .map_err(|_| CidrError::Prefix(s.to_owned()))?
    };
    if prefix > max {
        return Err(CidrError::PrefixTooLong {
            text: s.to_owned(),
            max,
        });
    }
    Ok(Cidr { addr, prefix })
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match() {
        let n = parse_cidr("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(parse_cidr("127.0.0.0/8")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(parse_cidr("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert_eq!(
            parse_cidr("1.2.3.4/33"),
            Err(CidrError::PrefixTooLong {
                text: "1.2.3.4/33".into(),
                max: 32
            })
        );
        assert_eq!(
            parse_cidr("1.2.3.4/x"),
            Err(CidrError::Prefix("1.2.3.4/x".into()))
        );
        assert_eq!(parse_cidr("nope"), Err(CidrError::Address("nope".into())));
    }

    #[test]
    fn a_gateway_id_is_required_and_services_are_checked() {
        assert!(GatewayConfig::from_toml_with_env("", "t", std::iter::empty()).is_err());
        let ok = "gateway = \"AZ/GOV/1/gw1\"\n[services]\n\"AZ/GOV/1/pop/persons\" = \"http://127.0.0.1:9000\"\n";
        let c = GatewayConfig::from_toml_with_env(ok, "t", std::iter::empty()).unwrap();
        assert_eq!(c.services.len(), 1);
        let bad = "gateway = \"AZ/GOV/1/gw1\"\n[services]\n\"AZ/GOV/1/pop\" = \"http://x\"\n";
        assert!(GatewayConfig::from_toml_with_env(bad, "t", std::iter::empty()).is_err());
        let env = [(
            "KORPU_GATEWAY_MAX_BODY_BYTES".to_string(),
            "1024".to_string(),
        )];
        let c = GatewayConfig::from_toml_with_env(ok, "t", env.into_iter()).unwrap();
        assert_eq!(c.max_body_bytes, 1024);
    }

    #[test]
    fn nested_tables_are_overridden_whole_by_inline_tables_and_still_checked() {
        let ok = "gateway = \"AZ/GOV/1/gw1\"\n[services]\n\"AZ/GOV/1/pop/persons\" = \"http://127.0.0.1:9000\"\n";
        let env = |k: &str, v: &str| [(format!("KORPU_GATEWAY_{k}"), v.to_string())].into_iter();
        let c = GatewayConfig::from_toml_with_env(
            ok,
            "t",
            env(
                "SERVICES",
                "{ \"AZ/GOV/1/tax/due\" = \"http://127.0.0.1:9001\" }",
            ),
        )
        .unwrap();
        assert_eq!(c.services.len(), 1);
        assert_eq!(
            c.services.get("AZ/GOV/1/tax/due").map(String::as_str),
            Some("http://127.0.0.1:9001")
        );
        let pin = "ab".repeat(32);
        let c = GatewayConfig::from_toml_with_env(
            ok,
            "t",
            env(
                "CLIENT_CERTIFICATES",
                &format!("{{ \"AZ/GOV/1/app\" = [\"{pin}\"] }}"),
            ),
        )
        .unwrap();
        assert_eq!(c.client_certificates["AZ/GOV/1/app"], vec![pin]);
        // The service's own checks still run on what the environment set.
        let e = GatewayConfig::from_toml_with_env(
            ok,
            "t",
            env("CLIENT_CERTIFICATES", "{ \"AZ/GOV/1/app\" = [\"nothex\"] }"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("client_certificates"), "{e}");
    }

    #[test]
    fn limits_and_timeouts_are_checked_settings() {
        let ok = "gateway = \"AZ/GOV/1/gw1\"\n";
        let c = GatewayConfig::from_toml_with_env(ok, "t", std::iter::empty()).unwrap();
        let text = c.to_toml();
        for key in [
            "max_concurrent_per_client = 256",
            "max_concurrent_per_peer = 512",
            "body_timeout_secs = 300",
            "max_header_bytes = 16384",
            "max_header_count = 100",
            "tls_handshake_timeout_secs = 10",
            "header_read_timeout_secs = 30",
        ] {
            assert!(text.contains(key), "--print-config lacks {key}");
        }
        let env = |k: &str, v: &str| [(format!("KORPU_GATEWAY_{k}"), v.to_string())].into_iter();
        let c = GatewayConfig::from_toml_with_env(ok, "t", env("MAX_CONCURRENT_PER_CLIENT", "4"))
            .unwrap();
        assert_eq!(c.max_concurrent_per_client, 4);
        let e = GatewayConfig::from_toml_with_env(ok, "t", env("MAX_HEADER_BYTES", "100000"))
            .unwrap_err();
        assert!(e.to_string().contains("max_header_bytes"), "{e}");
        let e = GatewayConfig::from_toml_with_env(ok, "t", env("HEADER_READ_TIMEOUT_SECS", "0"))
            .unwrap_err();
        assert!(e.to_string().contains("header_read_timeout_secs"), "{e}");
    }
}
