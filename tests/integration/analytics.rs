//! The analytics tools' numbers against hand-computed values on a small fixed dataset, and
//! the demo dataset's shape, on SQLite and PostgreSQL, through the real `/v1` surface.

use crate::support::{founder, on_each_engine, ORIGIN, T0};
use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};
use tollgate::config::Environment;
use tollgate::model::{Binding, Scope};
use tollgate::services::organizations::Actor;
use tollgate::services::tokens::{self, NewToken};
use tollgate::storage::Db;

async fn call(app: &Router, token: &str, tool: &str, args: Value) -> (StatusCode, Value) {
    let (status, _, body) =
        crate::support::post_json(app, &format!("/v1/tools/{tool}"), Some(token), &[], args).await;
    (status, body)
}

async fn insert(db: &Db, sql: &str, values: &[Value]) -> i64 {
    let mut query = sqlx::query_as::<_, (i64,)>(sql);
    for v in values {
        query = match v {
            Value::Number(n) => query.bind(n.as_i64().unwrap()),
            Value::Null => query.bind(None::<i64>),
            other => query.bind(other.as_str().unwrap().to_string()),
        };
    }
    query.fetch_one(&db.pool).await.unwrap().0
}

/// Workspace "Fixture": one profile, campaigns Alpha (meta) and Beta (google), one creative
/// and ad each, two days of metrics, two customers.
async fn fixture(db: &Db, owner: &Actor) -> i64 {
    let ws = tollgate::services::workspaces::create_workspace(db, owner, "Fixture", None, T0)
        .await
        .unwrap();
    let profile = insert(
        db,
        "INSERT INTO profiles (workspace_id, name, domain) VALUES ($1, $2, $3) RETURNING id",
        &[json!(ws), json!("Shop"), json!("shop.example")],
    )
    .await;
    let mut ads = Vec::new();
    for (name, channel) in [("Alpha", "meta"), ("Beta", "google")] {
        let campaign = insert(db, "INSERT INTO campaigns (profile_id, name, channel, objective) VALUES ($1, $2, $3, 'conversions') RETURNING id", &[json!(profile), json!(name), json!(channel)]).await;
        let creative = insert(db, "INSERT INTO creatives (campaign_id, name, format, headline) VALUES ($1, $2, 'image', 'h') RETURNING id", &[json!(campaign), json!(format!("{name} image"))]).await;
        let ad_set = insert(db, "INSERT INTO ad_sets (campaign_id, name, audience) VALUES ($1, 'all', 'all') RETURNING id", &[json!(campaign)]).await;
        let ad = insert(
            db,
            "INSERT INTO ads (ad_set_id, creative_id, name) VALUES ($1, $2, 'ad') RETURNING id",
            &[json!(ad_set), json!(creative)],
        )
        .await;
        ads.push((ad, campaign));
    }
    // (ad, day, impressions, clicks, spend cents, conversions, revenue cents)
    let metrics = [
        (ads[0].0, "2026-01-01", 1000, 20, 1_000, 1, 5_000),
        (ads[0].0, "2026-01-02", 1000, 30, 2_000, 2, 8_000),
        (ads[1].0, "2026-01-01", 500, 25, 3_000, 3, 6_000),
        (ads[1].0, "2026-01-02", 500, 25, 4_000, 1, 1_000),
    ];
    for (ad, day, i, c, s, v, r) in metrics {
        sqlx::query("INSERT INTO daily_metrics (ad_id, day, impressions, clicks, spend_cents, conversions, revenue_cents) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(ad).bind(day).bind(i as i64).bind(c as i64).bind(s as i64).bind(v as i64).bind(r as i64)
            .execute(&db.pool).await.unwrap();
    }
    // Jane: Alpha ad on Jan 1, WhatsApp on Jan 8, buys 100.00 via WhatsApp on Jan 8.
    // Omar: Beta ad on Jan 5, buys 50.00 on the website on Jan 6.
    let jane = insert(db, "INSERT INTO customers (profile_id, full_name, email, phone, first_seen) VALUES ($1, 'Jane Doe', 'jane@example.com', '+1 555 0100 1234', '2026-01-01') RETURNING id", &[json!(profile)]).await;
    let omar = insert(db, "INSERT INTO customers (profile_id, full_name, email, phone, first_seen) VALUES ($1, 'Omar Haddad', 'omar@example.com', '+1 555 0100 9876', '2026-01-05') RETURNING id", &[json!(profile)]).await;
    for (customer, campaign, channel, day) in [
        (jane, json!(ads[0].1), "meta_ads", "2026-01-01"),
        (jane, Value::Null, "whatsapp", "2026-01-08"),
        (omar, json!(ads[1].1), "google_ads", "2026-01-05"),
    ] {
        insert(db, "INSERT INTO touchpoints (customer_id, campaign_id, channel, day) VALUES ($1, $2, $3, $4) RETURNING id", &[json!(customer), campaign, json!(channel), json!(day)]).await;
    }
    for (customer, day, value, source) in [
        (jane, "2026-01-08", 10_000, "whatsapp"),
        (omar, "2026-01-06", 5_000, "website"),
    ] {
        insert(db, "INSERT INTO conversions (customer_id, profile_id, day, value_cents, source) VALUES ($1, $2, $3, $4, $5) RETURNING id", &[json!(customer), json!(profile), json!(day), json!(value), json!(source)]).await;
    }
    ws
}

async fn token(db: &Db, owner: &Actor, scopes: Vec<Scope>) -> String {
    let new = NewToken {
        label: "a".into(),
        scopes,
        binding: Binding::Organization,
        workspace_id: None,
        profile_id: None,
        expires_at: None,
    };
    tokens::create(db, owner, Environment::Live, new, None, T0)
        .await
        .unwrap()
        .token
}

#[tokio::test]
async fn analytics_tools_compute_the_hand_computed_answers() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = fixture(&db, &owner).await;
        let all: Vec<Scope> = Scope::ALL.to_vec();
        let t = token(&db, &owner, all).await;
        let range = json!({ "workspace_id": ws, "start_date": "2026-01-01", "end_date": "2026-01-02" });

        let (status, body) = call(&app, &t, "get_performance_summary", range.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // 3000 impressions, 100 clicks, 100.00 spend, 7 conversions, 200.00 revenue.
        assert_eq!(body["totals"], json!({
            "impressions": 3000, "clicks": 100, "spend": 100.0, "conversions": 7, "revenue": 200.0,
            "ctr": 0.0333, "cpc": 1.0, "cpa": 14.29, "roas": 2.0
        }));

        let day2 = json!({ "workspace_id": ws, "start_date": "2026-01-02", "end_date": "2026-01-02" });
        let (_, body) = call(&app, &t, "compare_periods", day2).await;
        assert_eq!(body["previous"]["range"]["start_date"], "2026-01-01");
        // Spend 40 → 60 (+50 %), revenue 110 → 90 (−18.2 %), conversions 4 → 3 (−25 %).
        assert_eq!(body["change"]["spend_percent"], 50.0);
        assert_eq!(body["change"]["revenue_percent"], -18.2);
        assert_eq!(body["change"]["conversions_percent"], -25.0);

        let mut args = range.clone();
        args["by"] = json!("roas");
        let (_, body) = call(&app, &t, "top_campaigns", args).await;
        // Alpha: 130 / 30 = 4.33; Beta: 70 / 70 = 1.0.
        assert_eq!(body["campaigns"][0]["campaign"], "Alpha");
        assert_eq!(body["campaigns"][0]["totals"]["roas"], 4.33);
        assert_eq!(body["campaigns"][1]["totals"]["roas"], 1.0);
        let mut args = range.clone();
        args["by"] = json!("spend");
        args["limit"] = json!(1);
        let (_, body) = call(&app, &t, "top_creatives", args).await;
        assert_eq!(body["creatives"].as_array().unwrap().len(), 1);
        assert_eq!(body["creatives"][0]["creative"], "Beta image");

        let (_, body) = call(&app, &t, "list_profiles", json!({ "workspace_id": ws })).await;
        assert_eq!(body["profiles"], json!([{ "id": body["profiles"][0]["id"], "name": "Shop", "domain": "shop.example" }]));

        let january = json!({ "workspace_id": ws, "start_date": "2026-01-01", "end_date": "2026-01-31" });
        let (_, body) = call(&app, &t, "compare_attribution_models", january.clone()).await;
        assert_eq!(body["conversions"], 2);
        let model = |name: &str| body["models"].as_array().unwrap().iter().find(|m| m["model"] == name).unwrap()["credit"].clone();
        assert_eq!(model("first_touch")[0], json!({ "label": "Alpha", "conversions": 1.0, "revenue": 100.0 }));
        assert_eq!(model("last_touch")[0], json!({ "label": "whatsapp", "conversions": 1.0, "revenue": 100.0 }));
        assert!(model("time_decay").as_array().unwrap().contains(&json!({ "label": "Alpha", "conversions": 0.33, "revenue": 33.33 })));
        assert!(model("position_based").as_array().unwrap().contains(&json!({ "label": "Alpha", "conversions": 0.5, "revenue": 50.0 })));

        let (_, body) = call(&app, &t, "whatsapp_attribution_summary", january).await;
        assert_eq!((body["whatsapp_conversions"].clone(), body["all_conversions"].clone()), (json!(1), json!(2)));
        assert_eq!(body["share_percent"], 50.0);
        assert_eq!(body["whatsapp_revenue"], 100.0);
        assert_eq!(body["by_first_touch"], json!([{ "first_touch": "Alpha", "conversions": 1.0, "revenue": 100.0 }]));

        let (alpha,): (i64,) = sqlx::query_as("SELECT id FROM campaigns WHERE name = 'Alpha'").fetch_one(&db.pool).await.unwrap();
        let (_, body) = call(&app, &t, "explain_campaign", json!({ "workspace_id": ws, "campaign_id": alpha, "start_date": "2026-01-01", "end_date": "2026-01-02" })).await;
        // Jan 1: 10.00 → 50.00 (ROAS 5), Jan 2: 20.00 → 80.00 (ROAS 4); CTR 2 % → 3 %.
        assert_eq!(body["totals"]["roas"], 4.33);
        assert_eq!((body["first_half"]["roas"].clone(), body["second_half"]["roas"].clone()), (json!(5.0), json!(4.0)));
        assert_eq!(
            body["explanation"],
            "Alpha (meta) spent 30.00 for 130.00 in revenue (ROAS 4.33). ROAS fell 20.0 % from the first half of the period to the second, while CTR changed +50.0 %. Best ad set: all (ROAS 4.33)."
        );
        let (status, _) = call(&app, &t, "explain_campaign", json!({ "workspace_id": ws, "campaign_id": 999_999 })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, body) = call(&app, &t, "creative_fatigue_check", range.clone()).await;
        assert_eq!(body["fatigued"], 0);
        let alpha_image = body["creatives"].as_array().unwrap().iter().find(|c| c["creative"] == "Alpha image").unwrap().clone();
        assert_eq!((alpha_image["early_ctr"].clone(), alpha_image["late_ctr"].clone(), alpha_image["status"].clone()), (json!(0.02), json!(0.03), json!("healthy")));
        let (_, body) = call(&app, &t, "find_anomalies", range.clone()).await;
        assert_eq!(body["anomalies"], json!([]), "two days are too few to call anything unusual");

        // Date ranges: inverted or longer than 366 days are refused.
        let (status, body) = call(&app, &t, "get_performance_summary", json!({ "workspace_id": ws, "start_date": "2026-02-01", "end_date": "2026-01-01" })).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_date_range")));
        let (status, _) = call(&app, &t, "get_performance_summary", json!({ "workspace_id": ws, "start_date": "2024-01-01", "end_date": "2026-01-01" })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = call(&app, &t, "top_campaigns", json!({ "workspace_id": ws, "limit": 0 })).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_parameter")));
    })
    .await;
}

