//! Write-back delivered to a real local receiver: signature verified, retried after a
//! receiver failure, never duplicated; refused while write-back is off.

use std::sync::{Arc, Mutex};

use crate::support::{count, founder, on_each_engine, ORIGIN, T0};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tollgate::model::{Binding, Role, Scope};
use tollgate::outbound::{AllowList, Outbound};
use tollgate::secrets::sha256_hex;
use tollgate::services::{write_back, ServiceError};

const SECRET: &str = "a-long-shared-signing-secret";

/// Write-back on, to `url`, signed with `secret`.
fn on<'a>(url: &'a str, secret: &'a str) -> write_back::Settings<'a> {
    write_back::Settings {
        enabled: true,
        url,
        secret,
    }
}

#[derive(Default)]
struct Receiver {
    requests: usize,
    accepted: Vec<Value>,
}

/// A receiver on 127.0.0.1 that fails its first request, then verifies and keeps each event.
async fn receiver() -> (String, Arc<Mutex<Receiver>>) {
    let seen = Arc::new(Mutex::new(Receiver::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().unwrap();
                seen.requests += 1;
                if seen.requests == 1 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let body = String::from_utf8(body.to_vec()).unwrap();
                let timestamp: i64 = headers[write_back::TIMESTAMP_HEADER]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let signature = headers[write_back::SIGNATURE_HEADER].to_str().unwrap();
                if signature != write_back::signature(SECRET, timestamp, &body) {
                    return StatusCode::UNAUTHORIZED;
                }
                seen.accepted.push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn send(app: &axum::Router, token: &str, events: Value) -> (StatusCode, Value) {
    send_with(app, token, json!({ "events": events }), &[]).await
}

async fn send_with(
    app: &axum::Router,
    token: &str,
    body: Value,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (status, _, body) = crate::support::post_json(
        app,
        "/v1/tools/send_meta_conversions",
        Some(token),
        extra,
        body,
    )
    .await;
    (status, body)
}

fn event(id: &str) -> Value {
    json!({ "event_id": id, "event_name": "Purchase", "event_time": 1_795_000_000, "value": 42.5, "currency": "USD", "email": "Jane@Example.com" })
}

#[tokio::test]
async fn conversions_are_signed_retried_and_never_duplicated() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let (url, seen) = receiver().await;
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let token = crate::support::issue_token(
            &db,
            &owner,
            vec![Scope::ConversionsWrite],
            Binding::Workspace,
            Some(ws),
        )
        .await;

        let (status, body) = send(&app, &token, json!([event("e1")])).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("write_back_disabled"))
        );
        assert!(
            write_back::configure(
                &db,
                &owner,
                ws,
                on(&url, "short"),
                &crate::support::local_allow(),
                None,
                T0
            )
            .await
            .is_err(),
            "a short secret is refused"
        );
        write_back::configure(
            &db,
            &owner,
            ws,
            on(&url, SECRET),
            &crate::support::local_allow(),
            None,
            T0,
        )
        .await
        .unwrap();

        let (status, body) = send(&app, &token, json!([event("e1"), event("e2")])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["queued"].clone(), body["duplicates"].clone()),
            (json!(2), json!(0))
        );
        let (_, body) = send(&app, &token, json!([event("e1"), event("e3")])).await;
        assert_eq!(
            (body["queued"].clone(), body["duplicates"].clone()),
            (json!(1), json!(1))
        );

        let client = crate::support::courier();
        let now = tollgate::storage::now_ms();
        assert_eq!(write_back::deliver_due(&db, &client, now).await.unwrap(), 3);
        // The first request failed: e1 waits for its retry; e2 and e3 arrived.
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap().0, 1);
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 20_000)
                .await
                .unwrap(),
            0,
            "backoff holds the retry"
        );
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 30_000)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 3_600_000)
                .await
                .unwrap(),
            0,
            "nothing is sent twice"
        );
        let (pending, delivered, failed, _) = write_back::outbox_status(&db, ws).await.unwrap();
        assert_eq!((pending, delivered, failed), (0, 3, 0));

        let seen = seen.lock().unwrap();
        assert_eq!(seen.requests, 4);
        let mut ids: Vec<&str> = seen
            .accepted
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        // Only a hash of the email leaves Tollgate.
        assert_eq!(
            seen.accepted[0]["event"]["user_data"]["em"],
            sha256_hex("jane@example.com")
        );
        assert_eq!(seen.accepted[0]["workspace_id"], ws);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_retried_for_a_day_then_failed() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        // Nothing listens on port 9 of loopback: every attempt fails to connect.
        let url = "http://127.0.0.1:9/hook";
        let allow = crate::support::local_allow();
        write_back::configure(&db, &owner, ws, on(url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        queue(&db, ws, "x", 2).await;
        let courier = crate::support::courier();
        let retries = || {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (String, i64)>(
                    "SELECT status, next_attempt_at FROM outbox ORDER BY id",
                )
                .fetch_all(&db.pool)
                .await
                .unwrap()
            }
        };
        // The clock jumps from retry to retry.
        let (mut now, mut spread) = (T0, false);
        loop {
            assert_eq!(
                write_back::deliver_due(&db, &courier, now).await.unwrap(),
                2
            );
            let next = retries().await;
            if next.iter().all(|(status, _)| status == "failed") {
                break;
            }
            for (status, at) in &next {
                assert_eq!(status, "pending");
                assert!(at - now <= 3_600_000, "at most an hour apart");
            }
            let first = next.iter().map(|(_, at)| *at).min().unwrap();
            let last = next.iter().map(|(_, at)| *at).max().unwrap();
            assert_eq!(
                write_back::deliver_due(&db, &courier, first - 1)
                    .await
                    .unwrap(),
                0,
                "nothing is retried early"
            );
            spread |= first != last;
            now = last;
        }
        assert!(now - T0 >= 86_400_000, "retried for at least a day");
        assert!(
            spread,
            "jitter spreads the retries of events that failed together"
        );
        let (pending, delivered, failed, last_error) =
            write_back::outbox_status(&db, ws).await.unwrap();
        assert_eq!((pending, delivered, failed), (0, 0, 2));
        assert_eq!(last_error.as_deref(), Some("could not connect"));
    })
    .await;
}

