//! One token's page (`/tokens/:id`): what it is and reaches, its scopes, what it used this
//! period, and (admins) what happened to it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::tokens::get_token;
use crate::components::{grouping, Loaded, PageHeader, ScopeMark};
use crate::model::{format_time, short_date, TokenDetail, TokenStatus};
use crate::pages::audit::AuditTable;

#[component]
pub fn TokenPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
    };
    let detail = Resource::new_blocking(id, |id| async move {
        match id {
            Some(id) => get_token(id).await,
            None => Err(crate::error::AppError::NotFound(
                "No such token here.".into(),
            )),
        }
    });
    view! {
        <PageHeader title="Token" lead="What this token is, what it may do and what it did."/>
        <p><a href="/tokens">"← All tokens"</a></p>
        <Loaded data=detail view=move |d| view! { <Detail d/> }.into_any()/>
    }
}

#[component]
fn Detail(d: TokenDetail) -> impl IntoView {
    let g = grouping();
    let t = d.token;
    let total_units: i64 = d.usage.iter().map(|r| r.units).sum();
    let total_calls: i64 = d.usage.iter().map(|r| r.calls).sum();
    view! {
        <section class="card" data-testid="token-detail">
            <div class="detail-head">
                <h2>{t.label.clone()}" " <code class="hint-code">{t.hint.clone()}</code></h2>
                <span class=super::status_class(&t.status)>{t.status.label()}</span>
            </div>
            <dl class="facts facts-wide">
                <div><dt>"Reach"</dt><dd>{t.reach_label()}<br/><span class="hint">{t.reach_explained()}</span></dd></div>
                <div><dt>"Created"</dt><dd>{format_time(t.created_at)}<br/><span class="hint">{format!("by {}", t.created_by)}</span></dd></div>
                <div><dt>"Last used"</dt><dd>{match t.last_used_at {
                    Some(at) => format!("{}{}", format_time(at), t.last_client.as_ref().map(|c| format!(" · {c}")).unwrap_or_default()),
                    None => "Never".into(),
                }}</dd></div>
                <div><dt>"Expires"</dt><dd>{t.expires_at.map(format_time).unwrap_or_else(|| "Never".into())}</dd></div>
            </dl>
            {t.successor_id.map(|s| view! { <p class="hint">"Rotated: replaced by " <a href=format!("/tokens/{s}")>"its successor"</a>"."</p> })}
            <div class="dialog-actions start">
                {(t.status == TokenStatus::Active).then(|| view! { <a class="button" href=format!("/tokens?rotate={}", t.id)>"Rotate"</a> })}
                {t.status.is_usable().then(|| view! { <a class="button danger" href=format!("/tokens?revoke={}", t.id)>"Revoke"</a> })}
            </div>
        </section>
        <section class="card">
            <h2>{format!("Scopes ({})", t.scopes.len())}</h2>
            <ul class="scope-list">
                {t.scopes
                    .iter()
                    .map(|s| view! {
                        <li>
                            <code>{s.as_str()}</code>
                            <ScopeMark scope=*s/>
                            <br/><span class="hint">{s.grants()}</span>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </section>
        <section class="card" data-testid="token-usage">
            <h2>{format!("Usage since {}", short_date(d.period_start))}</h2>
            {if d.usage.is_empty() {
                view! { <p class="hint">"No calls in this organization this period."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr><th>"Tool"</th><th class="num">"Calls"</th><th class="num">"Units"</th></tr></thead>
                        <tbody>
                            {d.usage.into_iter().map(|r| view! {
                                <tr><td>{r.name}</td><td class="num">{g.count(r.calls)}</td><td class="num">{g.count(r.units)}</td></tr>
                            }).collect_view()}
                            <tr class="total"><td>"Total"</td><td class="num">{g.count(total_calls)}</td><td class="num">{g.count(total_units)}</td></tr>
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        {d.events.map(|events| view! {
            <section class="card" data-testid="token-events">
                <h2>"Events"</h2>
                {if events.rows.is_empty() {
                    view! { <p class="hint">"No events yet."</p> }.into_any()
                } else {
                    view! { <AuditTable rows=events.rows/> }.into_any()
                }}
                <p><a href=format!("/audit?token={}", t.id)>"All of this token's events in the audit log"</a></p>
            </section>
        })}
    }
}
