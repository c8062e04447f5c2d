//! The central registry's configuration file (TOML), with every key overridable by an
//! environment variable `KORPU_CENTRAL_<KEY>` (e.g. `KORPU_CENTRAL_DATABASE_URL`).
//!
//! `korpu central serve --print-config` prints the effective value of every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use korpu_service::config::ServiceConfig;

/// Configuration of `korpu central`. Every field has a default; a file need name only what
/// differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CentralConfig {
    /// The X-Road instance this registry serves, e.g. `AZ`. Default `AZ`.
    pub instance: String,
    /// Holds `keys/`, `certs/`, `anchor.json`, `admin-token` and the SQLite database.
    /// Default `korpu-central` (relative to the working directory).
    pub data_dir: PathBuf,
    /// `postgres://…` to keep the registry in PostgreSQL; empty (the default) for SQLite in
    /// `data_dir/registry.db`.
    pub database_url: String,
    /// Connections the registry keeps to its database at most; 0 (the default) for the
    /// backend's default (SQLite 4, PostgreSQL 10).
    pub database_max_connections: u32,
    /// How long a request waits for a free database connection before failing, in seconds.
    /// Default 30.
    pub database_acquire_timeout_secs: u64,
    /// Address of the management API (HTTPS, administrator token required).
    /// Default `127.0.0.1:4400`.
    pub management_listen: SocketAddr,
    /// Address of the public endpoints (plain HTTP; everything served is signed):
    /// `/conf`, `/anchor`, `/ocsp`, `/tsa`, `/health`. Default `127.0.0.1:4401`.
    pub public_listen: SocketAddr,
    /// The base URL by which gateways reach the public endpoints, written into the global
    /// configuration and into certificates (OCSP URL). Empty (the default) means
    /// `http://{public_listen}`.
    pub public_url: String,
    /// Extra DNS names or IP addresses for the management API's TLS certificate, used when the
    /// PKI is created by `korpu central init`. `localhost` and `127.0.0.1` are always included.
    pub tls_names: Vec<String>,
    /// Lifetime of each signed global configuration, in seconds. Default 600.
    pub conf_validity_secs: u64,
    /// How often the configuration is re-signed (and changes published), in seconds; must be
    /// well below `conf_validity_secs`. Default 60.
    pub conf_refresh_secs: u64,
    /// Validity of issued member and gateway certificates, in days. Default 365.
    pub leaf_cert_validity_days: u64,
    /// How long an OCSP response may be cached (its nextUpdate), in seconds. Default 3600.
    pub ocsp_validity_secs: u64,
    /// The RFC 3161 policy OID of the time-stamping authority.
    pub tsa_policy: String,
    /// Time-stamps each client address may ask `/tsa` for per second, on average; beyond
    /// that it is answered 429 with `Retry-After`. Default 20 (gateways stamp a checkpoint
    /// every few seconds each; many share an address behind NAT).
    pub tsa_requests_per_second: f64,
    /// ... and at once, after a pause. Default 200.
    pub tsa_burst: u32,
    /// Largest accepted request body on either listener, in bytes. Default 4 MiB.
    pub max_body_bytes: usize,
    /// Time limit for handling one request, in seconds. Default 30.
    pub request_timeout_secs: u64,
    /// Longest time from accepting a connection to the end of its TLS handshake (management
    /// API), in seconds. Default 10.
    pub tls_handshake_timeout_secs: u64,
    /// Longest time a connection may take to bring a complete request head after it opened
    /// (and, on HTTP/1, after its previous request), on both listeners, in seconds.
    /// Default 30.
    pub header_read_timeout_secs: u64,
    /// After SIGTERM or SIGINT: how long requests in flight may take to finish before their
    /// connections are cut, in seconds. Default 10.
    pub shutdown_grace_secs: u64,
}

