//! The signed-in frame: top bar with the organization switcher, navigation, and the page.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::{Outlet, Redirect, A};

use crate::api::auth::{get_session, SignOut, SwitchOrganization};
use crate::error::AppError;
use crate::model::SessionInfo;

#[component]
pub fn DashboardLayout() -> impl IntoView {
    let info = Resource::new_blocking(|| (), |_| get_session());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(Some(info)) => view! { <Frame info/> }.into_any(),
                    Ok(None) | Err(AppError::SignInRequired) => view! { <Redirect path="/signin"/> }.into_any(),
                    Err(e) => crate::components::page_error(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Frame(info: SessionInfo) -> impl IntoView {
    // The pages below read these: how to group thousands, and the organization they act in.
    provide_context(info.grouping);
    if let Some(active) = info.active.clone() {
        provide_context(active);
    }
    let has_org = info.active.is_some();
    let is_admin = info.active.as_ref().is_some_and(|o| o.role.is_admin());
    let is_owner = info
        .active
        .as_ref()
        .is_some_and(|o| o.role == crate::model::Role::Owner);
    view! {
        <div class="frame">
            <header class="topbar">
                <a class="brand" href="/tokens">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    "Tollgate"
                </a>
                <OrgSwitcher info=info.clone()/>
                <div class="account">
                    <span class="account-email" title=format!("Signed in as {}", info.email)>{info.email.clone()}</span>
                    // A plain form: signing out reloads the page wherever it is sent from.
                    <form method="post" action=SignOut::PATH class="inline">
                        <button type="submit" class="button-quiet">"Sign out"</button>
                    </form>
                </div>
            </header>
            <div class="body">
                <nav class="sidenav" aria-label="Dashboard">
                    <p class="nav-group">"Developer"</p>
                    <A href="/tokens">"Tokens"</A>
                    <A href="/connected-apps">"Connected apps"</A>
                    <A href="/usage">"Usage"</A>
                    {is_admin.then(|| view! { <A href="/audit">"Audit log"</A> })}
                    <p class="nav-group">"Settings"</p>
                    <A href="/settings/organization">"Organization"</A>
                    <A href="/settings/workspaces">"Workspaces"</A>
                    <A href="/settings/members">"Members"</A>
                    {is_owner.then(|| view! { <A href="/settings/billing">"Billing"</A> })}
                </nav>
                <main class="content">
                    {if has_org {
                        view! { <Outlet/> }.into_any()
                    } else {
                        view! { <NoOrganization/> }.into_any()
                    }}
                </main>
            </div>
        </div>
    }
}

#[component]
fn OrgSwitcher(info: SessionInfo) -> impl IntoView {
    let active_id = info.active.as_ref().map(|o| o.id);
    let form = NodeRef::<leptos::html::Form>::new();
    // With scripts, choosing switches at once; the button is for the page without them.
    let scripted = RwSignal::new(false);
    Effect::new(move |_| scripted.set(true));
    // Switching reloads the whole dashboard for the other organization, so it is a plain post.
    view! {
        <form method="post" action=SwitchOrganization::PATH class="org-switcher" node_ref=form>
            <label for="org-switcher-select" class="visually-hidden">"Organization"</label>
            <select
                id="org-switcher-select"
                name="org_id"
                on:change=move |_| {
                    if let Some(form) = form.get() {
                        let _ = form.request_submit();
                    }
                }
            >
                {info
                    .orgs
                    .into_iter()
                    .map(|org| {
                        view! {
                            <option value=org.id.to_string() selected=Some(org.id) == active_id>
                                {format!("{} ({})", org.name, org.role.label().to_lowercase())}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            {move || (!scripted.get()).then(|| view! { <button type="submit" class="button-quiet">"Switch"</button> })}
        </form>
    }
}

#[component]
fn NoOrganization() -> impl IntoView {
    let create = ServerAction::<crate::api::auth::CreateOrganization>::new();
    view! {
        <crate::components::PageHeader
            title="No organization"
            lead="You are not a member of any organization. Create one, or ask an admin for an invite link."
        />
        <section class="card">
            <ActionForm action=create attr:class="stack">
                <label>"Organization name" <input name="name" required maxlength="80"/></label>
                <crate::components::FormError message=crate::components::action_error(create)/>
                <button type="submit">"Create organization"</button>
            </ActionForm>
        </section>
    }
}
