//! The limits a call met, told to the client: `X-RateLimit-*` (the unit cap, as before) and the
//! IETF `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-11), one
//! policy per limit: "units" (the token's weighted units a minute), "tool" (the tool's own calls
//! a minute, where it has a limit) and "allowance" (the plan's units a period, unless unlimited).

use axum::http::{HeaderMap, HeaderValue};

use crate::enforcement::limits::{Quota, RateState};

/// Each policy's name and its quota, in a fixed order.
fn policies(rate: &RateState) -> impl Iterator<Item = (&'static str, &Quota)> {
    [
        ("units", Some(&rate.units)),
        ("tool", rate.tool.as_ref()),
        ("allowance", rate.allowance.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, quota)| Some((name, quota?)))
}

/// `"units";q=120;w=60, …`: what each limit allows (no `w` for the period after a trial,
/// which has no end).
pub fn policy_field(rate: &RateState) -> String {
    policies(rate)
        .map(|(name, q)| match q.window {
            Some(w) => format!("\"{name}\";q={};w={w}", q.limit),
            None => format!("\"{name}\";q={}", q.limit),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"units";r=119;t=1, …`: what is left of each, and in how many seconds it is back (no `t`
/// where nothing comes back, as a trial's units).
pub fn state_field(rate: &RateState) -> String {
    policies(rate)
        .map(|(name, q)| match q.reset {
            Some(t) => format!("\"{name}\";r={};t={t}", q.remaining),
            None => format!("\"{name}\";r={}", q.remaining),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn insert_headers(headers: &mut HeaderMap, rate: &RateState) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(rate.units.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(rate.units.remaining),
    );
    for (name, value) in [
        ("ratelimit-policy", policy_field(rate)),
        ("ratelimit", state_field(rate)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_one_policy_and_an_ended_trial_has_no_window_and_no_reset() {
        let rate = RateState {
            units: Quota {
                limit: 120,
                remaining: 115,
                window: Some(60),
                reset: Some(3),
            },
            tool: None,
            allowance: Some(Quota {
                limit: 0,
                remaining: 0,
                window: None,
                reset: None,
            }),
        };
        assert_eq!(
            policy_field(&rate),
            r#""units";q=120;w=60, "allowance";q=0"#
        );
        assert_eq!(state_field(&rate), r#""units";r=115;t=3, "allowance";r=0"#);
    }
}
