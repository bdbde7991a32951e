//! The analytics tools of spec §5: real answers computed from the workspace's data.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ToolError;
use super::{ToolCall, ToolFuture};
use crate::model::{day_string, DateRange};
use crate::services::analytics::{self, Model};

/// The arguments every range tool shares.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before end_date).
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all (MAX_RANGE_DAYS).
    pub end_date: Option<String>,
}

struct Query {
    workspace_id: i64,
    profile_id: Option<i64>,
    range: DateRange,
}

fn query(call: &ToolCall, args: &RangeArgs) -> Result<Query, ToolError> {
    let range = DateRange::parse(
        args.start_date.as_deref(),
        args.end_date.as_deref(),
        super::today(),
    )?;
    Ok(Query {
        workspace_id: call.workspace()?,
        profile_id: args.profile_id,
        range,
    })
}

async fn metrics(
    call: &ToolCall,
    q: &Query,
    range: DateRange,
) -> Result<Vec<analytics::MetricRow>, ToolError> {
    let (start, end) = range.bounds();
    Ok(analytics::metrics(&call.db, q.workspace_id, q.profile_id, &start, &end).await?)
}

/// The totals of the range, summed by the database.
async fn summed(
    call: &ToolCall,
    q: &Query,
    range: DateRange,
) -> Result<analytics::Totals, ToolError> {
    let (start, end) = range.bounds();
    let sums =
        analytics::summed_metrics(&call.db, q.workspace_id, q.profile_id, &start, &end).await?;
    Ok(sums.totals())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProfilesArgs {
    /// Only this profile (a profile key lists its own).
    pub profile_id: Option<i64>,
}

pub fn list_profiles(call: ToolCall, args: ListProfilesArgs) -> ToolFuture {
    Box::pin(async move {
        let workspace_id = call.workspace()?;
        let mut profiles = analytics::profiles(&call.db, workspace_id).await?;
        if let Some(only) = args.profile_id {
            profiles.retain(|p| p.id == only);
        }
        Ok(json!({ "profiles": profiles }))
    })
}

pub fn get_performance_summary(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let totals = summed(&call, &q, q.range).await?;
        Ok(json!({ "range": q.range.json(), "totals": totals }))
    })
}

pub fn compare_periods(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let current = summed(&call, &q, q.range).await?;
        let previous_range = q.range.previous();
        let previous = summed(&call, &q, previous_range).await?;
        let change = json!({
            "spend_percent": analytics::change_percent(previous.spend, current.spend),
            "revenue_percent": analytics::change_percent(previous.revenue, current.revenue),
            "conversions_percent": analytics::change_percent(previous.conversions as f64, current.conversions as f64),
            "clicks_percent": analytics::change_percent(previous.clicks as f64, current.clicks as f64),
        });
        Ok(json!({
            "current": { "range": q.range.json(), "totals": current },
            "previous": { "range": previous_range.json(), "totals": previous },
            "change": change,
        }))
    })
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    Spend,
    Revenue,
    Conversions,
    Roas,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before end_date).
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday).
    pub end_date: Option<String>,
    /// What to rank by (default revenue).
    pub by: Option<RankBy>,
    /// How many to return, 1 to 50 (default 5).
    pub limit: Option<u32>,
}

fn rank(
    groups: Vec<(i64, String, analytics::Totals)>,
    by: RankBy,
    limit: usize,
    key: &str,
) -> Vec<Value> {
    let value = |t: &analytics::Totals| match by {
        RankBy::Spend => t.spend,
        RankBy::Revenue => t.revenue,
        RankBy::Conversions => t.conversions as f64,
        RankBy::Roas => t.roas.unwrap_or(0.0),
    };
    let mut groups = groups;
    groups.sort_by(|a, b| value(&b.2).total_cmp(&value(&a.2)).then(a.0.cmp(&b.0)));
    groups
        .into_iter()
        .take(limit)
        .map(|(id, name, totals)| json!({ "id": id, key: name, "totals": totals }))
        .collect()
}

fn top(call: ToolCall, args: TopArgs, creatives: bool) -> ToolFuture {
    Box::pin(async move {
        let limit = args.limit.unwrap_or(5);
        if !(1..=50).contains(&limit) {
            return Err(ToolError::InvalidParameter(
                "limit must be between 1 and 50".into(),
            ));
        }
        let range = RangeArgs {
            profile_id: args.profile_id,
            start_date: args.start_date,
            end_date: args.end_date,
        };
        let q = query(&call, &range)?;
        let rows = metrics(&call, &q, q.range).await?;
        let by = args.by.unwrap_or(RankBy::Revenue);
        let (groups, key) = if creatives {
            (
                analytics::group(&rows, |r| (r.creative_id, r.creative.clone())),
                "creative",
            )
        } else {
            (
                analytics::group(&rows, |r| (r.campaign_id, r.campaign.clone())),
                "campaign",
            )
        };
        let list = rank(groups, by, limit as usize, key);
        Ok(
            json!({ "range": q.range.json(), if creatives { "creatives" } else { "campaigns" }: list }),
        )
    })
}

