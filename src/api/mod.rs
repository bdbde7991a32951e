//! Server functions: the dashboard's calls into the server. Each one authenticates, resolves
//! the actor, calls one domain service and maps its error; no domain rule lives here.

pub mod audit;
pub mod auth;
pub mod billing;
#[cfg(feature = "ssr")]
pub mod context;
pub mod oauth;
pub mod organizations;
pub mod tokens;
pub mod usage;
