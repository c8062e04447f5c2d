//! Runtime pieces every Körpü server shares: [`config`], the one configuration loader (TOML
//! over defaults, `KORPU_<SERVICE>_<KEY>` environment overrides, `--print-config`); [`db`], the
//! database bootstrap (SQLite or PostgreSQL, pool limits, `sqlx::migrate!` migrations);
//! [`secret`], atomic owner-only secret files; [`shutdown`], the stop signal and grace period;
//! [`metrics`], the Prometheus registry and text exposition.
//!
//! Pure of any service: it knows nothing about central, gateways, docs or the portal; each
//! service keeps its own configuration type, its own tables and its own semantic checks.
#![forbid(unsafe_code)]

pub mod config;
pub mod db;
pub mod metrics;
pub mod secret;
pub mod shutdown;

pub use config::{load, parse, read, render, ConfigError};
