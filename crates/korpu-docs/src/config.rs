//! The document exchange server's configuration file (TOML), with every key overridable by an
//! environment variable `KORPU_DOCS_<KEY>` (e.g. `KORPU_DOCS_DATABASE_URL`).
//!
//! `korpu docs serve --print-config` prints the effective value of every key. Relative paths
//! are taken as they are (relative to the working directory), like the other Körpü servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::DocsError;

pub use korpu_service::config::{ConfigError, ServiceConfig};

/// Configuration of `korpu docs serve`. Every field but `subsystem` and `gateway_url` has a
/// default; a file need name only what differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocsConfig {
    /// This organisation's document exchange subsystem, e.g. `AZ/GOV/1400002/docs`. It
    /// provides the service `dx` and is the X-Road client of other organisations' `dx`.
    pub subsystem: String,
    /// The client side of this organisation's gateway, e.g. `http://127.0.0.1:8080`.
    pub gateway_url: String,
    /// The local API (JSON over HTTP, bearer token), for `korpu docs` and the organisation's
    /// own systems. Keep it on loopback. Default `127.0.0.1:4470`.
    pub api_listen: SocketAddr,
    /// Where the gateway delivers documents and receipts (the `dx` service's address in the
    /// gateway's `[services]`). Default `127.0.0.1:4471`.
    pub dx_listen: SocketAddr,
    /// Holds the SQLite database, the local blob directory and the API token by default.
    /// Default `korpu-docs`.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty (the default) for SQLite in `data_dir/docs.db`.
    pub database_url: String,
    /// Where blobs go: empty (the default) for the directory `data_dir/blobs`, a path for
    /// another directory, or `s3://bucket/prefix` (needs the `s3` cargo feature; credentials
    /// from the usual `AWS_*` variables).
    pub object_store: String,
    /// The bearer token file of the local API (created with mode 0600 when missing).
    /// Empty (the default) means `data_dir/api-token`.
    pub api_token_file: PathBuf,
    /// The organisation's signing key (PKCS#8 PEM, mode 0600). Default `data_dir/sign.p8`.
    pub key: PathBuf,
    /// Its member signing certificate from the central registry
    /// (`korpu central cert issue --kind signing`). Default `data_dir/sign.pem`.
    pub cert: PathBuf,
    /// CA certificates to embed with signatures. Default `data_dir/sign.pem.chain.pem` (what
    /// `korpu central cert issue --out sign.pem` writes beside the certificate).
    pub chain: PathBuf,
    /// Trust anchors (PEM) against which other organisations' signatures are validated: the
    /// central registry's root, `certs/root.pem`. Default `data_dir/trust.pem`.
    pub trust_anchors: PathBuf,
    /// Most attachments per document. Default 20.
    pub max_attachments: usize,
    /// Largest attachment, in bytes. Default 32 MiB.
    pub max_attachment_bytes: u64,
    /// Largest container accepted from the bridge, in bytes. Default 128 MiB.
    pub max_container_bytes: u64,
    /// Retention class given to documents that name none. Default `10y`.
    pub default_retention: String,
    /// Time limit for one call through the gateway, in seconds. Default 60.
    pub bridge_timeout_secs: u64,
    /// Seconds a connection to either listener may take to deliver a request head (the first
    /// one included, so a connection that sends nothing is closed too). Default 30.
    pub header_read_timeout_secs: u64,
    /// How long requests in flight may take to finish once the server is asked to stop, in
    /// seconds; then the database is closed. Default 10.
    pub shutdown_grace_secs: u64,
}

