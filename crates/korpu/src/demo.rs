//! `korpu demo` and `korpu sample-is`: the wiring the demo (crate `korpu-demo`) asks of this
//! program — instance set-up as `korpu central init` does it, the management API client of
//! `korpu central`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::admin::{Api, ApiArgs};

/// This program, as the demo's [`korpu_demo::Host`].
struct Program;

impl korpu_demo::Host for Program {
    type Registry = Api;

    async fn init_central(
        &self,
        dir: &Path,
        instance: &str,
        management_listen: &str,
        public_listen: &str,
    ) -> anyhow::Result<()> {
        crate::init_instance(dir, instance, management_listen, public_listen, None).await?;
        Ok(())
    }

    fn registry(&self, central_config: &Path) -> anyhow::Result<Api> {
        Api::connect(&ApiArgs {
            config: Some(central_config.to_owned()),
            ..ApiArgs::default()
        })
    }
}

impl korpu_demo::Registry for Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        Api::call(self, method, path, body).await
    }
}

/// `korpu demo`: until SIGINT or SIGTERM.
pub async fn run(dir: Option<PathBuf>) -> anyhow::Result<()> {
    korpu_demo::run(dir, &Program, korpu_service::shutdown::signal()).await
}

/// `korpu sample-is`: one agency's sample information system, until SIGINT or SIGTERM.
pub async fn sample(
    agency: korpu_demo::sample::Agency,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let bound = korpu_demo::sample::spawn(agency, listen).await?;
    println!("sample information system on http://{bound}");
    korpu_service::shutdown::signal().await;
    Ok(())
}
