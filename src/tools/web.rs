//! The REST endpoints over the website's traffic (spec §12): analytics (overview, series,
//! breakdowns, quality, keywords), visitors and realtime. The figures of a range come from the
//! same session rows and conversion days, so a series' sessions, pageviews and conversions add
//! up to the overview's (its visitors and rates are each point's own).

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::rest::{conversion_days, range_of, ConversionSums, ListArgs, Page, RestRange};
use super::{ToolCall, ToolError, ToolFuture};
use crate::model::{day_string, iso_time, parse_day, DateRange};
use crate::services::analytics::web::{self, Dimension, SessionRow, Traffic};
use crate::services::analytics::{mask_email, mask_name};

async fn session_rows(
    call: &ToolCall,
    profile_id: Option<i64>,
    range: DateRange,
) -> Result<Vec<SessionRow>, ToolError> {
    let (start, end) = range.bounds();
    Ok(web::sessions(&call.db, call.workspace()?, profile_id, (&start, &end)).await?)
}

/// A traffic figure set as JSON, with `extra` fields beside it.
fn traffic_json(traffic: &Traffic, extra: Value) -> Value {
    let mut value = json!(traffic);
    if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}

pub fn analytics_overview(call: ToolCall, args: RestRange) -> ToolFuture {
    Box::pin(async move {
        let range = args.range()?;
        let sessions = session_rows(&call, args.profile_id, range).await?;
        let mut conversions = ConversionSums::default();
        for row in conversion_days(&call, args.profile_id, range).await? {
            conversions.add(&row);
        }
        let mut extra = conversions.json();
        extra["range"] = range.json();
        Ok(traffic_json(&web::traffic(&sessions), extra))
    })
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeseriesArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before `end`).
    pub start: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all.
    pub end: Option<String>,
    /// One point per `day` (default) or per `week` (Monday to Sunday, cut at the range's ends).
    pub interval: Option<Interval>,
}

pub fn analytics_timeseries(call: ToolCall, args: TimeseriesArgs) -> ToolFuture {
    Box::pin(async move {
        let range = range_of(&args.start, &args.end)?;
        let interval = args.interval.unwrap_or(Interval::Day);
        let bucket = |day: i64| match interval {
            Interval::Day => day,
            Interval::Week => web::week_start(day).max(range.start),
        };
        // A stored day that is not a date is the server's fault, not a point of 1970.
        let bucket_of = |day: &str| parse_day(day).map(bucket).ok_or(ToolError::Internal);
        let sessions = session_rows(&call, args.profile_id, range).await?;
        let mut traffic: BTreeMap<Option<i64>, Traffic> =
            web::traffic_by(&sessions, |s| bucket_of(&s.day).ok())
                .into_iter()
                .collect();
        if traffic.contains_key(&None) {
            return Err(ToolError::Internal);
        }
        let mut conversions: BTreeMap<i64, ConversionSums> = BTreeMap::new();
        for row in conversion_days(&call, args.profile_id, range).await? {
            conversions
                .entry(bucket_of(&row.day)?)
                .or_default()
                .add(&row);
        }
        let starts: Vec<i64> = (range.start..=range.end)
            .filter(|day| bucket(*day) == *day)
            .collect();
        let points: Vec<Value> = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = starts.get(i + 1).map_or(range.end, |next| next - 1);
                let mut extra = conversions.remove(&start).unwrap_or_default().json();
                extra["start"] = json!(day_string(start));
                extra["end"] = json!(day_string(end));
                traffic_json(&traffic.remove(&Some(start)).unwrap_or_default(), extra)
            })
            .collect();
        let interval = match interval {
            Interval::Day => "day",
            Interval::Week => "week",
        };
        Ok(json!({ "range": range.json(), "interval": interval, "points": points }))
    })
}

