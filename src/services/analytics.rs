//! Reading the marketing data and computing answers from it. Loaders fetch rows of one
//! workspace; the arithmetic is in plain functions over those rows, tested on fixed data.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::storage::Db;

use super::ServiceResult;

/// One ad's metrics on one day, with what it belongs to.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct MetricRow {
    pub campaign_id: i64,
    pub campaign: String,
    pub channel: String,
    pub ad_set_id: i64,
    pub ad_set: String,
    pub creative_id: i64,
    pub creative: String,
    pub day: String,
    pub impressions: i64,
    pub clicks: i64,
    pub spend_cents: i64,
    pub conversions: i64,
    pub revenue_cents: i64,
}

/// Sums and the ratios derived from them; money in currency units, rounded to cents.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub impressions: i64,
    pub clicks: i64,
    pub spend: f64,
    pub conversions: i64,
    pub revenue: f64,
    /// clicks / impressions
    pub ctr: Option<f64>,
    /// spend / clicks
    pub cpc: Option<f64>,
    /// spend / conversions
    pub cpa: Option<f64>,
    /// revenue / spend
    pub roas: Option<f64>,
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

fn ratio(numerator: f64, denominator: f64, places: i32) -> Option<f64> {
    (denominator != 0.0).then(|| round(numerator / denominator, places))
}

pub fn totals<'a>(rows: impl IntoIterator<Item = &'a MetricRow>) -> Totals {
    let mut sums = Sums::default();
    for row in rows {
        sums.impressions += row.impressions;
        sums.clicks += row.clicks;
        sums.spend_cents += row.spend_cents;
        sums.conversions += row.conversions;
        sums.revenue_cents += row.revenue_cents;
    }
    sums.totals()
}

/// Metrics added up, money in cents.
#[derive(Clone, Copy, Debug, Default, PartialEq, sqlx::FromRow)]
pub struct Sums {
    pub impressions: i64,
    pub clicks: i64,
    pub spend_cents: i64,
    pub conversions: i64,
    pub revenue_cents: i64,
}

impl Sums {
    pub fn totals(&self) -> Totals {
        let (spend, revenue) = (
            self.spend_cents as f64 / 100.0,
            self.revenue_cents as f64 / 100.0,
        );
        Totals {
            impressions: self.impressions,
            clicks: self.clicks,
            spend,
            conversions: self.conversions,
            revenue,
            ctr: ratio(self.clicks as f64, self.impressions as f64, 4),
            cpc: ratio(spend, self.clicks as f64, 2),
            cpa: ratio(spend, self.conversions as f64, 2),
            roas: ratio(self.revenue_cents as f64, self.spend_cents as f64, 2),
        }
    }
}

/// Totals per key (campaign or creative), in key order.
pub fn group<K: Ord + Clone>(
    rows: &[MetricRow],
    key: impl Fn(&MetricRow) -> (K, String),
) -> Vec<(K, String, Totals)> {
    let mut groups: BTreeMap<K, (String, Vec<&MetricRow>)> = BTreeMap::new();
    for row in rows {
        let (k, name) = key(row);
        groups
            .entry(k)
            .or_insert_with(|| (name, Vec::new()))
            .1
            .push(row);
    }
    groups
        .into_iter()
        .map(|(k, (name, rows))| (k, name, totals(rows)))
        .collect()
}

/// Relative change from `before` to `after`, in percent; None when there was nothing before.
pub fn change_percent(before: f64, after: f64) -> Option<f64> {
    (before != 0.0).then(|| round((after - before) / before * 100.0, 1))
}

