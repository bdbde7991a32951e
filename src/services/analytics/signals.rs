//! What a range's rows signal: creatives wearing out, days that stand out.

use serde::Serialize;

use super::{change_percent, group, round, totals, MetricRow, Totals};

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
    use crate::services::analytics::tests::row;
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
}
