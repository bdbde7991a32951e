//! Developer › Tokens: create (shown once), list, rotate, revoke; a page per token.

mod create_form;
mod detail;
mod reveal;

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::tokens::{get_tokens, CreateToken, RevokeToken, RotateToken};
use crate::components::dialog::{leave_on_success, DialogCancel, Leaving, UrlDialog};
use crate::components::{
    action_error, announce, successes, FormError, LastUsedCell, Loaded, PageHeader, ScopesCell,
    StatusLine,
};
use crate::model::{
    ago, format_time, from_now, iso_time, Binding, RevealedToken, RotationGrace, TokenStatus,
    TokenView, TokensPage,
};
use create_form::CreateForm;
pub use detail::TokenPage;
use reveal::Reveal;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let rotate = ServerAction::<RotateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let status = RwSignal::new(None::<String>);
    announce(create, status, |_, t| {
        format!("Created “{}”. Copy it now: it is shown once.", t.label)
    });
    announce(rotate, status, |input, t| {
        let old = match RotationGrace::parse(&input.grace) {
            Some(RotationGrace::FifteenMinutes) => "The old one works for 15 more minutes.",
            Some(RotationGrace::FortyEightHours) => "The old one works for 48 more hours.",
            _ => "The old one no longer works.",
        };
        format!("Rotated “{}”: copy the new token now. {old}", t.label)
    });
    announce(revoke, status, |_, label| {
        format!("Revoked “{label}”: clients using it are refused from their next call.")
    });
    // The token in plaintext lives only in this page's memory until "I have saved it": a reload
    // forgets it. Only a successful creation re-renders the form (and so clears it): a refused
    // one leaves every field as typed.
    let shown = RwSignal::new(None::<RevealedToken>);
    for action_value in [create.value(), rotate.value()] {
        Effect::new(move |_| {
            if let Some(Ok(token)) = action_value.get() {
                shown.set(Some(token));
            }
        });
    }
    let (created, rotated, revoked) = (successes(create), successes(rotate), successes(revoke));
    // Reloaded after a success only: a refusal leaves every field as it was typed.
    let page = Resource::new_blocking(
        move || (created.get(), rotated.get(), revoked.get()),
        |_| get_tokens(),
    );
    let close = Callback::new(move |()| shown.set(None));
    let query = use_query_map();
    // A memo: opening and closing a dialog changes the query but must not redraw the list
    // (the browser gives focus back to the link that opened the dialog).
    let show_all = Memo::new(move |_| query.read().get("show").as_deref() == Some("all"));
    let back = move || list_href(show_all.get_untracked());
    let (rotate_done, revoke_done) = (
        leave_on_success(rotated, back),
        leave_on_success(revoked, back),
    );
    view! {
        <PageHeader title="Tokens" lead="Scoped access tokens for MCP clients and scripts. A token is shown once, when it is created."/>
        <StatusLine status/>
        {move || shown.get().map(|t| view! { <Reveal token=t on_close=close/> })}
        <Loaded data=page view=move |p: TokensPage| {
                let listed = p.clone();
                view! {
                    <TokenDialogs page=p.clone() rotate revoke rotated=rotate_done revoked=revoke_done/>
                    {move || view! { <TokenList page=listed.clone() show_all=show_all.get()/> }}
                    <CreateForm page=p create/>
                }
                .into_any()
            }/>
    }
}

/// The list's address with its filter kept: where a dialog returns to.
fn list_href(show_all: bool) -> &'static str {
    if show_all {
        "/tokens?show=all"
    } else {
        "/tokens"
    }
}

