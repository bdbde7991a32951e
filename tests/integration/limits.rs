//! Rate limits and allowances hold exactly under concurrency, on SQLite and PostgreSQL.

use crate::support::{founder, issue_token, on_each_engine, org_token, token_id, ORIGIN, T0};
use axum::http::{header, StatusCode};
use serde_json::{json, Value};
use tollgate::enforcement::limits::{self, Quota, RateState};
use tollgate::enforcement::writer::{Admission, AdmitRequest, Writer};
use tollgate::model::{Binding, Scope};
use tollgate::services::tokens::{self};
use tollgate::storage::Db;

/// The calls, sent in parallel round-robin through `instances` writers over one database (as
/// several instances would), and their decisions in the same order.
async fn admit_all(db: &Db, instances: usize, calls: Vec<AdmitRequest>) -> Vec<Admission> {
    let writers: Vec<Writer> = (0..instances).map(|_| Writer::start(db.clone())).collect();
    let pending: Vec<_> = calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let writer = writers[i % instances].clone();
            tokio::spawn(async move { writer.admit(call).await.unwrap() })
        })
        .collect();
    let mut decisions = Vec::new();
    for call in pending {
        decisions.push(call.await.unwrap());
    }
    decisions
}

/// Two tokens of the owner's organization.
async fn tokens_of(db: &Db, owner: &tollgate::services::organizations::Actor) -> [i64; 2] {
    let mut ids = [0; 2];
    for id in &mut ids {
        let issued = issue_token(db, owner, Scope::ALL.to_vec(), Binding::Organization, None).await;
        *id = token_id(db, &issued).await;
    }
    ids
}

fn call(org_id: i64, token_id: i64, units: i64, at: i64) -> AdmitRequest {
    AdmitRequest {
        token_id,
        workspace_id: None,
        units,
        cap: 120,
        tool: "get_performance_summary",
        tool_limit: None,
        org_id,
        at,
    }
}

fn admitted(decisions: &[Admission]) -> usize {
    decisions
        .iter()
        .filter(|d| matches!(d, Admission::Admitted { .. }))
        .count()
}

#[tokio::test]
async fn five_hundred_parallel_calls_never_pass_the_unit_cap() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let (org, [one, two]) = (owner.org_id, tokens_of(&db, &owner).await);
        let now = tollgate::storage::now_ms();
        let decisions = admit_all(&db, 3, (0..500).map(|_| call(org, one, 1, now)).collect()).await;
        assert_eq!(admitted(&decisions), 120);
        assert!(decisions.iter().all(|d| matches!(
            d,
            Admission::Admitted { .. } | Admission::RateLimited { retry_after: 1, .. }
        )));
        // Weighted: with the cap spent, a 5-unit call waits for 5 units to refill (2.5 s → 3 s).
        let decisions = admit_all(&db, 1, vec![call(org, one, 5, now)]).await;
        let refused = Admission::RateLimited {
            retry_after: 3,
            rate: RateState {
                units: Quota {
                    limit: 120,
                    remaining: 0,
                    window: Some(60),
                    reset: Some(60),
                },
                tool: None,
                allowance: None,
            },
        };
        assert_eq!(decisions, [refused]);
        // Half a minute later 60 units are back, and no more.
        let later = now + 30_000;
        let decisions = admit_all(
            &db,
            1,
            vec![call(org, one, 60, later), call(org, one, 1, later)],
        )
        .await;
        assert!(matches!(decisions[0], Admission::Admitted { .. }));
        assert!(matches!(decisions[1], Admission::RateLimited { .. }));
        // Another token has its own cap.
        assert_eq!(
            admitted(&admit_all(&db, 1, vec![call(org, two, 1, later)]).await),
            1
        );
        // Revoked since it was verified (by another instance, say): refused, nothing taken.
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2")
            .bind(later)
            .bind(two)
            .execute(&db.pool)
            .await
            .unwrap();
        let decisions = admit_all(&db, 1, vec![call(org, two, 1, later)]).await;
        let reason = "the token was revoked".to_string();
        assert_eq!(decisions, [Admission::InvalidToken { reason }]);
    })
    .await;
}

