//! Settings › Organization, Workspaces, Members.

mod members;
mod workspaces;

use leptos::prelude::*;

use crate::api::auth::CreateOrganization;
use crate::api::organizations::{get_organization, UpdateOrganization};
use crate::components::{
    action_error, action_succeeded, grouping, successes, FormError, Loaded, PageHeader, Renewed,
};
use crate::model::{format_time, OrgSettings, RotationGrace};
pub use members::MembersSettings;
pub use workspaces::WorkspacesSettings;

#[component]
pub fn OrganizationSettings() -> impl IntoView {
    let update = ServerAction::<UpdateOrganization>::new();
    let create = ServerAction::<CreateOrganization>::new();
    // Reloaded after a success only: a refusal leaves every field as it was typed.
    let updated = successes(update);
    let settings = Resource::new_blocking(move || updated.get(), |_| get_organization());
    view! {
        <PageHeader title="Organization" lead="Your organization's name, plan and token defaults."/>
        <Loaded data=settings view=move |s: OrgSettings| {
                let disabled = !s.can_edit;
                view! {
                    <section class="card">
                        <dl class="facts">
                            <div><dt>"Plan"</dt><dd class="plan">{s.plan.label()}</dd></div>
                            <div><dt>"Credits"</dt><dd>{grouping().count(s.credit_balance)}</dd></div>
                            <div><dt>"Created"</dt><dd>{format_time(s.created_at)}</dd></div>
                        </dl>
                    </section>
                    <section class="card">
                        <h2>"Details"</h2>
                        <ActionForm action=update attr:class="stack">
                            <label>"Name" <input name="name" value=s.name.clone() required maxlength="80" disabled=disabled/></label>
                            <label>
                                "Default grace when a token is rotated"
                                <select name="default_rotation_grace" disabled=disabled>
                                    {RotationGrace::ALL
                                        .into_iter()
                                        .map(|g| view! {
                                            <option value=g.as_str() selected=g == s.default_rotation_grace>{g.label()}</option>
                                        })
                                        .collect_view()}
                                </select>
                                <span class="hint">"How long the old token keeps working beside its successor."</span>
                            </label>
                            <FormError message=action_error(update)/>
                            {move || action_succeeded(update).get().then(|| view! { <p class="notice notice-ok" role="status">"Saved."</p> })}
                            {if disabled {
                                view! { <p class="hint">"Only admins and owners can change these settings."</p> }.into_any()
                            } else {
                                view! { <button type="submit" class="button-primary">"Save"</button> }.into_any()
                            }}
                        </ActionForm>
                    </section>
                }
                .into_any()
            }/>
        <section class="card">
            <h2>"Another organization"</h2>
            <p class="hint">"Each organization has its own plan, workspaces, members and tokens. You become its owner."</p>
            <Renewed done=successes(create)>
                <ActionForm action=create attr:class="inline-form">
                    <label class="grow">"Name" <input name="name" required maxlength="80"/></label>
                    <button type="submit">"Create organization"</button>
                </ActionForm>
            </Renewed>
            <FormError message=action_error(create)/>
        </section>
    }
}
