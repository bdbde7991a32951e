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

/// Signs up `email` through the real sign-up form; returns the session cookie pair.
async fn signed_up(app: &Router, email: &str) -> String {
    let sign_up = action_url(app, "/signup", "sign_up").await;
    let form = format!(
        "email={}&password=correct+horse+battery&invite=",
        email.replace('@', "%40")
    );
    let response = app
        .clone()
        .oneshot(form_post(&sign_up, Some(ORIGIN), None, &form))
        .await
        .unwrap();
    let cookie = session_cookie(&response).expect("signed up");
    cookie.split(';').next().unwrap().to_string()
}

async fn page(app: &Router, path: &str, cookie: &str) -> (axum::http::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    (response.headers().clone(), body(response).await)
}

const DASHBOARD: [&str; 7] = [
    "/tokens",
    "/usage",
    "/audit",
    "/settings/organization",
    "/settings/workspaces",
    "/settings/members",
    "/settings/billing",
];

/// The dashboard's pages and every dialog they open (`?revoke=<token>` …) for the one
/// organization of `db`: an organization token and an invite are made for the dialogs to name.
async fn dashboard_pages(db: &tollgate::storage::Db) -> Vec<String> {
    use tollgate::model::{Binding, Role, Scope};
    use tollgate::services::{invites, organizations, tokens};
    let (user_id, org_id): (i64, i64) = sqlx::query_as("SELECT user_id, org_id FROM memberships")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let owner = organizations::actor(db, user_id, org_id).await.unwrap();
    let new = tokens::NewToken {
        label: "dialog".into(),
        scopes: vec![Scope::AnalyticsRead],
        binding: Binding::Organization,
        workspace_id: None,
        profile_id: None,
        expires_at: None,
    };
    let env = tollgate::config::Environment::Live;
    tokens::create(db, &owner, env, new, None, 0).await.unwrap();
    let now = tollgate::storage::now_ms();
    invites::create(db, &owner, "invited@example.com", Role::Member, None, now)
        .await
        .unwrap();
    let ids = |sql: &'static str| {
        let db = db.clone();
        async move {
            let (id,): (i64,) = sqlx::query_as(sql).fetch_one(&db.pool).await.unwrap();
            id
        }
    };
    let token = ids("SELECT MAX(id) FROM tokens").await;
    let invite = ids("SELECT MAX(id) FROM invites").await;
    let workspace = ids("SELECT MIN(id) FROM workspaces").await;
    let mut pages: Vec<String> = DASHBOARD.iter().map(|p| p.to_string()).collect();
    pages.extend([
        format!("/tokens?rotate={token}"),
        format!("/tokens?revoke={token}"),
        format!("/tokens/{token}"),
        format!("/settings/workspaces?write_back={workspace}"),
        format!("/settings/members?remove={user_id}"),
        format!("/settings/members?withdraw={invite}"),
        "/settings/billing?plan=growth".into(),
        "/settings/billing?grant=5&note=n".into(),
    ]);
    pages
}

/// The server functions every form of every dashboard page and dialog posts to.
async fn dashboard_actions(
    app: &Router,
    cookie: &str,
    db: &tollgate::storage::Db,
) -> std::collections::BTreeSet<String> {
    let mut actions = std::collections::BTreeSet::new();
    for path in dashboard_pages(db).await {
        let (_, html) = page(app, &path, cookie).await;
        for part in html.split("action=\"/api/").skip(1) {
            actions.insert(format!("/api/{}", part.split('"').next().unwrap()));
        }
    }
    actions
}

#[tokio::test]
async fn every_form_of_the_dashboard_refuses_cross_site_posts() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let cookie = signed_up(&app, "owner@example.com").await;
    let actions = dashboard_actions(&app, &cookie, test_db.db()).await;
    assert!(actions.len() >= 16, "the dashboard's forms: {actions:?}");
    let before: (String,) = sqlx::query_as("SELECT name FROM organizations")
        .fetch_one(&test_db.db().pool)
        .await
        .unwrap();
    for action in &actions {
        for origin in [Some("https://evil.example"), None] {
            let response = app
                .clone()
                .oneshot(form_post(
                    action,
                    origin,
                    Some(&cookie),
                    "name=pwned&token_id=1",
                ))
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{action} from {origin:?}"
            );
        }
    }
    let after: (String,) = sqlx::query_as("SELECT name FROM organizations")
        .fetch_one(&test_db.db().pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}

