//! `GET /metrics` in the Prometheus text format, on the public router (`TOLLGATE_METRICS=1`)
//! or on a listener of its own (`TOLLGATE_METRICS_ADDR`); and the latency of every answer.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics::gauge;
use tokio::sync::Mutex;

use crate::metrics::{recorder, HTTP_REQUEST_SECONDS, QUEUE_DEPTH, QUEUE_OLDEST_SECONDS};
use crate::services::{jobs, write_back, Backlog, ServiceResult};
use crate::state::AppState;
use crate::storage::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Response {
    read_queues(&state).await;
    let handle = recorder();
    handle.run_upkeep();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], handle.render()).into_response()
}

/// Sets the queue gauges from the database, at most once every few seconds however often
/// someone scrapes.
async fn read_queues(state: &AppState) {
    static LAST_READ: Mutex<Option<Instant>> = Mutex::const_new(None);
    let mut last_read = LAST_READ.lock().await;
    if last_read.is_some_and(|at| at.elapsed() < QUEUES_READ_EVERY) {
        return;
    }
    *last_read = Some(Instant::now());
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
}

const QUEUES_READ_EVERY: Duration = Duration::from_secs(5);

/// Records each answer's latency by method, matched route (never the path: invite links are
/// secrets) and status. Methods outside the standard ones are "other": a client may send any.
pub async fn track_latency(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = super::route_of(&request).to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
