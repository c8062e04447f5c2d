//! Runtime pieces every Körpü server shares. For now: [`config`], the one configuration loader
//! (TOML over defaults, `KORPU_<SERVICE>_<KEY>` environment overrides, `--print-config`), and
//! [`metrics`], the Prometheus registry and text exposition.
//!
//! Pure of any service: it knows nothing about central, gateways, docs or the portal; each
//! service keeps its own configuration type and its own semantic checks.

pub mod config;
pub mod metrics;

pub use config::{load, parse, read, render, ConfigError};