pub fn top_campaigns(call: ToolCall, args: TopArgs) -> ToolFuture {
    top(call, args, false)
}

pub fn top_creatives(call: ToolCall, args: TopArgs) -> ToolFuture {
    top(call, args, true)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyArgs {
    /// The customer whose journey to explain, by id...
    pub customer_id: Option<i64>,
    /// ...or by exact email address.
    pub email: Option<String>,
    /// Unmask email, phone and full name (needs the pii:read scope).
    pub include_sensitive: Option<bool>,
}

pub fn explain_customer_journey(call: ToolCall, args: JourneyArgs) -> ToolFuture {
    Box::pin(async move {
        let unmask = call.unmasked(args.include_sensitive)?;
        let workspace_id = call.workspace()?;
        let customer_id = match (args.customer_id, args.email.as_deref()) {
            (Some(id), _) => Some(id),
            (None, Some(email)) => {
                analytics::customer_id_by_email(&call.db, workspace_id, email).await?
            }
            (None, None) => {
                return Err(ToolError::InvalidParameter(
                    "name the customer by customer_id or email".into(),
                ))
            }
        };
        journey(&call, workspace_id, None, customer_id, unmask).await
    })
}

/// A customer's touchpoints and conversions, masked unless `unmask` (the caller checked
/// `pii:read`); the answer of `explain_customer_journey` and of the REST `customer_journey`.
pub(super) async fn journey(
    call: &ToolCall,
    workspace_id: i64,
    profile_id: Option<i64>,
    customer_id: Option<i64>,
    unmask: bool,
) -> Result<Value, ToolError> {
    let found = match customer_id {
        Some(id) => analytics::customer(&call.db, workspace_id, profile_id, id).await?,
        None => None,
    };
    let Some((customer, touches, conversions)) = found else {
        return Err(ToolError::InvalidParameter(
            "no such customer in this workspace".into(),
        ));
    };
    let (name, email, phone) = if unmask {
        (
            customer.full_name.clone(),
            customer.email.clone(),
            customer.phone.clone(),
        )
    } else {
        (
            analytics::mask_name(&customer.full_name),
            analytics::mask_email(&customer.email),
            analytics::mask_phone(&customer.phone),
        )
    };
    let converted: Vec<_> = conversions
        .iter()
        .map(|(day, value, source)| json!({ "day": day, "value": *value as f64 / 100.0, "source": source }))
        .collect();
    let paid = touches.iter().filter(|t| t.campaign.is_some()).count();
    let summary = format!(
        "{} touchpoint{} ({paid} paid) since {}, {} conversion{}.",
        touches.len(),
        if touches.len() == 1 { "" } else { "s" },
        customer.first_seen,
        conversions.len(),
        if conversions.len() == 1 { "" } else { "s" }
    );
    Ok(json!({
        "customer": { "id": customer.id, "name": name, "email": email, "phone": phone, "first_seen": customer.first_seen, "pii_masked": !unmask },
        "touchpoints": touches,
        "conversions": converted,
        "summary": summary,
    }))
}

async fn journeys(call: &ToolCall, q: &Query) -> Result<Vec<analytics::Journey>, ToolError> {
    let (start, end) = q.range.bounds();
    Ok(analytics::converted_journeys(&call.db, q.workspace_id, q.profile_id, &start, &end).await?)
}

pub fn compare_attribution_models(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let journeys = journeys(&call, &q).await?;
        let models: Vec<_> = Model::ALL
            .into_iter()
            .map(|model| {
                let credit: Vec<_> = analytics::attribute(model, &journeys)
                    .into_iter()
                    .map(|(label, conversions, revenue)| json!({ "label": label, "conversions": conversions, "revenue": revenue }))
                    .collect();
                json!({ "model": model, "credit": credit })
            })
            .collect();
        Ok(json!({ "range": q.range.json(), "conversions": journeys.len(), "models": models }))
    })
}

