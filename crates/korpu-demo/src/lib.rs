//! Körpü's demo: a whole instance on one machine with no set-up ([`run`], what `korpu demo`
//! starts), and the small sample information systems that stand behind its gateways
//! ([`sample`], also served alone by `korpu sample-is`).
//!
//! The demo starts the services the other crates provide and registers the demo agencies
//! through the central registry's management API; it owns no rule of its own. What only the
//! `korpu` program knows — creating an instance the way `korpu central init` does, its
//! management API client, starting and stopping a gateway with its ledger — it asks of a
//! [`Host`] that the program passes in, so that this crate does not copy the program's wiring.
//!
//! The demo is a program in library form: its errors are `anyhow` reports for the person at
//! the terminal, not typed errors to act on. It is not a way to run a production instance.
#![forbid(unsafe_code)]

mod demo;
pub mod sample;

use std::future::Future;
use std::path::Path;

pub use demo::run;

/// What the demo asks of the program that runs it.
pub trait Host {
    /// The central registry's management API client.
    type Registry: Registry;

    /// Sets up a new central registry instance in `dir` (as `korpu central init` does), with
    /// its management and public listen addresses.
    fn init_central(
        &self,
        dir: &Path,
        instance: &str,
        management_listen: &str,
        public_listen: &str,
    ) -> impl Future<Output = anyhow::Result<()>>;

    /// Connects to the management API of the registry configured by `central_config`.
    fn registry(&self, central_config: &Path) -> anyhow::Result<Self::Registry>;

    /// Starts a gateway recording into its evidence ledger.
    fn start_gateway(
        &self,
        config: korpu_gateway::GatewayConfig,
    ) -> impl Future<Output = anyhow::Result<(korpu_gateway::RunningGateway, korpu_ledger::Ledger)>>;

    /// Stops a gateway started by [`Host::start_gateway`], then closes its ledger.
    fn stop_gateway(
        &self,
        running: korpu_gateway::RunningGateway,
        ledger: korpu_ledger::Ledger,
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// The central registry's management API: one JSON request, its JSON answer or the
/// registry's error.
pub trait Registry {
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> impl Future<Output = anyhow::Result<serde_json::Value>>;
}
