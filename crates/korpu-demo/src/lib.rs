//! Körpü's demo: a whole instance on one machine with no set-up ([`run`], what `korpu demo`
//! starts), and the small sample information systems that stand behind its gateways
//! ([`sample`], also served alone by `korpu sample-is`).
//!
//! Gateways start through [`korpu_gateway::GatewayBuilder`], which owns each one's ledger.
//! The demo starts the services the other crates provide and registers the demo agencies
//! through the central registry's management API; it owns no rule of its own. What only the
//! `korpu` program knows — creating an instance the way `korpu central init` does, its
//! management API client — it asks of a
//! [`Host`] that the program passes in, so that this crate does not copy the program's wiring.
//!
//! The demo is a program in library form: its errors are `anyhow` reports for the person at
//! the terminal, not typed errors to act on. It is not a way to run a production instance.
#![forbid(unsafe_code)]

mod demo;
pub mod openapi;
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
