//! Usage: units used against the plan's allowance, by day, tool and token; refusals by kind;
//! credits. Every figure counts over the one plan period. Charts are server-rendered SVG
//! with their values also in a table.

use leptos::prelude::*;

use crate::api::usage::get_usage;
use crate::components::{grouping, Loaded, PageHeader};
use crate::model::{format_time, short_date, DayUsage, Grouping, UsagePage, UsageRow};

#[component]
pub fn UsagePage() -> impl IntoView {
    let usage = Resource::new_blocking(|| (), |_| get_usage());
    view! {
        <PageHeader title="Usage" lead="Units used against your plan's allowance in the current period."/>
        <Loaded data=usage view=move |u| view! { <Usage u/> }.into_any()/>
    }
}

/// "1,700 / 2,000 units", or "… / unlimited".
pub fn used_of_allowance(g: Grouping, used: i64, allowance: Option<i64>) -> String {
    let allowance = allowance.map_or_else(|| "unlimited".into(), |a| g.count(a));
    format!("{} / {allowance} units", g.count(used))
}

#[component]
fn Usage(u: UsagePage) -> impl IntoView {
    let g = grouping();
    let percent = u.percent();
    let banner = match percent {
        Some(p) if p >= 100 => Some(("notice notice-error", "You have used all of this period's units: paid tools are refused with quota_exceeded until the period resets or the plan changes.".to_string())),
        Some(p) if p >= 80 => Some(("notice notice-warn", format!("You have used {p} % of this period's units."))),
        _ => None,
    };
    let period = match u.period_end {
        Some(end) => format!(
            "This period: {} – {} · {} days left",
            short_date(u.period_start),
            short_date(end - 1),
            u.days_left().unwrap_or(0)
        ),
        None => "The trial has ended: an owner can choose a plan.".into(),
    };
    let refused: i64 = u.refusals.iter().map(|(_, n)| n).sum();
    view! {
        {banner.map(|(class, text)| view! { <p class=class role="status" data-testid="usage-banner">{text}</p> })}
        <section class="card">
            <div class="meter-head">
                <h2>{format!("{} plan", u.plan.label())}</h2>
                <p class="meter-figure" data-testid="usage-meter">
                    {used_of_allowance(g, u.used, u.allowance)}
                    {percent.map(|p| format!(" · {p} %"))}
                </p>
            </div>
            <Meter percent=percent.unwrap_or(0)/>
            <p class="hint" data-testid="usage-period">{period}</p>
        </section>
        <section class="card">
            <h2>"Units per day"</h2>
            <DailyChart days=u.daily.clone() g/>
        </section>
        <div class="grid-2">
            <Breakdown title="By tool" rows=u.by_tool.clone() testid="by-tool" g/>
            <Breakdown title="By token" rows=u.by_token.clone() testid="by-token" g/>
        </div>
        <div class="grid-2">
            <section class="card" data-testid="refusals">
                <h2>{format!("Refused calls this period: {}", g.count(refused))}</h2>
                <p class="hint">"Refused calls use no units of the allowance."</p>
                <table class="table">
                    <thead><tr><th>"Why"</th><th class="num">"Calls"</th></tr></thead>
                    <tbody>
                        {u.refusals
                            .iter()
                            .map(|(kind, n)| view! {
                                <tr data-kind=format!("{kind:?}")>
                                    <td>{kind.label()}<br/><span class="hint">{kind.codes()}</span></td>
                                    <td class="num">{g.count(*n)}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
            <section class="card">
                <h2>"Credits"</h2>
                <dl class="facts"><div><dt>"Balance"</dt><dd data-testid="credit-balance">{g.count(u.credit_balance)}</dd></div></dl>
                <table class="table stack-on-phone">
                    <thead><tr><th>"When"</th><th>"Entry"</th><th class="num">"Amount"</th><th class="num">"Balance"</th></tr></thead>
                    <tbody>
                        {u.ledger
                            .into_iter()
                            .map(|l| {
                                let amount = if l.kind == "charge" { -l.amount.abs() } else { l.amount };
                                let sign = if amount > 0 { "+" } else { "" };
                                view! {
                                    <tr>
                                        <td class="nowrap">{format_time(l.at)}</td>
                                        <td data-label="Entry">{format!("{} · {}", l.kind, l.note)}</td>
                                        <td class="num" data-label="Amount">{format!("{sign}{}", g.count(amount))}</td>
                                        <td class="num" data-label="Balance">{g.count(l.balance_after)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
    }
}

#[component]
fn Meter(percent: i64) -> impl IntoView {
    let width = percent.clamp(0, 100);
    let class = match percent {
        p if p >= 100 => "meter-fill meter-full",
        p if p >= 80 => "meter-fill meter-high",
        _ => "meter-fill",
    };
    view! {
        <svg class="meter" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label=format!("{percent} % of the allowance used")>
            <rect class="meter-track" x="0" y="0" width="100" height="6" rx="3"/>
            <rect class=class x="0" y="0" width=width.to_string() height="6" rx="3"/>
        </svg>
    }
}

/// The top of the chart's scale: the day's highest units rounded up to 1, 2 or 5 × 10ⁿ.
fn scale_top(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

#[component]
fn DailyChart(days: Vec<DayUsage>, g: Grouping) -> impl IntoView {
    let max = days.iter().map(|d| d.units).max().unwrap_or(0);
    let top = scale_top(max);
    // Drawing area inside the view box: room on the left for the scale's labels and above for
    // the top one.
    let (left, w, h, pad) = (70.0, 930.0, 160.0, 12.0);
    let step = w / days.len().max(1) as f64;
    let y_of = |units: i64| pad + h - units as f64 * h / top as f64;
    let mut ticks = vec![0, top / 2, top];
    ticks.dedup();
    let first = days.first().map(|d| d.day.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.day.clone()).unwrap_or_default();
    let table_days = days.clone();
    let label = format!(
        "Units per day from {first} to {last}; the highest day used {} units. The same figures are in the table below.",
        g.count(max)
    );
    view! {
        // On a phone the chart scrolls sideways: the frame takes focus so keys can scroll it.
        <div class="chart-frame" tabindex="0" role="region" aria-label="Units per day (scrolls sideways)">
        <svg class="chart" viewBox=format!("0 0 {} {}", left + w, pad + h + 28.0) role="img" aria-label=label>
            {ticks
                .into_iter()
                .map(|tick| {
                    let y = y_of(tick) + 0.5;
                    view! {
                        <line class="chart-grid" x1=left.to_string() x2=(left + w).to_string() y1=format!("{y:.1}") y2=format!("{y:.1}")/>
                        <text class="chart-label" x=(left - 8.0).to_string() y=format!("{:.1}", y + 5.0) text-anchor="end">{g.count(tick)}</text>
                    }
                })
                .collect_view()}
            {days
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let x = left + i as f64 * step + step * 0.15;
                    let width = format!("{:.1}", step * 0.7);
                    if d.future {
                        view! {
                            <g>
                                <title>{format!("{}: still to come", d.day)}</title>
                                <rect class="chart-future" x=format!("{x:.1}") y=format!("{:.1}", pad + h - 6.0) width=width height="6"/>
                            </g>
                        }
                        .into_any()
                    } else {
                        let height = (pad + h - y_of(d.units)).max(if d.units > 0 { 1.5 } else { 0.0 });
                        view! {
                            <g>
                                <title>{format!("{}: {} units", d.day, g.count(d.units))}</title>
                                <rect class="chart-bar" x=format!("{x:.1}") y=format!("{:.1}", pad + h - height) width=width height=format!("{height:.1}")/>
                            </g>
                        }
                        .into_any()
                    }
                })
                .collect_view()}
            <text class="chart-label" x=left.to_string() y=(pad + h + 22.0).to_string()>{first}</text>
            <text class="chart-label" x=(left + w).to_string() y=(pad + h + 22.0).to_string() text-anchor="end">{last}</text>
        </svg>
        </div>
        <p class="hint chart-legend"><span class="legend-bar"></span>" units used · "<span class="legend-future"></span>" days still to come"</p>
        <details class="per-day">
            <summary>"Per-day values"</summary>
            <table class="table" data-testid="per-day">
                <thead><tr><th>"Day"</th><th class="num">"Units"</th></tr></thead>
                <tbody>
                    {table_days
                        .into_iter()
                        .filter(|d| !d.future)
                        .map(|d| view! { <tr><td>{d.day}</td><td class="num">{g.count(d.units)}</td></tr> })
                        .collect_view()}
                </tbody>
            </table>
        </details>
    }
}

#[component]
fn Breakdown(
    title: &'static str,
    rows: Vec<UsageRow>,
    testid: &'static str,
    g: Grouping,
) -> impl IntoView {
    view! {
        <section class="card" data-testid=testid>
            <h2>{title}</h2>
            {if rows.is_empty() {
                view! { <p class="hint">"No calls yet this period."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th class="num">"Calls"</th><th class="num">"Units"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| view! {
                                <tr><td>{r.name}</td><td class="num">{g.count(r.calls)}</td><td class="num">{g.count(r.units)}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chart_scale_rounds_up_to_a_readable_top() {
        let tops: Vec<i64> = [0, 1, 3, 7, 24, 150, 2_001]
            .into_iter()
            .map(super::scale_top)
            .collect();
        assert_eq!(tops, [1, 1, 5, 10, 50, 200, 5_000]);
    }
}
