//! One module per dashboard page (or group of pages).

pub mod audit;
pub mod auth;
pub mod billing;
pub mod connected_apps;
pub mod consent;
pub mod invite;
pub mod not_found;
pub mod settings;
pub mod tokens;
pub mod usage;