#[tokio::test]
async fn customer_journeys_mask_pii_unless_the_token_may_and_the_call_asks() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = fixture(&db, &owner).await;
        let (jane,): (i64,) =
            sqlx::query_as("SELECT id FROM customers WHERE email = 'jane@example.com'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let reader = token(&db, &owner, vec![Scope::CustomersRead]).await;
        let pii = token(&db, &owner, vec![Scope::CustomersRead, Scope::PiiRead]).await;

        let (status, body) = call(
            &app,
            &reader,
            "explain_customer_journey",
            json!({ "workspace_id": ws, "customer_id": jane }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["customer"]["email"], "j***@example.com");
        assert_eq!(body["customer"]["phone"], "+* *** **** **34");
        assert_eq!(body["customer"]["name"], "J. D.");
        assert_eq!(body["touchpoints"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["conversions"][0],
            json!({ "day": "2026-01-08", "value": 100.0, "source": "whatsapp" })
        );
        assert_eq!(
            body["summary"],
            "2 touchpoints (1 paid) since 2026-01-01, 1 conversion."
        );

        let unmask = json!({ "workspace_id": ws, "customer_id": jane, "include_sensitive": true });
        let (status, body) = call(&app, &reader, "explain_customer_journey", unmask.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("missing_scope"))
        );
        assert_eq!(body["error"]["required_scope"], "pii:read");
        let (_, body) = call(&app, &pii, "explain_customer_journey", unmask).await;
        assert_eq!(body["customer"]["email"], "jane@example.com");
        assert_eq!(body["customer"]["name"], "Jane Doe");
        let (_, by_email) = call(
            &app,
            &reader,
            "explain_customer_journey",
            json!({ "workspace_id": ws, "email": "JANE@example.com" }),
        )
        .await;
        assert_eq!(by_email["customer"]["id"], jane);
        // Without asking, even a pii:read token gets masked data.
        let (_, body) = call(
            &app,
            &pii,
            "explain_customer_journey",
            json!({ "workspace_id": ws, "customer_id": jane }),
        )
        .await;
        assert_eq!(body["customer"]["pii_masked"], true);
        // A customer of another workspace is not found here.
        let demo_ws = crate::support::first_workspace(&db, &owner).await;
        let (status, _) = call(
            &app,
            &reader,
            "explain_customer_journey",
            json!({ "workspace_id": demo_ws, "customer_id": jane }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn the_demo_dataset_is_deterministic_and_believable() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let a = founder(&db, "a@example.com").await;
        let b = founder(&db, "b@example.com").await;
        let ws_a = crate::support::first_workspace(&db, &a).await;
        let ws_b = crate::support::first_workspace(&db, &b).await;
        let ta = token(&db, &a, Scope::ALL.to_vec()).await;
        let tb = token(&db, &b, Scope::ALL.to_vec()).await;

        let (_, profiles) = call(&app, &ta, "list_profiles", json!({ "workspace_id": ws_a })).await;
        assert_eq!(profiles["profiles"].as_array().unwrap().len(), 2);
        let (days,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT m.day) FROM daily_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_sets s ON s.id = a.ad_set_id \
             JOIN campaigns c ON c.id = s.campaign_id JOIN profiles p ON p.id = c.profile_id WHERE p.workspace_id = $1",
        )
        .bind(ws_a)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(days, 90);

        // The tools answer over the demo period (it ends the day before the organization was made).
        let range = |ws: i64| json!({ "workspace_id": ws, "start_date": "2026-08-25", "end_date": "2026-11-22" });
        let (_, sa) = call(&app, &ta, "get_performance_summary", range(ws_a)).await;
        let (_, sb) = call(&app, &tb, "get_performance_summary", range(ws_b)).await;
        assert_eq!(sa["totals"], sb["totals"], "the same day yields the same data");
        let roas = sa["totals"]["roas"].as_f64().unwrap();
        let ctr = sa["totals"]["ctr"].as_f64().unwrap();
        assert!(sa["totals"]["spend"].as_f64().unwrap() > 1000.0);
        assert!((0.5..10.0).contains(&roas), "ROAS {roas}");
        assert!((0.003..0.06).contains(&ctr), "CTR {ctr}");
        let (_, models) = call(&app, &ta, "compare_attribution_models", range(ws_a)).await;
        assert!(models["conversions"].as_i64().unwrap() > 50);
        let (_, whatsapp) = call(&app, &ta, "whatsapp_attribution_summary", range(ws_a)).await;
        assert!(whatsapp["whatsapp_conversions"].as_i64().unwrap() > 0);
        // The generator's planted stories are found: a spend spike 30 days back, a worn-out video.
        let (_, found) = call(&app, &ta, "find_anomalies", range(ws_a)).await;
        let spike = json!({ "campaign": "Spring Roast Launch", "day": "2026-10-24", "metric": "spend" });
        assert!(
            found["anomalies"].as_array().unwrap().iter().any(|a| a["campaign"] == spike["campaign"] && a["day"] == spike["day"] && a["metric"] == spike["metric"]),
            "{found}"
        );
        let (_, tired) = call(&app, &ta, "creative_fatigue_check", range(ws_a)).await;
        let video = tired["creatives"].as_array().unwrap().iter().find(|c| c["creative"] == "Spring Roast Launch – video 1").unwrap().clone();
        assert_eq!(video["status"], "fatigued", "{video}");
    })
    .await;
}