pub fn whatsapp_attribution_summary(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let journeys = journeys(&call, &q).await?;
        let total = journeys.len();
        let whatsapp: Vec<_> = journeys
            .iter()
            .filter(|j| matches!(&j.conversion, Some((_, _, s)) if s == "whatsapp"))
            .collect();
        let revenue = |js: &[&analytics::Journey]| {
            js.iter()
                .filter_map(|j| j.conversion.as_ref())
                .map(|c| c.1)
                .sum::<i64>() as f64
                / 100.0
        };
        let all: Vec<_> = journeys.iter().collect();
        // Which campaigns brought the people who then converted over WhatsApp.
        let assisted: Vec<analytics::Journey> = whatsapp.iter().map(|j| (*j).clone()).collect();
        let campaigns: Vec<_> = analytics::attribute(Model::FirstTouch, &assisted)
            .into_iter()
            .filter(|(_, c, _)| *c > 0.0)
            .map(|(label, conversions, revenue)| json!({ "first_touch": label, "conversions": conversions, "revenue": revenue }))
            .collect();
        Ok(json!({
            "range": q.range.json(),
            "whatsapp_conversions": whatsapp.len(),
            "all_conversions": total,
            "share_percent": if total == 0 { None } else { Some((whatsapp.len() as f64 / total as f64 * 1000.0).round() / 10.0) },
            "whatsapp_revenue": revenue(&whatsapp),
            "all_revenue": revenue(&all),
            "by_first_touch": campaigns,
        }))
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignArgs {
    /// The campaign to explain (see top_campaigns).
    pub campaign_id: i64,
    /// First day, YYYY-MM-DD (default: 30 days before end_date).
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday).
    pub end_date: Option<String>,
}

pub fn explain_campaign(call: ToolCall, args: CampaignArgs) -> ToolFuture {
    Box::pin(async move {
        let range = RangeArgs {
            profile_id: None,
            start_date: args.start_date,
            end_date: args.end_date,
        };
        let q = query(&call, &range)?;
        let rows: Vec<_> = metrics(&call, &q, q.range)
            .await?
            .into_iter()
            .filter(|r| r.campaign_id == args.campaign_id)
            .collect();
        let Some(first) = rows.first() else {
            let (start, end) = q.range.bounds();
            return Err(ToolError::InvalidParameter(format!(
                "no data for campaign {} in this workspace between {start} and {end}",
                args.campaign_id,
            )));
        };
        let (name, channel) = (first.campaign.clone(), first.channel.clone());
        let middle = day_string(q.range.start + q.range.days() / 2);
        let early = analytics::totals(rows.iter().filter(|r| r.day < middle));
        let late = analytics::totals(rows.iter().filter(|r| r.day >= middle));
        let ad_sets = analytics::group(&rows, |r| (r.ad_set_id, r.ad_set.clone()));
        let creatives = analytics::group(&rows, |r| (r.creative_id, r.creative.clone()));
        let best = ad_sets
            .iter()
            .max_by(|a, b| a.2.roas.unwrap_or(0.0).total_cmp(&b.2.roas.unwrap_or(0.0)));
        let roas_change =
            analytics::change_percent(early.roas.unwrap_or(0.0), late.roas.unwrap_or(0.0));
        let ctr_change =
            analytics::change_percent(early.ctr.unwrap_or(0.0), late.ctr.unwrap_or(0.0));
        let totals = analytics::totals(&rows);
        let mut story = format!(
            "{name} ({channel}) spent {:.2} for {:.2} in revenue (ROAS {}).",
            totals.spend,
            totals.revenue,
            totals
                .roas
                .map(|r| r.to_string())
                .unwrap_or_else(|| "n/a".into())
        );
        if let Some(change) = roas_change {
            story.push_str(&format!(
                " ROAS {} {:.1} % from the first half of the period to the second",
                if change < 0.0 { "fell" } else { "rose" },
                change.abs()
            ));
            if let Some(ctr) = ctr_change {
                story.push_str(&format!(", while CTR changed {ctr:+.1} %"));
            }
            story.push('.');
        }
        if let Some((_, best_name, best_totals)) = best {
            story.push_str(&format!(
                " Best ad set: {best_name} (ROAS {}).",
                best_totals.roas.unwrap_or(0.0)
            ));
        }
        let named = |groups: Vec<(i64, String, analytics::Totals)>| -> Vec<Value> {
            groups
                .into_iter()
                .map(|(id, name, totals)| json!({ "id": id, "name": name, "totals": totals }))
                .collect()
        };
        Ok(json!({
            "campaign": { "id": args.campaign_id, "name": name, "channel": channel },
            "range": q.range.json(),
            "totals": totals,
            "first_half": early,
            "second_half": late,
            "ad_sets": named(ad_sets),
            "creatives": named(creatives),
            "explanation": story,
        }))
    })
}

pub fn creative_fatigue_check(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let rows = metrics(&call, &q, q.range).await?;
        let days: Vec<String> = (q.range.start..=q.range.end).map(day_string).collect();
        let creatives = analytics::fatigue(&rows, &days, 7);
        let fatigued = creatives.iter().filter(|c| c.status == "fatigued").count();
        Ok(
            json!({ "range": q.range.json(), "window_days": 7, "fatigued": fatigued, "creatives": creatives }),
        )
    })
}

pub fn find_anomalies(call: ToolCall, args: RangeArgs) -> ToolFuture {
    Box::pin(async move {
        let q = query(&call, &args)?;
        let rows = metrics(&call, &q, q.range).await?;
        Ok(
            json!({ "range": q.range.json(), "threshold_z": 3.0, "anomalies": analytics::anomalies(&rows) }),
        )
    })
}