/// Rotate and Revoke, each a dialog addressed by the list's URL (`?rotate=12`, `?revoke=12`).
#[component]
fn TokenDialogs(
    page: TokensPage,
    rotate: ServerAction<RotateToken>,
    revoke: ServerAction<RevokeToken>,
    /// The page's counts of successes: each closes its dialog.
    rotated: Leaving,
    revoked: Leaving,
) -> impl IntoView {
    let query = use_query_map();
    move || {
        let query = query.get();
        let back = list_href(query.get("show").as_deref() == Some("all"));
        let token = |key: &str| {
            let id = query.get(key)?.parse::<i64>().ok()?;
            page.tokens.iter().find(|t| t.id == id).cloned()
        };
        if let Some(t) = token("revoke") {
            if !t.status.is_usable() {
                // Where a plain form post lands after revoking: the page says it is done.
                return Some(view! {
                    <p class="notice notice-ok" role="status">{format!("“{}” is revoked.", t.label)}</p>
                }.into_any());
            }
            let last_use = match t.last_used_at {
                Some(at) => format!(
                    "It was last used {}{}.",
                    ago(at, page.now),
                    t.last_client
                        .as_ref()
                        .map(|c| format!(" by {c}"))
                        .unwrap_or_default()
                ),
                None => "It has never been used.".into(),
            };
            return Some(view! {
                <UrlDialog title=format!("Revoke “{}”?", t.label) close_href=back done=revoked>
                    <p><code>{t.hint.clone()}</code>" · "{t.reach_label()}</p>
                    <p>{last_use}" Clients using it are refused from their next call. This cannot be undone."</p>
                    <ActionForm action=revoke attr:class="dialog-form">
                        <input type="hidden" name="token_id" value=t.id.to_string()/>
                        <FormError message=action_error(revoke)/>
                        <div class="dialog-actions">
                            <DialogCancel/>
                            <button type="submit" class="button-danger">"Revoke token"</button>
                        </div>
                    </ActionForm>
                </UrlDialog>
            }.into_any());
        }
        let t = token("rotate").filter(|t| t.status == TokenStatus::Active)?;
        // The REST API's keys keep the source document's 48 hours of overlap by default.
        let default_grace = match t.binding {
            Binding::Profile => RotationGrace::FortyEightHours,
            _ => page.default_grace,
        };
        Some(view! {
            <UrlDialog title=format!("Rotate “{}”?", t.label) close_href=back done=rotated>
                <p>"A new token with the same scopes, reach and expiry replaces it. You see the new one once."</p>
                <ActionForm action=rotate attr:class="dialog-form">
                    <input type="hidden" name="token_id" value=t.id.to_string()/>
                    <label>
                        "The old token stops"
                        <select name="grace">
                            {RotationGrace::ALL
                                .into_iter()
                                .map(|g| view! { <option value=g.as_str() selected=g == default_grace>{g.label()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <FormError message=action_error(rotate)/>
                    <div class="dialog-actions">
                        <DialogCancel/>
                        <button type="submit" class="button-primary">"Rotate token"</button>
                    </div>
                </ActionForm>
            </UrlDialog>
        }.into_any())
    }
}

fn status_class(status: &TokenStatus) -> &'static str {
    match status {
        TokenStatus::Active => "status status-active",
        TokenStatus::InGrace { .. } => "status status-grace",
        _ => "status status-ended",
    }
}

/// The list: tokens that work, each rotated one under its successor while in grace; the
/// ended ones (revoked, rotated, expired) behind `?show=all`.
#[component]
fn TokenList(page: TokensPage, show_all: bool) -> impl IntoView {
    let now = page.now;
    let ended = page.tokens.iter().filter(|t| !t.status.is_usable()).count();
    let shown = |t: &TokenView| show_all || t.status.is_usable();
    let listed: Vec<i64> = page
        .tokens
        .iter()
        .filter(|t| shown(t))
        .map(|t| t.id)
        .collect();
    let mut predecessors: HashMap<i64, Vec<TokenView>> = HashMap::new();
    let mut top = Vec::new();
    for t in page.tokens.iter().filter(|t| shown(t)) {
        match t.successor_id.filter(|s| listed.contains(s)) {
            Some(successor) => predecessors.entry(successor).or_default().push(t.clone()),
            None => top.push(t.clone()),
        }
    }
    let filter_link = match (show_all, ended) {
        (true, _) => Some(view! { <a href="/tokens">"Hide ended tokens"</a> }.into_any()),
        (false, 0) => None,
        (false, n) => Some(view! {
            <a href="/tokens?show=all">{format!("Show {n} ended token{} (revoked, rotated or expired)", if n == 1 { "" } else { "s" })}</a>
        }.into_any()),
    };
    if top.is_empty() {
        return view! {
            <section class="card empty-state">
                <h2>"No tokens yet"</h2>
                <p>"Create one below, then paste the client configuration it comes with."</p>
                {filter_link.map(|l| view! { <p>{l}</p> })}
            </section>
        }
        .into_any();
    }
    let back = list_href(show_all);
    view! {
        <section class="card">
            <table class="table tokens stack-on-phone">
                <thead>
                    <tr>
                        <th>"Token"</th>
                        <th>"Scopes"</th>
                        <th>"Reach"</th>
                        <th>"Last used"</th>
                        <th>"Expires"</th>
                        <th>"Status"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {top
                        .into_iter()
                        .map(|t| {
                            let before = predecessors.remove(&t.id).unwrap_or_default();
                            view! {
                                <TokenRow t now back rotated_from=false/>
                                {before.into_iter().map(|p| view! { <TokenRow t=p now back rotated_from=true/> }).collect_view()}
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {filter_link.map(|l| view! { <p class="list-filter">{l}</p> })}
        </section>
    }
    .into_any()
}

#[component]
fn TokenRow(t: TokenView, now: i64, back: &'static str, rotated_from: bool) -> impl IntoView {
    let sep = if back.contains('?') { '&' } else { '?' };
    view! {
        <tr data-token-label=t.label.clone() class:rotated-from=rotated_from>
            <td data-label="Token">
                {rotated_from.then(|| view! { <span class="hint">"↳ replaced · "</span> })}
                <a class="token-name" href=format!("/tokens/{}", t.id)>{t.label.clone()}</a>
                <br/>
                <code class="hint-code">{t.hint.clone()}</code>
            </td>
            <ScopesCell token=t.clone()/>
            <td data-label="Reach">{t.reach_label()}</td>
            <LastUsedCell token=t.clone() now/>
            <td data-label="Expires">
                {match t.expires_at {
                    Some(at) if at > now => view! { <time datetime=iso_time(at) title=format_time(at)>{from_now(at, now)}</time> }.into_any(),
                    Some(at) => view! { <time datetime=iso_time(at) title=format_time(at)>{ago(at, now)}</time> }.into_any(),
                    None => view! { <span class="hint">"Never"</span> }.into_any(),
                }}
            </td>
            <td data-label="Status"><span class=status_class(&t.status)>{t.status.label()}</span></td>
            <td class="actions">
                {(t.status == TokenStatus::Active).then(|| view! {
                    <a class="button-quiet" href=format!("{back}{sep}rotate={}", t.id) data-noscroll="true">"Rotate"</a>
                })}
                {t.status.is_usable().then(|| view! {
                    <a class="button-quiet danger" href=format!("{back}{sep}revoke={}", t.id) data-noscroll="true">"Revoke"</a>
                })}
            </td>
        </tr>
    }
}