impl Default for DocsConfig {
    fn default() -> Self {
        Self {
            subsystem: String::new(),
            gateway_url: String::new(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 4470)),
            dx_listen: SocketAddr::from(([127, 0, 0, 1], 4471)),
            data_dir: PathBuf::from("korpu-docs"),
            database_url: String::new(),
            object_store: String::new(),
            api_token_file: PathBuf::new(),
            key: PathBuf::new(),
            cert: PathBuf::new(),
            chain: PathBuf::new(),
            trust_anchors: PathBuf::new(),
            max_attachments: 20,
            max_attachment_bytes: 32 << 20,
            max_container_bytes: 128 << 20,
            default_retention: "10y".into(),
            bridge_timeout_secs: 60,
            header_read_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

/// Loading, `KORPU_DOCS_*` overrides and `--print-config` come from [`ServiceConfig`].
impl ServiceConfig for DocsConfig {
    const ENV_PREFIX: &'static str = "KORPU_DOCS_";

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::invalid(origin, message);
        self.subsystem
            .parse::<korpu_id::SubsystemId>()
            .map_err(|e| {
                bad(format!(
                    "subsystem {:?}: {e} (e.g. AZ/GOV/1400002/docs)",
                    self.subsystem
                ))
            })?;
        if !self.gateway_url.starts_with("http://") && !self.gateway_url.starts_with("https://") {
            return Err(bad(format!(
                "gateway_url {:?} must be the gateway's client URL, e.g. http://127.0.0.1:8080",
                self.gateway_url
            )));
        }
        if self.max_attachments == 0
            || self.max_attachment_bytes == 0
            || self.bridge_timeout_secs == 0
            || self.header_read_timeout_secs == 0
        {
            return Err(bad(
                "max_attachments, max_attachment_bytes, bridge_timeout_secs and \
                 header_read_timeout_secs must be positive"
                    .into(),
            ));
        }
        crate::retention::Retention::parse(&self.default_retention)
            .map_err(|e| bad(format!("default_retention: {e}")))?;
        Ok(())
    }
}

impl DocsConfig {
    /// [`ServiceConfig::load`], its error as [`DocsError::Config`].
    pub fn load(path: Option<&Path>) -> Result<Self, DocsError> {
        <Self as ServiceConfig>::load(path).map_err(|e| DocsError::Config(e.to_string()))
    }

    fn or_default(p: &Path, dir: &Path, name: &str) -> PathBuf {
        if p.as_os_str().is_empty() {
            dir.join(name)
        } else {
            p.to_owned()
        }
    }

    /// The database URL actually used.
    pub fn effective_database_url(&self) -> String {
        korpu_service::db::url_or_sqlite(&self.database_url, &self.data_dir.join("docs.db"))
    }

    /// The API token file actually used.
    pub fn token_path(&self) -> PathBuf {
        Self::or_default(&self.api_token_file, &self.data_dir, "api-token")
    }

    /// The signing key actually used.
    pub fn key_path(&self) -> PathBuf {
        Self::or_default(&self.key, &self.data_dir, "sign.p8")
    }

    /// The signing certificate actually used.
    pub fn cert_path(&self) -> PathBuf {
        Self::or_default(&self.cert, &self.data_dir, "sign.pem")
    }

    /// The chain file actually used.
    pub fn chain_path(&self) -> PathBuf {
        if self.chain.as_os_str().is_empty() {
            let mut p = self.cert_path().into_os_string();
            p.push(".chain.pem");
            PathBuf::from(p)
        } else {
            self.chain.clone()
        }
    }

    /// The trust anchors file actually used.
    pub fn trust_path(&self) -> PathBuf {
        Self::or_default(&self.trust_anchors, &self.data_dir, "trust.pem")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_checks() {
        let text = "subsystem = \"AZ/GOV/1400002/docs\"\ngateway_url = \"http://127.0.0.1:1\"\n";
        let env = [("KORPU_DOCS_MAX_ATTACHMENTS".to_string(), "3".to_string())];
        let c = DocsConfig::from_toml_with_env(text, "t", env.into_iter()).unwrap();
        assert_eq!(c.max_attachments, 3);
        assert!(c.effective_database_url().starts_with("sqlite:"));
        let env = [("KORPU_DOCS_NOPE".to_string(), "1".to_string())];
        let err = DocsConfig::from_toml_with_env(text, "t", env.into_iter()).unwrap_err();
        assert!(err.to_string().contains("KORPU_DOCS_NOPE"), "{err}");
        let err = DocsConfig::from_toml_with_env("subsystem = \"x\"", "t", std::iter::empty())
            .unwrap_err();
        assert!(err.to_string().contains("subsystem"), "{err}");
        let bad_ret = format!("{text}default_retention = \"forever\"\n");
        assert!(DocsConfig::from_toml_with_env(&bad_ret, "t", std::iter::empty()).is_err());
    }
}
