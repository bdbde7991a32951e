//! The website's traffic: sessions and visitors of one workspace (or profile), counted for the
//! REST API's analytics, visitors and realtime answers. Overviews, series and quality are
//! computed by plain functions over session rows, so that they cannot disagree; breakdowns
//! are grouped by the database.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::services::ServiceResult;
use crate::storage::Db;

use super::{ratio, IN_WORKSPACE};

/// One session, as the traffic figures count it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    pub visitor_id: i64,
    pub day: String,
    pub pageviews: i64,
    pub duration_s: i64,
    pub channel: String,
    /// The day the visitor was first seen: before `day` means a returning visitor.
    pub first_seen: String,
}

/// The traffic figures of a set of sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Traffic {
    pub visitors: i64,
    pub sessions: i64,
    pub pageviews: i64,
    /// Sessions of one page only, of all sessions.
    pub bounce_rate: Option<f64>,
    /// Seconds, on average per session.
    pub avg_duration_s: Option<f64>,
    pub pages_per_session: Option<f64>,
    /// Sessions of visitors seen on an earlier day, of all sessions.
    pub returning_rate: Option<f64>,
}

pub fn traffic<'a>(rows: impl IntoIterator<Item = &'a SessionRow>) -> Traffic {
    let mut visitors = HashSet::new();
    let (mut sessions, mut pageviews, mut bounces, mut duration, mut returning) = (0, 0, 0, 0, 0);
    for row in rows {
        visitors.insert(row.visitor_id);
        sessions += 1;
        pageviews += row.pageviews;
        bounces += i64::from(row.pageviews == 1);
        duration += row.duration_s;
        returning += i64::from(row.first_seen < row.day);
    }
    let per_session = |n: i64, places| ratio(n as f64, sessions as f64, places);
    Traffic {
        visitors: visitors.len() as i64,
        sessions,
        pageviews,
        bounce_rate: per_session(bounces, 4),
        avg_duration_s: per_session(duration, 1),
        pages_per_session: per_session(pageviews, 2),
        returning_rate: per_session(returning, 4),
    }
}

/// Traffic per key (a day, a week, a channel), in key order.
pub fn traffic_by<K: Ord>(
    rows: &[SessionRow],
    key: impl Fn(&SessionRow) -> K,
) -> Vec<(K, Traffic)> {
    let mut groups: BTreeMap<K, Vec<&SessionRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(key(row)).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(k, rows)| (k, traffic(rows)))
        .collect()
}

/// Sessions `s` with their profile `p`, their visitor `v` checked to be of the same profile;
/// followed by `AND {IN_WORKSPACE}` to keep to the call's workspace and profile.
const OF_PROFILE: &str = "JOIN profiles p ON p.id = s.profile_id WHERE v.profile_id = s.profile_id";

pub async fn sessions(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    (start, end): (&str, &str),
) -> ServiceResult<Vec<SessionRow>> {
    Ok(sqlx::query_as::<_, SessionRow>(&format!(
        "SELECT s.visitor_id, s.day, s.pageviews, s.duration_s, s.channel, v.first_seen \
         FROM web_sessions s JOIN web_visitors v ON v.id = s.visitor_id {OF_PROFILE} AND {IN_WORKSPACE} \
         AND s.day >= $3 AND s.day <= $4 ORDER BY s.day, s.id"
    ))
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?)
}

/// What sessions can be broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Channel,
    Page,
    Country,
    Device,
    Browser,
    Os,
    Referrer,
    Keyword,
}

impl Dimension {
    /// The column it groups by (a fixed name, never the caller's text).
    fn column(self) -> &'static str {
        match self {
            Dimension::Channel => "s.channel",
            Dimension::Page => "s.landing_page",
            Dimension::Country => "v.country",
            Dimension::Device => "v.device",
            Dimension::Browser => "v.browser",
            Dimension::Os => "v.os",
            Dimension::Referrer => "s.referrer",
            Dimension::Keyword => "s.keyword",
        }
    }
}

/// One value of a dimension (None: sessions without one, such as direct visits' referrer).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct BreakdownRow {
    pub value: Option<String>,
    pub sessions: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub bounces: i64,
}

