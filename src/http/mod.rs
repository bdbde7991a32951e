//! The axum router: dashboard pages and server functions, with sessions, request ids,
//! security headers and the same-origin guard for state-changing requests.

pub mod guards;
pub mod metrics;
pub mod oauth;
pub mod probes;

use std::sync::OnceLock;

use axum::error_handling::HandleErrorLayer;
use axum::http::{header, HeaderName, HeaderValue};
use axum::{middleware, Extension, Router};
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::{shell, App};
use crate::secrets::random_base62;
use crate::state::AppState;
use crate::storage::session_store::DbSessionStore;

pub const SESSION_COOKIE: &str = "tollgate_session";
/// The longest any request may take; tool calls are far quicker, reports run as jobs.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&format!("req_{}", random_base62(16)))
            .ok()
            .map(RequestId::new)
    }
}

/// Each request's span: its id and its route, never its path (an invite link's path is a
/// secret). Its answer's status and latency are logged at debug (`RUST_LOG=info,tower_http=debug`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    // tower_http's target: the span is on exactly when its request lines are, and its fields
    // are not even read otherwise.
    tracing::span!(
        target: "tower_http::trace",
        tracing::Level::DEBUG,
        "request",
        method = %request.method(),
        route = route_of(request),
        request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default(),
    )
}

/// The route a request matched (`/invite/{code}`), never its path, which may hold a secret:
/// what logs and metrics name a request by.
fn route_of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |path| path.as_str())
}

/// The app's routes, listed once per process. Listing renders the app with resource loading
/// switched off for the whole process (leptos_server's `SuppressResourceLoad` is a global), so a
/// page another router rendered meanwhile would wait forever for its data (leptos-rs/leptos#4773).
/// A server builds one router; the tests build many side by side.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = route_list();

    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.is_https())
        .with_expiry(Expiry::OnInactivity(time::Duration::days(14)));

    let router = Router::new()
        .leptos_routes(&state, routes, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .route(
            "/audit.csv",
            axum::routing::get(crate::api::audit::export_csv),
        )
        .route("/consent", axum::routing::post(oauth::decide))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(guards::server_fn_error_status))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::same_origin_writes,
        ))
        .layer(sessions)
        .layer(Extension(state.clone()))
        // The tool surfaces authenticate by bearer token: outside the cookie session and CSRF guard.
        .merge(crate::surface::router(state.clone()))
        .merge(oauth::router())
        // On the public address only when asked for, and there behind the in-flight limit.
        .merge(match state.config.metrics_on_public_addr {
            true => metrics::router(),
            false => Router::new(),
        })
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // A bug in one request answers 500 instead of leaving the connection hanging.
        .layer(CatchPanicLayer::new())
        // Overload is refused at once (503 + Retry-After) and no request runs forever; one
        // semaphore for all routes.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(guards::overloaded))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(state.config.max_in_flight))
                .timeout(REQUEST_TIMEOUT),
        )
        .layer(TraceLayer::new_for_http().make_span_with(request_span));
    // Latency is recorded only when someone can read it.
    let router = match state.config.metrics_enabled() {
        true => {
            crate::metrics::recorder();
            router.layer(middleware::from_fn(metrics::track_latency))
        }
        false => router,
    };
    let router = router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        // Probes answer even when the in-flight limit is reached, and stay out of the logs.
        .merge(probes::router());
    router.with_state(state)
}
