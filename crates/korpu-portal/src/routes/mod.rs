//! The portal's pages, one module per area. Each handler takes the request context
//! ([`crate::web::Ctx`]) and, where a citizen must be signed in, [`crate::web::Citizen`], and
//! returns a page or a [`crate::web::PageError`]. The router that mounts them is in
//! [`crate::server`].

pub(crate) mod applications;
pub(crate) mod apply;
pub(crate) mod auth;
pub(crate) mod catalogue;
pub(crate) mod consents;
pub(crate) mod notifications;
pub(crate) mod site;
pub(crate) mod tracker;
