//! Reports and audience exports as durable jobs: credits charged exactly once (at dispatch or
//! on completion), refunds on failure, leases that hand an interrupted job on.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{founder, issue_token, on_each_engine, post_json, ORIGIN};
use tollgate::model::{Binding, Scope};
use tollgate::services::jobs::{self, Kind};

#[tokio::test]
async fn a_report_is_charged_at_dispatch_and_delivered() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let token = issue_token(
            &db,
            &owner,
            vec![Scope::ReportsWrite, Scope::ReportsRead],
            Binding::Organization,
            None,
        )
        .await;
        let (status, _, body) = post_json(
            &app,
            "/v1/tools/generate_report",
            Some(&token),
            &[],
            json!({ "workspace_id": ws }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let job_id = body["job_id"].as_i64().unwrap();
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 90);
        let (_, _, status_body) = post_json(
            &app,
            "/v1/tools/get_report_status",
            Some(&token),
            &[],
            json!({ "workspace_id": ws, "job_id": job_id }),
        )
        .await;
        assert_eq!(status_body["status"], "queued");

        assert_eq!(
            jobs::run_due(&db, tollgate::storage::now_ms(), || true)
                .await
                .unwrap(),
            1
        );
        let (_, _, done) = post_json(
            &app,
            "/v1/tools/get_report_status",
            Some(&token),
            &[],
            json!({ "workspace_id": ws, "job_id": job_id }),
        )
        .await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(done["result"]["markdown"]
            .as_str()
            .unwrap()
            .starts_with("# Performance report"));
        assert!(done["result"]["csv"]
            .as_str()
            .unwrap()
            .starts_with("campaign_id,campaign,spend"));
        assert_eq!(
            crate::support::credit_balance(&db, owner.org_id).await,
            90,
            "delivery charges nothing more"
        );
        assert_eq!(
            crate::support::ledger_sum(&db, owner.org_id).await,
            90,
            "the ledger sums to the balance"
        );
    })
    .await;
}

#[tokio::test]
async fn the_balance_never_goes_negative_under_concurrent_dispatches() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let attempts = (0..500).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                jobs::dispatch(&db, owner.org_id, ws, None, Kind::Report, &json!({}), 0)
                    .await
                    .unwrap()
                    .is_ok()
            })
        });
        let mut dispatched = 0;
        for a in attempts {
            dispatched += usize::from(a.await.unwrap());
        }
        assert_eq!(dispatched, 10);
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 0);
        assert_eq!(crate::support::ledger_sum(&db, owner.org_id).await, 0);
        let token = issue_token(
            &db,
            &owner,
            vec![Scope::ReportsWrite],
            Binding::Organization,
            None,
        )
        .await;
        let (status, _, body) = post_json(
            &app,
            "/v1/tools/generate_report",
            Some(&token),
            &[],
            json!({ "workspace_id": ws }),
        )
        .await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(body["error"]["code"], "insufficient_credits");
        assert_eq!(
            body["error"]["message"],
            "insufficient credits: requires 10, available 0"
        );
    })
    .await;
}

#[tokio::test]
async fn failed_reports_are_refunded_and_exports_are_billed_on_completion_only() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let now = tollgate::storage::now_ms();
        let failing = jobs::dispatch(&db, owner.org_id, ws, None, Kind::Report, &json!({ "profile_id": 999_999 }), now).await.unwrap().unwrap();
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 90);
        let range = json!({ "start_date": "2026-08-25", "end_date": "2026-11-22", "segment": "whatsapp_converters" });
        let export = jobs::dispatch(&db, owner.org_id, ws, None, Kind::AudienceExport, &range, now).await.unwrap().unwrap();
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 90, "exports are not charged at dispatch");
        assert_eq!(jobs::run_due(&db, now, || true).await.unwrap(), 2);

        let failed = jobs::status(&db, ws, failing).await.unwrap().unwrap();
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"], "no profile 999999 in this workspace");
        let exported = jobs::status(&db, ws, export).await.unwrap().unwrap();
        assert_eq!(exported["status"], "succeeded", "{exported}");
        let csv = exported["result"]["csv"].as_str().unwrap();
        assert!(csv.starts_with("customer_id,email_sha256"));
        assert!(!csv.contains('@'), "no plaintext email leaves in an export");
        assert!(exported["result"]["customers"].as_i64().unwrap() > 0);
        // 100 − 10 + 10 (refund) − 4 (export) = 96, and the ledger agrees.
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 96);
        assert_eq!(crate::support::ledger_sum(&db, owner.org_id).await, 96);
        assert!(jobs::status(&db, ws + 1000, export).await.unwrap().is_none(), "jobs are per workspace");
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_job_is_resumed_after_its_lease_and_billed_once() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let now = tollgate::storage::now_ms();
        let id = jobs::dispatch(
            &db,
            owner.org_id,
            ws,
            None,
            Kind::AudienceExport,
            &json!({ "start_date": "2026-08-25", "end_date": "2026-11-22" }),
            now,
        )
        .await
        .unwrap()
        .unwrap();
        // An instance took the job and died: its lease still holds, so nobody runs it yet.
        sqlx::query("UPDATE jobs SET status = 'running', leased_until = $1 WHERE id = $2")
            .bind(now + 60_000)
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(jobs::run_due(&db, now, || true).await.unwrap(), 0);
        assert_eq!(jobs::run_due(&db, now + 60_000, || true).await.unwrap(), 1);
        assert_eq!(
            jobs::status(&db, ws, id).await.unwrap().unwrap()["status"],
            "succeeded"
        );
        assert_eq!(
            jobs::run_due(&db, now + 600_000, || true).await.unwrap(),
            0,
            "a finished job never runs again"
        );
        let (charges,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'charge'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(charges, 1);
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 96);
    })
    .await;
}