#[tokio::test]
async fn per_tool_windows_admit_exactly_their_limit() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let (org, [token, _]) = (owner.org_id, tokens_of(&db, &owner).await);
        let now = tollgate::storage::now_ms();
        // The start of the next window: its full 60 s remain.
        let start = limits::window_end(now);
        let windowed = |at: i64| AdmitRequest {
            tool: "send_meta_conversions",
            tool_limit: Some(20),
            ..call(org, token, 1, at)
        };
        let decisions = admit_all(&db, 3, (0..60).map(|_| windowed(start)).collect()).await;
        assert_eq!(admitted(&decisions), 20);
        let refused: Vec<i64> = decisions
            .iter()
            .filter_map(|d| match d {
                Admission::RateLimited { retry_after, .. } => Some(*retry_after),
                _ => None,
            })
            .collect();
        assert!(
            refused.len() == 40 && refused.iter().all(|r| *r == 60),
            "{refused:?}"
        );
        let decisions = admit_all(&db, 1, vec![windowed(start + 59_999)]).await;
        assert!(matches!(
            decisions[0],
            Admission::RateLimited { retry_after: 1, .. }
        ));
        let decisions = admit_all(&db, 1, vec![windowed(start + 60_000)]).await;
        assert_eq!(admitted(&decisions), 1, "the next window");
    })
    .await;
}

#[tokio::test]
async fn allowances_reserve_exactly_and_failed_calls_give_units_back() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let (org, [token, _]) = (owner.org_id, tokens_of(&db, &owner).await);
        let now = tollgate::storage::now_ms();
        // A cap far above the allowance, so that only the trial's 2,000 units limit the calls.
        let unlimited = |units| AdmitRequest {
            cap: 1_000_000,
            ..call(org, token, units, now)
        };
        let calls = (0..500).map(|_| unlimited(5)).collect();
        let decisions = admit_all(&db, 3, calls).await;
        assert_eq!(admitted(&decisions), 400, "2,000 units in 5-unit calls");
        let Some(Admission::Admitted { period, .. }) = decisions.first().cloned() else {
            panic!("{decisions:?}")
        };
        assert_eq!(
            period,
            tollgate::model::Plan::Trial.period(period.start, now)
        );
        assert!(decisions.iter().all(|d| matches!(
            d,
            Admission::Admitted { .. }
                | Admission::QuotaExceeded {
                    resets_at: None,
                    ..
                }
        )));
        let count = |sql: &'static str| {
            let db = db.clone();
            async move {
                let (n,): (i64,) = sqlx::query_as(sql)
                    .bind(org)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                n
            }
        };
        let events = "SELECT COUNT(*) FROM usage_events WHERE org_id = $1";
        let daily_units = "SELECT CAST(SUM(units) AS BIGINT) FROM usage_daily WHERE org_id = $1";
        let refusals =
            "SELECT COUNT(*) FROM refusals WHERE org_id = $1 AND code = 'quota_exceeded'";
        assert_eq!(count(events).await, 400, "admitted calls are metered");
        assert_eq!(count(daily_units).await, 2_000);
        assert_eq!(count(refusals).await, 100);

        // One of them failed: its units, event and rollup count are taken back.
        Writer::start(db.clone())
            .cancel(unlimited(5), period)
            .await
            .unwrap();
        assert_eq!(count(events).await, 399);
        assert_eq!(count(daily_units).await, 1_995);
        let decisions = admit_all(&db, 1, vec![unlimited(5), unlimited(1), unlimited(0)]).await;
        assert!(matches!(decisions[0], Admission::Admitted { .. }));
        assert!(matches!(decisions[1], Admission::QuotaExceeded { .. }));
        assert!(
            matches!(decisions[2], Admission::Admitted { .. }),
            "free tools pass"
        );
        let (used,): (i64,) = sqlx::query_as("SELECT units FROM period_usage WHERE org_id = $1")
            .bind(org)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(used, 2_000);
        assert_eq!(count(events).await, 401, "the free call is metered too");
        assert_eq!(count(refusals).await, 101);
    })
    .await;
}

async fn post(
    app: &axum::Router,
    token: &str,
    tool: &str,
    args: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    crate::support::post_json(app, &format!("/v1/tools/{tool}"), Some(token), &[], args).await
}

