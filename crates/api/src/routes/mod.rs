//! The route handlers, one module per resource.

pub(crate) mod cards;
pub(crate) mod devices;
pub(crate) mod sessions;
pub(crate) mod system;
pub(crate) mod transactions;
pub(crate) mod users;
pub(crate) mod webhooks;
