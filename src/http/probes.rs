//! Probes for load balancers and orchestrators, outside sessions, the in-flight limit and
//! request logging: `/healthz` says the process answers (it touches nothing), `/readyz` says
//! it can serve calls, or names what stops it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::state::AppState;
use crate::storage::Engine;

/// A database that does not answer within this is not ready.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// The checks run at most this often, whoever asks: probes sit outside the in-flight limit, so
/// a flood of them must not become a flood of database queries.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// The last checks and when they ran; callers during a check wait for it and share its result.
type LastChecks = Arc<tokio::sync::Mutex<Option<(Instant, Vec<NotReady>)>>>;

pub fn router() -> Router<AppState> {
    let last = LastChecks::default();
    Router::new()
        .route("/healthz", get(|| async { Json(Health { status: "ok" }) }))
        .route(
            "/readyz",
            get(move |State(state): State<AppState>| readyz(state, last.clone())),
        )
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `/readyz`'s body: `ready`, and for each part that is not, why.
#[derive(Serialize)]
struct Readiness {
    ready: bool,
    not_ready: Vec<NotReady>,
}

#[derive(Clone, Serialize)]
struct NotReady {
    check: &'static str,
    reason: String,
}

async fn readyz(state: AppState, last: LastChecks) -> (StatusCode, Json<Readiness>) {
    let mut not_ready = {
        let mut last = last.lock().await;
        match &*last {
            Some((at, checks)) if at.elapsed() < RECHECK_AFTER => checks.clone(),
            _ => {
                let checks = checks(&state).await;
                *last = Some((Instant::now(), checks.clone()));
                checks
            }
        }
    };
    // A stop shows at once, not after the next check.
    if state.lifecycle.is_draining() {
        not_ready.insert(
            0,
            NotReady {
                check: "shutdown",
                reason: "the server is stopping: calls in flight finish, new ones go elsewhere"
                    .into(),
            },
        );
    }
    let ready = not_ready.is_empty();
    let status = match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(Readiness { ready, not_ready }))
}

/// The checks that fail now, apart from a stop.
async fn checks(state: &AppState) -> Vec<NotReady> {
    let mut failed = Vec::new();
    let mut fail = |check, reason: &str| {
        failed.push(NotReady {
            check,
            reason: reason.to_string(),
        })
    };
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, state.db.migrations_applied()).await {
        Err(_) => fail("database", "the database did not answer within 2 s"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database check failed");
            fail("database", "the database is unreachable")
        }
        Ok(Ok(false)) => fail(
            "migrations",
            "the database lacks migrations this build needs: restart an instance to apply them",
        ),
        Ok(Ok(true)) => {}
    }
    if !state.enforcer.writer.is_running() {
        fail("writer", "the admission writer has stopped");
    }
    if state.db.engine == Engine::Postgres && !state.db.token_cache.is_live() {
        fail(
            "token_listener",
            "not subscribed to token revocations: every call reads the database until it is",
        );
    }
    failed
}