/// Every form of the dashboard sent empty, as the hydrated page sends it: each refusal is a
/// sentence a person understands (400), never a decoder's message or a server error.
#[tokio::test]
async fn every_form_sent_empty_is_refused_with_a_sentence() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let cookie = signed_up(&app, "owner@example.com").await;
    let mut actions = dashboard_actions(&app, &cookie, test_db.db()).await;
    // Signing out needs no field; it would end the session the other posts use.
    actions.retain(|a| !a.contains("sign_out"));
    assert!(actions.len() >= 15, "the dashboard's forms: {actions:?}");
    let mut failures = Vec::new();
    for action in &actions {
        let request = Request::post(action.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let text = body(response).await;
        let raw = ["Deserialization", "Custom(", "missing field", "`", "Args"]
            .iter()
            .any(|word| text.contains(word));
        if status != StatusCode::BAD_REQUEST || raw {
            failures.push(format!("{action}: {status} {text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn user_provided_text_is_rendered_inert_on_every_page() {
    use tollgate::model::{Binding, RotationGrace, Scope};
    let test_db = TestDb::sqlite().await;
    let db = test_db.db();
    let app = app(&test_db).await;
    let cookie = signed_up(&app, "owner@example.com").await;
    let (user_id, org_id): (i64, i64) = sqlx::query_as("SELECT user_id, org_id FROM memberships")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let owner = tollgate::services::organizations::actor(db, user_id, org_id)
        .await
        .unwrap();
    let payloads = [
        "<script>alert('xss')</script>",
        "\"><img src=x onerror=alert(1)>",
        "javascript:alert(1)//</title>",
    ];
    use tollgate::services::{organizations, tokens};
    organizations::update_settings(db, &owner, payloads[1], RotationGrace::None, None, 0)
        .await
        .unwrap();
    for (i, payload) in payloads.iter().enumerate() {
        tollgate::services::workspaces::create_workspace(
            db,
            &owner,
            &format!("{payload} {i}"),
            None,
            0,
        )
        .await
        .unwrap();
        let new = tokens::NewToken {
            label: payload.to_string(),
            scopes: vec![Scope::AnalyticsRead],
            binding: Binding::Organization,
            workspace_id: None,
            profile_id: None,
            expires_at: None,
        };
        tokens::create(
            db,
            &owner,
            tollgate::config::Environment::Live,
            new,
            None,
            0,
        )
        .await
        .unwrap();
    }
    for path in dashboard_pages(db).await {
        let path = path.as_str();
        let (headers, html) = page(&app, path, &cookie).await;
        for raw in ["<script>alert", "<img src=x", "\"><img"] {
            assert!(!html.contains(raw), "{path} renders {raw:?} as markup");
        }
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        // The only inline scripts are the hydration bootstrap, carrying this response's nonce.
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce");
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap();
            assert!(
                tag.contains("src=") || tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: inline script without the nonce: <script{tag}>"
            );
        }
    }
    let (_, tokens_html) = page(&app, "/tokens", &cookie).await;
    assert!(
        tokens_html.contains("&lt;script&gt;alert"),
        "the label is shown, escaped"
    );
}

/// The audit log downloads as CSV for admins of the session's organization only, filtered as
/// the page is, and no field of it is a spreadsheet formula.
#[tokio::test]
async fn the_audit_log_downloads_as_csv_for_admins_only() {
    let test_db = TestDb::sqlite().await;
    let app = app(&test_db).await;
    let cookie = signed_up(&app, "owner@example.com").await;
    dashboard_pages(test_db.db()).await;
    // A workspace named like a formula: the export must not let a spreadsheet run it.
    let (user_id, org_id): (i64, i64) = sqlx::query_as("SELECT user_id, org_id FROM memberships")
        .fetch_one(&test_db.db().pool)
        .await
        .unwrap();
    let owner = tollgate::services::organizations::actor(test_db.db(), user_id, org_id)
        .await
        .unwrap();
    tollgate::services::workspaces::create_workspace(test_db.db(), &owner, "=1+1", None, 0)
        .await
        .unwrap();

    let get = |path: &str, cookie: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    let response = get("/audit.csv", Some(&cookie)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let csv = body(response).await;
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "time_utc,action,details,token,actor,ip,repeats");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("token.created,\"dialog (tg_live_")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",workspace.created,'=1+1,")),
        "{csv}"
    );
    assert!(!csv.contains(",=1+1"), "{csv}");

    let only_tokens = body(
        get("/audit.csv?action=token.created", Some(&cookie))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        only_tokens.split("\r\n").filter(|l| !l.is_empty()).count(),
        2,
        "{only_tokens}"
    );
    let unknown = get("/audit.csv?action=nonsense", Some(&cookie))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // Without a session nothing is exported (members are refused by the same reader as the
    // page's: `services::audit`, tested in tokens.rs).
    assert_eq!(
        get("/audit.csv", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}
