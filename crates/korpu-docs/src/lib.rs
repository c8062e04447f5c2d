//! Körpü document exchange: organisations send each other signed documents over the bridge
//! (X-Road REST through their own gateways) and answer with signed receipts — `sent` →
//! `delivered` → `opened` → `signed` | `rejected` | `answered`.
//!
//! Each organisation runs one document exchange server as an information system behind its
//! gateway: a subsystem (e.g. `AZ/GOV/1400002/docs`) providing the service `dx`, and a client
//! of the other organisations' `dx`. Documents travel as ASiC-E containers signed with CAdES
//! by the sender's member signing key, their metadata (`document.json`) inside and signed too;
//! receipts are JSON with a detached CAdES signature that OpenSSL verifies. Because every
//! document and receipt crosses the gateways, both evidence ledgers record each exchange.
//!
//! Modules: [`config`] (TOML + `KORPU_DOCS_*`), [`store`] (SQLite or PostgreSQL metadata),
//! [`blobs`] (content-addressed object store), [`receipt`], [`retention`], [`exchange`] (the
//! rules), [`server`] (the local API and the `dx` service).
//!
//! Not here: multiple recipients per document, encryption at rest, the B-T/B-LT levels for
//! containers and receipts (signatures are B-B; the gateways' ledgers time-stamp the exchange),
//! XAdES.
#![forbid(unsafe_code)]

pub mod blobs;
pub mod config;
mod error;
pub mod exchange;
pub mod receipt;
pub mod retention;
pub mod server;
pub mod store;

pub use config::DocsConfig;
pub use error::DocsError;
pub use exchange::{Action, Exchange, SendRequest};
