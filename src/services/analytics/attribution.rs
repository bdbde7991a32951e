//! Customer journeys and how five attribution models credit their conversions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::services::ServiceResult;
use crate::storage::Db;

use super::{round, IN_WORKSPACE};

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
    let rows: Vec<(i64, String, i64, String, String, String, Option<String>)> =
        sqlx::query_as(&format!(
            "SELECT v.customer_id, v.day, v.value_cents, v.source, t.day, t.channel, c.name \
         FROM conversions v JOIN profiles p ON p.id = v.profile_id \
         JOIN touchpoints t ON t.customer_id = v.customer_id AND t.day <= v.day \
         LEFT JOIN campaigns c ON c.id = t.campaign_id \
         WHERE {IN_WORKSPACE} AND v.day >= $3 AND v.day <= $4 \
         ORDER BY v.id, t.day, t.id"
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
