//! Overload: with more calls in flight than the server takes, the rest are refused at once
//! with 503 and `Retry-After` (not queued without bound); every admitted call is served and
//! metered, and the server answers normally right after.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{founder, issue_token, post_json, TestDb, ORIGIN};
use tollgate::model::{Binding, Scope};

#[tokio::test]
async fn calls_beyond_the_in_flight_limit_are_shed_with_503() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let mut state = crate::support::app_state(&db, ORIGIN);
    state.config = Arc::new(tollgate::config::Config {
        max_in_flight: 2,
        ..(*state.config).clone()
    });
    let app = tollgate::http::router(state);
    let owner = founder(&db, "owner@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(
            issue_token(
                &db,
                &owner,
                vec![Scope::AnalyticsRead],
                Binding::Organization,
                None,
            )
            .await,
        );
    }
    let ws = crate::support::first_workspace(&db, &owner).await;
    let calls: Vec<_> = (0..80)
        .map(|i| {
            let (app, token) = (app.clone(), tokens[i % 4].clone());
            tokio::spawn(async move {
                post_json(
                    &app,
                    "/v1/tools/get_performance_summary",
                    Some(&token),
                    &[],
                    json!({ "workspace_id": ws }),
                )
                .await
            })
        })
        .collect();
    let (mut served, mut shed) = (0, 0);
    for call in calls {
        let (status, headers, body) = call.await.unwrap();
        match status {
            StatusCode::OK => served += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                shed += 1;
                assert_eq!(headers["retry-after"], "1");
                assert_eq!(body["error"]["code"], "overloaded");
                assert_eq!(body["error"]["retryable"], true);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(shed > 0, "some calls were shed");
    assert!(served >= 2, "the admitted calls were served");
    let (metered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        metered, served,
        "every served call is metered, no shed call is"
    );
    let (status, _, _) = post_json(
        &app,
        "/v1/tools/get_performance_summary",
        Some(&tokens[0]),
        &[],
        json!({ "workspace_id": ws }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the server answers normally after the burst"
    );
}
