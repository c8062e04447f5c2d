//! The hub's configuration file (`korpu api serve --config hub.toml`): where it listens, its
//! public URL (the OAuth issuer identifier), and the registered applications with their keys.
//!
//! Deliberately not here: self-service registration through the developer portal (to come);
//! for now an operator registers an application by adding it to the file.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use korpu_oauth::{Client, Jwk};
use korpu_service::config::{ConfigError, ServiceConfig};
use serde::{Deserialize, Serialize};

use crate::quota::Limit;

/// The hub's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Where the hub listens. Default `127.0.0.1:8600`.
    pub listen: SocketAddr,
    /// The public base URL, which is the OAuth issuer identifier and the base of every
    /// endpoint (`{public_url}/oauth/token`, …). Default `http://` + `listen`.
    pub public_url: String,
    /// Access token lifetime, seconds. Default 300 (FAPI 2.0 wants short-lived tokens).
    pub access_token_secs: i64,
    /// Refresh token lifetime, seconds. Default 86400.
    pub refresh_token_secs: i64,
    /// Largest request body accepted on the OAuth endpoints, bytes. Default 16384.
    pub max_body_bytes: usize,
    /// Where rate-limit buckets live: `memory` (this process; the default) or a Redis URL
    /// (`redis://127.0.0.1:6379`) shared by every hub replica.
    pub quota_store: String,
    /// Each application's default bucket per API. Default 10 calls/s, bursts of 20.
    pub rate_limit: Limit,
    /// The registered applications.
    pub applications: Vec<Application>,
}

/// One company's registered application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The `client_id`.
    pub client_id: String,
    /// The company's name as registered (shown to citizens, never taken from the client).
    pub name: String,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A JWK Set file (`{"keys": [...]}`) with the application's public keys for
    /// `private_key_jwt`; relative to the configuration file.
    pub jwks_file: PathBuf,
    /// Scopes of personal data the application may ask citizens to consent to.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes of open data the application gets with client credentials.
    #[serde(default)]
    pub open_scopes: Vec<String>,
    /// This application's bucket per API, when it differs from the hub's `rate_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Limit>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            listen: "127.0.0.1:8600".parse().expect("a literal address"),
            public_url: String::new(),
            access_token_secs: 300,
            refresh_token_secs: 86_400,
            max_body_bytes: 16 * 1024,
            quota_store: "memory".into(),
            rate_limit: Limit::default(),
            applications: Vec::new(),
        }
    }
}

impl ServiceConfig for HubConfig {
    const ENV_PREFIX: &'static str = "KORPU_API_";

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        if !(10..=3600).contains(&self.access_token_secs) {
            return Err(ConfigError::invalid(
                origin,
                "access_token_secs must be between 10 and 3600 (FAPI 2.0: short-lived tokens)",
            ));
        }
        let limits = std::iter::once(&self.rate_limit).chain(
            self.applications
                .iter()
                .filter_map(|a| a.rate_limit.as_ref()),
        );
        for l in limits {
            if !(l.rate_per_sec > 0.0 && l.burst >= 1) {
                return Err(ConfigError::invalid(
                    origin,
                    "a rate_limit needs rate_per_sec > 0 and burst >= 1",
                ));
            }
        }
        if self.quota_store != "memory" && !self.quota_store.starts_with("redis://") {
            return Err(ConfigError::invalid(
                origin,
                format!(
                    "quota_store {:?}: use \"memory\" or a redis:// URL",
                    self.quota_store
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for app in &self.applications {
            if !seen.insert(&app.client_id) {
                return Err(ConfigError::invalid(
                    origin,
                    format!("application {:?} is registered twice", app.client_id),
                ));
            }
        }
        Ok(())
    }
}

impl HubConfig {
    /// The issuer identifier.
    pub fn issuer(&self) -> String {
        korpu_service::config::public_url_or(&self.public_url, self.listen)
    }

    /// The applications as the authorisation server's clients, their key files read relative
    /// to `base` (the configuration file's folder).
    pub fn clients(&self, base: &Path) -> Result<Vec<Client>, ConfigError> {
        self.applications
            .iter()
            .map(|app| {
                let path = base.join(&app.jwks_file);
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let set: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| ConfigError::invalid(&origin, format!("not JSON: {e}")))?;
                let keys = set["keys"]
                    .as_array()
                    .ok_or_else(|| {
                        ConfigError::invalid(&origin, "a JWK Set needs a \"keys\" array")
                    })?
                    .iter()
                    .map(Jwk::from_json)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::invalid(&origin, e.to_string()))?;
                if keys.is_empty() {
                    return Err(ConfigError::invalid(&origin, "the JWK Set has no keys"));
                }
                Ok(Client {
                    id: app.client_id.clone(),
                    name: app.name.clone(),
                    redirect_uris: app.redirect_uris.clone(),
                    keys,
                    scopes: app.scopes.clone(),
                    open_scopes: app.open_scopes.clone(),
                })
            })
            .collect()
    }
}
