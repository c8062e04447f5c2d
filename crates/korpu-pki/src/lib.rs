//! Körpü platform PKI: ECDSA P-256 keys, X.509 certificates and their profiles, PKCS#10 CSRs,
//! an RFC 6960 OCSP responder and client, and an RFC 3161 time-stamping authority and client.
//!
//! Everything here is pure: functions take bytes and return bytes. There are no sockets and no
//! clocks read behind the caller's back (times are parameters), so the HTTP layer in the central
//! registry and the gateway decide transport, and tests can pin time. The only filesystem access
//! is [`key::write_private_key`] / [`key::read_private_key`], which guard key file permissions,
//! and [`private`], the same guard for every store's data directories and files.
//!
//! Verification goes beyond the platform's own P-256 PKI: [`alg`] verifies RSA, RSA-PSS,
//! ECDSA on P-256/384/521 and Ed25519, [`path`] builds RFC 5280 certification paths with
//! [`name`] matching, and [`crl`] reads and checks CRLs.
//!
//! Deliberately not here: issuing CRLs, certificate policies and name constraints, and storage
//! of issued certificates or revocation state (the registry owns that and hands the OCSP
//! responder a status callback).
#![forbid(unsafe_code)]

pub mod alg;
pub mod batch;
pub mod ber;
pub mod ca;
pub mod cert;
pub mod crl;
pub mod csr;
mod error;
pub mod key;
pub mod name;
pub mod ocsp;
pub mod path;
pub mod private;
pub mod tsa;
mod util;

pub use error::PkiError;
