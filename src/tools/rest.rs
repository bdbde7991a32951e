//! The REST endpoints of spec §12 (the Atribu API): registry entries like the tools, reached by
//! `GET` with their arguments in the query and the path (`surface::rest`). Their parameters are
//! the API's: `start` and `end` for the range, `limit` and `cursor` for lists.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ToolCall, ToolError, ToolFuture};
use crate::model::{day_string, DateRange, Scope};
use crate::services::analytics::{self, MetricRow, Totals};

const LIST_DEFAULT: i64 = 25;
const LIST_MAX: i64 = 100;

/// The range every endpoint takes, and the profile to limit it to.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestRange {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before `end`).
    pub start: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all.
    pub end: Option<String>,
}

impl RestRange {
    fn range(&self) -> Result<DateRange, ToolError> {
        range_of(&self.start, &self.end)
    }
}

fn range_of(start: &Option<String>, end: &Option<String>) -> Result<DateRange, ToolError> {
    let (start, end) = (start.as_deref(), end.as_deref());
    Ok(DateRange::parse_named(
        start,
        end,
        super::today(),
        ["start", "end"],
    )?)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before `end`).
    pub start: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all.
    pub end: Option<String>,
    /// Only this campaign (see campaigns_performance).
    pub campaign_id: Option<i64>,
}

/// The range's metric rows (of one campaign, when named).
async fn metric_rows(
    call: &ToolCall,
    args: &CampaignArgs,
) -> Result<(DateRange, Vec<MetricRow>), ToolError> {
    let range = range_of(&args.start, &args.end)?;
    let (start, end) = (day_string(range.start), day_string(range.end));
    let workspace_id = call.workspace()?;
    let mut rows =
        analytics::metrics(&call.db, workspace_id, args.profile_id, &start, &end).await?;
    if let Some(campaign) = args.campaign_id {
        rows.retain(|r| r.campaign_id == campaign);
    }
    Ok((range, rows))
}

/// Groups as a list by spend, biggest first (ties by id).
fn by_spend(groups: Vec<(i64, String, Totals)>, key: &str) -> Vec<Value> {
    let mut groups = groups;
    groups.sort_by(|a, b| b.2.spend.total_cmp(&a.2.spend).then(a.0.cmp(&b.0)));
    groups
        .into_iter()
        .map(|(id, name, totals)| json!({ "id": id, key: name, "totals": totals }))
        .collect()
}

pub fn campaigns_performance(call: ToolCall, args: CampaignArgs) -> ToolFuture {
    Box::pin(async move {
        let (range, rows) = metric_rows(&call, &args).await?;
        let campaigns = analytics::group(&rows, |r| (r.campaign_id, r.campaign.clone()));
        Ok(json!({
            "range": range.json(),
            "totals": analytics::totals(&rows),
            "campaigns": by_spend(campaigns, "campaign"),
        }))
    })
}

pub fn campaigns_ad_sets(call: ToolCall, args: CampaignArgs) -> ToolFuture {
    Box::pin(async move {
        let (range, rows) = metric_rows(&call, &args).await?;
        let ad_sets = analytics::group(&rows, |r| (r.ad_set_id, r.ad_set.clone()));
        Ok(json!({ "range": range.json(), "ad_sets": by_spend(ad_sets, "ad_set") }))
    })
}

pub fn campaigns_daily(call: ToolCall, args: CampaignArgs) -> ToolFuture {
    Box::pin(async move {
        let (range, rows) = metric_rows(&call, &args).await?;
        let by_day = analytics::group(&rows, |r| (r.day.clone(), String::new()));
        let mut days: BTreeMap<String, Totals> = by_day
            .into_iter()
            .map(|(day, _, totals)| (day, totals))
            .collect();
        let series: Vec<Value> = (range.start..=range.end)
            .map(day_string)
            .map(|day| {
                let totals = days.remove(&day).unwrap_or_default();
                json!({ "day": day, "totals": totals })
            })
            .collect();
        Ok(json!({ "range": range.json(), "days": series }))
    })
}

