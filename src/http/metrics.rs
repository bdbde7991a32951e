//! `GET /metrics` in the Prometheus text format, on the public router (`TOLLGATE_METRICS=1`)
//! or on a listener of its own (`TOLLGATE_METRICS_ADDR`); and the latency of every answer.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::gauge;

use crate::metrics::{recorder, HTTP_REQUEST_SECONDS, QUEUE_DEPTH, QUEUE_OLDEST_SECONDS};
use crate::services::{jobs, write_back, Backlog, ServiceResult};
use crate::state::AppState;
use crate::storage::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Response {
    let now = now_ms();
    let queues: [(&str, ServiceResult<Backlog>); 2] = [
        ("jobs", jobs::backlog(&state.db).await),
        ("outbox", write_back::backlog(&state.db).await),
    ];
    for (queue, backlog) in queues {
        match backlog {
            Ok(backlog) => {
                let age_ms = backlog.oldest_at.map_or(0, |at| (now - at).max(0));
                gauge!(QUEUE_DEPTH, "queue" => queue).set(backlog.waiting as f64);
                gauge!(QUEUE_OLDEST_SECONDS, "queue" => queue).set(age_ms as f64 / 1000.0);
            }
            Err(e) => tracing::warn!(error = %e, queue, "reading a queue's backlog for /metrics"),
        }
    }
    let handle = recorder();
    handle.run_upkeep();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], handle.render()).into_response()
}

/// Records each answer's latency by method, matched route (never the path: invite links are
/// secrets) and status.
pub async fn track_latency(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
