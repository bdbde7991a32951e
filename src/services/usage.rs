//! The Usage page's figures, from the rollups the pipeline keeps (`period_usage`,
//! `usage_daily`), so the page stays fast however many events there are.

use crate::enforcement::limits;
use crate::model::{day_string, LedgerRow, UsagePage, UsageRow};
use crate::storage::Db;

use super::organizations::Actor;
use super::ServiceResult;

const DAY_MS: i64 = 86_400_000;

/// How many tokens the usage page names one by one.
const TOP_TOKENS: i64 = 10;

pub async fn usage_page(db: &Db, actor: &Actor, now: i64) -> ServiceResult<UsagePage> {
    let (plan, anchor, credit_balance): (String, i64, i64) = sqlx::query_as(
        "SELECT plan, period_anchor, credit_balance FROM organizations WHERE id = $1",
    )
    .bind(actor.org_id)
    .fetch_one(&db.pool)
    .await?;
    let period = limits::period(&plan, anchor, now);
    let used: Option<(i64,)> =
        sqlx::query_as("SELECT units FROM period_usage WHERE org_id = $1 AND period_start = $2")
            .bind(actor.org_id)
            .bind(period.start)
            .fetch_optional(&db.pool)
            .await?;
    // The chart spans the whole period (at most 31 days), days to come shown empty.
    let first_day = period.start.div_euclid(DAY_MS);
    let period_last = if period.end == i64::MAX {
        now
    } else {
        period.end - 1
    };
    let last_day = period_last.div_euclid(DAY_MS).min(first_day + 30);
    let (from, to) = (day_string(first_day), day_string(last_day));

    let per_day: Vec<(String, i64)> = sqlx::query_as(
        "SELECT day, CAST(SUM(units) AS BIGINT) FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3 GROUP BY day",
    )
    .bind(actor.org_id)
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.pool)
    .await?;
    let daily = (first_day..=last_day)
        .map(|d| {
            let day = day_string(d);
            let units = per_day
                .iter()
                .find(|(x, _)| *x == day)
                .map(|(_, u)| *u)
                .unwrap_or(0);
            (day, units)
        })
        .collect();

    let by_tool: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT tool, CAST(SUM(calls) AS BIGINT), CAST(SUM(units) AS BIGINT) FROM usage_daily \
         WHERE org_id = $1 AND day >= $2 AND day <= $3 GROUP BY tool ORDER BY 3 DESC, 2 DESC, 1",
    )
    .bind(actor.org_id)
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.pool)
    .await?;
    let by_token: Vec<(Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT t.label, t.hint, CAST(SUM(d.calls) AS BIGINT), CAST(SUM(d.units) AS BIGINT) FROM usage_daily d \
         LEFT JOIN tokens t ON t.id = d.token_id WHERE d.org_id = $1 AND d.day >= $2 AND d.day <= $3 \
         GROUP BY d.token_id, t.label, t.hint ORDER BY 4 DESC, 3 DESC LIMIT $4",
    )
    .bind(actor.org_id)
    .bind(&from)
    .bind(&to)
    .bind(TOP_TOKENS)
    .fetch_all(&db.pool)
    .await?;
    let (tokens_used,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT token_id) FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(actor.org_id)
    .bind(&from)
    .bind(&to)
    .fetch_one(&db.pool)
    .await?;
    let refusals: Vec<(String, i64)> = sqlx::query_as(
        "SELECT code, COUNT(*) FROM refusals WHERE org_id = $1 AND created_at >= $2 GROUP BY code",
    )
    .bind(actor.org_id)
    .bind(period.start)
    .fetch_all(&db.pool)
    .await?;
    let refused = |code: &str| {
        refusals
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let ledger: Vec<(i64, String, i64, i64, String)> = sqlx::query_as(
        "SELECT created_at, kind, amount, balance_after, note FROM credit_ledger WHERE org_id = $1 ORDER BY id DESC LIMIT 20",
    )
    .bind(actor.org_id)
    .fetch_all(&db.pool)
    .await?;

    Ok(UsagePage {
        plan,
        period_start: period.start,
        period_end: (period.end != i64::MAX).then_some(period.end),
        allowance: period.allowance,
        used: used.map(|(u,)| u).unwrap_or(0),
        now,
        daily,
        by_token: top_tokens(by_token, tokens_used, &by_tool),
        by_tool: by_tool
            .into_iter()
            .map(|(name, calls, units)| UsageRow { name, calls, units })
            .collect(),
        rate_limited: refused("rate_limited"),
        quota_exceeded: refused("quota_exceeded"),
        credit_balance,
        ledger: ledger
            .into_iter()
            .map(|(at, kind, amount, balance_after, note)| LedgerRow {
                at,
                kind,
                amount,
                balance_after,
                note,
            })
            .collect(),
    })
}

/// The busiest tokens, then one row for all the others: the page stays the same size however
/// many tokens an organization runs.
fn top_tokens(
    top: Vec<(Option<String>, Option<String>, i64, i64)>,
    tokens_used: i64,
    by_tool: &[(String, i64, i64)],
) -> Vec<UsageRow> {
    let mut rows: Vec<UsageRow> = top
        .into_iter()
        .map(|(label, hint, calls, units)| UsageRow {
            name: match (label, hint) {
                (Some(label), Some(hint)) => format!("{label} ({hint})"),
                _ => "Deleted token".into(),
            },
            calls,
            units,
        })
        .collect();
    let others = tokens_used - rows.len() as i64;
    if others > 0 {
        let total = |pick: fn(&(String, i64, i64)) -> i64| by_tool.iter().map(pick).sum::<i64>();
        let shown = |pick: fn(&UsageRow) -> i64| rows.iter().map(pick).sum::<i64>();
        let row = UsageRow {
            name: format!("{others} other token{}", if others == 1 { "" } else { "s" }),
            calls: total(|t| t.1) - shown(|r| r.calls),
            units: total(|t| t.2) - shown(|r| r.units),
        };
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_beyond_the_top_are_summed_in_one_row() {
        let top = vec![(Some("a".into()), Some("tg_live_a…".into()), 5, 10)];
        let by_tool = vec![("t".to_string(), 8, 15)];
        let rows = super::top_tokens(top, 3, &by_tool);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "2 other tokens");
        assert_eq!((rows[1].calls, rows[1].units), (3, 5));
        assert_eq!(super::top_tokens(vec![], 0, &[]).len(), 0);
    }
}