#[tokio::test]
async fn refusals_carry_retry_after_and_the_rate_headers() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let issued = org_token(&db, &owner).await;
        let args = json!({ "workspace_id": ws });

        let (status, headers, _) =
            post(&app, &issued, "get_performance_summary", args.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-ratelimit-limit"], "120");
        let remaining: i64 = headers["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((118..=119).contains(&remaining), "{remaining}");
        // The IETF fields: the unit cap and the trial's 2,000 units over its 14 days.
        assert_eq!(
            headers["ratelimit-policy"],
            r#""units";q=120;w=60, "allowance";q=2000;w=1209600"#
        );
        let state = headers["ratelimit"].to_str().unwrap();
        assert_eq!(
            state,
            format!(r#""units";r={remaining};t=1, "allowance";r=1999"#)
        );

        // A failed call is not metered and gives its units back to the allowance.
        let (status, _, _) = post(
            &app,
            &issued,
            "explain_campaign",
            json!({ "workspace_id": ws, "campaign_id": 999_999 }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (used,): (i64,) = sqlx::query_as("SELECT units FROM period_usage WHERE org_id = $1")
            .bind(owner.org_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(used, 1);
        let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(events, 1);

        // The cap spent (another instance's calls, say): 429 with Retry-After, retryable.
        let far = tollgate::storage::now_ms() + 60_000;
        sqlx::query("UPDATE rate_limits SET tat = $1")
            .bind(far)
            .execute(&db.pool)
            .await
            .unwrap();
        let (status, headers, body) =
            post(&app, &issued, "get_performance_summary", args.clone()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"]["retryable"], true);
        let retry: i64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body["error"]["retry_after"], retry);
        assert!((1..=61).contains(&retry));
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        let state = headers["ratelimit"].to_str().unwrap();
        assert!(state.starts_with(r#""units";r=0;t="#), "{state}");
        sqlx::query("UPDATE rate_limits SET tat = 0")
            .execute(&db.pool)
            .await
            .unwrap();

        // The trial's allowance used up: quota_exceeded, which no wait cures.
        sqlx::query("UPDATE period_usage SET units = 2000")
            .execute(&db.pool)
            .await
            .unwrap();
        let (status, headers, body) =
            post(&app, &issued, "get_performance_summary", args.clone()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "quota_exceeded");
        assert_eq!(body["error"]["retryable"], false);
        assert!(headers.get(header::RETRY_AFTER).is_none());
        // Free tools still work; a paid plan's period names its reset time.
        let (status, _, _) = post(&app, &issued, "list_workspaces", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        sqlx::query("UPDATE organizations SET plan = 'starter'")
            .execute(&db.pool)
            .await
            .unwrap();
        let (anchor,): (i64,) = sqlx::query_as("SELECT period_anchor FROM organizations")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let period = tollgate::model::Plan::Starter.period(anchor, tollgate::storage::now_ms());
        sqlx::query(
            "INSERT INTO period_usage (org_id, period_start, units) VALUES ($1, $2, 20000) \
             ON CONFLICT (org_id, period_start) DO UPDATE SET units = 20000",
        )
        .bind(owner.org_id)
        .bind(period.start)
        .execute(&db.pool)
        .await
        .unwrap();
        let (_, headers, body) = post(&app, &issued, "get_performance_summary", args).await;
        assert_eq!(body["error"]["resets_at"], period.end);
        let retry = headers[header::RETRY_AFTER].to_str().unwrap();
        // The month's allowance spent: nothing left, back when the period ends.
        let state = headers["ratelimit"].to_str().unwrap();
        assert!(
            state.ends_with(&format!(r#""allowance";r=0;t={retry}"#)),
            "{state}"
        );
        let policy = headers["ratelimit-policy"].to_str().unwrap();
        let month = (period.end - period.start) / 1000;
        assert!(
            policy.ends_with(&format!(r#""allowance";q=20000;w={month}"#)),
            "{policy}"
        );
        let (refusals,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refusals")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        // The bad campaign id, the rate limit, the quota twice: every kind is counted.
        assert_eq!(refusals, 4);
    })
    .await;
}

#[tokio::test]
async fn the_usage_page_reads_the_rollups() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let issued = org_token(&db, &owner).await;
        for _ in 0..3 {
            post(
                &app,
                &issued,
                "get_performance_summary",
                json!({ "workspace_id": ws }),
            )
            .await;
        }
        post(
            &app,
            &issued,
            "compare_attribution_models",
            json!({ "workspace_id": ws }),
        )
        .await;
        post(&app, &issued, "list_workspaces", json!({})).await;
        // Refusals of three kinds the writer does not decide: scope, reach, input.
        let narrow = crate::support::issue_token(
            &db,
            &owner,
            vec![tollgate::model::Scope::AnalyticsRead],
            tollgate::model::Binding::Organization,
            None,
        )
        .await;
        post(
            &app,
            &narrow,
            "check_credits",
            json!({ "workspace_id": ws }),
        )
        .await;
        post(
            &app,
            &issued,
            "get_performance_summary",
            json!({ "workspace_id": 999_999 }),
        )
        .await;
        let backwards =
            json!({ "workspace_id": ws, "start_date": "2026-02-01", "end_date": "2026-01-01" });
        post(&app, &issued, "get_performance_summary", backwards.clone()).await;
        post(&app, &issued, "get_performance_summary", backwards).await;
        // They ride with the writer's next batch: one more call's answer comes after it.
        post(&app, &issued, "list_workspaces", json!({})).await;

        let now = tollgate::storage::now_ms();
        let page = tollgate::services::usage::usage_page(&db, &owner, now)
            .await
            .unwrap();
        assert_eq!(page.used, 8);
        use tollgate::model::RefusalKind;
        let refused = |kind: RefusalKind| page.refusals.iter().find(|(k, _)| *k == kind).unwrap().1;
        assert_eq!(page.refusals.len(), RefusalKind::ALL.len());
        assert_eq!(refused(RefusalKind::Scope), 1);
        assert_eq!(refused(RefusalKind::Binding), 1);
        assert_eq!(refused(RefusalKind::BadInput), 2);
        assert_eq!(refused(RefusalKind::Rate), 0);
        assert_eq!(page.allowance, Some(2_000));
        let today = tollgate::model::day_string(now.div_euclid(86_400_000));
        let days = &page.daily;
        assert_eq!(days.iter().find(|d| d.day == today).unwrap().units, 8);
        assert_eq!(
            days.len(),
            14,
            "the trial's 14 days, from midnight of the first"
        );
        assert!(days.iter().all(|d| d.future == (d.day > today)));
        assert_eq!(days.iter().map(|d| d.units).sum::<i64>(), page.used);
        let tool = |name: &str| {
            page.by_tool
                .iter()
                .find(|r| r.name == name)
                .map(|r| (r.calls, r.units))
        };
        assert_eq!(tool("get_performance_summary"), Some((3, 3)));
        assert_eq!(tool("compare_attribution_models"), Some((1, 5)));
        assert_eq!(tool("list_workspaces"), Some((2, 0)));
        assert_eq!(page.by_token.len(), 1);
        assert!(page.by_token[0].name.starts_with("test (tg_live_"));
        assert_eq!((page.by_token[0].calls, page.by_token[0].units), (6, 8));
        assert_eq!(page.credit_balance, 100);
        assert_eq!(page.ledger[0].kind, "grant");
        assert_eq!(page.percent(), Some(0));

        // At 85 % the page warns; the figures come from the period counter, not the events.
        sqlx::query("UPDATE period_usage SET units = 1700")
            .execute(&db.pool)
            .await
            .unwrap();
        let page = tollgate::services::usage::usage_page(&db, &owner, now)
            .await
            .unwrap();
        assert_eq!(page.percent(), Some(85));
        assert!(page.days_left().unwrap() <= 14);
    })
    .await;
}

#[tokio::test]
async fn the_usage_page_names_the_busiest_tokens_and_sums_the_rest() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        // The trial runs at most ten tokens at once.
        tollgate::services::billing::change_plan(&db, &owner, "growth", None, T0)
            .await
            .unwrap();
        let now = tollgate::storage::now_ms();
        let today = tollgate::model::day_string(now.div_euclid(86_400_000));
        // Twelve tokens, the n-th used n times today (one unit each), in a shuffled order.
        let mut hints = std::collections::HashMap::new();
        for n in [7_i64, 2, 12, 5, 1, 9, 11, 3, 8, 4, 10, 6] {
            let token = org_token(&db, &owner).await;
            hints.insert(n, tokens::hint(&token));
            sqlx::query(
                "INSERT INTO usage_daily (org_id, day, tool, token_id, calls, units) \
                 VALUES ($1, $2, 'get_performance_summary', $3, $4, $4)",
            )
            .bind(owner.org_id)
            .bind(&today)
            .bind(token_id(&db, &token).await)
            .bind(n)
            .execute(&db.pool)
            .await
            .unwrap();
        }

        let page = tollgate::services::usage::usage_page(&db, &owner, now)
            .await
            .unwrap();
        let rows: Vec<(&str, i64, i64)> = page
            .by_token
            .iter()
            .map(|r| (r.name.as_str(), r.calls, r.units))
            .collect();
        assert_eq!(
            rows.len(),
            11,
            "ten tokens and one row for the rest: {rows:?}"
        );
        for (row, n) in rows.iter().zip((3..=12).rev()) {
            assert_eq!((row.1, row.2), (n, n), "{rows:?}");
            assert!(row.0.contains(&hints[&n]), "{} is token {n}'s row", row.0);
        }
        assert_eq!(rows[10], ("2 other tokens", 3, 3));
    })
    .await;
}

#[tokio::test]
async fn owners_change_the_plan_and_grant_credits_and_the_ledger_adds_up() {
    use tollgate::model::Role;
    use tollgate::services::{billing, ServiceError};
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let admin = crate::support::join(&db, &owner, "admin@example.com", Role::Admin).await;
        assert!(matches!(
            billing::change_plan(&db, &admin, "growth", None, T0).await,
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            billing::grant_credits(&db, &admin, 5, "", None, T0).await,
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            billing::change_plan(&db, &owner, "platinum", None, T0).await,
            Err(ServiceError::Invalid(_))
        ));
        assert!(matches!(
            billing::grant_credits(&db, &owner, 0, "", None, T0).await,
            Err(ServiceError::Invalid(_))
        ));

        // A used-up trial: the new plan brings its allowance to the same period (from midnight
        // of the day the organization began), the trial's units counted in it.
        let now = tollgate::storage::now_ms();
        let [token, _] = tokens_of(&db, &owner).await;
        let big = AdmitRequest {
            cap: 120_000,
            ..call(owner.org_id, token, 2_000, now)
        };
        let used_up = admit_all(&db, 1, vec![big]).await;
        assert!(matches!(used_up[0], Admission::Admitted { .. }));
        let trial_over = admit_all(&db, 1, vec![call(owner.org_id, token, 1, now)]).await;
        assert!(matches!(
            trial_over[0],
            Admission::QuotaExceeded {
                resets_at: None,
                ..
            }
        ));
        billing::change_plan(&db, &owner, "starter", None, now)
            .await
            .unwrap();
        let starter = admit_all(&db, 1, vec![call(owner.org_id, token, 100, now)]).await;
        let Admission::Admitted { period, .. } = starter[0].clone() else {
            panic!("{starter:?}")
        };
        let (anchor,): (i64,) =
            sqlx::query_as("SELECT period_anchor FROM organizations WHERE id = $1")
                .bind(owner.org_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let midnight = anchor - anchor % 86_400_000;
        assert_eq!((period.start, period.allowance), (midnight, Some(20_000)));
        let page = tollgate::services::usage::usage_page(&db, &owner, now)
            .await
            .unwrap();
        assert_eq!((page.used, page.allowance), (2_100, Some(20_000)));
        // Switching back and forth gives nothing back.
        billing::change_plan(&db, &owner, "growth", None, now)
            .await
            .unwrap();
        billing::change_plan(&db, &owner, "starter", None, now)
            .await
            .unwrap();
        let page = tollgate::services::usage::usage_page(&db, &owner, now)
            .await
            .unwrap();
        assert_eq!(page.used, 2_100);
        assert_eq!(tollgate::model::Plan::Growth.token_cap(), Some(25));

        let grants = (0..20).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                billing::grant_credits(&db, &owner, 5, &format!("g{i}"), None, T0)
                    .await
                    .unwrap()
            })
        });
        for g in grants {
            g.await.unwrap();
        }
        let (balance,): (i64,) =
            sqlx::query_as("SELECT credit_balance FROM organizations WHERE id = $1")
                .bind(owner.org_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let (ledger,): (i64,) = sqlx::query_as(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM credit_ledger WHERE org_id = $1",
        )
        .bind(owner.org_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!((balance, ledger), (200, 200));
        let (max_after,): (i64,) =
            sqlx::query_as("SELECT MAX(balance_after) FROM credit_ledger WHERE org_id = $1")
                .bind(owner.org_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(
            max_after, 200,
            "each row's balance_after is the balance it produced"
        );
    })
    .await;
}