pub async fn metrics(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    start: &str,
    end: &str,
) -> ServiceResult<Vec<MetricRow>> {
    Ok(sqlx::query_as::<_, MetricRow>(
        "SELECT c.id AS campaign_id, c.name AS campaign, c.channel, s.id AS ad_set_id, s.name AS ad_set, \
         cr.id AS creative_id, cr.name AS creative, m.day, m.impressions, m.clicks, m.spend_cents, m.conversions, \
         m.revenue_cents \
         FROM daily_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_sets s ON s.id = a.ad_set_id \
         JOIN creatives cr ON cr.id = a.creative_id JOIN campaigns c ON c.id = s.campaign_id \
         JOIN profiles p ON p.id = c.profile_id \
         WHERE p.workspace_id = $1 AND ($2 = 0 OR p.id = $2) AND m.day >= $3 AND m.day <= $4 ORDER BY m.day, a.id",
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?)
}

/// A workspace's metrics over a day range, summed by the database: one row back, not one per
/// ad and day.
pub async fn summed_metrics(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    start: &str,
    end: &str,
) -> ServiceResult<Sums> {
    Ok(sqlx::query_as::<_, Sums>(
        "SELECT CAST(COALESCE(SUM(m.impressions), 0) AS BIGINT) AS impressions, \
         CAST(COALESCE(SUM(m.clicks), 0) AS BIGINT) AS clicks, \
         CAST(COALESCE(SUM(m.spend_cents), 0) AS BIGINT) AS spend_cents, \
         CAST(COALESCE(SUM(m.conversions), 0) AS BIGINT) AS conversions, \
         CAST(COALESCE(SUM(m.revenue_cents), 0) AS BIGINT) AS revenue_cents \
         FROM daily_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_sets s ON s.id = a.ad_set_id \
         JOIN campaigns c ON c.id = s.campaign_id JOIN profiles p ON p.id = c.profile_id \
         WHERE p.workspace_id = $1 AND ($2 = 0 OR p.id = $2) AND m.day >= $3 AND m.day <= $4",
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_one(&db.pool)
    .await?)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    pub domain: String,
}

pub async fn profiles(db: &Db, workspace_id: i64) -> ServiceResult<Vec<Profile>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, domain FROM profiles WHERE workspace_id = $1 ORDER BY name",
    )
    .bind(workspace_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, domain)| Profile { id, name, domain })
        .collect())
}

/// One step on a customer's way: the campaign (if paid) and channel, on a day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Touch {
    pub day: String,
    pub channel: String,
    pub campaign: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Journey {
    pub customer_id: i64,
    pub touches: Vec<Touch>,
    /// (day, value in cents, source) of the conversion the touches led to.
    pub conversion: Option<(String, i64, String)>,
}