#[tokio::test]
async fn idempotent_retries_run_once_and_conflicting_reuse_is_refused() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        write_back::configure(
            &db,
            &owner,
            ws,
            on("http://127.0.0.1:9/hook", SECRET),
            &crate::support::local_allow(),
            None,
            T0,
        )
        .await
        .unwrap();
        let token = crate::support::issue_token(
            &db,
            &owner,
            vec![Scope::ConversionsWrite],
            Binding::Workspace,
            Some(ws),
        )
        .await;
        let body = json!({ "events": [event("once")], "idempotency_key": "retry-1" });

        let calls = (0..500).map(|_| {
            let (app, token, body) = (app.clone(), token.clone(), body.clone());
            tokio::spawn(async move { send_with(&app, &token, body, &[]).await })
        });
        for call in calls {
            let (status, body) = call.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(
                (body["queued"].clone(), body["duplicates"].clone()),
                (json!(1), json!(0)),
                "every duplicate sees the first result"
            );
        }
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM usage_events").await,
            1,
            "one execution, metered once"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox").await, 1);
        assert_eq!(
            count(&db, "SELECT CAST(SUM(units) AS BIGINT) FROM period_usage").await,
            10
        );

        // The same key with other arguments is a conflict; the header form works alike.
        let (status, body) = send(&app, &token, json!([event("other")])).await;
        assert_eq!(status, StatusCode::OK, "no key: a plain call {body}");
        let conflicting = json!({ "events": [event("different")], "idempotency_key": "retry-1" });
        let (status, body) = send_with(&app, &token, conflicting, &[]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_conflict"))
        );
        let via_header = json!({ "events": [event("via-header")] });
        let (first, _) = send_with(
            &app,
            &token,
            via_header.clone(),
            &[("idempotency-key", "h-1")],
        )
        .await;
        let (again, _) = send_with(&app, &token, via_header, &[("idempotency-key", "h-1")]).await;
        assert_eq!((first, again), (StatusCode::OK, StatusCode::OK));
        assert_eq!(count(&db, "SELECT COUNT(*) FROM usage_events").await, 3);

        // After 24 hours the key is forgotten.
        use tollgate::enforcement::idempotency::{self, Claim};
        let (token_id,): (i64,) = sqlx::query_as("SELECT id FROM tokens")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let (created,): (i64,) =
            sqlx::query_as("SELECT created_at FROM idempotency_keys WHERE key = 'retry-1'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let later = created + idempotency::KEY_LIFETIME_MS;
        let claim = idempotency::claim(
            &db,
            token_id,
            "retry-1",
            "send_meta_conversions",
            "any",
            later,
        )
        .await
        .unwrap();
        assert!(matches!(claim, Claim::Owner));
    })
    .await;
}

