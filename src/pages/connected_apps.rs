//! Developer › Connected apps: the MCP clients connected through OAuth, each a grant with its
//! client, who approved it, its scopes, reach and last use, and Revoke.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::oauth::get_connected_apps;
use crate::api::tokens::RevokeToken;
use crate::components::dialog::{leave_on_success, DialogCancel, Leaving, UrlDialog};
use crate::components::{
    action_error, announce, successes, FormError, LastUsedCell, Loaded, PageHeader, ScopesCell,
    StatusLine,
};
use crate::model::{ago, format_time, from_now, iso_time, ConnectedApp, ConnectedAppsPage};

const PAGE: &str = "/connected-apps";

#[component]
pub fn ConnectedAppsPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeToken>::new();
    let status = RwSignal::new(None::<String>);
    announce(revoke, status, |_, name| {
        format!("Disconnected “{name}”: its tokens are refused from its next call.")
    });
    let revoked = successes(revoke);
    let page = Resource::new_blocking(move || revoked.get(), |_| get_connected_apps());
    let done = leave_on_success(revoked, || PAGE);
    view! {
        <PageHeader
            title="Connected apps"
            lead="MCP clients you or your organization connected by URL, through OAuth. Each counts as one active token of its reach."
        />
        <StatusLine status/>
        <Loaded data=page view=move |p: ConnectedAppsPage| view! {
            <RevokeDialog page=p.clone() revoke done/>
            <AppList page=p/>
        }.into_any()/>
    }
}

#[component]
fn RevokeDialog(
    page: ConnectedAppsPage,
    revoke: ServerAction<RevokeToken>,
    done: Leaving,
) -> impl IntoView {
    let query = use_query_map();
    move || {
        let id = query.get().get("revoke")?.parse::<i64>().ok()?;
        let app = page
            .apps
            .iter()
            .find(|a| a.grant.id == id && a.grant.status.is_usable())?
            .clone();
        Some(view! {
            <UrlDialog title=format!("Disconnect “{}”?", app.grant.label) close_href=PAGE done>
                <p>"Its access and refresh tokens stop working at once, on every server. To use it again, connect it again from the app."</p>
                <ActionForm action=revoke attr:class="dialog-form">
                    <input type="hidden" name="token_id" value=app.grant.id.to_string()/>
                    <FormError message=action_error(revoke)/>
                    <div class="dialog-actions">
                        <DialogCancel/>
                        <button type="submit" class="button-danger">"Revoke access"</button>
                    </div>
                </ActionForm>
            </UrlDialog>
        })
    }
}

#[component]
fn AppList(page: ConnectedAppsPage) -> impl IntoView {
    if page.apps.is_empty() {
        return view! {
            <section class="card empty-state">
                <h2>"No connected apps"</h2>
                <p>"Add this server's /mcp address to an MCP client (Claude Code, Claude Desktop, VS Code, Cursor…) without a token: the client opens a page here where you approve it."</p>
            </section>
        }
        .into_any();
    }
    let now = page.now;
    view! {
        <section class="card">
            <table class="table stack-on-phone">
                <thead>
                    <tr>
                        <th>"App"</th>
                        <th>"Scopes"</th>
                        <th>"Reach"</th>
                        <th>"Approved by"</th>
                        <th>"Last used"</th>
                        <th>"This period"</th>
                        <th>"Access ends"</th>
                        <th>"Status"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {page.apps.into_iter().map(|app| view! { <AppRow app now/> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn AppRow(app: ConnectedApp, now: i64) -> impl IntoView {
    let g = app.grant;
    view! {
        <tr data-app=g.label.clone()>
            <td data-label="App">
                <strong>{g.label.clone()}</strong>
                {app.client_host.map(|host| view! { <br/><span class="hint">{host}</span> })}
            </td>
            <ScopesCell token=g.clone()/>
            <td data-label="Reach">{g.reach_label()}</td>
            <td data-label="Approved by">
                {g.created_by.clone()}<br/>
                <time class="hint" datetime=iso_time(g.created_at) title=format_time(g.created_at)>{ago(g.created_at, now)}</time>
            </td>
            <LastUsedCell token=g.clone() now/>
            <td data-label="This period">
                {format!("{} call{}", app.calls, if app.calls == 1 { "" } else { "s" })}<br/>
                <span class="hint">{format!("{} units", app.units)}</span>
            </td>
            <td data-label="Access ends">
                {match g.expires_at {
                    Some(at) => view! { <time datetime=iso_time(at) title=format_time(at)>{from_now(at, now)}</time> }.into_any(),
                    None => view! { <span class="hint">"When revoked"</span> }.into_any(),
                }}
            </td>
            <td data-label="Status">
                <span class=if g.status.is_usable() { "status status-active" } else { "status status-ended" }>{g.status.label()}</span>
            </td>
            <td class="actions">
                {g.status.is_usable().then(|| view! {
                    <a class="button-quiet danger" href=format!("{PAGE}?revoke={}", g.id) data-noscroll="true">"Revoke"</a>
                })}
            </td>
        </tr>
    }
}