/// The journeys of customers who converted between `start` and `end`, touches before
/// the conversion day only.
pub async fn converted_journeys(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    start: &str,
    end: &str,
) -> ServiceResult<Vec<Journey>> {
    let rows: Vec<(i64, String, i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT v.customer_id, v.day, v.value_cents, v.source, t.day, t.channel, c.name \
         FROM conversions v JOIN profiles p ON p.id = v.profile_id \
         JOIN touchpoints t ON t.customer_id = v.customer_id AND t.day <= v.day \
         LEFT JOIN campaigns c ON c.id = t.campaign_id \
         WHERE p.workspace_id = $1 AND ($2 = 0 OR p.id = $2) AND v.day >= $3 AND v.day <= $4 \
         ORDER BY v.id, t.day, t.id",
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?;
    let mut journeys: Vec<Journey> = Vec::new();
    for (customer_id, day, value, source, touch_day, channel, campaign) in rows {
        if journeys.last().map(|j| j.customer_id) != Some(customer_id) {
            journeys.push(Journey {
                customer_id,
                touches: Vec::new(),
                conversion: Some((day, value, source)),
            });
        }
        if let Some(journey) = journeys.last_mut() {
            journey.touches.push(Touch {
                day: touch_day,
                channel,
                campaign,
            });
        }
    }
    Ok(journeys)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    FirstTouch,
    LastTouch,
    Linear,
    TimeDecay,
    PositionBased,
}

impl Model {
    pub const ALL: [Model; 5] = [
        Model::FirstTouch,
        Model::LastTouch,
        Model::Linear,
        Model::TimeDecay,
        Model::PositionBased,
    ];

    /// Each touch's share of one conversion; the shares sum to 1.
    pub fn weights(self, days_before_conversion: &[i64]) -> Vec<f64> {
        let n = days_before_conversion.len();
        if n == 0 {
            return Vec::new();
        }
        let mut w = vec![0.0; n];
        match self {
            Model::FirstTouch => w[0] = 1.0,
            Model::LastTouch => w[n - 1] = 1.0,
            Model::Linear => w.iter_mut().for_each(|x| *x = 1.0 / n as f64),
            Model::TimeDecay => {
                // Half-life of 7 days: a touch a week earlier counts half as much.
                let raw: Vec<f64> = days_before_conversion
                    .iter()
                    .map(|d| 0.5f64.powf(*d as f64 / 7.0))
                    .collect();
                let sum: f64 = raw.iter().sum();
                w = raw.into_iter().map(|x| x / sum).collect();
            }
            Model::PositionBased => match n {
                1 => w[0] = 1.0,
                2 => {
                    w[0] = 0.5;
                    w[1] = 0.5;
                }
                _ => {
                    // 40 % first, 40 % last, 20 % shared by the middle.
                    w[0] = 0.4;
                    w[n - 1] = 0.4;
                    let middle = 0.2 / (n - 2) as f64;
                    w[1..n - 1].iter_mut().for_each(|x| *x = middle);
                }
            },
        }
        w
    }
}

/// Conversions and revenue credited to each touch label (campaign name, or channel for
/// unpaid touches) under `model`, biggest revenue first.
pub fn attribute(model: Model, journeys: &[Journey]) -> Vec<(String, f64, f64)> {
    let mut credit: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for journey in journeys {
        let Some((day, value_cents, _)) = &journey.conversion else {
            continue;
        };
        let Some(conversion_day) = crate::model::parse_day(day) else {
            continue;
        };
        let before: Vec<i64> = journey
            .touches
            .iter()
            .map(|t| conversion_day - crate::model::parse_day(&t.day).unwrap_or(conversion_day))
            .collect();
        for (touch, weight) in journey.touches.iter().zip(model.weights(&before)) {
            let label = touch
                .campaign
                .clone()
                .unwrap_or_else(|| touch.channel.clone());
            let entry = credit.entry(label).or_default();
            entry.0 += weight;
            entry.1 += weight * *value_cents as f64 / 100.0;
        }
    }
    let mut out: Vec<_> = credit
        .into_iter()
        .map(|(label, (c, r))| (label, round(c, 2), round(r, 2)))
        .collect();
    out.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Customer {
    pub id: i64,
    pub full_name: String,
    pub email: String,
    pub phone: String,
    pub first_seen: String,
}

pub async fn customer(
    db: &Db,
    workspace_id: i64,
    customer_id: i64,
) -> ServiceResult<Option<(Customer, Vec<Touch>, Vec<(String, i64, String)>)>> {
    let row: Option<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT c.id, c.full_name, c.email, c.phone, c.first_seen FROM customers c JOIN profiles p ON p.id = c.profile_id \
         WHERE c.id = $1 AND p.workspace_id = $2",
    )
    .bind(customer_id)
    .bind(workspace_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some((id, full_name, email, phone, first_seen)) = row else {
        return Ok(None);
    };
    let touches: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT t.day, t.channel, c.name FROM touchpoints t LEFT JOIN campaigns c ON c.id = t.campaign_id \
         WHERE t.customer_id = $1 ORDER BY t.day, t.id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let conversions: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT day, value_cents, source FROM conversions WHERE customer_id = $1 ORDER BY day, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(Some((
        Customer {
            id,
            full_name,
            email,
            phone,
            first_seen,
        },
        touches
            .into_iter()
            .map(|(day, channel, campaign)| Touch {
                day,
                channel,
                campaign,
            })
            .collect(),
        conversions,
    )))
}

pub async fn customer_id_by_email(
    db: &Db,
    workspace_id: i64,
    email: &str,
) -> ServiceResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM customers c JOIN profiles p ON p.id = c.profile_id WHERE p.workspace_id = $1 AND c.email = $2",
    )
    .bind(workspace_id)
    .bind(email.trim().to_lowercase())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// `jane@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// Every digit but the last two hidden: `+1 555 0123 4567` → `+* *** **** **67`.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > digits.saturating_sub(2) {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

/// `Ana Silva` → `A. S.`
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|part| part.chars().next())
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A creative's click-through rate early and late in a range, and what that says.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fatigue {
    pub creative_id: i64,
    pub creative: String,
    pub campaign: String,
    pub early_ctr: Option<f64>,
    pub late_ctr: Option<f64>,
    pub ctr_change_percent: Option<f64>,
    /// `fatigued` (CTR down 20 % or more), `watch` (down 10 to 20 %) or `healthy`.
    pub status: &'static str,
}

