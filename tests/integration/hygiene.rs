//! Secret hygiene: the real server at debug logging (its own, sqlx's and tower-http's) goes
//! through sign-up, a failed and a good sign-in, token creation and rotation, calls with good
//! and mistyped tokens on both surfaces, a write-back secret and an OAuth client's connection. Then its whole log, its error
//! answers and every byte of its database are searched for each secret (and the session id).

use std::process::{Command, Stdio};

use reqwest::Client;
use serde_json::json;

use crate::support::{free_port, wait_ready, TestDb};

const PASSWORD: &str = "hygiene-password-7f3a9c";
const WRONG_PASSWORD: &str = "wrong-password-1b2c3d";
const WRITE_BACK_SECRET: &str = "whsec-hygiene-5e6f7a8b9c";

struct Browser {
    client: Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn action(&self, page: &str, name: &str) -> String {
        let html = self
            .client
            .get(format!("{}{page}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let start = html
            .find(&format!("action=\"/api/{name}"))
            .unwrap_or_else(|| panic!("{name} on {page}"))
            + "action=\"".len();
        html[start..].split('"').next().unwrap().to_string()
    }

    /// A server function called as the hydrated page calls it; returns the status and body.
    async fn call(&self, page: &str, name: &str, form: &[(&str, &str)]) -> (u16, String) {
        let action = self.action(page, name).await;
        let response = self
            .client
            .post(format!("{}{action}", self.base))
            .header("origin", &self.base)
            .header("cookie", &self.cookie)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

fn token_in(text: &str) -> String {
    let start = text.find("tg_live_").expect("a token in the answer");
    text[start..start + 46].to_string()
}

#[tokio::test]
async fn no_secret_reaches_the_log_the_answers_or_the_database() {
    let test_db = TestDb::sqlite().await;
    let log_path = std::env::temp_dir().join(format!("tollgate-hygiene-{}.log", free_port()));
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", test_db.url())
        .env("TOLLGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug,sqlx=debug,tower_http=debug")
        // Its write-back endpoint is a local one.
        .env("TOLLGATE_WRITE_BACK_ALLOW", "127.0.0.0/8")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    wait_ready(&client, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let mut answers = String::new();

    let mut browser = Browser {
        client: client.clone(),
        base: base.clone(),
        cookie: String::new(),
    };
    let email = "hygiene@example.com";
    let (status, body) = browser
        .call(
            "/signup",
            "sign_up",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert!(status < 400, "signed up: {status} {body}");
    let (status, body) = browser
        .call(
            "/signin",
            "sign_in",
            &[("email", email), ("password", WRONG_PASSWORD)],
        )
        .await;
    assert!(status >= 400, "a wrong password is refused");
    answers.push_str(&body);
    browser.cookie = crate::support::sign_in_http(&client, &base, email, PASSWORD).await;

    let (status, body) = browser
        .call(
            "/tokens",
            "create_token",
            &[
                ("label", "hygiene"),
                ("scopes[0]", "analytics:read"),
                ("reach", "organization"),
                ("expiry", "none"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let first = token_in(&body);
    let db = test_db.db();
    let (token_id, workspace_id): (i64, i64) = sqlx::query_as(
        "SELECT t.id, w.id FROM tokens t JOIN workspaces w ON w.org_id = t.org_id ORDER BY w.id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let (status, body) = browser
        .call(
            &format!("/tokens?rotate={token_id}"),
            "rotate_token",
            &[("token_id", &token_id.to_string()), ("grace", "15m")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = token_in(&body);
    let (status, body) = browser
        .call(
            &format!("/settings/workspaces?write_back={workspace_id}"),
            "configure_write_back",
            &[
                ("workspace_id", &workspace_id.to_string()),
                ("enabled", "on"),
                ("url", "http://127.0.0.1:9/hook"),
                ("secret", WRITE_BACK_SECRET),
            ],
        )
        .await;
    assert!(status < 400, "write-back configured: {status} {body}");

    // The last character changed (never to itself).
    let changed = if second.ends_with('X') { "Y" } else { "X" };
    let mistyped = format!("{}{changed}", &second[..45]);
    for token in [&first, &second, &mistyped] {
        for (path, body) in [
            ("/v1/tools/list_workspaces", json!({})),
            (
                "/mcp",
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "list_workspaces" } }),
            ),
        ] {
            let response = client
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            answers.push_str(&response.text().await.unwrap());
        }
    }
    let oauth = oauth_secrets(&client, &base, &browser.cookie).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await; // a last-use flush
    server.kill().ok();
    server.wait().ok();

    let log = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).ok();
    assert!(
        log.contains("DEBUG") && log.contains("tools/call") || log.contains("/mcp"),
        "the log is at debug level and saw the calls"
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(
        std::path::Path::new(&test_db.url()["sqlite://".len()..])
            .parent()
            .unwrap(),
    )
    .unwrap()
    {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    let session_id = browser.cookie.split_once('=').unwrap().1.to_string();
    for (what, secret) in [
        ("session id", session_id.as_str()),
        ("password", PASSWORD),
        ("wrong password", WRONG_PASSWORD),
        ("write-back secret", WRITE_BACK_SECRET),
        ("first token", first.as_str()),
        ("rotated token", second.as_str()),
        ("mistyped token", mistyped.as_str()),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log");
        assert!(!answers.contains(secret), "the {what} is in an answer");
        if what != "write-back secret" {
            // The write-back secret is stored (it signs deliveries); the rest never are.
            assert!(
                !stored.contains(secret),
                "the {what} is in the database files"
            );
        }
    }
    // OAuth's secrets are in its answers by design (that is how the client gets them); never
    // in the log or the database.
    for (what, secret) in &oauth {
        assert!(
            !log.contains(secret.as_str()),
            "the OAuth {what} is in the log"
        );
        assert!(
            !stored.contains(secret.as_str()),
            "the OAuth {what} is in the database files"
        );
    }
}

/// A client connected through OAuth, as it goes: registration, authorization, consent, code
/// exchange, refresh. Returns each secret it saw by name.
async fn oauth_secrets(client: &Client, base: &str, cookie: &str) -> Vec<(&'static str, String)> {
    let registration =
        json!({ "client_name": "hygiene client", "redirect_uris": ["http://127.0.0.1/cb"] });
    let registered = json_answer(
        client
            .post(format!("{base}/register"))
            .header("content-type", "application/json")
            .body(registration.to_string()),
    )
    .await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    let verifier = "hygiene-verifier-0123456789-0123456789-0123456789";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let authorize = client
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:4000/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "hygiene-state"),
        ])
        .send()
        .await
        .unwrap();
    let consent_id = authorize.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/consent/")
        .to_string();
    let decided = client
        .post(format!("{base}/consent"))
        .header("origin", base)
        .header("cookie", cookie)
        .form(&[
            ("id", consent_id.as_str()),
            ("decision", "approve"),
            ("reach", "user"),
            ("scope", "analytics:read"),
            ("expiry", "30"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = decided
        .split("code=")
        .nth(1)
        .expect("a code")
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let token = |form: Vec<(&'static str, String)>| async move {
        let answer = json_answer(client.post(format!("{base}/token")).form(&form)).await;
        (
            answer["access_token"]
                .as_str()
                .expect("an access token")
                .to_string(),
            answer["refresh_token"].as_str().unwrap().to_string(),
        )
    };
    let (access, refresh) = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.clone()),
        ("code_verifier", verifier.into()),
        ("client_id", client_id.clone()),
    ])
    .await;
    let (renewed, next_refresh) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
        ("client_id", client_id),
    ])
    .await;
    vec![
        ("consent id", consent_id),
        ("code", code),
        ("code verifier", verifier.to_string()),
        ("access token", access),
        ("refresh token", refresh),
        ("renewed access token", renewed),
        ("next refresh token", next_refresh),
    ]
}

/// The JSON a request is answered with.
async fn json_answer(request: reqwest::RequestBuilder) -> serde_json::Value {
    let text = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}
