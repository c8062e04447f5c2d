//! `korpu portal serve --config portal.toml`: the myGov citizen portal.

use std::path::PathBuf;

use clap::Subcommand;
use korpu_service::config::ServiceConfig as _;

#[derive(Subcommand)]
pub enum PortalCommand {
    /// Serve the portal until SIGINT/SIGTERM.
    Serve {
        /// The portal's TOML configuration; every key can be overridden by `KORPU_PORTAL_<KEY>`.
        #[arg(long, env = "KORPU_PORTAL_CONFIG")]
        config: Option<PathBuf>,
        /// Print the effective configuration (file, defaults and environment) and exit.
        #[arg(long)]
        print_config: bool,
    },
}

pub async fn run(command: PortalCommand) -> anyhow::Result<()> {
    match command {
        PortalCommand::Serve {
            config,
            print_config,
        } => {
            let config = korpu_portal::PortalConfig::load(config.as_deref())?;
            if crate::print_only(&config, print_config) {
                return Ok(());
            }
            let running = korpu_portal::start(config).await?;
            println!("korpu portal: {}", running.public_url);
            crate::stop_signal().await;
            running.shutdown().await;
            Ok(())
        }
    }
}
