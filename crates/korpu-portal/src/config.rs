//! The portal's configuration file (TOML), every key overridable by `KORPU_PORTAL_<KEY>`
//! (e.g. `KORPU_PORTAL_OIDC_ISSUER`). `korpu portal serve --print-config` prints the effective
//! value of every key. The pattern is korpu-central's.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use korpu_service::config::ServiceConfig;

/// Configuration of `korpu portal serve`. Every field has a default; a file names only what
/// differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Where the portal listens (plain HTTP; put TLS in front, or it runs on loopback).
    /// Default `127.0.0.1:4600`.
    pub listen: SocketAddr,
    /// The base URL citizens' browsers use. Empty (the default): `http://{listen}`. When it is
    /// `https://…`, cookies are `Secure` and the session cookie is named `__Host-mygov`.
    pub public_url: String,
    /// Holds the SQLite database. Default `korpu-portal`.
    pub data_dir: PathBuf,
    /// `postgres://…` to keep portal state in PostgreSQL; empty (default): SQLite in
    /// `data_dir/portal.db`.
    pub database_url: String,
    /// The configuration anchor (`anchor.json` from the central registry) the global
    /// configuration is verified against. Required.
    pub anchor: PathBuf,
    /// How often the global configuration is downloaded, in seconds. Default 30.
    pub conf_refresh_secs: u64,
    /// The client side of the portal's gateway, e.g. `http://127.0.0.1:8084`, or its TLS
    /// client side (`client_tls_listen`), `https://…`, where the portal authenticates with
    /// `gateway_client_cert` (PR-REST §4.7). Required.
    pub gateway_url: String,
    /// PEM certificates an `https://` gateway's TLS certificate must chain to: the platform
    /// root (`certs/root.pem` of the central registry). Required with `https://`.
    pub gateway_ca: PathBuf,
    /// The portal's TLS client certificate (PEM) for its gateway, whose SHA-256 the gateway
    /// pins for the portal's subsystem under `[client_certificates]`. Empty (the default): none.
    pub gateway_client_cert: PathBuf,
    /// Its private key, PKCS#8 PEM, mode 0600 (refused when others can read it).
    pub gateway_client_key: PathBuf,
    /// The portal's own subsystem on the bridge, e.g. `AZ/GOV/1400004/mygov`. Required.
    pub client: String,
    /// The OpenID Connect issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    /// Empty with `dev_idp = true`: the built-in development provider at `{public_url}/dev-idp`.
    pub oidc_issuer: String,
    pub oidc_client_id: String,
    /// Empty: a public client (PKCE only, `token_endpoint_auth_method=none`); otherwise
    /// `client_secret_basic`.
    pub oidc_client_secret: String,
    /// The ID token claim holding the citizen's personal id. Default `sub`.
    pub oidc_id_claim: String,
    /// Serve the development identity provider at `/dev-idp` (never in production).
    pub dev_idp: bool,
    /// SMTP server (`host:port`) for e-mail notifications; empty (default): no e-mail.
    pub smtp_server: String,
    /// The From address of notification e-mails. Default `mygov@localhost`.
    pub mail_from: String,
    /// How long a session lasts without activity, in seconds. Default 1800.
    pub session_ttl_secs: u64,
    /// Sign-in attempts allowed per client IP per minute. Default 20.
    pub login_rate_per_minute: u32,
    /// How often open applications' status is asked from the agencies, in seconds. Default 5.
    pub status_refresh_secs: u64,
    /// Time limit for one call over the bridge or to the identity provider, in seconds.
    /// Default 20.
    pub upstream_timeout_secs: u64,
    /// Largest accepted form body, in bytes. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Longest time a connection may take to bring a complete request head after it opened
    /// (and, on HTTP/1, after its previous request), in seconds. Default 30.
    pub header_read_timeout_secs: u64,
    /// How long requests in flight may take to finish once the portal is asked to stop, in
    /// seconds; then the database is closed. Default 10.
    pub shutdown_grace_secs: u64,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4600".parse().expect("valid address"),
            public_url: String::new(),
            data_dir: PathBuf::from("korpu-portal"),
            database_url: String::new(),
            anchor: PathBuf::new(),
            conf_refresh_secs: 30,
            gateway_url: String::new(),
            gateway_ca: PathBuf::new(),
            gateway_client_cert: PathBuf::new(),
            gateway_client_key: PathBuf::new(),
            client: String::new(),
            oidc_issuer: String::new(),
            oidc_client_id: "mygov".into(),
            oidc_client_secret: String::new(),
            oidc_id_claim: "sub".into(),
            dev_idp: false,
            smtp_server: String::new(),
            mail_from: "mygov@localhost".into(),
            session_ttl_secs: 1800,
            login_rate_per_minute: 20,
            status_refresh_secs: 5,
            upstream_timeout_secs: 20,
            max_body_bytes: 64 << 10,
            header_read_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

