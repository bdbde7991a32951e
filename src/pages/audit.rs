//! Developer › Audit log (admins): what happened to tokens and members, by whom, from where.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::tokens::get_audit_log;
use crate::components::{page_error, PageHeader};
use crate::model::{format_time, AuditPage};

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let number = move |key: &str| query.read().get(key).and_then(|t| t.parse::<i64>().ok());
    let token = move || number("token");
    let page = Resource::new_blocking(
        move || (token(), number("before")),
        |(token, before)| get_audit_log(token, before),
    );
    view! {
        <PageHeader title="Audit log" lead="Token and membership events in this organization, newest first."/>
        {move || token().map(|id| view! {
            <p class="notice notice-info">
                {format!("Showing events of token #{id}. ")}
                <a href="/audit">"Show all events"</a>
            </p>
        })}
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => page_error(e),
                    Ok(page) if page.rows.is_empty() => view! { <section class="card empty-state"><p>"No events yet."</p></section> }.into_any(),
                    Ok(AuditPage { rows, older }) => view! {
                        <section class="card">
                            <table class="table audit">
                                <thead><tr><th>"When"</th><th>"Event"</th><th>"Details"</th><th>"Who"</th><th>"IP"</th></tr></thead>
                                <tbody>
                                    {rows
                                        .into_iter()
                                        .map(|r| view! {
                                            <tr>
                                                <td>{format_time(r.at)}</td>
                                                <td><code>{r.action}</code></td>
                                                <td>
                                                    {r.subject}
                                                    {(r.repeats > 1).then(|| format!(" (×{} within the minute)", r.repeats))}
                                                    {r.token_id.map(|id| view! {
                                                        " " <a class="hint" href=format!("/audit?token={id}")>"token events"</a>
                                                    })}
                                                </td>
                                                <td>{r.actor.unwrap_or_else(|| "—".into())}</td>
                                                <td>{r.ip.unwrap_or_else(|| "—".into())}</td>
                                            </tr>
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            {older.map(|before| {
                                let href = match token() {
                                    Some(id) => format!("/audit?token={id}&before={before}"),
                                    None => format!("/audit?before={before}"),
                                };
                                view! { <p class="pager"><a href=href>"Older events →"</a></p> }
                            })}
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}
