//! The Digital Bridge gateway (`korpu gateway …`): what each member runs so that its
//! information systems call other members' services, and serve their own, over the bridge.
//!
//! - [`protocol`]: the X-Road Message Protocol for REST as pure functions (parsing, header
//!   filtering, errors, the signed canonical form).
//! - [`gateway`]: the gateway's state (verified global configuration, stapled OCSP
//!   responses, peer connections) and the two request flows (`gateway/client.rs`,
//!   `gateway/provider.rs`), whose socket-free steps are functions in `gateway/steps.rs`.
//! - [`index`]: the global configuration's lookup tables, built once per version.
//! - [`tls`]: mutual TLS 1.3 between gateways with certificate pinning.
//! - [`body`]: bounded-memory spooling of bodies, which must be whole before their signature
//!   can be checked.
//! - [`record`]: the durable exchange record behind the [`record::Recorder`] interface.
//! - [`ledger`]: the records as evidence-ledger entries (their lookup keys, reading them
//!   back, the data tracker's answer); [`evidence`]: one exchange's evidence package and its
//!   offline verifier.
//! - [`replay`]: the provider side's refusal of replayed and stale requests.
//! - [`certstore`]: the signing certificates that the records name, kept for evidence.
//! - [`bodystore`]: request and response bodies of the services that keep them, encrypted.
//! - [`service`]: the client and provider sides as `tower::Service`s over any request body.
//! - [`server`]: [`GatewayBuilder`] (start, with the ledger's lifetime), listeners, background
//!   refresh and graceful shutdown.
//!
//! It does not decide who may call what (the central registry does, through the global
//! configuration) and does not compute proofs over the records (the evidence ledger does).
#![forbid(unsafe_code)]

pub mod batchsign;
pub mod body;
pub mod bodystore;
pub mod certstore;
pub mod config;
pub mod evidence;
pub mod gateway;
pub mod index;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod peers;
pub mod protocol;
pub mod record;
pub mod replay;
pub mod server;
pub mod service;
pub mod tls;

pub use config::GatewayConfig;
pub use gateway::Gateway;
pub use server::{GatewayBuilder, RunningGateway};
