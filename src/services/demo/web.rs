//! The demo's website traffic: visitors (a customer's own once they are known) and their
//! sessions, day by day up to the moment the demo is loaded, with a few sessions going on at
//! that moment (realtime shows them for its five minutes, then the demo is history).

use std::collections::HashMap;

use crate::model::{day_string, DAY_MS};
use crate::services::analytics::web::REALTIME_WINDOW_MS;
use crate::services::ServiceResult;

use super::{insert_rows, Brand, Cell, Rng, DAYS};

/// Sessions on an ordinary weekday; weekends see fewer.
const SESSIONS_PER_DAY: f64 = 30.0;
/// Sessions started in the realtime window before the demo is loaded: at least this many.
const LIVE_SESSIONS: u64 = 4;

const CHANNELS: [(&str, u64); 7] = [
    ("direct", 20),
    ("organic_search", 25),
    ("paid_search", 12),
    ("paid_social", 18),
    ("social", 10),
    ("email", 8),
    ("referral", 7),
];
const COUNTRIES: [(&str, u64); 9] = [
    ("US", 40),
    ("GB", 12),
    ("DE", 10),
    ("CA", 8),
    ("BR", 8),
    ("MX", 7),
    ("ES", 6),
    ("FR", 5),
    ("AU", 4),
];

/// A visitor as the tracker knows them, before the database gives them an id.
struct Visitor {
    anonymous_id: String,
    customer_id: Option<i64>,
    first_seen: i64,
    country: &'static str,
    device: &'static str,
    browser: &'static str,
    os: &'static str,
}

struct Session {
    visitor: usize,
    started_at: i64,
    duration_s: i64,
    pageviews: i64,
    landing_page: &'static str,
    channel: &'static str,
    referrer: Option<&'static str>,
    keyword: Option<&'static str>,
}

impl Rng {
    fn weighted<'a>(&mut self, items: &[(&'a str, u64)]) -> &'a str {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(total);
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }
}

fn new_visitor(rng: &mut Rng, day: i64, customer_id: Option<i64>) -> Visitor {
    let device = rng.weighted(&[("mobile", 58), ("desktop", 36), ("tablet", 6)]);
    let os = match device {
        "mobile" => rng.weighted(&[("iOS", 55), ("Android", 45)]),
        "tablet" => rng.weighted(&[("iPadOS", 70), ("Android", 30)]),
        _ => rng.weighted(&[("Windows", 55), ("macOS", 38), ("Linux", 7)]),
    };
    let browser = match os {
        "iOS" | "iPadOS" => rng.weighted(&[("Safari", 80), ("Chrome", 20)]),
        "Android" => rng.weighted(&[("Chrome", 80), ("Samsung Internet", 20)]),
        "macOS" => rng.weighted(&[("Safari", 45), ("Chrome", 45), ("Firefox", 10)]),
        "Windows" => rng.weighted(&[("Chrome", 65), ("Edge", 25), ("Firefox", 10)]),
        _ => rng.weighted(&[("Firefox", 55), ("Chrome", 45)]),
    };
    Visitor {
        anonymous_id: format!("{:016x}", rng.next()),
        customer_id,
        first_seen: day,
        country: rng.weighted(&COUNTRIES),
        device,
        browser,
        os,
    }
}

fn new_session(rng: &mut Rng, brand: &Brand, visitor: usize, started_at: i64) -> Session {
    let channel = rng.weighted(&CHANNELS);
    let referrer = match channel {
        "organic_search" => {
            Some(rng.weighted(&[("google.com", 82), ("bing.com", 10), ("duckduckgo.com", 8)]))
        }
        "paid_search" => Some("google.com"),
        "paid_social" | "social" => Some(rng.weighted(&[
            ("instagram.com", 45),
            ("facebook.com", 30),
            ("tiktok.com", 15),
            ("reddit.com", 10),
        ])),
        "referral" => Some(rng.weighted(&brand.referrers)),
        _ => None,
    };
    let keyword =
        matches!(channel, "organic_search" | "paid_search").then(|| rng.weighted(&brand.keywords));
    let bounced = rng.below(100) < 42;
    let (pageviews, duration_s) = match bounced {
        true => (1, rng.below(25) as i64),
        false => (2 + rng.below(8) as i64, 20 + rng.below(880) as i64),
    };
    Session {
        visitor,
        started_at,
        duration_s,
        pageviews,
        landing_page: rng.weighted(&brand.pages),
        channel,
        referrer,
        keyword,
    }
}