impl BreakdownRow {
    pub fn bounce_rate(&self) -> Option<f64> {
        ratio(self.bounces as f64, self.sessions as f64, 4)
    }
}

/// Sessions grouped by `dimension`, most sessions first; `known_only` leaves out sessions
/// without a value (keywords: only search sessions have one).
pub async fn breakdown(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    (start, end): (&str, &str),
    dimension: Dimension,
    known_only: bool,
) -> ServiceResult<Vec<BreakdownRow>> {
    let column = dimension.column();
    let known = if known_only {
        format!("AND {column} IS NOT NULL")
    } else {
        String::new()
    };
    Ok(sqlx::query_as::<_, BreakdownRow>(&format!(
        "SELECT {column} AS value, CAST(COUNT(*) AS BIGINT) AS sessions, \
         CAST(COUNT(DISTINCT s.visitor_id) AS BIGINT) AS visitors, \
         CAST(SUM(s.pageviews) AS BIGINT) AS pageviews, \
         CAST(SUM(CASE WHEN s.pageviews = 1 THEN 1 ELSE 0 END) AS BIGINT) AS bounces \
         FROM web_sessions s JOIN web_visitors v ON v.id = s.visitor_id {OF_PROFILE} AND {IN_WORKSPACE} \
         AND s.day >= $3 AND s.day <= $4 {known} \
         GROUP BY {column} ORDER BY sessions DESC, {column} IS NULL, {column}"
    ))
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?)
}

/// Each row's share of all the rows' sessions (they add up to 1, give or take rounding).
pub fn shares(rows: &[BreakdownRow]) -> Vec<Option<f64>> {
    let total: i64 = rows.iter().map(|r| r.sessions).sum();
    rows.iter()
        .map(|r| ratio(r.sessions as f64, total as f64, 4))
        .collect()
}

/// A session going on in the realtime window.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ActiveSession {
    pub visitor_id: i64,
    pub landing_page: String,
    pub country: String,
    pub device: String,
}

/// What realtime counts as "now": activity in the last five minutes.
pub const REALTIME_WINDOW_MS: i64 = 5 * 60 * 1000;

/// How far back a session may have started and still be going: sessions end after 30 minutes
/// without a page view, and few last longer than a day; it lets the index bound the search.
const LONGEST_SESSION_MS: i64 = 24 * 60 * 60 * 1000;

/// Sessions with activity from `since` to `now` (milliseconds).
pub async fn active_sessions(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    since: i64,
    now: i64,
) -> ServiceResult<Vec<ActiveSession>> {
    Ok(sqlx::query_as::<_, ActiveSession>(&format!(
        "SELECT s.visitor_id, s.landing_page, v.country, v.device \
         FROM web_sessions s JOIN web_visitors v ON v.id = s.visitor_id {OF_PROFILE} AND {IN_WORKSPACE} \
         AND s.started_at >= $3 AND s.started_at <= $4 AND s.started_at + s.duration_s * 1000 >= $5 \
         ORDER BY s.id"
    ))
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(since - LONGEST_SESSION_MS)
    .bind(now)
    .bind(since)
    .fetch_all(&db.pool)
    .await?)
}

/// A visitor in a list, with their sessions in the range; name and email when they are a
/// known customer.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ListedVisitor {
    pub id: i64,
    pub profile_id: i64,
    pub anonymous_id: String,
    pub customer_id: Option<i64>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub first_seen: String,
    pub country: String,
    pub device: String,
    pub browser: String,
    pub os: String,
    pub sessions: i64,
    pub pageviews: i64,
    pub last_seen_at: i64,
}

/// What a visitor is (and is grouped by).
const VISITOR_COLUMNS: &str =
    "v.id, v.profile_id, v.anonymous_id, v.customer_id, c.full_name, c.email, \
     v.first_seen, v.country, v.device, v.browser, v.os";
/// The figures of a visitor's sessions `s` (filtered by the caller), and the name and email of
/// the customer they are, of their own profile.
const VISITOR_FIGURES: &str = "CAST(COUNT(*) AS BIGINT) AS sessions, \
     CAST(SUM(s.pageviews) AS BIGINT) AS pageviews, MAX(s.started_at) AS last_seen_at \
     FROM web_sessions s JOIN web_visitors v ON v.id = s.visitor_id \
     LEFT JOIN customers c ON c.id = v.customer_id AND c.profile_id = v.profile_id";

