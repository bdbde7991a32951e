//! What the integration tests share: a fresh SQLite file or PostgreSQL database per test
//! (dropped after), founders and their tokens, requests through the router, the real server
//! binary on a port of its own.
//!
//! PostgreSQL is reached at `TOLLGATE_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/postgres);
//! `TOLLGATE_TEST_ENGINES=sqlite` limits a run to SQLite.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use tollgate::model::Role;
use tollgate::services::organizations::{self, Actor};
use tollgate::services::{accounts, invites};
use tollgate::storage::Db;

/// A live token of `actor`'s with `scopes` and `binding` (and the workspace it is bound to).
/// The id of an issued token.
pub async fn token_id(db: &Db, token: &str) -> i64 {
    let hash = tollgate::secrets::sha256_hex(token);
    sqlx::query_as::<_, (i64,)>("SELECT id FROM tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .0
}

/// A token of `actor`'s organization with every scope.
pub async fn org_token(db: &Db, actor: &Actor) -> String {
    issue_token(
        db,
        actor,
        tollgate::model::Scope::ALL.to_vec(),
        tollgate::model::Binding::Organization,
        None,
    )
    .await
}

pub async fn issue_token(
    db: &Db,
    actor: &Actor,
    scopes: Vec<tollgate::model::Scope>,
    binding: tollgate::model::Binding,
    workspace_id: Option<i64>,
) -> String {
    let new = tollgate::services::tokens::NewToken {
        label: "test".into(),
        scopes,
        binding,
        workspace_id,
        profile_id: None,
        expires_at: None,
    };
    tollgate::services::tokens::create(
        db,
        actor,
        tollgate::config::Environment::Live,
        new,
        None,
        T0,
    )
    .await
    .unwrap()
    .token
}

/// The first workspace of `actor`'s organization (the one with the demo data).
pub async fn first_workspace(db: &Db, actor: &Actor) -> i64 {
    tollgate::services::workspaces::workspaces(db, actor)
        .await
        .unwrap()
        .workspaces[0]
        .id
}

pub async fn credit_balance(db: &Db, org_id: i64) -> i64 {
    let (balance,): (i64,) =
        sqlx::query_as("SELECT credit_balance FROM organizations WHERE id = $1")
            .bind(org_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    balance
}

/// What the ledger says the balance is: grants and refunds minus charges.
pub async fn ledger_sum(db: &Db, org_id: i64) -> i64 {
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT CAST(SUM(CASE WHEN kind = 'charge' THEN -amount ELSE amount END) AS BIGINT) FROM credit_ledger WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sum
}

/// Where the tests' router believes it is served.
pub const ORIGIN: &str = "http://127.0.0.1:3999";

/// POSTs a JSON body to the router as a client of `ORIGIN` would (with a bearer token and any
/// `extra` headers); returns the status, the headers and the body as JSON (null if not JSON).
pub async fn post_json(
    app: &axum::Router,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: serde_json::Value,
) -> (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    serde_json::Value,
) {
    let mut request = axum::http::Request::post(path)
        .header(axum::http::header::HOST, "127.0.0.1:3999")
        .header(axum::http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    answer(
        app,
        request
            .body(axum::body::Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// The router's answer to `request`: status, headers and the body as JSON (null if not JSON).
pub async fn answer(
    app: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    serde_json::Value,
) {
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The server's state over `db`, as `main` builds it, reachable at `public_url`.
pub fn app_state(db: &Db, public_url: &str) -> tollgate::state::AppState {
    let addr = public_url
        .trim_start_matches("http://")
        .parse()
        .expect("public_url is http://ip:port");
    let config = tollgate::config::Config {
        outbound_allow: local_allow(),
        ..tollgate::config::Config::local(addr)
    };
    let leptos_options = leptos::config::LeptosOptions::builder()
        .output_name("tollgate")
        .build();
    db.start_token_cache();
    tollgate::state::AppState {
        db: db.clone(),
        enforcer: tollgate::enforcement::Enforcer::start(db.clone(), &config),
        client_documents: config.client_documents(),
        config: std::sync::Arc::new(config),
        leptos_options,
        lifecycle: Default::default(),
    }
}

/// The tests' receivers listen on loopback: the allow-list an operator would set for them.
pub fn local_allow() -> tollgate::outbound::AllowList {
    tollgate::outbound::AllowList::parse("127.0.0.0/8").unwrap()
}

/// The write-back courier as the server builds it, with the tests' allow-list.
pub fn courier() -> tollgate::services::write_back::Courier {
    tollgate::services::write_back::Courier::new(tollgate::outbound::Outbound::new(
        local_allow(),
        tollgate::services::write_back::DELIVERY_TIMEOUT,
    ))
}

/// 2026-11-23 05:22 UTC: the tests' clock starts here.
pub const T0: i64 = 1_795_411_320_000;
pub const PASSWORD: &str = "correct horse battery";

/// A user with an organization ("Acme") of their own, as sign-up makes it.
pub async fn founder(db: &Db, email: &str) -> Actor {
    let user_id = accounts::create_user(db, email, PASSWORD, T0)
        .await
        .unwrap();
    let org_id = organizations::create_organization(db, user_id, "Acme", T0)
        .await
        .unwrap();
    // Calls through the pipeline run on the real clock: the trial starts today, whenever the
    // suite runs (its fixed-clock tests pass `now` themselves).
    sqlx::query("UPDATE organizations SET period_anchor = $1 WHERE id = $2")
        .bind(tollgate::storage::now_ms().max(T0))
        .bind(org_id)
        .execute(&db.pool)
        .await
        .unwrap();
    organizations::actor(db, user_id, org_id).await.unwrap()
}

/// Adds a new user to `owner`'s organization with `role` through an invite.
pub async fn join(db: &Db, owner: &Actor, email: &str, role: Role) -> Actor {
    let invite = invites::create(db, owner, email, role, None, T0)
        .await
        .unwrap();
    let user_id = accounts::create_user(db, email, PASSWORD, T0)
        .await
        .unwrap();
    invites::accept(db, &invite.code, user_id, None, T0)
        .await
        .unwrap();
    organizations::actor(db, user_id, owner.org_id)
        .await
        .unwrap()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn pg_admin_url() -> String {
    std::env::var("TOLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// An empty folder of its own under the system's temporary folder.
pub fn new_data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "tollgate_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub enum TestDb {
    Sqlite { db: Db, dir: PathBuf },
    Postgres { db: Db, name: String },
}

impl TestDb {
    pub fn db(&self) -> &Db {
        match self {
            TestDb::Sqlite { db, .. } | TestDb::Postgres { db, .. } => db,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = new_data_dir();
        let url = format!("sqlite://{}/tollgate.db", dir.display());
        TestDb::Sqlite {
            db: Db::connect(&url).await.expect("open SQLite"),
            dir,
        }
    }

    pub async fn postgres() -> TestDb {
        sqlx::any::install_default_drivers();
        let name = unique_name();
        let admin = pg_admin_url();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be reachable for the test suite (see TOLLGATE_TEST_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        TestDb::Postgres {
            db: Db::connect(&url).await.expect("open PostgreSQL"),
            name,
        }
    }

    /// The URL the database is reached at, for a server process of its own.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir, .. } => format!("sqlite://{}/tollgate.db", dir.display()),
            TestDb::Postgres { name, .. } => {
                format!("{}/{name}", pg_admin_url().rsplit_once('/').unwrap().0)
            }
        }
    }

    /// A second pool on the same database: what another instance (or a restart) would see.
    pub async fn reopen(&self) -> Db {
        match self {
            TestDb::Sqlite { dir, .. } => {
                Db::connect(&format!("sqlite://{}/tollgate.db", dir.display()))
                    .await
                    .unwrap()
            }
            TestDb::Postgres { name, .. } => Db::connect(&format!(
                "{}/{name}",
                pg_admin_url().rsplit_once('/').unwrap().0
            ))
            .await
            .unwrap(),
        }
    }

    /// The raw bytes of the database, for checks that a secret was never written.
    pub async fn contains_text(&self, needle: &str) -> bool {
        match self {
            TestDb::Sqlite { dir, db } => {
                // Checkpoint so the WAL's content is in the main file too; then read every file.
                sqlx::query("PRAGMA wal_checkpoint(FULL)")
                    .execute(&db.pool)
                    .await
                    .ok();
                std::fs::read_dir(dir).unwrap().any(|entry| {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
                    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                })
            }
            TestDb::Postgres { db, .. } => {
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(&db.pool)
                .await
                .unwrap();
                for (table,) in tables {
                    let (hits,): (i64,) = sqlx::query_as(&format!(
                        "SELECT COUNT(*) FROM {table} t WHERE CAST(row_to_json(t) AS TEXT) LIKE $1"
                    ))
                    .bind(format!("%{needle}%"))
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                    if hits > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { name, .. } => {
                let name = name.clone();
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::AnyConnection::connect(&pg_admin_url()).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub fn engines() -> Vec<&'static str> {
    match std::env::var("TOLLGATE_TEST_ENGINES").as_deref() {
        Ok("sqlite") => vec!["sqlite"],
        Ok("postgres") => vec!["postgres"],
        _ => vec!["sqlite", "postgres"],
    }
}

/// Runs `test` once per engine, each on a database of its own.
pub async fn on_each_engine<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in engines() {
        let test_db = if engine == "sqlite" {
            TestDb::sqlite().await
        } else {
            TestDb::postgres().await
        };
        eprintln!("-- on {engine}");
        test(test_db.db().clone()).await;
    }
}

/// A free port on 127.0.0.1 for a server of the test's own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real server binary on `db_url`, listening on 127.0.0.1:`port`.
pub fn start_server(db_url: &str, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", db_url)
        .env("TOLLGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server")
}

/// The one number `sql` selects (a count, a sum).
pub async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_as::<_, (i64,)>(sql)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .0
}

/// A tool call on the plain-HTTP surface of the server binary on `port`.
pub async fn call_server(
    client: &reqwest::Client,
    port: u16,
    token: &str,
    tool: &str,
    args: serde_json::Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("http://127.0.0.1:{port}/v1/tools/{tool}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(args.to_string())
        .send()
        .await
}

pub async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/v1/tools"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

// Shared with the benchmark (benches/load.rs), which cannot use this module.
#[path = "sign_in.rs"]
mod sign_in;
pub use sign_in::sign_in_http;

/// Signs in through the router as the sign-in form does, from behind a proxy that forwarded
/// `forwarded_for`; returns the session cookie (`name=value`).
pub async fn sign_in_cookie(app: &axum::Router, email: &str, forwarded_for: &str) -> String {
    use leptos::server_fn::ServerFn;
    use tower::ServiceExt;
    let form = format!(
        "email={}&password={}&invite=",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let request = axum::http::Request::post(tollgate::api::auth::SignIn::PATH)
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(axum::http::header::HOST, "127.0.0.1:3999")
        .header(axum::http::header::ORIGIN, ORIGIN)
        .header("x-forwarded-for", forwarded_for)
        .body(axum::body::Body::from(form))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let cookie = response
        .headers()
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(tollgate::http::SESSION_COOKIE))
        .unwrap_or_else(|| panic!("{email} signed in ({})", response.status()));
    cookie.split(';').next().unwrap().to_string()
}

/// The demo data's 90 days for an organization made at `T0`, as REST query parameters.
pub const DEMO: &str = "start=2026-08-25&end=2026-11-22";

/// `GET path` of the REST API, with `token` when given.
pub async fn rest_get(
    app: &axum::Router,
    token: Option<&str>,
    path: &str,
) -> (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    serde_json::Value,
) {
    use axum::http::header;
    let mut request = axum::http::Request::get(path).header(header::HOST, "127.0.0.1:3999");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    answer(app, request.body(axum::body::Body::empty()).unwrap()).await
}

/// An amount of an answer, which must be a number.
pub fn money(value: &serde_json::Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is a number"))
}

/// Whether two amounts are the same to the cent.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}