/// A receiver on `ip` that counts its requests and answers each with `status` (and `location`).
async fn counting(
    ip: &str,
    status: StatusCode,
    location: Option<String>,
) -> (String, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let (counter, location) = (counter.clone(), location.clone());
        async move {
            *counter.lock().unwrap() += 1;
            let mut headers = HeaderMap::new();
            if let Some(location) = location {
                headers.insert(axum::http::header::LOCATION, location.parse().unwrap());
            }
            (status, headers)
        }
    });
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

/// Points the workspace at `url` as if it had passed the check when saved (a name that resolved
/// to a public address then and to a private one now: DNS rebinding), and queues one event.
async fn aim_and_queue(db: &tollgate::storage::Db, ws: i64, url: &str, event_id: &str) {
    sqlx::query("UPDATE workspaces SET write_back_enabled = 1, write_back_url = $1, write_back_secret = $2 WHERE id = $3")
        .bind(url)
        .bind(SECRET)
        .bind(ws)
        .execute(&db.pool)
        .await
        .unwrap();
    write_back::enqueue(db, ws, &[(event_id.into(), json!({}))], T0)
        .await
        .unwrap();
}

async fn last_error(db: &tollgate::storage::Db, event_id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, last_error FROM outbox WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn private_addresses_are_refused_when_saved_and_when_connecting() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let (loopback, hits) = counting("127.0.0.1", StatusCode::OK, None).await;
        let port = loopback.rsplit(':').next().unwrap().to_string();
        let refused = [
            format!("{loopback}/hook"),
            format!("http://localhost:{port}/hook"),
            "http://127.1/".into(),
            "http://2130706433/".into(),
            "http://0x7f000001/".into(),
            "http://0.0.0.0/".into(),
            "http://10.1.2.3/hook".into(),
            "http://172.16.0.1/".into(),
            "http://192.168.1.1/".into(),
            "http://100.64.0.1/".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
            "http://255.255.255.255/".into(),
            "http://224.0.0.1/".into(),
            "http://[::1]/".into(),
            "http://[::]/".into(),
            "http://[fd00::1]/".into(),
            "http://[fe80::1]/".into(),
            "http://[ff02::1]/".into(),
            "http://[::ffff:127.0.0.1]/".into(),
            "http://[::ffff:a9fe:a9fe]/".into(),
        ];
        for url in &refused {
            let error = write_back::configure(&db, &owner, ws, on(url, SECRET), &AllowList::default(), None, T0)
                .await
                .expect_err(url);
            assert_eq!(
                error.to_string(),
                "Write-back only goes to public addresses: this endpoint is a loopback, private or link-local address.",
                "{url}"
            );
        }

        // Saved before its name pointed inward (or by an older version): refused when connecting,
        // by address literal and by name, with nothing internal in the error.
        let client = write_back::Courier::new(Outbound::new(
            AllowList::default(),
            write_back::DELIVERY_TIMEOUT,
        ));
        aim_and_queue(&db, ws, &format!("{loopback}/hook"), "literal").await;
        write_back::deliver_due(&db, &client, T0).await.unwrap();
        aim_and_queue(&db, ws, &format!("http://localhost:{port}/hook"), "name").await;
        write_back::deliver_due(&db, &client, T0).await.unwrap();
        assert_eq!(*hits.lock().unwrap(), 0, "no request reached the loopback receiver");
        for event_id in ["literal", "name"] {
            assert_eq!(
                last_error(&db, event_id).await,
                ("pending".into(), Some("refused: private address".into()))
            );
        }
    })
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_errors_reveal_nothing_internal() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        // The receiver is allowed (the tests allow 127.0.0.0/8); where it redirects would be too.
        let (target, target_hits) = counting("127.0.0.2", StatusCode::OK, None).await;
        let (redirecting, hits) = counting(
            "127.0.0.1",
            StatusCode::TEMPORARY_REDIRECT,
            Some(format!("{target}/elsewhere")),
        )
        .await;
        let client = crate::support::courier();
        aim_and_queue(&db, ws, &format!("{redirecting}/hook"), "redirected").await;
        write_back::deliver_due(&db, &client, T0).await.unwrap();
        assert_eq!(
            (*hits.lock().unwrap(), *target_hits.lock().unwrap()),
            (1, 0)
        );
        assert_eq!(
            last_error(&db, "redirected").await,
            ("pending".into(), Some("the endpoint answered 307".into()))
        );

        // Nothing listens on port 9: the error names no address.
        aim_and_queue(&db, ws, "http://127.0.0.1:9/hook", "unreachable").await;
        write_back::deliver_due(&db, &client, T0 + 3_600_000)
            .await
            .unwrap();
        assert_eq!(
            last_error(&db, "unreachable").await,
            ("pending".into(), Some("could not connect".into()))
        );
    })
    .await;
}

