//! Developer › Audit log (admins): what happened to tokens and members, by whom, from where;
//! filtered by event and token, a page at a time, or downloaded as CSV.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::audit::get_audit_log;
use crate::components::{Loaded, PageHeader};
use crate::model::{format_time, iso_time, AuditAction, AuditFilter, AuditPage, AuditRow};

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let number = move |key: &str| query.read().get(key).and_then(|t| t.parse::<i64>().ok());
    let filter = move || AuditFilter {
        token_id: number("token"),
        action: query
            .read()
            .get("action")
            .and_then(|a| AuditAction::parse(&a)),
    };
    let page = Resource::new_blocking(
        move || (filter(), number("before")),
        |(filter, before)| {
            get_audit_log(
                filter.token_id,
                filter.action.map(|a| a.as_str().to_string()),
                before,
            )
        },
    );
    view! {
        <PageHeader title="Audit log" lead="Token and membership events in this organization, newest first."/>
        <section class="card">
            <Form method="get" action="" attr:class="inline-form" attr:aria-label="Filter events">
                {move || filter().token_id.map(|id| view! { <input type="hidden" name="token" value=id.to_string()/> })}
                <label>
                    "Event"
                    <select name="action">
                        <option value="" selected=move || filter().action.is_none()>"All events"</option>
                        {AuditAction::ALL
                            .into_iter()
                            .map(|a| view! {
                                <option value=a.as_str() selected=move || filter().action == Some(a)>{a.label()}</option>
                            })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Filter"</button>
                <a class="button" rel="external" download href=move || csv_href(filter())>"Download CSV"</a>
            </Form>
            {move || filter().token_id.map(|_| view! {
                <p class="hint filter-note">
                    "Showing one token's events. "
                    <a href=move || match filter().action { Some(a) => format!("/audit?action={}", a.as_str()), None => "/audit".into() }>"Show every token"</a>
                </p>
            })}
        </section>
        <Loaded data=page view=move |data| match data {
            page if page.rows.is_empty() => view! { <section class="card empty-state"><p>"No events match."</p></section> }.into_any(),
            AuditPage { rows, older } => view! {
                <section class="card">
                    <AuditTable rows/>
                    {older.map(|before| {
                        let query = filter().query();
                        let href = match query.is_empty() {
                            true => format!("/audit?before={before}"),
                            false => format!("/audit?{query}&before={before}"),
                        };
                        view! { <p class="pager"><a href=href>"Older events →"</a></p> }
                    })}
                </section>
            }
            .into_any(),
            }/>
    }
}

fn csv_href(filter: AuditFilter) -> String {
    match filter.query() {
        q if q.is_empty() => "/audit.csv".into(),
        q => format!("/audit.csv?{q}"),
    }
}

/// Events as a table: one line of time, what happened, to what, by whom, from where.
#[component]
pub fn AuditTable(rows: Vec<AuditRow>) -> impl IntoView {
    view! {
        <table class="table audit stack-on-phone">
            <thead><tr><th>"When"</th><th>"Event"</th><th>"Details"</th><th>"Who"</th><th>"IP"</th></tr></thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|r| {
                        let label = r.action_label();
                        view! {
                            <tr>
                                <td class="nowrap" data-label="When"><time datetime=iso_time(r.at)>{format_time(r.at)}</time></td>
                                <td data-label="Event">{label}</td>
                                <td data-label="Details">
                                    {r.subject}
                                    {(r.repeats > 1).then(|| format!(" (×{} within the minute)", r.repeats))}
                                    {match (r.token_id, r.token) {
                                        (Some(id), Some(name)) => Some(view! {
                                            <br/>
                                            <span class="hint">"Token: "</span>
                                            <a href=format!("/tokens/{id}")>{name}</a>
                                            " · "
                                            <a class="hint" href=format!("/audit?token={id}")>"its events"</a>
                                        }),
                                        _ => None,
                                    }}
                                </td>
                                <td data-label="Who">{r.actor.unwrap_or_else(|| "—".into())}</td>
                                <td data-label="IP">{r.ip.unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
