//! The global configuration: the one document, published by the central registry, from which
//! every gateway learns who is in the instance — members, gateways with their addresses and TLS
//! pins, services, access rights, the CA certificates and where the OCSP responder and the
//! time-stamping authority answer.
//!
//! The document is signed with the central registry's configuration-signing key and carries a
//! version and an expiry. A gateway trusts it only if it verifies against its *configuration
//! anchor* ([`Anchor`]): the instance id and the central signing certificate(s), obtained out of
//! band when the gateway is installed.
//!
//! On the wire the signed document is a JWS in the flattened JSON serialization (RFC 7515
//! §7.2.2) with ES256, so any JOSE library can check it; `korpu conf verify` does so offline.
//!
//! This crate is pure: it neither downloads nor stores configurations (the gateway does), nor
//! builds them from a database (the central registry does).
#![forbid(unsafe_code)]

mod anchor;
mod document;
mod signed;
mod time;

pub use anchor::{Anchor, ANCHOR_FORMAT};
pub use document::*;
pub use signed::{sign, verify, ConfError};
pub use time::Timestamp;
