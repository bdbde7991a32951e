//! Tollgate: a dashboard for scoped MCP access tokens and the endpoint that enforces them.
//!
//! Layout: `app` (routes and shell), `pages` and `components` (the dashboard, rendered on the
//! server and hydrated in the browser), `api` (server functions: thin glue), and, server-only,
//! `services` (domain rules), `storage` (database), `http` (router and middleware),
//! `tools` (the tool registry), `enforcement` (the pipeline every tool call passes) and
//! `surface` (`/mcp` and `/v1/tools` over both); `metrics` names what is measured.

pub mod api;
pub mod app;
pub mod components;
pub mod error;
pub mod model;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod enforcement;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod outbound;
#[cfg(feature = "ssr")]
pub mod secrets;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod storage;
#[cfg(feature = "ssr")]
pub mod surface;
#[cfg(feature = "ssr")]
pub mod tools;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A mark for end-to-end tests (and anyone curious): the page now runs its scripts.
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}