/// A configuration that could not be used (shared by every Körpü server).
pub use korpu_service::ConfigError;

/// Loading, `KORPU_PORTAL_*` overrides and `--print-config` come from [`ServiceConfig`].
impl ServiceConfig for PortalConfig {
    const ENV_PREFIX: &'static str = "KORPU_PORTAL_";

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| ConfigError::invalid(origin, message);
        if self.conf_refresh_secs == 0
            || self.status_refresh_secs == 0
            || self.session_ttl_secs == 0
            || self.upstream_timeout_secs == 0
            || self.max_body_bytes == 0
            || self.header_read_timeout_secs == 0
        {
            return Err(bad(
                "conf_refresh_secs, status_refresh_secs, session_ttl_secs, upstream_timeout_secs, \
                 max_body_bytes and header_read_timeout_secs must be positive"
                    .into(),
            ));
        }
        if !self.client.is_empty() {
            self.client
                .parse::<korpu_id::ClientId>()
                .map_err(|e| bad(format!("client: {e}")))?;
        }
        if self.oidc_id_claim.is_empty() {
            return Err(bad(
                "oidc_id_claim must name an ID token claim, e.g. sub".into()
            ));
        }
        Ok(())
    }
}

impl PortalConfig {
    /// Checks what serving needs beyond parsing: the anchor, gateway and an identity provider.
    pub fn check_servable(&self) -> Result<(), ConfigError> {
        let bad = |message: &str| ConfigError::Invalid {
            origin: "configuration".into(),
            message: message.into(),
        };
        if self.anchor.as_os_str().is_empty() {
            return Err(bad("anchor must name the central registry's anchor.json"));
        }
        if self.gateway_url.is_empty() || self.client.is_empty() {
            return Err(bad(
                "gateway_url and client must name the portal's gateway and subsystem",
            ));
        }
        if self.oidc_issuer.is_empty() && !self.dev_idp {
            return Err(bad(
                "oidc_issuer must name an OpenID provider (or set dev_idp = true for development)",
            ));
        }
        if self.gateway_url.starts_with("https://") && self.gateway_ca.as_os_str().is_empty() {
            return Err(bad(
                "gateway_ca must name the PEM roots an https:// gateway_url is verified against",
            ));
        }
        if self.gateway_client_cert.as_os_str().is_empty()
            != self.gateway_client_key.as_os_str().is_empty()
        {
            return Err(bad(
                "gateway_client_cert and gateway_client_key go together",
            ));
        }
        Ok(())
    }

    pub fn effective_public_url(&self) -> String {
        korpu_service::config::public_url_or(&self.public_url, self.listen)
    }

    pub fn effective_database_url(&self) -> String {
        korpu_service::db::url_or_sqlite(&self.database_url, &self.data_dir.join("portal.db"))
    }

    /// The issuer actually used: the configured one, or the development provider.
    pub fn effective_issuer(&self) -> String {
        if self.oidc_issuer.is_empty() {
            format!("{}/dev-idp", self.effective_public_url())
        } else {
            self.oidc_issuer.trim_end_matches('/').to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_env_overrides_and_mistakes() {
        let c = PortalConfig::from_toml_with_env("", "t", std::iter::empty()).unwrap();
        assert_eq!(c, PortalConfig::default());
        let env = [
            ("KORPU_PORTAL_DEV_IDP".to_string(), "true".to_string()),
            (
                "KORPU_PORTAL_OIDC_ISSUER".to_string(),
                "http://127.0.0.1:9/".to_string(),
            ),
        ];
        let c =
            PortalConfig::from_toml_with_env("client = \"AZ/GOV/1/mygov\"", "f", env.into_iter())
                .unwrap();
        assert!(c.dev_idp);
        assert_eq!(c.effective_issuer(), "http://127.0.0.1:9");
        let err = PortalConfig::from_toml_with_env("lisen = 1", "f.toml", std::iter::empty())
            .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = PortalConfig::from_toml_with_env("client = \"bad id\"", "f", std::iter::empty())
            .unwrap_err();
        assert!(err.to_string().contains("client"), "{err}");
        assert!(PortalConfig::default().check_servable().is_err());
    }
}
