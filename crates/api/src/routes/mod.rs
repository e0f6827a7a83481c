//! The route handlers, one module per resource.

pub(crate) mod devices;
pub(crate) mod sessions;
pub(crate) mod system;
pub(crate) mod users;