pub fn conversions_summary(call: ToolCall, args: RestRange) -> ToolFuture {
    Box::pin(async move {
        let range = args.range()?;
        let (start, end) = (day_string(range.start), day_string(range.end));
        let rows = analytics::conversions_by_day(
            &call.db,
            call.workspace()?,
            args.profile_id,
            &start,
            &end,
        )
        .await?;
        let mut days: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut sources: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (day, source, count, cents) in &rows {
            for (total, key) in [(&mut days, day), (&mut sources, source)] {
                let entry = total.entry(key.clone()).or_default();
                entry.0 += count;
                entry.1 += cents;
            }
        }
        let money = |cents: i64| cents as f64 / 100.0;
        let (count, cents) = rows.iter().fold((0, 0), |(n, c), r| (n + r.2, c + r.3));
        let series: Vec<Value> = (range.start..=range.end)
            .map(day_string)
            .map(|day| {
                let (n, c) = days.get(&day).copied().unwrap_or_default();
                json!({ "day": day, "conversions": n, "revenue": money(c) })
            })
            .collect();
        let by_source: Vec<Value> = sources
            .into_iter()
            .map(|(source, (n, c))| json!({ "source": source, "conversions": n, "revenue": money(c) }))
            .collect();
        Ok(json!({
            "range": range.json(),
            "conversions": count,
            "revenue": money(cents),
            "by_source": by_source,
            "days": series,
        }))
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomersArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day customers were first seen, YYYY-MM-DD (default: 30 days before `end`).
    pub start: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all.
    pub end: Option<String>,
    /// How many to return, 1 to 100 (default 25).
    pub limit: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<i64>,
    /// Unmask names and emails (needs the pii:read scope).
    pub include_sensitive: Option<bool>,
}

pub fn customers_list(call: ToolCall, args: CustomersArgs) -> ToolFuture {
    Box::pin(async move {
        let range = range_of(&args.start, &args.end)?;
        let limit = args.limit.unwrap_or(LIST_DEFAULT);
        if !(1..=LIST_MAX).contains(&limit) {
            return Err(ToolError::InvalidParameter(format!(
                "limit must be between 1 and {LIST_MAX}"
            )));
        }
        let unmask = args.include_sensitive.unwrap_or(false);
        if unmask {
            call.scopes.require(Scope::PiiRead)?;
        }
        let (start, end) = (day_string(range.start), day_string(range.end));
        let workspace_id = call.workspace()?;
        // One more than asked: whether there is a next page.
        let mut found = analytics::customers_page(
            &call.db,
            workspace_id,
            args.profile_id,
            (&start, &end),
            args.cursor,
            limit + 1,
        )
        .await?;
        let more = found.len() as i64 > limit;
        found.truncate(limit as usize);
        let next_cursor = more.then(|| found.last().map(|c| c.id)).flatten();
        let customers: Vec<Value> = found
            .into_iter()
            .map(|c| {
                let (name, email) = match unmask {
                    true => (c.full_name, c.email),
                    false => (
                        analytics::mask_name(&c.full_name),
                        analytics::mask_email(&c.email),
                    ),
                };
                json!({
                    "id": c.id, "profile_id": c.profile_id, "name": name, "email": email,
                    "first_seen": c.first_seen, "conversions": c.conversions,
                    "revenue": c.revenue_cents as f64 / 100.0,
                })
            })
            .collect();
        Ok(json!({
            "range": range.json(),
            "customers": customers,
            "pii_masked": !unmask,
            "next_cursor": next_cursor,
        }))
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyArgs {
    /// The customer (see customers_list).
    pub customer_id: i64,
    /// The customer's profile (a profile key's own, when left out).
    pub profile_id: Option<i64>,
    /// Unmask email, phone and full name (needs the pii:read scope).
    pub include_sensitive: Option<bool>,
}

pub fn customer_journey(call: ToolCall, args: JourneyArgs) -> ToolFuture {
    Box::pin(async move {
        let unmask = args.include_sensitive.unwrap_or(false);
        if unmask {
            call.scopes.require(Scope::PiiRead)?;
        }
        let workspace_id = call.workspace()?;
        let customer = Some(args.customer_id);
        super::analytics::journey(&call, workspace_id, args.profile_id, customer, unmask).await
    })
}
