//! Fixtures the tests, benches and end-to-end tests of several crates share, so that each is
//! written once: a two-level test PKI issued with `korpu-pki` ([`pki`]), hierarchies, CRLs and
//! time-stamps made by the `openssl` command ([`ossl`]), a loopback HTTP/1.1 responder for TSA,
//! OCSP and CRL endpoints ([`http`]), minimal PDFs ([`pdf`]), the owner-only file checks
//! every store repeats ([`files`]), fields read from API answers ([`json`]), a PostgreSQL
//! database per test ([`pg`]) and corrupted copies of a file ([`mutate`]).
//!
//! Plain functions over the project's real types: no mocks, nothing that stands in for what a
//! user runs. Not for production code — it is only ever a `[dev-dependencies]` entry, and it
//! panics instead of returning errors, as a test fixture should. What a test checks stays in
//! the test.
#![forbid(unsafe_code)]

pub mod files;
pub mod http;
pub mod json;
pub mod mutate;
pub mod ossl;
pub mod pdf;
pub mod pg;
pub mod pki;

pub use pki::{Crls, Member, Pki, Setup, DAY};
