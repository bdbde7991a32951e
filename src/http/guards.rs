//! Request guards that apply before any handler runs.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::state::AppState;

/// CSRF defence for the dashboard: a state-changing request must come from our own origin,
/// as the browser states in `Origin` (or, failing that, `Referer`). Together with the
/// SameSite=Lax session cookie this refuses every cross-site form post.
pub async fn same_origin_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || is_same_origin(request.headers(), &state.config) {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: this form must be sent from the Tollgate dashboard itself.",
        )
            .into_response()
    }
}

pub fn is_same_origin(headers: &HeaderMap, config: &Config) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(claimed) = claimed else { return false };
    let origin = origin_of(claimed);
    if origin == config.public_origin() {
        return true;
    }
    // Also accept the host the browser addressed (e.g. 127.0.0.1 vs localhost in development):
    // a cross-site attacker cannot make the browser send its own origin with our Host.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((host, origin.split_once("://")), (Some(host), Some((_, origin_host))) if origin_host == host)
}

/// `https://a.example:8443/path?q` → `https://a.example:8443`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find(['/', '?', '#']) {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Leptos answers every failed server function with 500; a refused input is not a server
/// fault, so the status is set from the error itself (`AppError::status`).
pub async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<crate::error::AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The client's IP: the socket peer, or the first `X-Forwarded-For` hop when configured to
/// trust a proxy in front.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    config: &Config,
) -> String {
    if config.trust_forwarded {
        if let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return first.to_string();
        }
    }
    peer.map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config() -> Config {
        Config {
            addr: "127.0.0.1:3000".parse().unwrap(),
            database_url: String::new(),
            environment: crate::config::Environment::Live,
            public_url: "https://tollgate.example.com".into(),
            trust_forwarded: false,
            max_in_flight: 1,
            outbound_allow: Default::default(),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_rules() {
        let c = config();
        assert!(is_same_origin(
            &headers(&[("origin", "https://tollgate.example.com")]),
            &c
        ));
        assert!(is_same_origin(
            &headers(&[("referer", "https://tollgate.example.com/signin?x=1")]),
            &c
        ));
        assert!(is_same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ]),
            &c
        ));
        assert!(!is_same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "tollgate.example.com")
            ]),
            &c
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "https://tollgate.example.com.evil.example")]),
            &c
        ));
        assert!(!is_same_origin(&headers(&[("origin", "null")]), &c));
        assert!(!is_same_origin(&headers(&[]), &c));
    }
}

/// What the overload layers refuse with: shed load and timeouts are 503 with `Retry-After`, in
/// the tool surfaces' error shape (browsers get the same JSON; there is no page to render).
pub async fn overloaded(headers: HeaderMap, err: tower::BoxError) -> Response {
    use crate::enforcement::ToolError;
    if err.is::<tower::load_shed::error::Overloaded>() {
        tracing::warn!("overloaded: request shed");
    } else if err.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("request timed out");
    } else {
        tracing::error!(error = %err, "request failed in the overload layers");
    }
    crate::surface::error_response(
        &ToolError::Overloaded,
        &crate::surface::request_id(&headers),
    )
}
