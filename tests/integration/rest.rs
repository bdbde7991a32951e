//! The REST endpoints of spec §12 (`GET /v1/…`) through the real router on real databases:
//! their numbers against independent SQL over the demo data, their consistency, their costs,
//! headers and errors.

use axum::http::{header, StatusCode};
use serde_json::Value;
use tollgate::model::{Binding, Scope};
use tollgate::storage::Db;

use crate::support::{
    close, count, first_workspace, founder, issue_token, money, on_each_engine, rest_get as get,
    DEMO, ORIGIN,
};

/// Cents of `sql` (one sum) over the demo period of `workspace`, in currency units.
async fn sum_of(db: &Db, sql: &str, workspace: i64) -> f64 {
    let (cents,): (i64,) = sqlx::query_as(sql)
        .bind(workspace)
        .bind("2026-08-25")
        .bind("2026-11-22")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    cents as f64 / 100.0
}

#[tokio::test]
async fn campaign_and_conversion_endpoints_answer_from_the_data() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let token = issue_token(&db, &owner, vec![Scope::CampaignsRead, Scope::ConversionsRead], Binding::Workspace, Some(ws)).await;

        let spend = sum_of(
            &db,
            "SELECT CAST(SUM(m.spend_cents) AS BIGINT) FROM daily_metrics m JOIN ads a ON a.id = m.ad_id \
             JOIN ad_sets s ON s.id = a.ad_set_id JOIN campaigns c ON c.id = s.campaign_id \
             JOIN profiles p ON p.id = c.profile_id WHERE p.workspace_id = $1 AND m.day >= $2 AND m.day <= $3",
            ws,
        )
        .await;
        let (status, headers, body) = get(&app, Some(&token), &format!("/v1/campaigns?{DEMO}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(headers["x-request-id"].to_str().unwrap().starts_with("req_"));
        assert_eq!(headers["x-ratelimit-limit"], "120");
        assert!(close(money(&body["totals"]["spend"]), spend), "{} against {spend}", body["totals"]["spend"]);
        let campaigns = body["campaigns"].as_array().unwrap();
        assert!(campaigns.len() >= 4);
        let spends: Vec<f64> = campaigns.iter().map(|c| money(&c["totals"]["spend"])).collect();
        assert!(spends.windows(2).all(|w| w[0] >= w[1]), "by spend: {spends:?}");
        assert!(close(spends.iter().sum(), spend));

        // Day by day: every day of the range, adding up to the same spend; one campaign alone.
        let (_, _, daily) = get(&app, Some(&token), &format!("/v1/campaigns/daily?{DEMO}")).await;
        let days = daily["days"].as_array().unwrap();
        assert_eq!(days.len(), 90);
        assert!(close(days.iter().map(|d| money(&d["totals"]["spend"])).sum(), spend));
        let first = &campaigns[0];
        let one = format!("/v1/campaigns/daily?{DEMO}&campaign_id={}", first["id"]);
        let (_, _, daily) = get(&app, Some(&token), &one).await;
        let alone: f64 = daily["days"].as_array().unwrap().iter().map(|d| money(&d["totals"]["spend"])).sum();
        assert!(close(alone, money(&first["totals"]["spend"])));
        let (_, _, ad_sets) = get(&app, Some(&token), &format!("/v1/campaigns/ad-sets?{DEMO}")).await;
        let ad_set_spend: f64 = ad_sets["ad_sets"].as_array().unwrap().iter().map(|s| money(&s["totals"]["spend"])).sum();
        assert!(close(ad_set_spend, spend));
        let (_, _, ads) = get(&app, Some(&token), &format!("/v1/campaigns/ads?{DEMO}")).await;
        let ads = ads["ads"].as_array().unwrap();
        assert_eq!(ads.len(), 24, "2 brands × 3 campaigns × 2 ad sets × 2 creatives");
        assert!(close(ads.iter().map(|a| money(&a["totals"]["spend"])).sum(), spend));

        // Conversions: the count and revenue of the table, the same again by day and by source.
        let conversions = count(
            &db,
            &format!(
                "SELECT COUNT(*) FROM conversions cv JOIN profiles p ON p.id = cv.profile_id \
                 WHERE p.workspace_id = {ws} AND cv.day >= '2026-08-25' AND cv.day <= '2026-11-22'"
            ),
        )
        .await;
        let revenue = sum_of(
            &db,
            "SELECT CAST(SUM(cv.value_cents) AS BIGINT) FROM conversions cv JOIN profiles p ON p.id = cv.profile_id \
             WHERE p.workspace_id = $1 AND cv.day >= $2 AND cv.day <= $3",
            ws,
        )
        .await;
        let cash = sum_of(
            &db,
            "SELECT CAST(SUM(cv.cash_cents) AS BIGINT) FROM conversions cv JOIN profiles p ON p.id = cv.profile_id \
             WHERE p.workspace_id = $1 AND cv.day >= $2 AND cv.day <= $3",
            ws,
        )
        .await;
        let (status, _, body) = get(&app, Some(&token), &format!("/v1/conversions?{DEMO}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(conversions > 50);
        // Cash collected: what has been paid, some WhatsApp orders not yet.
        assert!(close(money(&body["cash_collected"]), cash));
        assert!(cash > 0.0 && cash < revenue, "{cash} of {revenue}");
        assert_eq!(body["conversions"], conversions);
        assert!(close(money(&body["revenue"]), revenue));
        let days = body["days"].as_array().unwrap();
        assert_eq!(days.len(), 90);
        assert_eq!(days.iter().map(|d| d["conversions"].as_i64().unwrap()).sum::<i64>(), conversions);
        let sources = body["by_source"].as_array().unwrap();
        assert_eq!(sources.iter().map(|s| s["conversions"].as_i64().unwrap()).sum::<i64>(), conversions);
        assert!(close(sources.iter().map(|s| money(&s["revenue"])).sum(), revenue));
        assert!(close(days.iter().map(|d| money(&d["cash_collected"])).sum(), cash));
        let website = sources.iter().find(|s| s["source"] == "website").unwrap();
        assert!(close(money(&website["cash_collected"]), money(&website["revenue"])), "paid at checkout");

        // The same endpoint by name, as a tool: the same answer.
        let (_, _, by_name) = crate::support::post_json(
            &app,
            "/v1/tools/conversions_summary",
            Some(&token),
            &[],
            serde_json::json!({ "start": "2026-08-25", "end": "2026-11-22" }),
        )
        .await;
        assert_eq!(by_name, body);
    })
    .await;
}

#[tokio::test]
async fn customer_endpoints_page_mask_and_cost_three_units() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let reader = issue_token(
            &db,
            &owner,
            vec![Scope::CustomersRead],
            Binding::Workspace,
            Some(ws),
        )
        .await;
        let (status, headers, first) = get(
            &app,
            Some(&reader),
            &format!("/v1/customers?{DEMO}&limit=5"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(
            headers["x-ratelimit-remaining"], "117",
            "a heavy endpoint costs 3 units"
        );
        let listed = first["customers"].as_array().unwrap();
        assert_eq!(listed.len(), 5);
        assert_eq!(first["pii_masked"], true);
        assert!(
            listed
                .iter()
                .all(|c| c["email"].as_str().unwrap().contains('*')),
            "{first}"
        );
        let cursor = first["next_cursor"].as_i64().expect("more pages");
        let (_, _, second) = get(
            &app,
            Some(&reader),
            &format!("/v1/customers?{DEMO}&limit=5&cursor={cursor}"),
        )
        .await;
        let ids = |page: &Value| {
            page["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        let (a, b) = (ids(&first), ids(&second));
        assert!(
            a.iter()
                .chain(&b)
                .collect::<std::collections::HashSet<_>>()
                .len()
                == 10,
            "no overlap: {a:?} {b:?}"
        );
        assert!(b.iter().all(|id| *id < cursor));
        let units = count(&db, "SELECT CAST(SUM(units) AS BIGINT) FROM usage_events").await;
        assert_eq!(units, 6);

        // One customer's journey, masked; unmasking needs pii:read.
        let (status, _, journey) = get(
            &app,
            Some(&reader),
            &format!("/v1/customers/{}/journey", a[0]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{journey}");
        assert_eq!(journey["customer"]["id"], a[0]);
        assert_eq!(journey["customer"]["pii_masked"], true);
        let (status, _, body) = get(
            &app,
            Some(&reader),
            &format!("/v1/customers/{}/journey?include_sensitive=true", a[0]),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("missing_scope"))
        );
        let pii = issue_token(
            &db,
            &owner,
            vec![Scope::CustomersRead, Scope::PiiRead],
            Binding::Workspace,
            Some(ws),
        )
        .await;
        let (_, _, open) = get(
            &app,
            Some(&pii),
            &format!("/v1/customers/{}/journey?include_sensitive=true", a[0]),
        )
        .await;
        assert_eq!(open["customer"]["pii_masked"], false);
        assert!(!open["customer"]["email"].as_str().unwrap().contains('*'));
        let (status, _, body) = get(&app, Some(&reader), "/v1/customers/999999/journey").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
        );
    })
    .await;
}

#[tokio::test]
async fn rest_errors_are_the_specs() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let token = issue_token(
            &db,
            &owner,
            vec![Scope::CampaignsRead],
            Binding::Workspace,
            Some(ws),
        )
        .await;
        for (path, status, code, says) in [
            (
                "/v1/campaigns?start=2025-01-01&end=2026-01-02",
                400,
                "invalid_date_range",
                "366",
            ),
            (
                "/v1/campaigns?start=2026-02-01&end=2026-01-01",
                400,
                "invalid_date_range",
                "start is after end",
            ),
            (
                "/v1/campaigns?start=yesterday",
                400,
                "invalid_date_range",
                "start \"yesterday\"",
            ),
            (
                "/v1/campaigns?campaign_id=abc",
                400,
                "invalid_parameter",
                "campaign_id must be an integer",
            ),
            ("/v1/campaigns?limit=3", 400, "invalid_parameter", "limit"),
            (
                "/v1/campaigns?start=2026-01-01&start=2026-01-02",
                400,
                "invalid_parameter",
                "more than once",
            ),
            ("/v1/conversions", 403, "missing_scope", "conversions:read"),
            (
                "/v1/customers/abc/journey",
                400,
                "invalid_parameter",
                "customer_id must be an integer",
            ),
        ] {
            let (got, headers, body) = get(&app, Some(&token), path).await;
            assert_eq!(got.as_u16(), status, "{path}: {body}");
            assert_eq!(body["error"]["code"], code, "{path}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(says),
                "{path}: {body}"
            );
            assert_eq!(
                body["error"]["request_id"],
                headers["x-request-id"].to_str().unwrap()
            );
        }
        // 366 days are allowed; a day more is not (above).
        let (status, _, _) = get(
            &app,
            Some(&token),
            "/v1/campaigns?start=2025-01-01&end=2026-01-01",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, headers, _) = get(&app, None, "/v1/campaigns").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        // Refused calls cost nothing: only the successful one was metered.
        assert_eq!(count(&db, "SELECT COUNT(*) FROM usage_events").await, 1);
    })
    .await;
}