/// Compares each creative's CTR over the first and the last `window` days of `days`
/// (sorted day strings), worst first.
pub fn fatigue(rows: &[MetricRow], days: &[String], window: usize) -> Vec<Fatigue> {
    let window = window.min(days.len() / 2).max(1);
    let early: std::collections::HashSet<&str> =
        days.iter().take(window).map(String::as_str).collect();
    let late: std::collections::HashSet<&str> =
        days.iter().rev().take(window).map(String::as_str).collect();
    let mut out: Vec<Fatigue> = group(rows, |r| (r.creative_id, r.creative.clone()))
        .into_iter()
        .map(|(creative_id, creative, _)| {
            let of = |set: &std::collections::HashSet<&str>| {
                totals(
                    rows.iter()
                        .filter(|r| r.creative_id == creative_id && set.contains(r.day.as_str())),
                )
                .ctr
            };
            let (early_ctr, late_ctr) = (of(&early), of(&late));
            let change = match (early_ctr, late_ctr) {
                (Some(e), Some(l)) => change_percent(e, l),
                _ => None,
            };
            let status = match change {
                Some(c) if c <= -20.0 => "fatigued",
                Some(c) if c <= -10.0 => "watch",
                _ => "healthy",
            };
            let campaign = rows
                .iter()
                .find(|r| r.creative_id == creative_id)
                .map(|r| r.campaign.clone())
                .unwrap_or_default();
            Fatigue {
                creative_id,
                creative,
                campaign,
                early_ctr,
                late_ctr,
                ctr_change_percent: change,
                status,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.ctr_change_percent
            .unwrap_or(0.0)
            .total_cmp(&b.ctr_change_percent.unwrap_or(0.0))
    });
    out
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Anomaly {
    pub campaign: String,
    pub day: String,
    pub metric: &'static str,
    pub value: f64,
    pub expected: f64,
    /// How many standard deviations from the other days' mean.
    pub z_score: f64,
}

/// Days on which a campaign's spend or conversions stand 3 or more standard deviations from
/// the mean of its other days.
pub fn anomalies(rows: &[MetricRow]) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (campaign_id, campaign, _) in group(rows, |r| (r.campaign_id, r.campaign.clone())) {
        let daily = group(
            &rows
                .iter()
                .filter(|r| r.campaign_id == campaign_id)
                .cloned()
                .collect::<Vec<_>>(),
            |r| (r.day.clone(), r.day.clone()),
        );
        for (metric, value_of) in [
            ("spend", (|t: &Totals| t.spend) as fn(&Totals) -> f64),
            ("conversions", |t: &Totals| t.conversions as f64),
        ] {
            let series: Vec<(String, f64)> = daily
                .iter()
                .map(|(day, _, t)| (day.clone(), value_of(t)))
                .collect();
            if series.len() < 7 {
                continue;
            }
            for (i, (day, value)) in series.iter().enumerate() {
                let others: Vec<f64> = series
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, v))| *v)
                    .collect();
                let mean = others.iter().sum::<f64>() / others.len() as f64;
                let std = (others.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / others.len() as f64)
                    .sqrt();
                if std > 0.0 && ((value - mean) / std).abs() >= 3.0 {
                    out.push(Anomaly {
                        campaign: campaign.clone(),
                        day: day.clone(),
                        metric,
                        value: round(*value, 2),
                        expected: round(mean, 2),
                        z_score: round((value - mean) / std, 1),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| b.z_score.abs().total_cmp(&a.z_score.abs()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        campaign_id: i64,
        day: &str,
        impressions: i64,
        clicks: i64,
        spend_cents: i64,
        conversions: i64,
        revenue_cents: i64,
    ) -> MetricRow {
        MetricRow {
            campaign_id,
            campaign: format!("C{campaign_id}"),
            channel: "meta".into(),
            ad_set_id: campaign_id * 100,
            ad_set: format!("Ad set {campaign_id}"),
            creative_id: campaign_id * 10,
            creative: format!("Creative {campaign_id}"),
            day: day.into(),
            impressions,
            clicks,
            spend_cents,
            conversions,
            revenue_cents,
        }
    }

    #[test]
    fn totals_and_ratios_by_hand() {
        let rows = [
            row(1, "2026-01-01", 1000, 20, 1_500, 2, 9_000),
            row(2, "2026-01-02", 3000, 40, 2_500, 3, 6_000),
        ];
        let t = totals(&rows);
        assert_eq!((t.impressions, t.clicks, t.conversions), (4000, 60, 5));
        assert_eq!((t.spend, t.revenue), (40.0, 150.0));
        assert_eq!(t.ctr, Some(0.015)); // 60 / 4000
        assert_eq!(t.cpc, Some(0.67)); // 40 / 60
        assert_eq!(t.cpa, Some(8.0)); // 40 / 5
        assert_eq!(t.roas, Some(3.75)); // 150 / 40
        assert_eq!(totals(&[]).roas, None);
        let by_campaign = group(&rows, |r| (r.campaign_id, r.campaign.clone()));
        assert_eq!(by_campaign[1].2.roas, Some(2.4));
        assert_eq!(change_percent(40.0, 50.0), Some(25.0));
        assert_eq!(change_percent(0.0, 5.0), None);
    }

    #[test]
    fn attribution_weights_by_hand() {
        assert_eq!(Model::FirstTouch.weights(&[9, 3, 0]), [1.0, 0.0, 0.0]);
        assert_eq!(Model::LastTouch.weights(&[9, 3, 0]), [0.0, 0.0, 1.0]);
        assert_eq!(
            Model::PositionBased.weights(&[9, 5, 3, 0]),
            [0.4, 0.1, 0.1, 0.4]
        );
        assert_eq!(Model::PositionBased.weights(&[3, 0]), [0.5, 0.5]);
        // Time decay, touches 7 days and 0 days before: raw 0.5 and 1 → 1/3 and 2/3.
        let w = Model::TimeDecay.weights(&[7, 0]);
        assert!((w[0] - 1.0 / 3.0).abs() < 1e-12 && (w[1] - 2.0 / 3.0).abs() < 1e-12);
        for model in Model::ALL {
            let sum: f64 = model.weights(&[10, 4, 2, 0]).iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "{model:?}");
        }
    }

    #[test]
    fn attribution_credits_campaigns_and_channels() {
        let touch = |day: &str, channel: &str, campaign: Option<&str>| Touch {
            day: day.into(),
            channel: channel.into(),
            campaign: campaign.map(Into::into),
        };
        let journeys = [
            Journey {
                customer_id: 1,
                touches: vec![
                    touch("2026-01-01", "meta_ads", Some("Spring")),
                    touch("2026-01-08", "whatsapp", None),
                ],
                conversion: Some(("2026-01-08".into(), 10_000, "whatsapp".into())),
            },
            Journey {
                customer_id: 2,
                touches: vec![touch("2026-01-05", "google_ads", Some("Search"))],
                conversion: Some(("2026-01-06".into(), 5_000, "website".into())),
            },
        ];
        assert_eq!(
            attribute(Model::LastTouch, &journeys),
            [
                ("whatsapp".to_string(), 1.0, 100.0),
                ("Search".to_string(), 1.0, 50.0),
                ("Spring".to_string(), 0.0, 0.0)
            ]
        );
        assert_eq!(
            attribute(Model::Linear, &journeys),
            [
                ("Search".to_string(), 1.0, 50.0),
                ("Spring".to_string(), 0.5, 50.0),
                ("whatsapp".to_string(), 0.5, 50.0)
            ]
        );
        // Time decay: the Spring touch was 7 days before → 1/3 of 100.
        let decay = attribute(Model::TimeDecay, &journeys);
        assert!(decay.contains(&("Spring".to_string(), 0.33, 33.33)));
        assert!(decay.contains(&("whatsapp".to_string(), 0.67, 66.67)));
    }

    #[test]
    fn fatigue_compares_early_and_late_ctr() {
        let days: Vec<String> = (1..=4).map(|d| format!("2026-01-0{d}")).collect();
        let mut rows = Vec::new();
        for (d, clicks) in [(1, 40), (2, 40), (3, 20), (4, 20)] {
            rows.push(row(1, &format!("2026-01-0{d}"), 1000, clicks, 100, 0, 0));
            rows.push(row(2, &format!("2026-01-0{d}"), 1000, 30, 100, 0, 0));
        }
        let f = fatigue(&rows, &days, 2);
        assert_eq!(f[0].creative_id, 10);
        assert_eq!(
            (
                f[0].early_ctr,
                f[0].late_ctr,
                f[0].ctr_change_percent,
                f[0].status
            ),
            (Some(0.04), Some(0.02), Some(-50.0), "fatigued")
        );
        assert_eq!(f[1].status, "healthy");
    }

    #[test]
    fn anomalies_find_the_spike() {
        let mut rows: Vec<MetricRow> = (1..=9)
            .map(|d| row(1, &format!("2026-01-0{d}"), 1000, 10, 1_000 + d * 10, 1, 0))
            .collect();
        rows.push(row(1, "2026-01-10", 1000, 10, 5_000, 1, 0));
        let found = anomalies(&rows);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].day.as_str(),
                found[0].metric,
                found[0].value,
                found[0].expected
            ),
            ("2026-01-10", "spend", 50.0, 10.5)
        );
    }

    #[test]
    fn pii_masks() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_phone("+1 555 0123 4567"), "+* *** **** **67");
        assert_eq!(mask_name("Ana Silva"), "A. S.");
    }
}