/// A breakdown's rows with each one's share of the sessions.
async fn breakdown(
    call: &ToolCall,
    args: &RestRange,
    dimension: Dimension,
    known_only: bool,
) -> Result<Value, ToolError> {
    let range = args.range()?;
    let (start, end) = range.bounds();
    let workspace_id = call.workspace()?;
    let rows = web::breakdown(
        &call.db,
        workspace_id,
        args.profile_id,
        (&start, &end),
        dimension,
        known_only,
    )
    .await?;
    let shares = web::shares(&rows);
    let total: i64 = rows.iter().map(|r| r.sessions).sum();
    let rows: Vec<Value> = rows
        .iter()
        .zip(shares)
        .map(|(row, share)| {
            json!({
                "value": row.value, "sessions": row.sessions, "share": share,
                "visitors": row.visitors, "pageviews": row.pageviews,
                "bounce_rate": row.bounce_rate(),
            })
        })
        .collect();
    Ok(json!({ "range": range.json(), "sessions": total, "rows": rows }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakdownArgs {
    /// What to break sessions down by: channel, page (landing page), country, device, browser,
    /// os, referrer or keyword.
    pub dimension: Dimension,
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before `end`).
    pub start: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday). At most 366 days in all.
    pub end: Option<String>,
}

pub fn analytics_breakdown(call: ToolCall, args: BreakdownArgs) -> ToolFuture {
    Box::pin(async move {
        let range = RestRange {
            profile_id: args.profile_id,
            start: args.start,
            end: args.end,
        };
        let mut answer = breakdown(&call, &range, args.dimension, false).await?;
        answer["dimension"] = json!(args.dimension);
        Ok(answer)
    })
}

pub fn analytics_keywords(call: ToolCall, args: RestRange) -> ToolFuture {
    Box::pin(async move { breakdown(&call, &args, Dimension::Keyword, true).await })
}

pub fn analytics_quality(call: ToolCall, args: RestRange) -> ToolFuture {
    Box::pin(async move {
        let range = args.range()?;
        let sessions = session_rows(&call, args.profile_id, range).await?;
        let channels: Vec<Value> = web::traffic_by(&sessions, |s| s.channel.clone())
            .into_iter()
            .map(|(channel, traffic)| traffic_json(&traffic, json!({ "channel": channel })))
            .collect();
        Ok(json!({
            "range": range.json(),
            "overall": web::traffic(&sessions),
            "channels": channels,
        }))
    })
}

/// A visitor as lists show them: who (masked unless asked and allowed), from where, on what.
fn visitor_json(visitor: web::ListedVisitor, unmask: bool) -> Value {
    let (name, email) = match (unmask, visitor.full_name, visitor.email) {
        (true, name, email) => (name, email),
        (false, name, email) => (
            name.as_deref().map(mask_name),
            email.as_deref().map(mask_email),
        ),
    };
    json!({
        "id": visitor.id, "profile_id": visitor.profile_id,
        // The tracker's cookie id is an online identifier: shown only unmasked.
        "anonymous_id": unmask.then_some(visitor.anonymous_id),
        "customer_id": visitor.customer_id, "name": name, "email": email,
        "first_seen": visitor.first_seen, "last_seen_at": iso_time(visitor.last_seen_at),
        "country": visitor.country, "device": visitor.device, "browser": visitor.browser,
        "os": visitor.os, "sessions": visitor.sessions, "pageviews": visitor.pageviews,
    })
}

pub fn visitors_list(call: ToolCall, args: ListArgs) -> ToolFuture {
    Box::pin(async move {
        let range = range_of(&args.start, &args.end)?;
        let page = Page::checked(&call, args.limit, args.include_sensitive)?;
        let (start, end) = range.bounds();
        let found = web::visitors_page(
            &call.db,
            call.workspace()?,
            args.profile_id,
            (&start, &end),
            args.cursor,
            page.rows_to_read(),
        )
        .await?;
        let (found, next_cursor) = page.cut(found, |v| v.id);
        let visitors = found
            .into_iter()
            .map(|v| visitor_json(v, page.unmask))
            .collect();
        let mut answer = page.answer("visitors", visitors, next_cursor);
        answer["range"] = range.json();
        Ok(answer)
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorSessionsArgs {
    /// The visitor (see visitors_list).
    pub visitor_id: i64,
    /// The visitor's profile (a profile key's own, when left out).
    pub profile_id: Option<i64>,
    /// How many sessions to return, 1 to 100 (default 25), newest first.
    pub limit: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<i64>,
    /// Unmask the name and email of a known customer (needs the pii:read scope).
    pub include_sensitive: Option<bool>,
}

pub fn visitor_sessions(call: ToolCall, args: VisitorSessionsArgs) -> ToolFuture {
    Box::pin(async move {
        let page = Page::checked(&call, args.limit, args.include_sensitive)?;
        let found = web::visitor_sessions(
            &call.db,
            call.workspace()?,
            args.profile_id,
            args.visitor_id,
            args.cursor,
            page.rows_to_read(),
        )
        .await?;
        let Some((visitor, sessions)) = found else {
            return Err(ToolError::InvalidParameter(
                "no such visitor in this workspace".into(),
            ));
        };
        let (sessions, next_cursor) = page.cut(sessions, |s| s.id);
        let sessions = sessions
            .into_iter()
            .map(|s| {
                json!({
                    "id": s.id, "started_at": iso_time(s.started_at), "duration_s": s.duration_s,
                    "pageviews": s.pageviews, "landing_page": s.landing_page,
                    "channel": s.channel, "referrer": s.referrer, "keyword": s.keyword,
                })
            })
            .collect();
        let mut answer = page.answer("sessions", sessions, next_cursor);
        answer["visitor"] = visitor_json(visitor, page.unmask);
        Ok(answer)
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RealtimeArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
}

/// How many distinct visitors each value has, most first.
fn visitors_per<'a>(
    sessions: &'a [web::ActiveSession],
    key: impl Fn(&'a web::ActiveSession) -> &'a str,
) -> Vec<Value> {
    let mut groups: BTreeMap<&str, HashSet<i64>> = BTreeMap::new();
    for session in sessions {
        groups
            .entry(key(session))
            .or_default()
            .insert(session.visitor_id);
    }
    let mut groups: Vec<(&str, usize)> = groups.into_iter().map(|(k, v)| (k, v.len())).collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    groups
        .into_iter()
        .map(|(value, visitors)| json!({ "value": value, "visitors": visitors }))
        .collect()
}

pub fn realtime_visitors(call: ToolCall, args: RealtimeArgs) -> ToolFuture {
    Box::pin(async move {
        let now = crate::storage::now_ms();
        let since = now - web::REALTIME_WINDOW_MS;
        let sessions =
            web::active_sessions(&call.db, call.workspace()?, args.profile_id, since, now).await?;
        let visitors: HashSet<i64> = sessions.iter().map(|s| s.visitor_id).collect();
        Ok(json!({
            "as_of": iso_time(now),
            "window_minutes": web::REALTIME_WINDOW_MS / 60_000,
            "active_visitors": visitors.len(),
            "active_sessions": sessions.len(),
            "pages": visitors_per(&sessions, |s| s.landing_page.as_str()),
            "countries": visitors_per(&sessions, |s| s.country.as_str()),
            "devices": visitors_per(&sessions, |s| s.device.as_str()),
        }))
    })
}