/// A session on `day` of a visitor: a returning one four times in ten, else someone new.
fn day_session(
    rng: &mut Rng,
    brand: &Brand,
    visitors: &mut Vec<Visitor>,
    day: i64,
    started_at: i64,
) -> Session {
    let visitor = if !visitors.is_empty() && rng.below(10) < 4 {
        rng.below(visitors.len() as u64) as usize
    } else {
        visitors.push(new_visitor(rng, day, None));
        visitors.len() - 1
    };
    new_session(rng, brand, visitor, started_at)
}

/// Fills a profile with `DAYS` days of traffic before `now` and today's up to `now`.
/// `customers` are (id, first day seen): each gets a visitor with a session that day.
pub(super) async fn load(
    conn: &mut sqlx::AnyConnection,
    rng: &mut Rng,
    profile_id: i64,
    brand: &Brand,
    customers: &[(i64, i64)],
    now: i64,
) -> ServiceResult<()> {
    let today = now.div_euclid(DAY_MS);
    let mut visitors = Vec::new();
    let mut sessions = Vec::new();
    for day in today - DAYS..=today {
        let midnight = day * DAY_MS;
        let weekday = (day + 4).rem_euclid(7); // 0 = Sunday
        let season = if weekday == 0 || weekday == 6 {
            0.75
        } else {
            1.05
        };
        // Today only as far as it has gone.
        let elapsed = ((now - midnight) as f64 / DAY_MS as f64).min(1.0);
        let count = (SESSIONS_PER_DAY * season * (0.8 + 0.4 * rng.unit()) * elapsed).round();
        let span = (now - midnight).min(DAY_MS);
        for _ in 0..count as u64 {
            let started_at = midnight + rng.below(span as u64) as i64;
            sessions.push(day_session(rng, brand, &mut visitors, day, started_at));
        }
        for (customer_id, _) in customers.iter().filter(|(_, seen)| *seen == day) {
            visitors.push(new_visitor(rng, day, Some(*customer_id)));
            let started_at = midnight + rng.below(span.max(1) as u64) as i64;
            sessions.push(new_session(rng, brand, visitors.len() - 1, started_at));
        }
    }
    for _ in 0..LIVE_SESSIONS + rng.below(5) {
        let started_at = now - rng.below(REALTIME_WINDOW_MS as u64) as i64;
        let mut session = day_session(rng, brand, &mut visitors, today, started_at);
        session.duration_s = session.duration_s.min((now - started_at) / 1000);
        sessions.push(session);
    }
    // A tracker numbers sessions as they start: lists page by id, newest first.
    sessions.sort_by_key(|s| s.started_at);

    let rows = visitors
        .iter()
        .map(|v| {
            vec![
                Cell::Int(profile_id),
                Cell::Text(v.anonymous_id.clone()),
                v.customer_id.map(Cell::Int).unwrap_or(Cell::NullInt),
                Cell::Text(day_string(v.first_seen)),
                Cell::Text(v.country.into()),
                Cell::Text(v.device.into()),
                Cell::Text(v.browser.into()),
                Cell::Text(v.os.into()),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "web_visitors (profile_id, anonymous_id, customer_id, first_seen, country, device, browser, os)",
        8,
        rows,
    )
    .await?;
    let ids: HashMap<String, i64> =
        sqlx::query_as("SELECT anonymous_id, id FROM web_visitors WHERE profile_id = $1")
            .bind(profile_id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let text = |value: Option<&str>| {
        value
            .map(|v| Cell::Text(v.into()))
            .unwrap_or(Cell::NullText)
    };
    let rows = sessions
        .iter()
        .map(|s| {
            vec![
                Cell::Int(ids[&visitors[s.visitor].anonymous_id]),
                Cell::Int(profile_id),
                Cell::Text(day_string(s.started_at.div_euclid(DAY_MS))),
                Cell::Int(s.started_at),
                Cell::Int(s.duration_s),
                Cell::Int(s.pageviews),
                Cell::Text(s.landing_page.into()),
                Cell::Text(s.channel.into()),
                text(s.referrer),
                text(s.keyword),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "web_sessions (visitor_id, profile_id, day, started_at, duration_s, pageviews, landing_page, channel, referrer, keyword)",
        10,
        rows,
    )
    .await
}
