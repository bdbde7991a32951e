//! Developer › Tokens: create (shown once), list, rotate, revoke.

mod create_form;
mod reveal;

use leptos::prelude::*;

use crate::api::tokens::{get_tokens, CreateToken, RevokeToken, RotateToken};
use crate::components::{action_error, page_error, FormError, PageHeader};
use crate::model::{
    ago, format_time, Binding, RevealedToken, RotationGrace, TokenStatus, TokenView, TokensPage,
};
use create_form::CreateForm;
use reveal::Reveal;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let rotate = ServerAction::<RotateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    // The token in plaintext lives only in this page's memory until "I have saved it": a reload
    // forgets it. Only a successful creation re-renders the form (and so clears it): a refused
    // one leaves every field as typed.
    let shown = RwSignal::new(None::<RevealedToken>);
    let created = RwSignal::new(0usize);
    for action_value in [create.value(), rotate.value()] {
        Effect::new(move |_| {
            if let Some(Ok(token)) = action_value.get() {
                shown.set(Some(token));
            }
        });
    }
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            created.update(|n| *n += 1);
        }
    });
    let page = Resource::new_blocking(
        move || {
            (
                created.get(),
                rotate.version().get(),
                revoke.version().get(),
            )
        },
        |_| get_tokens(),
    );
    let close = Callback::new(move |()| shown.set(None));
    view! {
        <PageHeader title="Tokens" lead="Scoped access tokens for MCP clients and scripts. A token is shown once, when it is created."/>
        {move || shown.get().map(|t| view! { <Reveal token=t on_close=close/> })}
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => page_error(e),
                    Ok(p) => view! {
                        <TokenList page=p.clone() rotate revoke/>
                        <CreateForm page=p create/>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

fn binding_label(t: &TokenView) -> String {
    match t.binding {
        Binding::User => "Personal".into(),
        Binding::Organization => "Organization".into(),
        Binding::Workspace => format!("Workspace: {}", t.workspace.clone().unwrap_or_default()),
    }
}

fn status_class(status: &TokenStatus) -> &'static str {
    match status {
        TokenStatus::Active => "status status-active",
        TokenStatus::InGrace { .. } => "status status-grace",
        _ => "status status-ended",
    }
}

#[component]
fn TokenList(
    page: TokensPage,
    rotate: ServerAction<RotateToken>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    let now = page.now;
    let default_grace = page.default_grace;
    if page.tokens.is_empty() {
        return view! {
            <section class="card empty-state">
                <h2>"No tokens yet"</h2>
                <p>"Create one below, then paste the client configuration it comes with."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <table class="table tokens">
                <thead>
                    <tr>
                        <th>"Token"</th>
                        <th>"Scopes"</th>
                        <th>"Reach"</th>
                        <th>"Created"</th>
                        <th>"Last used"</th>
                        <th>"Expires"</th>
                        <th>"Status"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .tokens
                        .into_iter()
                        .map(|t| {
                            let usable = t.status.is_usable();
                            let id = t.id.to_string();
                            let rotate_id = id.clone();
                            view! {
                                <tr data-token-label=t.label.clone()>
                                    <td>
                                        <strong>{t.label.clone()}</strong>
                                        <br/>
                                        <code class="hint-code">{t.hint.clone()}</code>
                                    </td>
                                    <td class="scopes">
                                        {t.scopes.iter().map(|s| view! { <span class="chip">{s.as_str()}</span> }).collect_view()}
                                    </td>
                                    <td>{binding_label(&t)}</td>
                                    <td>
                                        {format_time(t.created_at)}
                                        <br/>
                                        <span class="hint">{format!("by {}", t.created_by)}</span>
                                    </td>
                                    <td>
                                        {match t.last_used_at {
                                            Some(at) => format!(
                                                "{}{}",
                                                ago(at, now),
                                                t.last_client.as_ref().map(|c| format!(" · {c}")).unwrap_or_default()
                                            ),
                                            None => "Never".into(),
                                        }}
                                    </td>
                                    <td>{t.expires_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                    <td><span class=status_class(&t.status)>{t.status.label()}</span></td>
                                    <td class="actions">
                                        {usable.then(|| view! {
                                            <details class="confirm">
                                                <summary class="button-quiet">"Rotate"</summary>
                                                <ActionForm action=rotate attr:class="confirm-body">
                                                    <input type="hidden" name="token_id" value=rotate_id.clone()/>
                                                    <label>
                                                        "The old token stops"
                                                        <select name="grace">
                                                            {RotationGrace::ALL
                                                                .into_iter()
                                                                .map(|g| view! { <option value=g.as_str() selected=g == default_grace>{g.label()}</option> })
                                                                .collect_view()}
                                                        </select>
                                                    </label>
                                                    <button type="submit" class="button-primary">"Rotate token"</button>
                                                </ActionForm>
                                            </details>
                                            <details class="confirm">
                                                <summary class="button-quiet danger">"Revoke"</summary>
                                                <ActionForm action=revoke attr:class="confirm-body">
                                                    <input type="hidden" name="token_id" value=id.clone()/>
                                                    <span>"Revoke this token? Clients using it are refused from their next call."</span>
                                                    <button type="submit" class="button-danger">"Yes, revoke"</button>
                                                </ActionForm>
                                            </details>
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <FormError message=action_error(rotate)/>
            <FormError message=action_error(revoke)/>
        </section>
    }
    .into_any()
}
