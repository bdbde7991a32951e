//! Developer › Tokens: create (shown once), list, rotate, revoke.

use leptos::prelude::*;

use crate::api::tokens::{get_tokens, CreateToken, RevokeToken, RotateToken};
use crate::components::{action_error, page_error, FormError, PageHeader};
use crate::model::{
    ago, format_time, Binding, RevealedToken, RotationGrace, Scope, ScopeGroup, TokenStatus,
    TokenView, TokensPage,
};

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let rotate = ServerAction::<RotateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let page = Resource::new_blocking(
        move || {
            (
                create.version().get(),
                rotate.version().get(),
                revoke.version().get(),
            )
        },
        |_| get_tokens(),
    );
    // The newest token in plaintext lives only in this page's memory: a reload forgets it.
    let revealed = Signal::derive(move || {
        let created = create.value().get().and_then(Result::ok);
        let rotated = rotate.value().get().and_then(Result::ok);
        match (
            create.version().get() >= rotate.version().get(),
            created,
            rotated,
        ) {
            (true, Some(t), _) | (false, _, Some(t)) => Some(t),
            (_, created, rotated) => created.or(rotated),
        }
    });
    view! {
        <PageHeader title="Tokens" lead="Scoped access tokens for MCP clients and scripts. A token is shown once, when it is created."/>
        {move || revealed.get().map(|t| view! { <Reveal token=t/> })}
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

#[component]
fn Reveal(token: RevealedToken) -> impl IntoView {
    let url = token.public_url.clone();
    let claude = format!(
        "claude mcp add --transport http tollgate {url}/mcp --header \"Authorization: Bearer ${{TOLLGATE_TOKEN}}\""
    );
    let mcp_json = format!(
        "{{\n  \"mcpServers\": {{\n    \"tollgate\": {{\n      \"type\": \"http\",\n      \"url\": \"{url}/mcp\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{TOLLGATE_TOKEN}}\" }}\n    }}\n  }}\n}}"
    );
    let curl = format!(
        "curl -X POST {url}/v1/tools/list_workspaces \\\n  -H \"Authorization: Bearer $TOLLGATE_TOKEN\" \\\n  -H \"Content-Type: application/json\" -d '{{}}'"
    );
    let copied = RwSignal::new(false);
    let secret = token.token.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&secret);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &secret;
    };
    view! {
        <section class="card reveal" aria-labelledby="reveal-title">
            <h2 id="reveal-title">{format!("Your new token “{}”", token.label)}</h2>
            <p class="notice notice-warn" role="status">
                "Copy it now: it will not be shown again. Tollgate keeps only a fingerprint of it."
            </p>
            <div class="copy-row">
                <input class="copy-field" readonly value=token.token.clone() aria-label="New token" data-testid="new-token"/>
                <button type="button" class="button-primary" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <p class="hint">
                "Store it as " <code>"TOLLGATE_TOKEN"</code>
                " in your shell or secret manager; these snippets read it from there, so the token never lands in a config file."
            </p>
            <h3>"Claude Code"</h3>
            <pre class="snippet" data-testid="snippet-claude">{claude}</pre>
            <h3>".mcp.json"</h3>
            <pre class="snippet">{mcp_json}</pre>
            <h3>"curl"</h3>
            <pre class="snippet">{curl}</pre>
        </section>
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

#[component]
fn CreateForm(page: TokensPage, create: ServerAction<CreateToken>) -> impl IntoView {
    let role = page.my_role;
    let admin = role.is_admin();
    let remaining = move |n: Option<i64>| match n {
        None => "no limit on this plan".to_string(),
        Some(n) => format!("{n} more can be active"),
    };
    let groups = [ScopeGroup::Read, ScopeGroup::Sensitive, ScopeGroup::Write];
    view! {
        <section class="card">
            <h2>"Create a token"</h2>
            <ActionForm action=create attr:class="stack" attr:aria-label="Create token">
                <label>
                    "Label"
                    <input name="label" required maxlength="60" placeholder="e.g. claude-code-laptop"/>
                    <span class="hint">"Name it after the client or agent that will use it."</span>
                </label>
                <fieldset class="scopes-picker">
                    <legend>"Scopes"</legend>
                    {groups
                        .into_iter()
                        .map(|group| view! {
                            <div class="scope-group">
                                <p class="scope-group-title">{group.label()}</p>
                                {Scope::ALL
                                    .into_iter()
                                    .enumerate()
                                    .filter(|(_, s)| s.group() == group)
                                    .map(|(i, s)| {
                                        let allowed = s.grantable_by(role);
                                        view! {
                                            <label class="check">
                                                <input
                                                    type="checkbox"
                                                    name=format!("scopes[{i}]")
                                                    value=s.as_str()
                                                    checked=s.is_default()
                                                    disabled=!allowed
                                                />
                                                <span>
                                                    <code>{s.as_str()}</code>
                                                    {s.mark().map(|m| view! { <span class="mark">{m}</span> })}
                                                    <br/>
                                                    <span class="hint">{s.grants()}</span>
                                                    {(!allowed).then(|| view! { <span class="hint">" (admins and owners only)"</span> })}
                                                </span>
                                            </label>
                                        }
                                    })
                                    .collect_view()}
                            </div>
                        })
                        .collect_view()}
                </fieldset>
                <fieldset>
                    <legend>"Reach"</legend>
                    <label class="check">
                        <input type="radio" name="binding" value="user" checked=true/>
                        <span>
                            "Personal: every workspace of every organization you belong to"
                            <br/>
                            <span class="hint">{format!("Checked at each call: leaving an organization cuts it off. {}.", remaining(page.personal_remaining))}</span>
                        </span>
                    </label>
                    {admin.then(|| view! {
                        <label class="check">
                            <input type="radio" name="binding" value="organization"/>
                            <span>
                                "This organization: all of its workspaces"
                                <br/>
                                <span class="hint">{format!("Organization tokens: {}.", remaining(page.organization_remaining))}</span>
                            </span>
                        </label>
                        <label class="check">
                            <input type="radio" name="binding" value="workspace"/>
                            <span>"One workspace: "</span>
                            <select name="workspace_id" aria-label="Workspace">
                                {page.workspaces.iter().map(|(id, name)| view! { <option value=id.to_string()>{name.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    })}
                </fieldset>
                <div class="inline-form">
                    <label>
                        "Expires"
                        <select name="expiry">
                            <option value="none">"Never"</option>
                            <option value="7">"In 7 days"</option>
                            <option value="30">"In 30 days"</option>
                            <option value="90" selected=true>"In 90 days"</option>
                            <option value="date">"On a date…"</option>
                        </select>
                    </label>
                    <label>"Date (if chosen)" <input type="date" name="expiry_date"/></label>
                </div>
                <FormError message=action_error(create)/>
                <button type="submit" class="button-primary">"Create token"</button>
            </ActionForm>
        </section>
    }
}
