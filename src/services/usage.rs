//! The Usage page's figures, from the rollups the pipeline keeps (`period_usage`,
//! `usage_daily`), so the page stays fast however many events there are.

use crate::model::{day_of, day_string, DayUsage, Period, Plan, RefusalKind, UsagePage, UsageRow};
use crate::storage::Db;

use super::organizations::Actor;
use super::ServiceResult;

/// How many tokens the usage page names one by one.
const TOP_TOKENS: i64 = 10;

/// The organization's plan, its period holding `now`, and its credit balance.
async fn current_period(db: &Db, org_id: i64, now: i64) -> ServiceResult<(Plan, Period, i64)> {
    let (plan, anchor, credit_balance): (String, i64, i64) = sqlx::query_as(
        "SELECT plan, period_anchor, credit_balance FROM organizations WHERE id = $1",
    )
    .bind(org_id)
    .fetch_one(&db.pool)
    .await?;
    let plan = Plan::stored(&plan);
    Ok((plan, plan.period(anchor, now), credit_balance))
}

/// One token's calls and units by tool in the organization's current period, and the
/// period's start.
pub async fn of_token(
    db: &Db,
    actor: &Actor,
    token_id: i64,
    now: i64,
) -> ServiceResult<(i64, Vec<UsageRow>)> {
    let (_, period, _) = current_period(db, actor.org_id, now).await?;
    let rows = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT tool, CAST(SUM(calls) AS BIGINT), CAST(SUM(units) AS BIGINT) FROM usage_daily \
         WHERE org_id = $1 AND token_id = $2 AND day >= $3 GROUP BY tool ORDER BY 3 DESC, 2 DESC, 1",
    )
    .bind(actor.org_id)
    .bind(token_id)
    .bind(day_string(day_of(period.start)))
    .fetch_all(&db.pool)
    .await?;
    let rows = rows
        .into_iter()
        .map(|(name, calls, units)| UsageRow { name, calls, units })
        .collect();
    Ok((period.start, rows))
}

/// Calls and units of each of the organization's tokens this period: (token, calls, units).
pub async fn per_token(db: &Db, actor: &Actor, now: i64) -> ServiceResult<Vec<(i64, i64, i64)>> {
    let (_, period, _) = current_period(db, actor.org_id, now).await?;
    Ok(sqlx::query_as(
        "SELECT token_id, CAST(SUM(calls) AS BIGINT), CAST(SUM(units) AS BIGINT) FROM usage_daily \
         WHERE org_id = $1 AND day >= $2 GROUP BY token_id",
    )
    .bind(actor.org_id)
    .bind(day_string(day_of(period.start)))
    .fetch_all(&db.pool)
    .await?)
}

pub async fn usage_page(db: &Db, actor: &Actor, now: i64) -> ServiceResult<UsagePage> {
    let (plan, period, credit_balance) = current_period(db, actor.org_id, now).await?;
    // Every figure counts over the one period. It begins at midnight UTC, so the daily rollups
    // fall wholly inside it. The chart spans it all (at most 31 days), days to come marked.
    let first_day = day_of(period.start);
    let period_last = if period.end == i64::MAX {
        now
    } else {
        period.end - 1
    };
    let last_day = day_of(period_last).min(first_day + 30);
    let (from, to) = (day_string(first_day), day_string(last_day));

    // The figures are independent: read at once, on as many pooled connections.
    let org = actor.org_id;
    let used = sqlx::query_as::<_, (i64,)>(
        "SELECT units FROM period_usage WHERE org_id = $1 AND period_start = $2",
    )
    .bind(org)
    .bind(period.start)
    .fetch_optional(&db.pool);
    let per_day = sqlx::query_as::<_, (String, i64)>(
        "SELECT day, CAST(SUM(units) AS BIGINT) FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3 GROUP BY day",
    )
    .bind(org)
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.pool);
    let by_tool = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT tool, CAST(SUM(calls) AS BIGINT), CAST(SUM(units) AS BIGINT) FROM usage_daily \
         WHERE org_id = $1 AND day >= $2 AND day <= $3 GROUP BY tool ORDER BY 3 DESC, 2 DESC, 1",
    )
    .bind(org)
    .bind(&from)
    .bind(&to)
    .fetch_all(&db.pool);
    // The top tokens are picked from the rollup alone, then only they are looked up: joining
    // every used token first cost a lookup per token (16 ms at 5,000 tokens on PostgreSQL).
    let by_token = sqlx::query_as::<_, (Option<String>, Option<String>, i64, i64)>(
        "SELECT t.label, t.hint, top.calls, top.units FROM (\
             SELECT token_id, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(units) AS BIGINT) AS units \
             FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3 \
             GROUP BY token_id ORDER BY 3 DESC, 2 DESC, 1 LIMIT $4\
         ) top LEFT JOIN tokens t ON t.id = top.token_id \
         ORDER BY top.units DESC, top.calls DESC, top.token_id",
    )
    .bind(org)
    .bind(&from)
    .bind(&to)
    .bind(TOP_TOKENS)
    .fetch_all(&db.pool);
    let tokens_used = sqlx::query_as::<_, (i64,)>(
        "SELECT COUNT(DISTINCT token_id) FROM usage_daily WHERE org_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(org)
    .bind(&from)
    .bind(&to)
    .fetch_one(&db.pool);
    let refusals = sqlx::query_as::<_, (String, i64)>(
        "SELECT code, COUNT(*) FROM refusals WHERE org_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY code",
    )
    .bind(org)
    .bind(period.start)
    .bind(period.end)
    .fetch_all(&db.pool);
    let ledger = super::credits::latest_entries(db, org);
    let (used, per_day, by_tool, by_token, (tokens_used,), refusals, ledger) = tokio::try_join!(
        used,
        per_day,
        by_tool,
        by_token,
        tokens_used,
        refusals,
        ledger
    )?;

    let today = day_of(now);
    let daily = (first_day..=last_day)
        .map(|d| {
            let day = day_string(d);
            let units = per_day
                .iter()
                .find(|(x, _)| *x == day)
                .map(|(_, u)| *u)
                .unwrap_or(0);
            DayUsage {
                day,
                units,
                future: d > today,
            }
        })
        .collect();
    let refusals = RefusalKind::ALL
        .into_iter()
        .map(|kind| {
            let of_kind = refusals
                .iter()
                .filter(|(code, _)| RefusalKind::of_code(code) == Some(kind));
            (kind, of_kind.map(|(_, n)| *n).sum())
        })
        .collect();

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
        refusals,
        credit_balance,
        ledger,
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
