//! Prometheus metrics: each metric named and described once here, recorded where it happens
//! with the `metrics` macros, rendered by `http::metrics`. Off unless the operator asks
//! (`TOLLGATE_METRICS`, `TOLLGATE_METRICS_ADDR`); the hot path checks [`enabled`] first, since
//! the macros build their labels (allocations) even when no recorder takes them. Labels are
//! tool names, surfaces, codes, routes, methods and limit kinds from fixed sets, never a token,
//! an email, a path or anything else a client writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Tool calls by `surface` (mcp, http), `tool` and `code` (ok, or the error's code).
pub const TOOL_CALLS: &str = "tollgate_tool_calls_total";
/// A tool call's time in the pipeline, by `surface` and `tool`.
pub const TOOL_CALL_SECONDS: &str = "tollgate_tool_call_duration_seconds";
/// Refusals by `surface` and `code`: a missing or invalid token once per request (MCP's
/// `initialize` and `tools/list` included), the pipeline's (missing_scope, rate_limited,
/// quota_exceeded, …) once per tool call.
pub const REFUSALS: &str = "tollgate_refusals_total";
/// Every HTTP answer's latency, by `method`, matched `route` and `status`.
pub const HTTP_REQUEST_SECONDS: &str = "tollgate_http_request_duration_seconds";
/// Admissions, cancellations and refusals per writer transaction.
pub const WRITER_BATCH_SIZE: &str = "tollgate_writer_batch_size";
/// A writer batch's time to write, its retry after a conflict included.
pub const WRITER_COMMIT_SECONDS: &str = "tollgate_writer_commit_duration_seconds";
/// Writer batches written again, locked, after another writer changed a row they had read.
pub const WRITER_CONFLICTS: &str = "tollgate_writer_conflicts_total";
/// Verified-token cache lookups by `result` (hit, miss).
pub const TOKEN_CACHE_LOOKUPS: &str = "tollgate_token_cache_lookups_total";
/// Throttled attempts by `limit` (sign_in_account, sign_in_ip, sign_up_ip, org_creation).
pub const THROTTLED: &str = "tollgate_throttled_total";
/// Work waiting, read from the database at each scrape, by `queue` (jobs, outbox).
pub const QUEUE_DEPTH: &str = "tollgate_queue_depth";
/// Age of the oldest waiting item, by `queue` (0 when empty).
pub const QUEUE_OLDEST_SECONDS: &str = "tollgate_queue_oldest_age_seconds";

const LATENCY_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether anything records metrics in this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The process's recorder, installed on first use (tests run several servers in one process;
/// a process has one global recorder).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(WRITER_BATCH_SIZE.into()), &BATCH_BUCKETS)
        })
        .expect("bucket lists are not empty");
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(recorder) {
        Ok(()) => ENABLED.store(true, Ordering::Relaxed),
        Err(e) => {
            tracing::error!(error = %e, "another metrics recorder is installed: /metrics stays empty")
        }
    }
    describe();
    handle
}

fn describe() {
    describe_counter!(TOOL_CALLS, "Tool calls by surface, tool and outcome code.");
    describe_histogram!(
        TOOL_CALL_SECONDS,
        Unit::Seconds,
        "Time of a tool call in the enforcement pipeline."
    );
    describe_counter!(
        REFUSALS,
        "Refusals by surface and code: of a token once per request, of the pipeline once per call."
    );
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "HTTP answers by method, route and status."
    );
    describe_histogram!(
        WRITER_BATCH_SIZE,
        "Admissions, cancellations and refusals per writer transaction."
    );
    describe_histogram!(
        WRITER_COMMIT_SECONDS,
        Unit::Seconds,
        "A writer batch's time to write, a retry after a conflict included."
    );
    describe_counter!(
        WRITER_CONFLICTS,
        "Writer batches retried locked after a write conflict."
    );
    describe_counter!(
        TOKEN_CACHE_LOOKUPS,
        "Verified-token cache lookups by result."
    );
    describe_counter!(THROTTLED, "Attempts refused by a throttle, by limit.");
    describe_gauge!(QUEUE_DEPTH, "Work waiting, by queue.");
    describe_gauge!(
        QUEUE_OLDEST_SECONDS,
        Unit::Seconds,
        "Age of the oldest waiting item, by queue."
    );
}
