//! The plans of spec §8, each described once: label, allowance and its period, token cap.

use serde::{Deserialize, Serialize};

use super::time::{civil_from_days, day_of, days_from_civil, DAY_MS};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Plan {
    Trial,
    Starter,
    Growth,
    Agency,
    Enterprise,
}

/// An organization's plan period: [start, end) and its unit allowance (None: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
    pub allowance: Option<i64>,
}

const TRIAL_DAYS: i64 = 14;

impl Plan {
    pub const ALL: [Plan; 5] = [
        Plan::Trial,
        Plan::Starter,
        Plan::Growth,
        Plan::Agency,
        Plan::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::Starter => "starter",
            Plan::Growth => "growth",
            Plan::Agency => "agency",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(value: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// A plan as stored; an unknown name reads as the trial (the most restrictive).
    pub fn stored(value: &str) -> Plan {
        Plan::parse(value).unwrap_or(Plan::Trial)
    }

    pub fn label(self) -> &'static str {
        match self {
            Plan::Trial => "Trial",
            Plan::Starter => "Starter",
            Plan::Growth => "Growth",
            Plan::Agency => "Agency",
            Plan::Enterprise => "Enterprise",
        }
    }

    /// Units per period; None is unlimited.
    pub fn allowance(self) -> Option<i64> {
        match self {
            Plan::Trial => Some(2_000),
            Plan::Starter => Some(20_000),
            Plan::Growth => Some(200_000),
            Plan::Agency => Some(2_000_000),
            Plan::Enterprise => None,
        }
    }

    /// Active tokens of each kind (organization's, a user's personal ones); None is unlimited.
    pub fn token_cap(self) -> Option<i64> {
        match self {
            Plan::Trial | Plan::Starter => Some(10),
            Plan::Growth => Some(25),
            Plan::Agency => Some(100),
            Plan::Enterprise => None,
        }
    }

    /// "20,000 units a month · 10 tokens": the plan in one line, for choosing one.
    pub fn blurb(self, grouping: super::Grouping) -> String {
        let units = match self.allowance() {
            Some(n) if self == Plan::Trial => {
                format!("{} units for {TRIAL_DAYS} days", grouping.count(n))
            }
            Some(n) => format!("{} units a month", grouping.count(n)),
            None => "Unlimited units".into(),
        };
        let tokens = match self.token_cap() {
            Some(n) => format!("{n} tokens"),
            None => "unlimited tokens".into(),
        };
        format!("{units} · {tokens}")
    }

    /// The period holding `now` for a subscription that began at `anchor`. Trial: 14 days
    /// from the start, then nothing until a plan is chosen. Other plans: calendar months from
    /// the subscription start (the same day of each month, clamped to its length).
    /// Periods begin at midnight UTC of the anchor's day, so that the daily rollups the usage
    /// page reads fall wholly inside one period.
    pub fn period(self, anchor: i64, now: i64) -> Period {
        let anchor = day_of(anchor) * DAY_MS;
        let allowance = self.allowance();
        if self == Plan::Trial {
            let end = anchor + TRIAL_DAYS * DAY_MS;
            return if now < end {
                Period {
                    start: anchor,
                    end,
                    allowance,
                }
            } else {
                Period {
                    start: end,
                    end: i64::MAX,
                    allowance: Some(0),
                }
            };
        }
        // Start from the month before `now`'s (the anchor's day may fall later in the month).
        let month_of = |at: i64| {
            let (y, m, _) = civil_from_days(day_of(at));
            y * 12 + i64::from(m)
        };
        let mut months = (month_of(now) - month_of(anchor) - 1).clamp(0, 1200);
        loop {
            let start = add_months(anchor, months);
            let end = add_months(anchor, months + 1);
            if now < end || months > 1200 {
                return Period {
                    start,
                    end,
                    allowance,
                };
            }
            months += 1;
        }
    }

    /// When a used-up allowance comes back: a trial's never does (only a plan brings units back).
    pub fn resets_at(self, period: Period) -> Option<i64> {
        (self != Plan::Trial).then_some(period.end)
    }
}

/// `at` moved `months` calendar months on, keeping the time of day; the 31st becomes the
/// last day of a shorter month.
fn add_months(at: i64, months: i64) -> i64 {
    let (day, time) = (day_of(at), at.rem_euclid(DAY_MS));
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let (next_y, next_m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let days_in_month = days_from_civil(next_y, next_m, 1) - days_from_civil(y, m, 1);
    days_from_civil(y, m, i64::from(d).min(days_in_month)) * DAY_MS + time
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_day;

    fn at(date: &str) -> i64 {
        parse_day(date).unwrap() * DAY_MS
    }

    #[test]
    fn trial_periods_last_fourteen_days_then_allow_nothing() {
        let start = at("2026-11-01");
        assert_eq!(
            Plan::Trial.period(start, at("2026-11-14")),
            Period {
                start,
                end: at("2026-11-15"),
                allowance: Some(2_000)
            }
        );
        assert_eq!(
            Plan::Trial.period(start, at("2026-11-15")).allowance,
            Some(0)
        );
    }

    #[test]
    fn monthly_periods_follow_the_subscription_day() {
        let p = Plan::Starter.period(at("2026-01-31"), at("2026-03-05"));
        assert_eq!((p.start, p.end), (at("2026-02-28"), at("2026-03-31")));
        assert_eq!(p.allowance, Some(20_000));
        let p = Plan::Growth.period(at("2026-01-15"), at("2026-01-15"));
        assert_eq!((p.start, p.end), (at("2026-01-15"), at("2026-02-15")));
        assert_eq!(
            Plan::Enterprise
                .period(at("2026-01-15"), at("2026-06-01"))
                .allowance,
            None
        );
        // Across a year's end, into a leap February, and years after the subscription began.
        let p = Plan::Starter.period(at("2025-12-31"), at("2026-01-10"));
        assert_eq!((p.start, p.end), (at("2025-12-31"), at("2026-01-31")));
        let p = Plan::Starter.period(at("2023-08-31"), at("2024-03-01"));
        assert_eq!((p.start, p.end), (at("2024-02-29"), at("2024-03-31")));
        // A subscription that began at 01:00 has its periods begin at midnight of that day.
        let p = Plan::Agency.period(at("2020-05-31") + 3_600_000, at("2026-11-30") + 7_200_000);
        assert_eq!((p.start, p.end), (at("2026-11-30"), at("2026-12-31")));
        let p = Plan::Agency.period(at("2020-05-31") + 3_600_000, at("2026-11-30"));
        assert_eq!(p.start, at("2026-11-30"));
        let p = Plan::Agency.period(at("2020-05-31") + 3_600_000, at("2026-11-30") - 1);
        assert_eq!(p.start, at("2026-10-31"));
        let trial =
            Plan::Trial.period(at("2026-11-01") + 50_000_000, at("2026-11-14") + 80_000_000);
        assert_eq!(
            (trial.start, trial.end),
            (at("2026-11-01"), at("2026-11-15"))
        );
    }

    #[test]
    fn a_trial_never_resets_other_plans_at_the_period_end() {
        let trial = Plan::Trial.period(at("2026-11-01"), at("2026-11-01"));
        assert_eq!(Plan::Trial.resets_at(trial), None);
        let starter = Plan::Starter.period(at("2026-11-01"), at("2026-11-02"));
        assert_eq!(Plan::Starter.resets_at(starter), Some(at("2026-12-01")));
    }

    #[test]
    fn plans_are_described_once() {
        let g = crate::model::Grouping::Comma;
        assert_eq!(Plan::Starter.blurb(g), "20,000 units a month · 10 tokens");
        assert_eq!(
            Plan::Enterprise.blurb(g),
            "Unlimited units · unlimited tokens"
        );
        assert_eq!(Plan::Trial.blurb(g), "2,000 units for 14 days · 10 tokens");
        assert!(Plan::ALL
            .into_iter()
            .all(|p| Plan::parse(p.as_str()) == Some(p)));
        assert_eq!(Plan::parse("gold"), None);
        assert_eq!(Plan::stored("gold"), Plan::Trial);
    }
}
