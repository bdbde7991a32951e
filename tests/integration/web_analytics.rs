//! The REST API's website traffic (spec §12: analytics, visitors, realtime) through the real
//! router on real databases: numbers against independent SQL over the demo sessions, the
//! endpoints against each other, masks, costs and errors.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::Value;
use tollgate::model::{Binding, Scope};
use tollgate::services::organizations;
use tollgate::storage::Db;

use crate::support::{
    close, count, first_workspace, founder, issue_token, money, on_each_engine, rest_get as get,
    DEMO, ORIGIN,
};

/// The demo range's sessions of `workspace`, as SQL conditions on `s` (web_sessions).
fn in_demo(workspace: i64) -> String {
    format!(
        "FROM web_sessions s JOIN web_visitors v ON v.id = s.visitor_id JOIN profiles p ON p.id = s.profile_id \
         WHERE p.workspace_id = {workspace} AND s.day >= '2026-08-25' AND s.day <= '2026-11-22'"
    )
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("{value} is an integer"))
}

fn sum(items: &Value, field: &str) -> i64 {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| int(&i[field]))
        .sum()
}

#[tokio::test]
async fn traffic_endpoints_agree_with_the_sessions_and_with_each_other() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let token = issue_token(
            &db,
            &owner,
            vec![Scope::AnalyticsRead, Scope::ConversionsRead],
            Binding::Workspace,
            Some(ws),
        )
        .await;
        let from = in_demo(ws);
        let sessions = count(&db, &format!("SELECT COUNT(*) {from}")).await;
        let visitors = count(&db, &format!("SELECT COUNT(DISTINCT s.visitor_id) {from}")).await;
        let pageviews = count(
            &db,
            &format!("SELECT CAST(SUM(s.pageviews) AS BIGINT) {from}"),
        )
        .await;
        let bounces = count(&db, &format!("SELECT COUNT(*) {from} AND s.pageviews = 1")).await;
        assert!(
            sessions > 4_000 && visitors > 2_000,
            "{sessions} sessions, {visitors} visitors"
        );

        let (status, _, overview) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/overview?{DEMO}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        assert_eq!(
            (
                int(&overview["sessions"]),
                int(&overview["visitors"]),
                int(&overview["pageviews"])
            ),
            (sessions, visitors, pageviews)
        );
        let bounce_rate = overview["bounce_rate"].as_f64().unwrap();
        assert!(
            (bounce_rate - bounces as f64 / sessions as f64).abs() < 0.0001,
            "{bounce_rate}"
        );
        // The overview's conversions are the conversions endpoint's.
        let (_, _, conversions) = get(&app, Some(&token), &format!("/v1/conversions?{DEMO}")).await;
        assert_eq!(overview["conversions"], conversions["conversions"]);
        assert!(close(
            money(&overview["revenue"]),
            money(&conversions["revenue"])
        ));

        // Day by day: every day, adding up to the overview.
        let (status, _, daily) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/timeseries?{DEMO}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{daily}");
        let points = &daily["points"];
        assert_eq!(points.as_array().unwrap().len(), 90);
        assert_eq!(sum(points, "sessions"), sessions);
        assert_eq!(sum(points, "pageviews"), pageviews);
        assert_eq!(sum(points, "conversions"), int(&overview["conversions"]));
        let revenue: f64 = points
            .as_array()
            .unwrap()
            .iter()
            .map(|p| money(&p["revenue"]))
            .sum();
        assert!(close(revenue, money(&overview["revenue"])));
        assert!(
            sum(points, "visitors") >= visitors,
            "a visitor of two days counts on each"
        );
        // Week by week: Monday to Sunday, cut at the range's ends, the same sums.
        let (_, _, weekly) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/timeseries?{DEMO}&interval=week"),
        )
        .await;
        let weeks = weekly["points"].as_array().unwrap();
        assert_eq!(weekly["interval"], "week");
        assert_eq!(weeks.first().unwrap()["start"], "2026-08-25");
        assert_eq!(weeks.last().unwrap()["end"], "2026-11-22");
        assert_eq!(
            weeks.len(),
            13,
            "Tue 25 Aug to Sun 22 Nov: a cut week and 12 whole ones"
        );
        assert_eq!(weeks[1]["start"], "2026-08-31");
        assert_eq!(sum(&weekly["points"], "sessions"), sessions);
        assert_eq!(
            sum(&weekly["points"], "conversions"),
            int(&overview["conversions"])
        );

        // Every breakdown covers every session once; shares add up to 1; most first.
        for dimension in [
            "channel", "page", "country", "device", "browser", "os", "referrer", "keyword",
        ] {
            let (status, _, body) = get(
                &app,
                Some(&token),
                &format!("/v1/analytics/breakdowns/{dimension}?{DEMO}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{dimension}: {body}");
            assert_eq!(body["dimension"], dimension);
            assert_eq!(int(&body["sessions"]), sessions, "{dimension}");
            assert_eq!(sum(&body["rows"], "sessions"), sessions, "{dimension}");
            let rows = body["rows"].as_array().unwrap();
            let shares: f64 = rows.iter().map(|r| r["share"].as_f64().unwrap()).sum();
            assert!(
                (shares - 1.0).abs() < 0.0005 * rows.len() as f64,
                "{dimension}: {shares}"
            );
            let counts: Vec<i64> = rows.iter().map(|r| int(&r["sessions"])).collect();
            assert!(
                counts.windows(2).all(|w| w[0] >= w[1]),
                "{dimension}: {counts:?}"
            );
            if ["country", "device", "browser", "os"].contains(&dimension) {
                assert_eq!(
                    sum(&body["rows"], "visitors"),
                    visitors,
                    "a visitor has one {dimension}"
                );
            }
        }
        // One breakdown against its own SQL: sessions per country.
        let (_, _, countries) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/breakdowns/country?{DEMO}"),
        )
        .await;
        let us = countries["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["value"] == "US")
            .unwrap()
            .clone();
        assert_eq!(
            int(&us["sessions"]),
            count(&db, &format!("SELECT COUNT(*) {from} AND v.country = 'US'")).await
        );
        assert_eq!(
            countries["rows"][0]["value"], "US",
            "the most common country leads"
        );
        // Direct sessions have no referrer: they are the row without a value.
        let (_, _, referrers) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/breakdowns/referrer?{DEMO}"),
        )
        .await;
        let direct = referrers["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["value"].is_null())
            .unwrap()
            .clone();
        assert_eq!(
            int(&direct["sessions"]),
            count(
                &db,
                &format!("SELECT COUNT(*) {from} AND s.referrer IS NULL")
            )
            .await
        );

        // Keywords: search sessions only, their shares of those.
        let searches = count(
            &db,
            &format!("SELECT COUNT(*) {from} AND s.keyword IS NOT NULL"),
        )
        .await;
        let (_, _, keywords) = get(
            &app,
            Some(&token),
            &format!("/v1/analytics/keywords?{DEMO}"),
        )
        .await;
        assert_eq!(int(&keywords["sessions"]), searches);
        assert_eq!(sum(&keywords["rows"], "sessions"), searches);
        assert!(keywords["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["value"].is_string()));

        // Quality: the overview's figures overall, and per channel adding up to them.
        let (_, _, quality) =
            get(&app, Some(&token), &format!("/v1/analytics/quality?{DEMO}")).await;
        for field in [
            "visitors",
            "sessions",
            "pageviews",
            "bounce_rate",
            "avg_duration_s",
            "pages_per_session",
            "returning_rate",
        ] {
            assert_eq!(quality["overall"][field], overview[field], "{field}");
        }
        assert_eq!(sum(&quality["channels"], "sessions"), sessions);
        assert_eq!(quality["channels"].as_array().unwrap().len(), 7);
        let returning = quality["overall"]["returning_rate"].as_f64().unwrap();
        assert!(returning > 0.1 && returning < 0.6, "{returning}");

        // One profile's figures and the other's make the workspace's.
        let profiles: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM profiles WHERE workspace_id = $1")
                .bind(ws)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let mut by_profile = 0;
        for (profile,) in &profiles {
            let (_, _, one) = get(
                &app,
                Some(&token),
                &format!("/v1/analytics/overview?{DEMO}&profile_id={profile}"),
            )
            .await;
            by_profile += int(&one["sessions"]);
        }
        assert_eq!(by_profile, sessions);

        // Bad values are named.
        for (path, says) in [
            ("/v1/analytics/breakdowns/planet", "unknown variant"),
            ("/v1/analytics/timeseries?interval=month", "unknown variant"),
            (
                "/v1/analytics/overview?start=2026-11-01&end=2026-10-01",
                "start is after end",
            ),
        ] {
            let (status, _, body) = get(&app, Some(&token), path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(
                body["error"]["message"].as_str().unwrap().contains(says),
                "{path}: {body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn visitors_are_listed_masked_and_cost_three_units() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let reader = issue_token(&db, &owner, vec![Scope::VisitorsRead], Binding::Workspace, Some(ws)).await;
        // Two weeks: every page of them fits in the token's minute (3 units a page).
        let weeks = "start=2026-11-01&end=2026-11-14";
        let from = format!(
            "FROM web_sessions s JOIN profiles p ON p.id = s.profile_id \
             WHERE p.workspace_id = {ws} AND s.day >= '2026-11-01' AND s.day <= '2026-11-14'"
        );

        // Every page, newest first, no visitor twice, all the range's visitors in the end.
        let mut seen = HashSet::new();
        let mut cursor = String::new();
        let mut pages = 0;
        let mut identified = None;
        loop {
            let (status, headers, page) = get(&app, Some(&reader), &format!("/v1/visitors?{weeks}&limit=100{cursor}")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            if pages == 0 {
                assert_eq!(headers["x-ratelimit-remaining"], "117", "a heavy endpoint costs 3 units");
            }
            pages += 1;
            assert_eq!(page["pii_masked"], true);
            let ids: Vec<i64> = page["visitors"].as_array().unwrap().iter().map(|v| int(&v["id"])).collect();
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
            for visitor in page["visitors"].as_array().unwrap() {
                assert!(seen.insert(int(&visitor["id"])), "listed once");
                assert!(visitor["anonymous_id"].is_null(), "the cookie id is masked too");
                if let Some(email) = visitor["email"].as_str() {
                    assert!(email.contains("***@"), "masked: {email}");
                    identified.get_or_insert_with(|| visitor.clone());
                }
            }
            match page["next_cursor"].as_i64() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen.len() as i64, count(&db, &format!("SELECT COUNT(DISTINCT s.visitor_id) {from}")).await);
        assert!(pages > 3, "{pages} pages");
        let units = count(&db, "SELECT CAST(SUM(units) AS BIGINT) FROM usage_events").await;
        assert_eq!(units, 3 * pages);

        // A known customer's sessions, newest first; unmasking needs pii:read.
        let visitor = identified.expect("some visitors are customers");
        let id = int(&visitor["id"]);
        let (status, _, history) = get(&app, Some(&reader), &format!("/v1/visitors/{id}/sessions")).await;
        assert_eq!(status, StatusCode::OK, "{history}");
        assert_eq!(history["visitor"]["id"], id);
        let own = count(&db, &format!("SELECT COUNT(*) FROM web_sessions WHERE visitor_id = {id}")).await;
        assert_eq!(history["sessions"].as_array().unwrap().len() as i64, own);
        let starts: Vec<&str> = history["sessions"].as_array().unwrap().iter().map(|s| s["started_at"].as_str().unwrap()).collect();
        assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first: {starts:?}");
        let (status, _, body) = get(&app, Some(&reader), &format!("/v1/visitors/{id}/sessions?include_sensitive=true")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("missing_scope")));
        let pii = issue_token(&db, &owner, vec![Scope::VisitorsRead, Scope::PiiRead], Binding::Workspace, Some(ws)).await;
        let (_, _, open) = get(&app, Some(&pii), &format!("/v1/visitors/{id}/sessions?include_sensitive=true")).await;
        assert_eq!(open["pii_masked"], false);
        let (email,): (String,) = sqlx::query_as("SELECT c.email FROM web_visitors v JOIN customers c ON c.id = v.customer_id WHERE v.id = $1")
            .bind(id).fetch_one(&db.pool).await.unwrap();
        assert_eq!(open["visitor"]["email"], email.as_str());
        assert!(open["visitor"]["anonymous_id"].as_str().is_some_and(|id| id.len() == 16));

        // Another organization's visitor is not here; analytics alone does not read visitors.
        let other = founder(&db, "other@example.com").await;
        let other_ws = first_workspace(&db, &other).await;
        let (foreign,): (i64,) = sqlx::query_as("SELECT v.id FROM web_visitors v JOIN profiles p ON p.id = v.profile_id WHERE p.workspace_id = $1 LIMIT 1")
            .bind(other_ws).fetch_one(&db.pool).await.unwrap();
        let (status, _, body) = get(&app, Some(&reader), &format!("/v1/visitors/{foreign}/sessions")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_parameter")), "{body}");
        let analytics = issue_token(&db, &owner, vec![Scope::AnalyticsRead], Binding::Workspace, Some(ws)).await;
        let (status, _, body) = get(&app, Some(&analytics), "/v1/visitors").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("missing_scope")));
    })
    .await;
}

/// Realtime: sessions with activity in the last five minutes, counted when the call is made.
async fn active_between(db: &Db, workspace: i64, since: i64) -> i64 {
    count(
        db,
        &format!(
            "SELECT COUNT(DISTINCT s.visitor_id) FROM web_sessions s JOIN profiles p ON p.id = s.profile_id \
             WHERE p.workspace_id = {workspace} AND s.started_at + s.duration_s * 1000 >= {since}"
        ),
    )
    .await
}

#[tokio::test]
async fn realtime_counts_the_visitors_of_the_last_five_minutes() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        // An organization made now has traffic up to now; the founder's (made at T0) has none live.
        let now = tollgate::storage::now_ms();
        let live_org = organizations::create_organization(&db, owner.user_id, "Live", now)
            .await
            .unwrap();
        let live = organizations::actor(&db, owner.user_id, live_org)
            .await
            .unwrap();
        let live_ws = first_workspace(&db, &live).await;
        let token = issue_token(
            &db,
            &live,
            vec![Scope::RealtimeRead],
            Binding::Workspace,
            Some(live_ws),
        )
        .await;

        let before = tollgate::storage::now_ms();
        let (status, _, body) = get(&app, Some(&token), "/v1/realtime").await;
        let after = tollgate::storage::now_ms();
        assert_eq!(status, StatusCode::OK, "{body}");
        let active = int(&body["active_visitors"]);
        let window = 5 * 60 * 1000;
        assert!(active >= active_between(&db, live_ws, after - window).await);
        assert!(active <= active_between(&db, live_ws, before - window).await);
        assert!(
            active >= 4,
            "the demo has a few visitors on the site: {body}"
        );
        assert_eq!(sum(&body["countries"], "visitors"), active);
        assert_eq!(sum(&body["devices"], "visitors"), active);

        let old_ws = first_workspace(&db, &owner).await;
        let old = issue_token(
            &db,
            &owner,
            vec![Scope::RealtimeRead],
            Binding::Workspace,
            Some(old_ws),
        )
        .await;
        let (_, _, body) = get(&app, Some(&old), "/v1/realtime").await;
        assert_eq!(body["active_visitors"], 0, "{body}");
    })
    .await;
}
