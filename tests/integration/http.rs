//! The HTTP surface as a browser meets it: the real router on a real database, driven through
//! tower's `oneshot` (no mock): CSRF origin checks, headers, session cookie and sign-out.

use crate::support::{TestDb, ORIGIN};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

async fn app(test_db: &TestDb) -> Router {
    tollgate::http::router(crate::support::app_state(test_db.db(), ORIGIN))
}

/// The URL of a server function, as the sign-in page's form posts it.
async fn action_url(app: &Router, page: &str, name: &str) -> String {
    let html = body(
        app.clone()
            .oneshot(Request::get(page).body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    let start = html
        .find(&format!("action=\"/api/{name}"))
        .expect("form on the page")
        + "action=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn body(response: axum::response::Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn form_post(url: &str, origin: Option<&str>, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request = Request::post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .header(header::HOST, "127.0.0.1:3999");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(form.to_string())).unwrap()
}

fn session_cookie(response: &axum::response::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            v.starts_with("tollgate_session=").then(|| v.to_string())
        })
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_same_site_posts_work() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let sign_up = action_url(&app, "/signup", "sign_up").await;
    let form = "email=ana%40example.com&password=correct+horse+battery&invite=";

    for origin in [Some("https://evil.example"), Some("null"), None] {
        let response = app
            .clone()
            .oneshot(form_post(&sign_up, origin, None, form))
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "origin {origin:?}"
        );
        assert!(body(response).await.contains("Cross-site request refused"));
    }
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&test_db.db().pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "a refused request changes nothing");

    let response = app
        .clone()
        .oneshot(form_post(&sign_up, Some(ORIGIN), None, form))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[header::LOCATION], "/tokens");
    let cookie = session_cookie(&response).expect("signed in");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: no Secure flag ({cookie})"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let response = app
        .oneshot(Request::get("/signin").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(headers["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
}

#[tokio::test]
async fn sign_in_cycles_the_session_and_sign_out_invalidates_the_old_cookie() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    tollgate::services::accounts::create_user(
        test_db.db(),
        "ana@example.com",
        "correct horse battery",
        0,
    )
    .await
    .unwrap();
    let sign_in = action_url(&app, "/signin", "sign_in").await;
    let form = "email=ana%40example.com&password=correct+horse+battery&invite=";

    let first = app
        .clone()
        .oneshot(form_post(&sign_in, Some(ORIGIN), None, form))
        .await
        .unwrap();
    let first_cookie = session_cookie(&first).unwrap();
    let first_pair = first_cookie.split(';').next().unwrap().to_string();
    // Signing in again with a session cookie in hand yields a new id (no fixation).
    let second = app
        .clone()
        .oneshot(form_post(&sign_in, Some(ORIGIN), Some(&first_pair), form))
        .await
        .unwrap();
    let second_pair = session_cookie(&second)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(first_pair, second_pair);

    let signed_in = |cookie: String| {
        let app = app.clone();
        async move {
            let page = app
                .oneshot(
                    Request::get("/settings/members")
                        .header(header::ACCEPT, "text/html")
                        .header(header::COOKIE, cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            page.status() == StatusCode::OK
        }
    };
    assert!(signed_in(second_pair.clone()).await);
    assert!(
        !signed_in(first_pair).await,
        "the pre-cycle session id no longer works"
    );

    // The sign-out form lives on every dashboard page.
    let dashboard = body(
        app.clone()
            .oneshot(
                Request::get("/tokens")
                    .header(header::ACCEPT, "text/html")
                    .header(header::COOKIE, &second_pair)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap(),
    )
    .await;
    let start = dashboard
        .find("action=\"/api/sign_out")
        .expect("sign-out form")
        + "action=\"".len();
    let sign_out = dashboard[start..].split('"').next().unwrap().to_string();
    let out = app
        .clone()
        .oneshot(form_post(&sign_out, Some(ORIGIN), Some(&second_pair), ""))
        .await
        .unwrap();
    assert_eq!(out.headers()[header::LOCATION], "/signin");
    assert!(
        !signed_in(second_pair).await,
        "a copied cookie is worthless after sign-out"
    );
}

#[tokio::test]
async fn refused_input_answers_with_its_own_status_not_500() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let sign_in = action_url(&app, "/signin", "sign_in").await;
    // As the enhanced page calls it (JSON accepted, not HTML): the error comes back as data.
    let request = Request::post(&sign_in)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::HOST, "127.0.0.1:3999")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from(
            "email=nobody%40example.com&password=whatever+it+is&invite=",
        ))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let text = body(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("That email and password do not match an account."));
}
