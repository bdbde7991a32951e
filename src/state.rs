use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::Config;
use crate::enforcement::last_used::LastUsed;
use crate::enforcement::writer::Writer;
use crate::storage::Db;

/// Everything a request handler or server function needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// Token last-use times, batched in memory and flushed by a background task.
    pub last_used: Arc<LastUsed>,
    /// The hot path's writes (admissions with their metering, cancellations) in batch transactions.
    pub writer: Writer,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