#[test]
fn a_bad_allow_list_stops_the_server_at_start() {
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env(
            "TOLLGATE_ADDR",
            format!("127.0.0.1:{}", crate::support::free_port()),
        )
        .env("TOLLGATE_WRITE_BACK_ALLOW", "10.0.0.0/8,intranet")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            server.kill().ok();
            panic!("the server started with a bad allow-list");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("TOLLGATE_WRITE_BACK_ALLOW is not valid: \"10.0.0.0/8,intranet\""),
        "{stderr}"
    );
}

/// Deliveries received by event id, from a receiver on 127.0.0.1 that takes `delay` to answer
/// and answers each request with what `answer` says for its number (1, 2, …).
type Received = Arc<Mutex<Vec<String>>>;

async fn slow_receiver<F, Fut>(answer: F) -> (String, Received)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = StatusCode> + Send,
{
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (seen, answer) = (seen.clone(), answer.clone());
        async move {
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(
                    headers[write_back::EVENT_ID_HEADER]
                        .to_str()
                        .unwrap()
                        .into(),
                );
                seen.len()
            };
            answer(n).await
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// An endpoint that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

async fn wait_for(what: &str, within: std::time::Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits (at most 5 s) until `received` holds `n` deliveries.
async fn wait_received(what: &str, received: &Received, n: usize) {
    let within = std::time::Duration::from_secs(5);
    wait_for(what, within, async || received.lock().unwrap().len() >= n).await;
}

/// A delivery pass at `now`, running in the background as another instance's would.
fn pass_in_background(
    db: &tollgate::storage::Db,
    courier: &write_back::Courier,
    now: i64,
) -> tokio::task::JoinHandle<usize> {
    let (db, courier) = (db.clone(), courier.clone());
    tokio::spawn(async move { write_back::deliver_due(&db, &courier, now).await.unwrap() })
}

async fn queue(db: &tollgate::storage::Db, ws: i64, prefix: &str, n: usize) {
    let events: Vec<(String, Value)> = (0..n)
        .map(|i| (format!("{prefix}{i}"), json!({})))
        .collect();
    write_back::enqueue(db, ws, &events, T0).await.unwrap();
}

#[tokio::test]
async fn a_dead_endpoint_delays_only_its_own_workspace() {
    on_each_engine(|db| async move {
        let dead_owner = founder(&db, "dead@example.com").await;
        let dead = crate::support::first_workspace(&db, &dead_owner).await;
        let owner = founder(&db, "owner@example.com").await;
        let healthy = crate::support::first_workspace(&db, &owner).await;
        let allow = crate::support::local_allow();
        let hole = black_hole().await;
        write_back::configure(&db, &dead_owner, dead, on(&hole, SECRET), &allow, None, T0)
            .await
            .unwrap();
        let (url, received) = slow_receiver(|_| async { StatusCode::OK }).await;
        write_back::configure(&db, &owner, healthy, on(&url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        // The dead endpoint's events are older: they come first.
        queue(&db, dead, "dead-", 8).await;
        queue(&db, healthy, "ok-", 8).await;

        let timeout = std::time::Duration::from_secs(3);
        let courier = write_back::Courier::new(Outbound::new(allow, timeout));
        let started = std::time::Instant::now();
        let first = pass_in_background(&db, &courier, T0);
        let delivered = |n: i64| {
            let db = db.clone();
            async move || write_back::outbox_status(&db, healthy).await.unwrap().1 >= n
        };
        // The first pass took each workspace's share (4); the healthy one's arrive at once.
        wait_for("the first healthy events", timeout / 2, delivered(4)).await;
        // The next pass, a second later, while the dead endpoint still holds its share: it takes
        // the healthy workspace's next events and none of the dead one's.
        let tried = write_back::deliver_due(&db, &courier, T0 + 1_000)
            .await
            .unwrap();
        assert_eq!(tried, 4);
        wait_for("every healthy event", timeout / 2, delivered(8)).await;
        assert!(
            started.elapsed() < timeout,
            "delivered before the dead endpoint timed out"
        );
        assert_eq!(received.lock().unwrap().len(), 8);

        first.await.unwrap();
        let (pending, delivered, failed, last_error) =
            write_back::outbox_status(&db, dead).await.unwrap();
        assert_eq!((pending, delivered, failed), (8, 0, 0));
        assert_eq!(last_error.as_deref(), Some("timed out"));
    })
    .await;
}

#[tokio::test]
async fn a_second_instance_never_delivers_what_the_first_is_delivering() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let (url, received) = slow_receiver(|_| async {
            tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
            StatusCode::OK
        })
        .await;
        let allow = crate::support::local_allow();
        write_back::configure(&db, &owner, ws, on(&url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        queue(&db, ws, "e", 6).await;

        let courier = crate::support::courier();
        let first = pass_in_background(&db, &courier, T0);
        wait_received("the first instance's deliveries", &received, 1).await;
        // Another instance's pass, while those deliveries run, at a time past the old 60 s lease.
        let other_instance = crate::support::courier();
        let second = write_back::deliver_due(&db, &other_instance, T0 + 60_001)
            .await
            .unwrap();
        let first = first.await.unwrap();
        // Everything is over an hour later: what is left goes then.
        let third = write_back::deliver_due(&db, &courier, T0 + 3_600_000)
            .await
            .unwrap();
        // The first took the workspace's share of 4; the second nothing (their leases held).
        assert_eq!((first, second, third), (4, 0, 2));
        let mut ids = received.lock().unwrap().clone();
        ids.sort();
        assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4", "e5"], "each event once");
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap().1, 6);
    })
    .await;
}

#[tokio::test]
async fn an_instance_whose_lease_was_taken_over_cannot_record_its_outcome() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        // The first request hangs until released, then fails; later ones succeed.
        let release = Arc::new(tokio::sync::Notify::new());
        let (url, received) = slow_receiver({
            let release = release.clone();
            move |n| {
                let release = release.clone();
                async move {
                    if n > 1 {
                        return StatusCode::OK;
                    }
                    release.notified().await;
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        })
        .await;
        let allow = crate::support::local_allow();
        write_back::configure(&db, &owner, ws, on(&url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        queue(&db, ws, "e", 1).await;

        let courier = crate::support::courier();
        let stalled = pass_in_background(&db, &courier, T0);
        wait_received("the stalled delivery", &received, 1).await;
        // An hour later by the clock every lease has ended: another instance takes the event.
        let taken_over = T0 + 3_600_000;
        assert_eq!(
            write_back::deliver_due(&db, &crate::support::courier(), taken_over)
                .await
                .unwrap(),
            1
        );
        release.notify_one();
        assert_eq!(stalled.await.unwrap(), 1);

        let (status, attempts, last_error): (String, i64, Option<String>) =
            sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE event_id = 'e0'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(
            (status.as_str(), attempts, last_error),
            ("delivered", 1, None),
            "the stalled failure changed nothing"
        );
        assert_eq!(
            write_back::deliver_due(&db, &courier, taken_over + 86_400_000)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn events_wait_while_write_back_is_off_and_go_when_it_is_on() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let (url, received) = slow_receiver(|_| async { StatusCode::OK }).await;
        let allow = crate::support::local_allow();
        write_back::configure(&db, &owner, ws, on(&url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        queue(&db, ws, "e", 2).await;
        let off = write_back::Settings {
            enabled: false,
            url: &url,
            secret: "",
        };
        write_back::configure(&db, &owner, ws, off, &allow, None, T0)
            .await
            .unwrap();

        let courier = crate::support::courier();
        for hours in [0, 1, 24, 72] {
            let now = T0 + hours * 3_600_000;
            assert_eq!(
                write_back::deliver_due(&db, &courier, now).await.unwrap(),
                0
            );
        }
        let untouched: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT status, attempts, last_error FROM outbox ORDER BY id")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(
            untouched,
            vec![("pending".to_string(), 0, None); 2],
            "paused, not failed"
        );

        write_back::configure(&db, &owner, ws, on(&url, ""), &allow, None, T0)
            .await
            .unwrap();
        let later = T0 + 73 * 3_600_000;
        assert_eq!(
            write_back::deliver_due(&db, &courier, later).await.unwrap(),
            2
        );
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap().1, 2);
        assert_eq!(received.lock().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_admin_redelivers_failed_events() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let member = crate::support::join(&db, &owner, "member@example.com", Role::Member).await;
        let stranger = founder(&db, "stranger@example.com").await;
        let (url, received) = slow_receiver(|_| async { StatusCode::OK }).await;
        let allow = crate::support::local_allow();
        write_back::configure(&db, &owner, ws, on(&url, SECRET), &allow, None, T0)
            .await
            .unwrap();
        queue(&db, ws, "e", 3).await;
        // A day of failures behind two of them; the third was delivered.
        sqlx::query("UPDATE outbox SET status = 'failed', attempts = $1, last_error = 'timed out' WHERE event_id <> 'e2'")
            .bind(write_back::MAX_ATTEMPTS)
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE outbox SET status = 'delivered' WHERE event_id = 'e2'")
            .execute(&db.pool)
            .await
            .unwrap();

        let later = T0 + 86_400_000;
        assert!(matches!(
            write_back::redeliver_failed(&db, &member, ws, None, later).await,
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            write_back::redeliver_failed(&db, &stranger, ws, None, later).await,
            Err(ServiceError::NotFound(_))
        ));
        assert_eq!(
            write_back::outbox_status(&db, ws).await.unwrap(),
            (0, 1, 2, Some("timed out".into()))
        );
        let redelivered = write_back::redeliver_failed(&db, &owner, ws, Some("203.0.113.5"), later)
            .await
            .unwrap();
        assert_eq!(redelivered, 2);
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap(), (2, 1, 0, None));
        let audited: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT subject, ip FROM audit_events WHERE action = 'workspace.write_back_redeliver'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            audited,
            [("Main workspace: 2 failed events sent again".to_string(), Some("203.0.113.5".into()))]
        );

        let courier = crate::support::courier();
        assert_eq!(write_back::deliver_due(&db, &courier, later).await.unwrap(), 2);
        let mut ids = received.lock().unwrap().clone();
        ids.sort();
        assert_eq!(ids, ["e0", "e1"]);
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap(), (0, 3, 0, None));
    })
    .await;
}
