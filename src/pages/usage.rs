//! Usage: units used against the plan's allowance, by day, tool and token; refusals; credits.
//! Charts are server-rendered SVG (no script, no inline styles).

use leptos::prelude::*;

use crate::api::usage::{get_usage, ChangePlan, GrantCredits};
use crate::components::{action_error, page_error, FormError, PageHeader};
use crate::model::{format_time, Plan, UsagePage, UsageRow};

#[component]
pub fn UsagePage() -> impl IntoView {
    let usage = Resource::new_blocking(|| (), |_| get_usage());
    view! {
        <PageHeader title="Usage" lead="Units used against your plan's allowance in the current period."/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match usage.await {
                    Err(e) => page_error(e),
                    Ok(u) => view! { <Usage u/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Usage(u: UsagePage) -> impl IntoView {
    let percent = u.percent();
    let banner = match percent {
        Some(p) if p >= 100 => Some(("notice notice-error", "You have used all of this period's units: paid tools are refused with quota_exceeded until the period resets or the plan changes.".to_string())),
        Some(p) if p >= 80 => Some(("notice notice-warn", format!("You have used {p} % of this period's units."))),
        _ => None,
    };
    let allowance = u
        .allowance
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unlimited".into());
    let period = match u.period_end {
        Some(end) => format!(
            "{} – {} · {} days left",
            format_time(u.period_start),
            format_time(end),
            u.days_left().unwrap_or(0)
        ),
        None => "The trial has ended: an owner can choose a plan.".into(),
    };
    view! {
        {banner.map(|(class, text)| view! { <p class=class role="status" data-testid="usage-banner">{text}</p> })}
        <section class="card">
            <div class="meter-head">
                <h2>{format!("{} plan", u.plan.label())}</h2>
                <p class="meter-figure" data-testid="usage-meter">
                    {format!("{} / {} units", u.used, allowance)}
                    {percent.map(|p| format!(" · {p} %"))}
                </p>
            </div>
            <Meter percent=percent.unwrap_or(0)/>
            <p class="hint">{period}</p>
        </section>
        <section class="card">
            <h2>"Units per day"</h2>
            <DailyChart days=u.daily.clone()/>
        </section>
        <div class="grid-2">
            <Breakdown title="By tool" rows=u.by_tool.clone() testid="by-tool"/>
            <Breakdown title="By token" rows=u.by_token.clone() testid="by-token"/>
        </div>
        <div class="grid-2">
            <section class="card">
                <h2>"Refusals this period"</h2>
                <dl class="facts">
                    <div><dt>"Rate limited"</dt><dd data-testid="rate-limited">{u.rate_limited}</dd></div>
                    <div><dt>"Quota exceeded"</dt><dd data-testid="quota-exceeded">{u.quota_exceeded}</dd></div>
                </dl>
            </section>
            <section class="card">
                <h2>"Credits"</h2>
                <dl class="facts"><div><dt>"Balance"</dt><dd data-testid="credit-balance">{u.credit_balance}</dd></div></dl>
                <table class="table">
                    <thead><tr><th>"When"</th><th>"Entry"</th><th>"Amount"</th><th>"Balance"</th></tr></thead>
                    <tbody>
                        {u.ledger
                            .into_iter()
                            .map(|l| view! {
                                <tr>
                                    <td>{format_time(l.at)}</td>
                                    <td>{format!("{} · {}", l.kind, l.note)}</td>
                                    <td>{format!("{:+}", if l.kind == "charge" { -l.amount.abs() } else { l.amount })}</td>
                                    <td>{l.balance_after}</td>
                                </tr>
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

#[component]
fn DailyChart(days: Vec<(String, i64)>) -> impl IntoView {
    let max = days.iter().map(|(_, u)| *u).max().unwrap_or(0).max(1);
    let (w, h) = (1000.0, 160.0);
    let step = w / days.len().max(1) as f64;
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {}", h + 24.0) role="img" aria-label="Units per day">
            {days
                .iter()
                .enumerate()
                .map(|(i, (day, units))| {
                    let height = (*units as f64 * h / max as f64).max(1.0);
                    let x = i as f64 * step + step * 0.15;
                    view! {
                        <g>
                            <title>{format!("{day}: {units} units")}</title>
                            <rect class="chart-bar" x=format!("{x:.1}") y=format!("{:.1}", h - height) width=format!("{:.1}", step * 0.7) height=format!("{height:.1}")/>
                        </g>
                    }
                })
                .collect_view()}
            <text class="chart-label" x="0" y=(h + 20.0).to_string()>{days.first().map(|(d, _)| d.clone()).unwrap_or_default()}</text>
            <text class="chart-label" x=w.to_string() y=(h + 20.0).to_string() text-anchor="end">{days.last().map(|(d, _)| d.clone()).unwrap_or_default()}</text>
        </svg>
        <p class="hint">{format!("Highest day: {max} units.")}</p>
    }
}

#[component]
fn Breakdown(title: &'static str, rows: Vec<UsageRow>, testid: &'static str) -> impl IntoView {
    view! {
        <section class="card" data-testid=testid>
            <h2>{title}</h2>
            {if rows.is_empty() {
                view! { <p class="hint">"No calls yet this period."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th>"Calls"</th><th>"Units"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| view! { <tr><td>{r.name}</td><td>{r.calls}</td><td>{r.units}</td></tr> }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
        </section>
    }
}

/// Settings › Billing: the plan (and the token cap it brings) and credit grants, for owners.
#[component]
pub fn BillingSettings() -> impl IntoView {
    let change = ServerAction::<ChangePlan>::new();
    let grant = ServerAction::<GrantCredits>::new();
    let usage = Resource::new_blocking(
        move || (change.version().get(), grant.version().get()),
        |_| get_usage(),
    );
    view! {
        <PageHeader title="Billing" lead="Your plan and credits. There is no payment provider: owners change them here."/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match usage.await {
                    Err(e) => page_error(e),
                    Ok(u) => view! {
                        <section class="card">
                            <dl class="facts">
                                <div><dt>"Plan"</dt><dd data-testid="current-plan">{u.plan.label()}</dd></div>
                                <div><dt>"Units this period"</dt><dd>{format!("{} / {}", u.used, u.allowance.map(|a| a.to_string()).unwrap_or_else(|| "unlimited".into()))}</dd></div>
                                <div><dt>"Credits"</dt><dd data-testid="billing-credits">{u.credit_balance}</dd></div>
                            </dl>
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Change plan"</h2>
            <ActionForm action=change attr:class="stack" attr:aria-label="Change plan">
                {Plan::ALL
                    .into_iter()
                    .filter(|p| *p != Plan::Trial)
                    .map(|p| view! {
                        <label class="check">
                            <input type="radio" name="plan" value=p.as_str()/>
                            <span><strong>{p.label()}</strong><br/><span class="hint">{p.blurb()}</span></span>
                        </label>
                    })
                    .collect_view()}
                <FormError message=action_error(change)/>
                <button type="submit" class="button-primary">"Change plan"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Grant credits"</h2>
            <ActionForm action=grant attr:class="inline-form" attr:aria-label="Grant credits">
                <label>"Credits" <input type="number" name="amount" min="1" max="1000000" required/></label>
                <label class="grow">"Note" <input name="note" maxlength="120" placeholder="e.g. Invoice 2026-11"/></label>
                <button type="submit" class="button-primary">"Grant"</button>
            </ActionForm>
            <FormError message=action_error(grant)/>
        </section>
    }
}
