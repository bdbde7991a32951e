//! Durable background jobs: reports (billed at dispatch, refunded if they fail) and audience
//! exports (billed on completion). A running job holds a lease; if its instance dies, another
//! picks it up when the lease ends. Billing happens in the same transaction as the state
//! change it pays for, and only by the instance whose lease is current (a claim's random token
//! fences the completion), so no job is lost or billed twice.

use serde_json::{json, Value};

use crate::storage::Db;

use super::analytics::{self, IN_WORKSPACE};
use super::credits::{self, Insufficient};
use super::ServiceResult;
use crate::secrets::random_base62;
use crate::secrets::sha256_hex;

pub const REPORT_CREDITS: i64 = 10;
pub const EXPORT_CREDITS: i64 = 4;
pub const LEASE_MS: i64 = 120_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Report,
    AudienceExport,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::AudienceExport => "audience_export",
        }
    }

    fn credits(self) -> i64 {
        match self {
            Kind::Report => REPORT_CREDITS,
            Kind::AudienceExport => EXPORT_CREDITS,
        }
    }

    fn billed_at_dispatch(self) -> bool {
        self == Kind::Report
    }
}

/// Queues a job; a report is charged now, atomically with its creation.
pub async fn dispatch(
    db: &Db,
    org_id: i64,
    workspace_id: i64,
    token_id: Option<i64>,
    kind: Kind,
    args: &Value,
    now: i64,
) -> ServiceResult<Result<i64, Insufficient>> {
    let mut tx = db.begin_write().await?;
    if kind.billed_at_dispatch() {
        if let Err(short) = credits::charge(&mut tx, org_id, kind.credits(), "Report", now).await? {
            return Ok(Err(short));
        }
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (org_id, workspace_id, token_id, kind, args, credits, billed_at_dispatch, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(org_id)
    .bind(workspace_id)
    .bind(token_id)
    .bind(kind.as_str())
    .bind(args.to_string())
    .bind(kind.credits())
    .bind(i64::from(kind.billed_at_dispatch()))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// A job as `get_report_status` shows it; None when it is not in this workspace.
pub async fn status(db: &Db, workspace_id: i64, job_id: i64) -> ServiceResult<Option<Value>> {
    type Row = (
        i64,
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, kind, status, credits, result, error, created_at, finished_at FROM jobs WHERE id = $1 AND workspace_id = $2",
    )
    .bind(job_id)
    .bind(workspace_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(
        |(id, kind, status, credits, result, error, created_at, finished_at)| {
            json!({
                "job_id": id, "kind": kind, "status": status, "credits": credits,
                "result": result.and_then(|r| serde_json::from_str::<Value>(&r).ok()),
                "error": error, "created_at": created_at, "finished_at": finished_at,
            })
        },
    ))
}

/// A job this instance has claimed: what to run and for whom.
#[derive(Debug)]
pub struct Claimed {
    pub id: i64,
    lease_token: String,
    org_id: i64,
    workspace_id: i64,
    kind: String,
    args: String,
    credits: i64,
    billed_at_dispatch: bool,
}

/// One worker pass: claims due jobs and runs them one after another while `keep_going` says
/// so (a stopping server says no); the claims it did not start are released for another
/// instance at once instead of at the end of their lease. Returns how many ran.
pub async fn run_due(db: &Db, now: i64, keep_going: impl Fn() -> bool) -> ServiceResult<usize> {
    let claimed = claim(db, now).await?;
    for (ran, job) in claimed.iter().enumerate() {
        if !keep_going() {
            release(db, &claimed[ran..]).await?;
            return Ok(ran);
        }
        run(db, job, now).await?;
    }
    Ok(claimed.len())
}

/// Gives up claims that were not run: their jobs are due again at once, for any instance.
async fn release(db: &Db, jobs: &[Claimed]) -> ServiceResult<()> {
    let mut conn = db.pool.acquire().await?;
    for job in jobs {
        hold(&mut conn, job).await?;
    }
    Ok(())
}

/// Claims due jobs (queued, or running with an ended lease) under a new lease token. The outer
/// conditions are checked again on the row as it is when locked (PostgreSQL), so a job another
/// instance finished meanwhile is not claimed again.
pub async fn claim(db: &Db, now: i64) -> ServiceResult<Vec<Claimed>> {
    let lease_token = random_base62(22);
    let rows: Vec<(i64, i64, i64, String, String, i64, i64)> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', leased_until = $1, lease_token = $2 WHERE id IN (SELECT id FROM jobs WHERE \
         (status = 'queued' OR status = 'running') AND leased_until <= $3 ORDER BY id LIMIT 5) \
         AND (status = 'queued' OR status = 'running') AND leased_until <= $3 \
         RETURNING id, org_id, workspace_id, kind, args, credits, billed_at_dispatch",
    )
    .bind(now + LEASE_MS)
    .bind(&lease_token)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, org_id, workspace_id, kind, args, credits, billed_at_dispatch)| Claimed {
                id,
                lease_token: lease_token.clone(),
                org_id,
                workspace_id,
                kind,
                args,
                credits,
                billed_at_dispatch: billed_at_dispatch != 0,
            },
        )
        .collect())
}