/// Up to `limit` visitors with a session from `start` to `end`, newest id first, those below
/// `before` only (the list's cursor).
pub async fn visitors_page(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    (start, end): (&str, &str),
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<ListedVisitor>> {
    Ok(sqlx::query_as::<_, ListedVisitor>(&format!(
        "SELECT {VISITOR_COLUMNS}, {VISITOR_FIGURES} {OF_PROFILE} AND {IN_WORKSPACE} AND s.day >= $3 AND s.day <= $4 AND ($5 = 0 OR v.id < $5) \
         GROUP BY {VISITOR_COLUMNS} ORDER BY v.id DESC LIMIT $6"
    ))
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .bind(before.unwrap_or_default())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// One session of a visitor's history.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct VisitorSession {
    pub id: i64,
    pub started_at: i64,
    pub duration_s: i64,
    pub pageviews: i64,
    pub landing_page: String,
    pub channel: String,
    pub referrer: Option<String>,
    pub keyword: Option<String>,
}

/// A visitor of the workspace (of one profile, when given) with their figures to date, and up
/// to `limit` of their sessions, newest first, those below `before` only.
pub async fn visitor_sessions(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    visitor_id: i64,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Option<(ListedVisitor, Vec<VisitorSession>)>> {
    let visitor = sqlx::query_as::<_, ListedVisitor>(&format!(
        "SELECT {VISITOR_COLUMNS}, {VISITOR_FIGURES} {OF_PROFILE} AND {IN_WORKSPACE} AND v.id = $3 GROUP BY {VISITOR_COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(visitor_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(visitor) = visitor else {
        return Ok(None);
    };
    let sessions = sqlx::query_as::<_, VisitorSession>(
        "SELECT id, started_at, duration_s, pageviews, landing_page, channel, referrer, keyword \
         FROM web_sessions WHERE visitor_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(visitor.id)
    .bind(before.unwrap_or_default())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(Some((visitor, sessions)))
}

/// The first day of the (Monday to Sunday) week of `day` (a day number; day 0 is a Thursday).
pub fn week_start(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(visitor_id: i64, day: &str, pageviews: i64, duration_s: i64) -> SessionRow {
        SessionRow {
            visitor_id,
            day: day.into(),
            pageviews,
            duration_s,
            channel: "direct".into(),
            first_seen: "2026-01-02".into(),
        }
    }

    #[test]
    fn traffic_by_hand() {
        let rows = [
            session(1, "2026-01-02", 1, 0),
            session(1, "2026-01-03", 3, 120),
            session(2, "2026-01-03", 4, 60),
            session(3, "2026-01-05", 1, 10),
        ];
        let t = traffic(&rows);
        assert_eq!((t.visitors, t.sessions, t.pageviews), (3, 4, 9));
        assert_eq!(t.bounce_rate, Some(0.5));
        assert_eq!(t.avg_duration_s, Some(47.5));
        assert_eq!(t.pages_per_session, Some(2.25));
        assert_eq!(t.returning_rate, Some(0.75)); // first seen 01-02: every later day returns
        let by_day = traffic_by(&rows, |r| r.day.clone());
        assert_eq!(by_day.len(), 3);
        assert_eq!(by_day[1].1.visitors, 2);
        assert_eq!(traffic(&[]).bounce_rate, None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = crate::model::parse_day("2026-12-07").unwrap();
        for offset in 0..7 {
            assert_eq!(week_start(monday + offset), monday);
        }
        assert_eq!(week_start(monday - 1), monday - 7);
        let shares = shares(&[
            BreakdownRow {
                value: Some("a".into()),
                sessions: 1,
                visitors: 1,
                pageviews: 1,
                bounces: 1,
            },
            BreakdownRow {
                value: None,
                sessions: 3,
                visitors: 2,
                pageviews: 3,
                bounces: 0,
            },
        ]);
        assert_eq!(shares, [Some(0.25), Some(0.75)]);
    }
}
