//! The demo's Open API hub: Kapital Bank, a registered company, has an application with an ES256
//! key for `private_key_jwt`; the hub runs on 127.0.0.1:4700 (or a free port) and `demo.json`
//! names the hub, the bank's client id and its private key file, so a FAPI 2.0 client library
//! can be pointed at it.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use korpu_api::{Application, Hub, HubConfig};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{json, Value};

/// The bank's application.
pub const CLIENT_ID: &str = "kapital-bank";

/// The hub while it runs.
pub struct RunningHub {
    /// Its issuer identifier and base URL.
    pub url: String,
    /// The bank's private key (a JWK with `d`, owner-only).
    pub key_file: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningHub {
    /// What `demo.json` says of the hub.
    pub fn describe(&self) -> Value {
        json!({
            "hub": self.url,
            "metadata": format!("{}/.well-known/oauth-authorization-server", self.url),
            "client_id": CLIENT_ID,
            "client_key_file": self.key_file,
        })
    }

    /// Stops accepting and lets open requests finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Makes (or reuses) the bank's key in `dir` and starts the hub.
pub async fn start(dir: &Path, company_name: &str, port: u16) -> anyhow::Result<RunningHub> {
    korpu_pki::private::create_missing_dir(dir)?;
    let key_file = dir.join("kapital-bank.private.jwk");
    let jwks_file = dir.join("kapital-bank.jwks.json");
    if !key_file.exists() || !jwks_file.exists() {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let (x, y) = (
            B64URL.encode(point.x().context("an uncompressed point has x")?),
            B64URL.encode(point.y().context("an uncompressed point has y")?),
        );
        let private = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y,
                             "d": B64URL.encode(secret.to_bytes())});
        korpu_pki::private::write(&key_file, private.to_string().as_bytes())?;
        let public = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y}]});
        std::fs::write(&jwks_file, public.to_string())?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("the Open API hub cannot listen on 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    let config = HubConfig {
        listen: addr,
        public_url: format!("http://{addr}"),
        applications: vec![Application {
            client_id: CLIENT_ID.into(),
            name: company_name.into(),
            redirect_uris: vec!["https://kapital-bank.example.az/callback".into()],
            jwks_file: jwks_file.clone(),
            scopes: vec!["income".into()],
            open_scopes: vec!["catalogue".into()],
            rate_limit: None,
        }],
        ..HubConfig::default()
    };
    std::fs::write(dir.join("hub.toml"), korpu_service::config::render(&config))?;
    let hub = Hub::new(
        &config,
        config.clients(dir)?,
        korpu_api::quota::Limiter::local(),
    );
    let url = hub.issuer().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(korpu_api::serve(Arc::new(hub), listener, async move {
        let _ = stopped.await;
    }));
    Ok(RunningHub {
        url,
        key_file,
        stop,
        task,
    })
}
