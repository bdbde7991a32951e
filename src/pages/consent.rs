//! The OAuth consent page (`/consent/:id`, where `/authorize` sends the browser) and the page
//! for requests that cannot be answered (`/authorize/failed`). The decision is a plain form
//! post to `/consent` (`http::oauth::decide`): it works without JavaScript.

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::oauth::get_consent;
use crate::components::{page_error, AuthCard, ReachOptions, ScopeLabel};
use crate::error::AppError;
use crate::model::{ConsentRequest, Reach};

#[component]
pub fn ConsentPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let request = Resource::new_blocking(id, get_consent);
    view! {
        <AuthCard title="Connect an app">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match request.await {
                        Ok(request) => {
                            let refused = query.read_untracked().get("refused");
                            view! { <ConsentForm request refused/> }.into_any()
                        }
                        // Signed out: sign in (or up), then come back here.
                        Err(AppError::SignInRequired) => {
                            view! { <Redirect path=format!("/signin?next=/consent/{}", id())/> }.into_any()
                        }
                        Err(e) => page_error(e),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

/// Why the last decision was refused, in words (the link says only which).
fn refusal(code: &str) -> &'static str {
    match code {
        "not_allowed" => "Your role in this organization cannot grant one of the chosen scopes or that reach. Ask an admin, or choose less.",
        "cap" => "The plan's limit of active tokens is reached for that reach. Revoke a token or a connected app you no longer use, then approve again.",
        "no_scope" => "Choose at least one scope.",
        _ => "Choose a reach, the scopes and when the access ends.",
    }
}

#[component]
fn ConsentForm(request: ConsentRequest, refused: Option<String>) -> impl IntoView {
    let admin = request.role.is_admin();
    // One decision per request: a second click would be refused ("ended") and its page could
    // take the place of the first one's, which carries the code back to the app.
    let sent = RwSignal::new(false);
    let once = move |ev: leptos::ev::SubmitEvent| {
        if sent.get_untracked() {
            ev.prevent_default();
        }
        sent.set(true);
    };
    let reaches = Reach::choices(admin, &request.workspaces);
    let name = request.client_name.clone();
    view! {
        <h1>{format!("Connect {name}?")}</h1>
        <p>
            <strong>{name.clone()}</strong>" asks to use Tollgate as "<strong>{request.email.clone()}</strong>
            " in "<strong>{request.organization.clone()}</strong>"."
        </p>
        <dl class="consent-facts">
            <dt>"After your answer you go to"</dt>
            <dd><code>{request.redirect_host.clone()}</code></dd>
            {request.client_host.clone().map(|host| view! {
                <dt>"The app is described by"</dt>
                <dd><code>{host}</code></dd>
            })}
        </dl>
        {request.loopback_only.then(|| view! {
            <p class="notice notice-warn">
                "This app runs on your own computer, and any program there could have given itself this name. Approve only if you have just asked an app to connect."
            </p>
        })}
        {refused.map(|code| view! { <p class="notice notice-error" role="alert">{refusal(&code)}</p> })}
        <form method="post" action="/consent" class="stack" aria-label="Approve access" on:submit=once>
            <input type="hidden" name="id" value=request.id.clone()/>
            <label>
                "Reach"
                <select name="reach">
                    <ReachOptions reaches=reaches.clone()/>
                </select>
            </label>
            <fieldset class="scopes-picker">
                <legend>"Scopes"</legend>
                <p class="hint">"The app asked for these. Sensitive and write scopes stay off unless you tick them."</p>
                {request
                    .scopes
                    .iter()
                    .map(|&s| {
                        let allowed = s.grantable_by(request.role);
                        view! {
                            <label class="check">
                                <input type="checkbox" name="scope" value=s.as_str() checked=s.is_default() && allowed disabled=!allowed/>
                                <ScopeLabel scope=s allowed/>
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <label>
                "Access ends"
                <select name="expiry">
                    <option value="7">"In 7 days"</option>
                    <option value="30">"In 30 days"</option>
                    <option value="90" selected=true>"In 90 days"</option>
                    <option value="none">"Never (until revoked)"</option>
                </select>
                <span class="hint">"The app's tokens last an hour and it renews them until then. Revoke it any time in Developer › Connected apps."</span>
            </label>
            <div class="consent-actions">
                <button type="submit" name="decision" value="approve" class="button-primary">"Approve"</button>
                <button type="submit" name="decision" value="deny" class="button-quiet">"Deny"</button>
            </div>
        </form>
    }
}

#[component]
pub fn AuthorizeFailedPage() -> impl IntoView {
    let query = use_query_map();
    let reason = move || query.read().get("reason").unwrap_or_default();
    let explained = move || {
        match reason().as_str() {
        "unknown_client" => "The app is not registered here (registrations unused for a day are removed). Connect again from the app: it registers itself anew.",
        "client_document" => "The app's description could not be fetched or is not valid (its address, size, format or redirect addresses). Try again later, or tell the app's makers.",
        "missing_client_id" | "missing_redirect_uri" | "repeated_parameter" | "too_long" => "The app sent an incomplete or malformed request.",
        "unregistered_redirect_uri" => "The app asked to send you to an address it did not register. Nothing was sent there.",
        _ => "This authorization request has ended (they last 10 minutes and are answered once). Go back to the app and connect again.",
    }
    };
    view! {
        <AuthCard title="Cannot connect the app">
            <h1>"Cannot connect the app"</h1>
            <p class="notice notice-error" role="alert">{explained}</p>
            <p><a href="/tokens">"Go to the dashboard"</a></p>
        </AuthCard>
    }
}