/// Runs a claimed job and records its outcome with its charge (billed on completion) or
/// refund (billed at dispatch, failed), in one transaction. Returns false, having written and
/// billed nothing, when the job's lease was taken over meanwhile.
pub async fn run(db: &Db, job: &Claimed, now: i64) -> ServiceResult<bool> {
    let args: Value = serde_json::from_str(&job.args).unwrap_or_default();
    let outcome = match job.kind.as_str() {
        "report" => report(db, job.workspace_id, &args).await,
        _ => audience(db, job.workspace_id, &args).await,
    };
    let mut tx = db.begin_write().await?;
    if !hold(&mut tx, job).await? {
        return Ok(false);
    }
    let outcome = match outcome {
        // Billed on completion: the charge and the success are one transaction.
        Ok(result) if !job.billed_at_dispatch => {
            match credits::charge(&mut tx, job.org_id, job.credits, "Audience export", now).await? {
                Ok(_) => Ok(result),
                Err(short) => Err(format!(
                    "insufficient credits: requires {}, available {}",
                    short.required, short.available
                )),
            }
        }
        other => other,
    };
    match outcome {
        Ok(result) => {
            sqlx::query(
                "UPDATE jobs SET status = 'succeeded', result = $1, finished_at = $2 WHERE id = $3",
            )
            .bind(result.to_string())
            .bind(now)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        }
        Err(error) => {
            if job.billed_at_dispatch {
                let note = format!("Refund: report {} failed", job.id);
                credits::refund(&mut tx, job.org_id, job.credits, &note, now).await?;
            }
            sqlx::query(
                "UPDATE jobs SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3",
            )
            .bind(error)
            .bind(now)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Takes the job out of its lease inside `tx` if this claim still holds it: the row stays
/// locked until `tx` ends, and a later claim carries another token.
async fn hold(tx: &mut sqlx::AnyConnection, job: &Claimed) -> ServiceResult<bool> {
    let held = sqlx::query(
        "UPDATE jobs SET leased_until = 0 WHERE id = $1 AND lease_token = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(&job.lease_token)
    .execute(tx)
    .await?;
    Ok(held.rows_affected() == 1)
}

fn range(args: &Value) -> (String, String) {
    let text = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (text("start_date"), text("end_date"))
}

async fn check_profile(db: &Db, workspace_id: i64, profile_id: Option<i64>) -> Result<(), String> {
    if let Some(profile_id) = profile_id {
        let found = analytics::profiles(db, workspace_id)
            .await
            .map_err(|e| e.to_string())?;
        if !found.iter().any(|p| p.id == profile_id) {
            return Err(format!("no profile {profile_id} in this workspace"));
        }
    }
    Ok(())
}

/// A performance report: Markdown for people, CSV for spreadsheets.
async fn report(db: &Db, workspace_id: i64, args: &Value) -> Result<Value, String> {
    let profile_id = args.get("profile_id").and_then(Value::as_i64);
    check_profile(db, workspace_id, profile_id).await?;
    let (start, end) = range(args);
    let rows = analytics::metrics(db, workspace_id, profile_id, &start, &end)
        .await
        .map_err(|e| e.to_string())?;
    let totals = analytics::totals(&rows);
    let mut campaigns = analytics::group(&rows, |r| (r.campaign_id, r.campaign.clone()));
    campaigns.sort_by(|a, b| b.2.revenue.total_cmp(&a.2.revenue));
    let mut markdown = format!(
        "# Performance report {start} – {end}\n\nSpend {:.2} · Revenue {:.2} · ROAS {} · Conversions {} · CTR {}\n\n| Campaign | Spend | Revenue | ROAS | Conversions |\n|---|---:|---:|---:|---:|\n",
        totals.spend,
        totals.revenue,
        totals.roas.map(|r| r.to_string()).unwrap_or_else(|| "n/a".into()),
        totals.conversions,
        totals.ctr.map(|c| format!("{:.2} %", c * 100.0)).unwrap_or_else(|| "n/a".into())
    );
    let mut csv =
        String::from("campaign_id,campaign,spend,revenue,roas,conversions,clicks,impressions\n");
    for (id, name, t) in &campaigns {
        let roas = t.roas.map(|r| r.to_string()).unwrap_or_default();
        markdown.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {roas} | {} |\n",
            t.spend, t.revenue, t.conversions
        ));
        csv.push_str(&format!(
            "{id},\"{}\",{:.2},{:.2},{roas},{},{},{}\n",
            name.replace('"', "\"\""),
            t.spend,
            t.revenue,
            t.conversions,
            t.clicks,
            t.impressions
        ));
    }
    Ok(json!({ "markdown": markdown, "csv": csv, "campaigns": campaigns.len() }))
}

/// A customer segment for ad platforms: hashed emails only, never plaintext PII.
async fn audience(db: &Db, workspace_id: i64, args: &Value) -> Result<Value, String> {
    let profile_id = args.get("profile_id").and_then(Value::as_i64);
    check_profile(db, workspace_id, profile_id).await?;
    let (start, end) = range(args);
    let whatsapp_only = args.get("segment").and_then(Value::as_str) == Some("whatsapp_converters");
    let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        &format!("SELECT c.id, c.email, c.first_seen, COUNT(v.id), CAST(SUM(v.value_cents) AS BIGINT) FROM customers c \
         JOIN profiles p ON p.id = c.profile_id JOIN conversions v ON v.customer_id = c.id \
         WHERE {IN_WORKSPACE} AND v.day >= $3 AND v.day <= $4 AND ($5 = 0 OR v.source = 'whatsapp') \
         GROUP BY c.id, c.email, c.first_seen ORDER BY c.id"),
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(&start)
    .bind(&end)
    .bind(i64::from(whatsapp_only))
    .fetch_all(&db.pool)
    .await
    .map_err(|e| e.to_string())?;
    let mut csv = String::from("customer_id,email_sha256,first_seen,conversions,revenue\n");
    for (id, email, first_seen, conversions, revenue) in &rows {
        csv.push_str(&format!(
            "{id},{},{first_seen},{conversions},{:.2}\n",
            sha256_hex(&email.to_lowercase()),
            *revenue as f64 / 100.0
        ));
    }
    Ok(json!({ "customers": rows.len(), "csv": csv, "generated_for": format!("{start} – {end}") }))
}

/// Jobs queued or running, for the operator's metrics.
pub async fn backlog(db: &Db) -> ServiceResult<super::Backlog> {
    super::read_backlog(
        db,
        "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE status IN ('queued', 'running')",
    )
    .await
}
