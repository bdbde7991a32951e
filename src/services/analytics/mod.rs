//! Reading the marketing data and computing answers from it. Loaders fetch rows of one
//! workspace; the arithmetic is in plain functions over those rows, tested on fixed data.
//! This file: metric rows, totals and grouping, profiles; `attribution`, `customers` and
//! `signals` (fatigue, anomalies) hold the rest.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::storage::Db;

use super::ServiceResult;

mod attribution;
mod customers;
mod signals;
pub mod web;

pub use attribution::{attribute, converted_journeys, Journey, Model, Touch};
pub use customers::{
    customer, customer_id_by_email, customers_page, mask_email, mask_name, mask_phone, Customer,
    ListedCustomer,
};
pub use signals::{anomalies, fatigue, Anomaly, Fatigue};

/// The condition on profiles `p` that keeps a query inside a call's reach: of workspace `$1`,
/// and of profile `$2` only when it is not 0.
pub(crate) const IN_WORKSPACE: &str = "p.workspace_id = $1 AND ($2 = 0 OR p.id = $2)";

/// One ad's metrics on one day, with what it belongs to.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct MetricRow {
    pub campaign_id: i64,
    pub campaign: String,
    pub channel: String,
    pub ad_set_id: i64,
    pub ad_set: String,
    pub ad_id: i64,
    pub ad: String,
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
        &format!("SELECT c.id AS campaign_id, c.name AS campaign, c.channel, s.id AS ad_set_id, s.name AS ad_set, \
         a.id AS ad_id, a.name AS ad, cr.id AS creative_id, cr.name AS creative, m.day, m.impressions, m.clicks, m.spend_cents, m.conversions, \
         m.revenue_cents \
         FROM daily_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_sets s ON s.id = a.ad_set_id \
         JOIN creatives cr ON cr.id = a.creative_id JOIN campaigns c ON c.id = s.campaign_id \
         JOIN profiles p ON p.id = c.profile_id \
         WHERE {IN_WORKSPACE} AND m.day >= $3 AND m.day <= $4 ORDER BY m.day, a.id"),
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .fetch_all(&db.pool)
    .await?)
}

/// Conversions of one day and source, money in cents.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ConversionDay {
    pub day: String,
    pub source: String,
    pub conversions: i64,
    pub value_cents: i64,
    /// What of the value has been paid.
    pub cash_cents: i64,
}

/// Conversions per day and source over a day range.
pub async fn conversions_by_day(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    start: &str,
    end: &str,
) -> ServiceResult<Vec<ConversionDay>> {
    Ok(sqlx::query_as::<_, ConversionDay>(
        &format!("SELECT cv.day, cv.source, CAST(COUNT(*) AS BIGINT) AS conversions, \
         CAST(SUM(cv.value_cents) AS BIGINT) AS value_cents, CAST(SUM(cv.cash_cents) AS BIGINT) AS cash_cents \
         FROM conversions cv JOIN profiles p ON p.id = cv.profile_id \
         WHERE {IN_WORKSPACE} AND cv.day >= $3 AND cv.day <= $4 \
         GROUP BY cv.day, cv.source ORDER BY cv.day, cv.source"),
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
    Ok(sqlx::query_as::<_, Sums>(&format!(
        "SELECT CAST(COALESCE(SUM(m.impressions), 0) AS BIGINT) AS impressions, \
         CAST(COALESCE(SUM(m.clicks), 0) AS BIGINT) AS clicks, \
         CAST(COALESCE(SUM(m.spend_cents), 0) AS BIGINT) AS spend_cents, \
         CAST(COALESCE(SUM(m.conversions), 0) AS BIGINT) AS conversions, \
         CAST(COALESCE(SUM(m.revenue_cents), 0) AS BIGINT) AS revenue_cents \
         FROM daily_metrics m JOIN ads a ON a.id = m.ad_id JOIN ad_sets s ON s.id = a.ad_set_id \
         JOIN campaigns c ON c.id = s.campaign_id JOIN profiles p ON p.id = c.profile_id \
         WHERE {IN_WORKSPACE} AND m.day >= $3 AND m.day <= $4"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn row(
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
            ad_id: campaign_id * 1000,
            ad: format!("Ad {campaign_id}"),
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
}
