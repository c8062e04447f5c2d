//! `korpu api serve --config hub.toml`: the Open API hub (its OAuth 2.0 authorisation server).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use korpu_service::config::ServiceConfig as _;

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Serve the hub until SIGINT/SIGTERM.
    Serve {
        /// The hub's TOML configuration; every key can be overridden by `KORPU_API_<KEY>`.
        /// Applications' `jwks_file`s are read relative to its folder.
        #[arg(long, env = "KORPU_API_CONFIG")]
        config: Option<PathBuf>,
        /// Print the effective configuration (file, defaults and environment) and exit.
        #[arg(long)]
        print_config: bool,
    },
}

pub async fn run(command: ApiCommand) -> anyhow::Result<()> {
    let ApiCommand::Serve {
        config: path,
        print_config,
    } = command;
    let config = korpu_api::HubConfig::load(path.as_deref())?;
    if crate::print_only(&config, print_config) {
        return Ok(());
    }
    let base = path
        .as_deref()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let limiter = korpu_api::quota::Limiter::from_store(&config.quota_store)
        .await
        .with_context(|| format!("quota_store {}", config.quota_store))?;
    let hub = korpu_api::Hub::new(&config, config.clients(&base)?, limiter);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    println!("korpu api: {}", hub.issuer());
    korpu_api::serve(std::sync::Arc::new(hub), listener, crate::stop_signal()).await?;
    Ok(())
}