impl Default for CentralConfig {
    fn default() -> Self {
        Self {
            instance: "AZ".into(),
            data_dir: PathBuf::from("korpu-central"),
            database_url: String::new(),
            database_max_connections: 0,
            database_acquire_timeout_secs: 30,
            management_listen: "127.0.0.1:4400".parse().expect("valid address"),
            public_listen: "127.0.0.1:4401".parse().expect("valid address"),
            public_url: String::new(),
            tls_names: Vec::new(),
            conf_validity_secs: 600,
            conf_refresh_secs: 60,
            leaf_cert_validity_days: 365,
            ocsp_validity_secs: 3600,
            tsa_policy: crate::pki::DEFAULT_TSA_POLICY.into(),
            tsa_requests_per_second: 20.0,
            tsa_burst: 200,
            max_body_bytes: 4 << 20,
            request_timeout_secs: 30,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

/// A configuration file that could not be used (shared by every Körpü server).
pub use korpu_service::ConfigError;

impl ServiceConfig for CentralConfig {
    const ENV_PREFIX: &'static str = "KORPU_CENTRAL_";

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        korpu_id::InstanceId::new(&self.instance).map_err(|e| bad(format!("instance: {e}")))?;
        if self.conf_refresh_secs == 0 || self.conf_refresh_secs * 2 > self.conf_validity_secs {
            return Err(bad(format!(
                "conf_refresh_secs ({}) must be at least 1 and at most half of conf_validity_secs ({}), \
                 so gateways always get a fresh configuration before theirs expires",
                self.conf_refresh_secs, self.conf_validity_secs
            )));
        }
        if self.tsa_requests_per_second.is_nan()
            || self.tsa_requests_per_second <= 0.0
            || self.tsa_burst == 0
        {
            return Err(bad(format!(
                "tsa_requests_per_second ({}) and tsa_burst ({}) must be positive",
                self.tsa_requests_per_second, self.tsa_burst
            )));
        }
        if self.max_body_bytes == 0
            || self.request_timeout_secs == 0
            || self.tls_handshake_timeout_secs == 0
            || self.header_read_timeout_secs == 0
            || self.database_acquire_timeout_secs == 0
        {
            return Err(bad(
                "max_body_bytes, request_timeout_secs, tls_handshake_timeout_secs, header_read_timeout_secs and database_acquire_timeout_secs must be positive".into(),
            ));
        }
        Ok(())
    }
}

impl CentralConfig {
    /// Reads `path` (if given) over the defaults, then applies `KORPU_CENTRAL_*` variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        <Self as ServiceConfig>::load(path)
    }

    /// The database URL actually used.
    pub fn effective_database_url(&self) -> String {
        korpu_service::db::url_or_sqlite(&self.database_url, &self.data_dir.join("registry.db"))
    }

    /// The database pool's limits: the store's defaults with the configured overrides.
    pub fn pool_limits(&self) -> korpu_service::db::PoolLimits {
        let mut limits = crate::store::POOL_LIMITS;
        if self.database_max_connections > 0 {
            limits.sqlite_max_connections = self.database_max_connections;
            limits.postgres_max_connections = self.database_max_connections;
        }
        limits.acquire_timeout = std::time::Duration::from_secs(self.database_acquire_timeout_secs);
        limits
    }

    /// The public base URL actually used.
    pub fn effective_public_url(&self) -> String {
        korpu_service::config::public_url_or(&self.public_url, self.public_listen)
    }

    /// Where the administrator token written by `init` is kept.
    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join("admin-token")
    }

    /// Where the configuration anchor is written.
    pub fn anchor_path(&self) -> PathBuf {
        self.data_dir.join("anchor.json")
    }

    /// The root CA certificate, which clients of the management API trust.
    pub fn root_cert_path(&self) -> PathBuf {
        self.data_dir.join("certs").join("root.pem")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_print() {
        let c = CentralConfig::from_toml_with_env("", "test", std::iter::empty()).unwrap();
        assert_eq!(c, CentralConfig::default());
        assert!(c.to_toml().contains("conf_validity_secs = 600"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = [
            (
                "KORPU_CENTRAL_DATABASE_URL".to_string(),
                "postgres://x/y".to_string(),
            ),
            (
                "KORPU_CENTRAL_CONF_REFRESH_SECS".to_string(),
                "30".to_string(),
            ),
            ("OTHER".to_string(), "ignored".to_string()),
        ];
        let c =
            CentralConfig::from_toml_with_env("instance = \"EE\"", "f", env.into_iter()).unwrap();
        assert_eq!(c.instance, "EE");
        assert_eq!(c.database_url, "postgres://x/y");
        assert_eq!(c.conf_refresh_secs, 30);
    }

    #[test]
    fn mistakes_are_named() {
        let err =
            CentralConfig::from_toml_with_env("instanse = \"EE\"", "f.toml", std::iter::empty())
                .unwrap_err();
        assert!(err.to_string().contains("instanse"), "{err}");
        let env = [("KORPU_CENTRAL_NOPE".to_string(), "1".to_string())];
        let err = CentralConfig::from_toml_with_env("", "f", env.into_iter()).unwrap_err();
        assert!(err.to_string().contains("KORPU_CENTRAL_NOPE"), "{err}");
        let err =
            CentralConfig::from_toml_with_env("conf_refresh_secs = 500", "f", std::iter::empty())
                .unwrap_err();
        assert!(err.to_string().contains("half"), "{err}");
    }

    #[test]
    fn pool_limits_follow_the_configuration() {
        let toml = "database_max_connections = 3\ndatabase_acquire_timeout_secs = 7";
        let c = CentralConfig::from_toml_with_env(toml, "f", std::iter::empty()).unwrap();
        let l = c.pool_limits();
        assert_eq!(
            (l.sqlite_max_connections, l.postgres_max_connections),
            (3, 3)
        );
        assert_eq!(l.acquire_timeout, std::time::Duration::from_secs(7));
        assert_eq!(
            CentralConfig::default().pool_limits(),
            crate::store::POOL_LIMITS
        );
    }
}
