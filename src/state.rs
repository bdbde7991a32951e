use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::Config;
use crate::enforcement::Enforcer;
use crate::outbound::Outbound;
use crate::storage::Db;

/// Everything a request handler or server function needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// The enforcement pipeline every tool call passes.
    pub enforcer: Enforcer,
    /// Fetches of OAuth client metadata documents (URLs anyone may name).
    pub client_documents: Outbound,
    pub lifecycle: Arc<Lifecycle>,
}

/// Where the process is in its life: serving, or draining after a stop signal (`/readyz`
/// answers 503 from then on, so that a load balancer sends nothing new).
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
