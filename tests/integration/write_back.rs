//! Write-back delivered to a real local receiver: signature verified, retried after a
//! receiver failure, never duplicated; refused while write-back is off.

use std::sync::{Arc, Mutex};

use crate::support::{founder, on_each_engine, ORIGIN, T0};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tollgate::model::{Binding, Scope};
use tollgate::secrets::sha256_hex;
use tollgate::services::write_back;

const SECRET: &str = "a-long-shared-signing-secret";

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
            write_back::configure(&db, &owner, ws, true, &url, "short", None, T0)
                .await
                .is_err(),
            "a short secret is refused"
        );
        write_back::configure(&db, &owner, ws, true, &url, SECRET, None, T0)
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

        let client = reqwest::Client::new();
        let now = tollgate::storage::now_ms();
        assert_eq!(write_back::deliver_due(&db, &client, now).await.unwrap(), 3);
        // The first request failed: e1 waits for its retry; e2 and e3 arrived.
        assert_eq!(write_back::outbox_status(&db, ws).await.unwrap().0, 1);
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 500)
                .await
                .unwrap(),
            0,
            "backoff holds the retry"
        );
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 2_000)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            write_back::deliver_due(&db, &client, now + 10_000)
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
async fn an_endpoint_that_keeps_failing_ends_as_failed() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        // Nothing listens on port 9 of loopback: every attempt fails to connect.
        write_back::configure(
            &db,
            &owner,
            ws,
            true,
            "http://127.0.0.1:9/hook",
            SECRET,
            None,
            T0,
        )
        .await
        .unwrap();
        write_back::enqueue(&db, ws, &[("x".into(), json!({}))], T0)
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let mut now = T0;
        for _ in 0..write_back::MAX_ATTEMPTS {
            assert_eq!(write_back::deliver_due(&db, &client, now).await.unwrap(), 1);
            now += 3_600_000;
        }
        let (pending, delivered, failed, last_error) =
            write_back::outbox_status(&db, ws).await.unwrap();
        assert_eq!((pending, delivered, failed), (0, 0, 1));
        assert!(last_error.unwrap().contains("could not reach the endpoint"));
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
            true,
            "http://127.0.0.1:9/hook",
            SECRET,
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
        let count = |sql: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (i64,)>(sql)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
                    .0
            }
        };
        assert_eq!(
            count("SELECT COUNT(*) FROM usage_events").await,
            1,
            "one execution, metered once"
        );
        assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 1);
        assert_eq!(
            count("SELECT CAST(SUM(units) AS BIGINT) FROM period_usage").await,
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
        assert_eq!(count("SELECT COUNT(*) FROM usage_events").await, 3);

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
        let later = created + idempotency::WINDOW_MS;
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
