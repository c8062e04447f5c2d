//! myGov, the citizen portal: one place to find every e-service, sign in with OpenID Connect,
//! apply (the application goes over the bridge to the owning agency as the portal's own
//! subsystem, with the citizen as user and data subject), follow the status, download and
//! verify signed results, see who accessed one's data (the data tracker, checked against
//! ledger proofs), grant and withdraw consent, and receive notifications in the portal and by
//! e-mail.
//!
//! Server-rendered HTML that works without JavaScript, in Azerbaijani (default), English and
//! Russian, aiming at WCAG 2.2 AA. State lives in SQLite or PostgreSQL, so several portal
//! processes can serve behind a load balancer (except the development identity provider,
//! which keeps its codes in memory).
//!
//! The portal holds no agency data: everything about an application is asked of the agency
//! over the bridge when shown. It does not issue identities (that is the OpenID provider's
//! job) and does not decide anything an agency decides.
#![forbid(unsafe_code)]

mod bridge;
pub mod config;
pub mod devidp;
pub mod form;
pub mod html;
pub mod i18n;
mod layout;
mod notify;
pub mod oidc;
mod routes;
mod server;
pub mod smtp;
pub mod store;
pub mod verify;
mod web;

pub use config::PortalConfig;
pub use server::{start, RunningPortal, StartError};