#[tokio::test]
async fn a_completion_after_the_lease_was_taken_over_changes_nothing_and_bills_nothing() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let now = tollgate::storage::now_ms();
        let range = json!({ "start_date": "2026-08-25", "end_date": "2026-11-22" });
        let export = jobs::dispatch(
            &db,
            owner.org_id,
            ws,
            None,
            Kind::AudienceExport,
            &range,
            now,
        )
        .await
        .unwrap()
        .unwrap();
        let bad_profile = json!({ "profile_id": 999_999 });
        let report = jobs::dispatch(&db, owner.org_id, ws, None, Kind::Report, &bad_profile, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 90);

        // Instance A claims both jobs and stalls past its lease; instance B claims them then.
        let on_a = jobs::claim(&db, now).await.unwrap();
        assert_eq!(on_a.len(), 2);
        let taken_over = now + jobs::LEASE_MS;
        let on_b = jobs::claim(&db, taken_over).await.unwrap();
        assert_eq!(on_b.len(), 2, "the ended leases hand both jobs on");
        for job in &on_b {
            assert!(jobs::run(&db, job, taken_over).await.unwrap());
        }
        // A finishes late: the export's charge and the failed report's refund are not repeated.
        for job in &on_a {
            assert!(
                !jobs::run(&db, job, taken_over + 1_000).await.unwrap(),
                "A's lease was taken over: its outcome is not recorded"
            );
        }

        let exported = jobs::status(&db, ws, export).await.unwrap().unwrap();
        assert_eq!(exported["status"], "succeeded");
        assert_eq!(exported["finished_at"], taken_over, "B's completion stands");
        let failed = jobs::status(&db, ws, report).await.unwrap().unwrap();
        assert_eq!(failed["status"], "failed");
        let count = |kind: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM credit_ledger WHERE kind = $1")
                    .bind(kind)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
                    .0
            }
        };
        // Charges: the report at dispatch and the export once; one refund for the report.
        assert_eq!((count("charge").await, count("refund").await), (2, 1));
        // 100 − 10 + 10 − 4 = 96, and the ledger agrees.
        assert_eq!(crate::support::credit_balance(&db, owner.org_id).await, 96);
        assert_eq!(crate::support::ledger_sum(&db, owner.org_id).await, 96);
    })
    .await;
}

#[tokio::test]
async fn a_stopping_worker_hands_the_jobs_it_did_not_start_to_another_instance_at_once() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let now = tollgate::storage::now_ms();
        let mut dispatched = Vec::new();
        for _ in 0..2 {
            let job = jobs::dispatch(&db, owner.org_id, ws, None, Kind::Report, &json!({}), now)
                .await
                .unwrap()
                .unwrap();
            dispatched.push(job);
        }
        // The server is told to stop while the first job runs: the second is not started.
        let asked = std::cell::Cell::new(0);
        let keep_going = || {
            asked.set(asked.get() + 1);
            asked.get() == 1
        };
        assert_eq!(jobs::run_due(&db, now, keep_going).await.unwrap(), 1);
        // Another instance, still inside the stopped one's lease, takes the second job now.
        let taken = jobs::claim(&db, now + 1).await.unwrap();
        assert_eq!(
            taken.iter().map(|j| j.id).collect::<Vec<_>>(),
            [dispatched[1]]
        );
        assert!(jobs::run(&db, &taken[0], now + 1).await.unwrap());
        for job in dispatched {
            let status = jobs::status(&db, ws, job).await.unwrap().unwrap();
            assert_eq!(status["status"], "succeeded");
        }
    })
    .await;
}
