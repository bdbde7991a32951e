//! Developer › Audit log (admins): what happened to tokens and members, by whom, from where.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::tokens::get_audit_log;
use crate::components::{page_error, PageHeader};
use crate::model::format_time;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || {
        query
            .read()
            .get("token")
            .and_then(|t| t.parse::<i64>().ok())
    };
    let rows = Resource::new_blocking(token, get_audit_log);
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
                match rows.await {
                    Err(e) => page_error(e),
                    Ok(rows) if rows.is_empty() => view! { <section class="card empty-state"><p>"No events yet."</p></section> }.into_any(),
                    Ok(rows) => view! {
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
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}
