//! The REST endpoints of spec §12 (the Atribu API): registry entries like the tools, reached by
//! `GET` with their arguments in the query and the path (`surface::rest`). Their parameters are
//! the API's: `start` and `end` for the range, `limit` and `cursor` for lists.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ToolCall, ToolError, ToolFuture};
use crate::model::{day_string, DateRange};
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
    pub(super) fn range(&self) -> Result<DateRange, ToolError> {
        range_of(&self.start, &self.end)
    }
}

pub(super) fn range_of(
    start: &Option<String>,
    end: &Option<String>,
) -> Result<DateRange, ToolError> {
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
    let (start, end) = range.bounds();
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

pub fn campaigns_ads(call: ToolCall, args: CampaignArgs) -> ToolFuture {
    Box::pin(async move {
        let (range, rows) = metric_rows(&call, &args).await?;
        let ads = analytics::group(&rows, |r| (r.ad_id, format!("{} · {}", r.ad_set, r.ad)));
        Ok(json!({ "range": range.json(), "ads": by_spend(ads, "ad") }))
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

/// Conversions, their value and the cash collected of it, added up.
#[derive(Clone, Copy, Default)]
pub(super) struct ConversionSums {
    conversions: i64,
    value_cents: i64,
    cash_cents: i64,
}

impl ConversionSums {
    pub(super) fn add(&mut self, row: &analytics::ConversionDay) {
        self.conversions += row.conversions;
        self.value_cents += row.value_cents;
        self.cash_cents += row.cash_cents;
    }

    /// `conversions`, `revenue` and `cash_collected`, money in currency units.
    pub(super) fn json(self) -> Value {
        json!({
            "conversions": self.conversions,
            "revenue": self.value_cents as f64 / 100.0,
            "cash_collected": self.cash_cents as f64 / 100.0,
        })
    }
}

/// A range's conversions per day and source (days without any are not there).
pub(super) async fn conversion_days(
    call: &ToolCall,
    profile_id: Option<i64>,
    range: DateRange,
) -> Result<Vec<analytics::ConversionDay>, ToolError> {
    let (start, end) = range.bounds();
    Ok(
        analytics::conversions_by_day(&call.db, call.workspace()?, profile_id, &start, &end)
            .await?,
    )
}

pub fn conversions_summary(call: ToolCall, args: RestRange) -> ToolFuture {
    Box::pin(async move {
        let range = args.range()?;
        let rows = conversion_days(&call, args.profile_id, range).await?;
        let mut total = ConversionSums::default();
        let mut days: BTreeMap<&str, ConversionSums> = BTreeMap::new();
        let mut sources: BTreeMap<&str, ConversionSums> = BTreeMap::new();
        for row in &rows {
            total.add(row);
            days.entry(&row.day).or_default().add(row);
            sources.entry(&row.source).or_default().add(row);
        }
        let series: Vec<Value> = (range.start..=range.end)
            .map(day_string)
            .map(|day| {
                let mut entry = days.get(day.as_str()).copied().unwrap_or_default().json();
                entry["day"] = json!(day);
                entry
            })
            .collect();
        let by_source: Vec<Value> = sources
            .into_iter()
            .map(|(source, sums)| {
                let mut entry = sums.json();
                entry["source"] = json!(source);
                entry
            })
            .collect();
        let mut answer = total.json();
        answer["range"] = range.json();
        answer["by_source"] = json!(by_source);
        answer["days"] = json!(series);
        Ok(answer)
    })
}

/// The arguments of a list: a range, a page size and where the previous page ended.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before `end`).
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

/// A page of a list, checked: its size (`limit`, 1 to 100, 25 when left out) and whether to
/// show people's details (`include_sensitive`, which needs `pii:read`).
pub(super) struct Page {
    limit: i64,
    pub unmask: bool,
}

impl Page {
    pub(super) fn checked(
        call: &ToolCall,
        limit: Option<i64>,
        include_sensitive: Option<bool>,
    ) -> Result<Page, ToolError> {
        let limit = limit.unwrap_or(LIST_DEFAULT);
        if !(1..=LIST_MAX).contains(&limit) {
            return Err(ToolError::InvalidParameter(format!(
                "limit must be between 1 and {LIST_MAX}"
            )));
        }
        let unmask = call.unmasked(include_sensitive)?;
        Ok(Page { limit, unmask })
    }

    /// How many rows to read: one beyond the page shows whether there is a next one.
    pub(super) fn rows_to_read(&self) -> i64 {
        self.limit + 1
    }

    /// The page of the rows read, and the cursor of the next page if there is one.
    pub(super) fn cut<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = more.then(|| rows.last().map(id)).flatten();
        (rows, next_cursor)
    }

    /// The answer: the items under `key`, whether they are masked, the next cursor.
    pub(super) fn answer(&self, key: &str, items: Vec<Value>, next_cursor: Option<i64>) -> Value {
        json!({ key: items, "pii_masked": !self.unmask, "next_cursor": next_cursor })
    }
}

pub fn customers_list(call: ToolCall, args: ListArgs) -> ToolFuture {
    Box::pin(async move {
        let range = range_of(&args.start, &args.end)?;
        let page = Page::checked(&call, args.limit, args.include_sensitive)?;
        let (start, end) = range.bounds();
        let found = analytics::customers_page(
            &call.db,
            call.workspace()?,
            args.profile_id,
            (&start, &end),
            args.cursor,
            page.rows_to_read(),
        )
        .await?;
        let (found, next_cursor) = page.cut(found, |c| c.id);
        let customers: Vec<Value> = found
            .into_iter()
            .map(|c| {
                let (name, email) = match page.unmask {
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
        let mut answer = page.answer("customers", customers, next_cursor);
        answer["range"] = range.json();
        Ok(answer)
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
        let unmask = call.unmasked(args.include_sensitive)?;
        let workspace_id = call.workspace()?;
        let customer = Some(args.customer_id);
        super::analytics::journey(&call, workspace_id, args.profile_id, customer, unmask).await
    })
}
