//! The Usage page: one plan period, and every figure of the page counted over it.

use serde::{Deserialize, Serialize};

use super::time::DAY_MS;
use super::Plan;

/// One row of a usage breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub name: String,
    pub calls: i64,
    pub units: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub at: i64,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub note: String,
}

/// One day of the period: `YYYY-MM-DD`, its units, and whether it is still to come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    pub day: String,
    pub units: i64,
    pub future: bool,
}

/// Why a call was refused, as the usage page counts refusals (by error code of spec §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefusalKind {
    Scope,
    Binding,
    Rate,
    Quota,
    Credits,
    BadInput,
}

impl RefusalKind {
    pub const ALL: [RefusalKind; 6] = [
        RefusalKind::Scope,
        RefusalKind::Binding,
        RefusalKind::Rate,
        RefusalKind::Quota,
        RefusalKind::Credits,
        RefusalKind::BadInput,
    ];

    /// The kind of a refusal's error code; None for what is not a refusal of a call
    /// (an unknown token, a server error).
    pub fn of_code(code: &str) -> Option<RefusalKind> {
        Some(match code {
            "missing_scope" | "write_back_disabled" => RefusalKind::Scope,
            "workspace_not_accessible" => RefusalKind::Binding,
            "rate_limited" => RefusalKind::Rate,
            "quota_exceeded" => RefusalKind::Quota,
            "insufficient_credits" => RefusalKind::Credits,
            "invalid_parameter"
            | "invalid_date_range"
            | "unknown_tool"
            | "idempotency_conflict" => RefusalKind::BadInput,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::Scope => "Missing scope",
            RefusalKind::Binding => "Outside the token's reach",
            RefusalKind::Rate => "Rate limited",
            RefusalKind::Quota => "Allowance used up",
            RefusalKind::Credits => "Not enough credits",
            RefusalKind::BadInput => "Bad input",
        }
    }

    /// The error codes counted under this kind, as clients see them.
    pub fn codes(self) -> &'static str {
        match self {
            RefusalKind::Scope => "missing_scope, write_back_disabled",
            RefusalKind::Binding => "workspace_not_accessible",
            RefusalKind::Rate => "rate_limited",
            RefusalKind::Quota => "quota_exceeded",
            RefusalKind::Credits => "insufficient_credits",
            RefusalKind::BadInput => {
                "invalid_parameter, invalid_date_range, unknown_tool, idempotency_conflict"
            }
        }
    }
}

/// Everything the Usage page shows, read from rollups, all of it over one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePage {
    pub plan: Plan,
    pub period_start: i64,
    /// None: the trial has ended and no period runs.
    pub period_end: Option<i64>,
    /// None: unlimited.
    pub allowance: Option<i64>,
    pub used: i64,
    pub now: i64,
    /// Each day of the period (at most 31), those to come included.
    pub daily: Vec<DayUsage>,
    pub by_tool: Vec<UsageRow>,
    pub by_token: Vec<UsageRow>,
    /// Refusals of the period, every kind (zero included).
    pub refusals: Vec<(RefusalKind, i64)>,
    pub credit_balance: i64,
    pub ledger: Vec<LedgerRow>,
}

impl UsagePage {
    /// Percent of the allowance used, when there is an allowance.
    pub fn percent(&self) -> Option<i64> {
        match self.allowance {
            Some(0) => Some(100),
            Some(a) => Some((self.used * 100 / a).min(999)),
            None => None,
        }
    }

    pub fn days_left(&self) -> Option<i64> {
        self.period_end
            .map(|end| ((end - self.now).max(0) + DAY_MS - 1) / DAY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::RefusalKind;

    #[test]
    fn every_kind_names_the_codes_it_counts() {
        for kind in RefusalKind::ALL {
            for code in kind.codes().split(", ") {
                assert_eq!(RefusalKind::of_code(code), Some(kind), "{code}");
            }
        }
        assert_eq!(RefusalKind::of_code("internal_error"), None);
        assert_eq!(RefusalKind::of_code("invalid_token"), None);
    }
}
