//! The real server killed with SIGKILL while calls and jobs run: after a restart the ledger
//! sums to the balance, every call answered with success is metered, and every job that was
//! dispatched finishes, billed exactly once.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    call_server, count, founder, free_port, org_token, start_server as start, wait_ready, TestDb,
};

#[tokio::test]
async fn sigkill_loses_nothing_and_bills_nothing_twice() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let url = test_db.url();
    let owner = founder(&db, "owner@example.com").await;
    let ws = crate::support::first_workspace(&db, &owner).await;
    let token = org_token(&db, &owner).await;
    let client = reqwest::Client::new();
    let port = free_port();
    let mut server = start(&url, port);
    wait_ready(&client, port).await;

    // Calls and report dispatches in flight; the server dies under them.
    let calls = (0..40).map(|i| {
        let (client, token) = (client.clone(), token.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 15)).await;
            let tool = if i % 4 == 0 {
                "generate_report"
            } else {
                "get_performance_summary"
            };
            let response =
                call_server(&client, port, &token, tool, json!({ "workspace_id": ws })).await;
            match response {
                Ok(r) if r.status().is_success() => Some((
                    tool,
                    serde_json::from_slice::<Value>(&r.bytes().await.ok()?).ok()?,
                )),
                _ => None,
            }
        })
    });
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.kill().expect("SIGKILL");
        server.wait().ok();
    });
    let mut answered = Vec::new();
    for call in calls {
        if let Some(ok) = call.await.unwrap() {
            answered.push(ok);
        }
    }
    killer.await.unwrap();
    assert!(
        !answered.is_empty(),
        "some calls were answered before the kill"
    );

    let mut server = start(&url, port);
    wait_ready(&client, port).await;
    // The restarted server's worker finishes every dispatched job (leases end after 2 minutes
    // at most; jobs that never started run at once).
    let reports: Vec<i64> = answered
        .iter()
        .filter(|(t, _)| *t == "generate_report")
        .filter_map(|(_, v)| v["job_id"].as_i64())
        .collect();
    sqlx::query("UPDATE jobs SET leased_until = 0 WHERE status = 'running'")
        .execute(&db.pool)
        .await
        .unwrap();
    for _ in 0..200 {
        if count(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')",
        )
        .await
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().ok();
    server.wait().ok();

    let succeeded = answered.len() as i64;
    eprintln!(
        "{succeeded} of 40 calls answered before the kill; {} reports dispatched",
        reports.len()
    );
    let metered = count(&db, "SELECT COUNT(*) FROM usage_events").await;
    assert!(
        metered >= succeeded,
        "every answered call is metered ({metered} events, {succeeded} answers)"
    );
    let jobs = count(&db, "SELECT COUNT(*) FROM jobs").await;
    assert!(jobs >= reports.len() as i64, "no answered dispatch is lost");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM jobs WHERE status <> 'succeeded'").await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM credit_ledger WHERE kind = 'charge'"
        )
        .await,
        jobs,
        "one charge per job"
    );
    let balance = crate::support::credit_balance(&db, owner.org_id).await;
    let ledger = crate::support::ledger_sum(&db, owner.org_id).await;
    assert_eq!(balance, ledger, "the ledger sums to the balance");
    assert_eq!(balance, 100 - 10 * jobs);
}
