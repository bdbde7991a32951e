//! Settings › Members: who belongs, their roles, invites. Removing someone and withdrawing
//! an invite ask first, in dialogs addressed by the page's URL (`?remove=<user>`,
//! `?withdraw=<invite>`).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::organizations::{
    get_members, ChangeMemberRole, InviteMember, RemoveMember, RevokeInvite,
};
use crate::components::dialog::{leave_on_success, DialogCancel, Leaving, UrlDialog};
use crate::components::{
    action_error, announce, successes, CopyButton, FormError, Loaded, PageHeader, Renewed,
    StatusLine,
};
use crate::model::{format_time, MemberView, MembersPage, Role};

const HERE: &str = "/settings/members";

#[component]
pub fn MembersSettings() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let withdraw = ServerAction::<RevokeInvite>::new();
    let status = RwSignal::new(None::<String>);
    announce(change, status, |input, email| {
        let role = Role::parse(&input.role).map_or("", |r| r.label());
        format!("{email} is now {}.", role.to_lowercase())
    });
    announce(remove, status, |_, email| {
        format!("{email} no longer belongs to this organization.")
    });
    announce(withdraw, status, |_, email| {
        format!("The invitation of {email} is withdrawn: its link no longer works.")
    });
    let (invited, changed) = (successes(invite), successes(change));
    let (removed, withdrawn) = (successes(remove), successes(withdraw));
    let (remove_done, withdraw_done) = (
        leave_on_success(removed, || HERE),
        leave_on_success(withdrawn, || HERE),
    );
    // Reloaded after a success only: a refusal leaves every field as it was chosen.
    let page = Resource::new_blocking(
        move || (invited.get(), changed.get(), removed.get(), withdrawn.get()),
        |_| get_members(),
    );
    let query = use_query_map();
    let new_invite = move || query.read().get("invite").filter(|c| !c.is_empty());
    view! {
        <PageHeader title="Members" lead="Who belongs to this organization, and what they may do."/>
        <StatusLine status/>
        <Loaded data=page view=move |p: MembersPage| {
                let admin = p.my_role.is_admin();
                let my_role = p.my_role;
                let public_url = p.public_url.clone();
                let listed = p.clone();
                view! {
                    {move || dialog(&listed, query.read().get("remove"), query.read().get("withdraw"), remove, withdraw, remove_done, withdraw_done)}
                    {new_invite().map(|code| {
                        let link = format!("{public_url}/invite/{code}");
                        view! {
                            <section class="card notice-ok invite-created" role="status">
                                <h2>"Invite link created"</h2>
                                <p>"No email is sent: pass this link on. It works once, for the invited address, for 7 days."</p>
                                <div class="copy-row">
                                    <input class="copy-field" readonly value=link.clone() aria-label="Invite link" data-testid="invite-link"/>
                                    <CopyButton text=link label="Copy link"/>
                                </div>
                            </section>
                        }
                    })}
                    <section class="card">
                        <table class="table stack-on-phone">
                            <thead><tr><th>"Member"</th><th>"Role"</th><th>"Joined"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {p.members
                                    .into_iter()
                                    .map(|m| view! { <MemberRow member=m admin my_role change/> })
                                    .collect_view()}
                            </tbody>
                        </table>
                        <FormError message=action_error(change)/>
                    </section>
                    {admin.then(|| view! {
                        <section class="card">
                            <h2>"Invite someone"</h2>
                            <Renewed done=invited>
                            <ActionForm action=invite attr:class="inline-form" attr:aria-label="Invite">
                                <label class="grow">"Email" <input type="email" name="email" required/></label>
                                <label>
                                    "Role"
                                    <select name="role">
                                        {role_options(my_role, Role::Member)}
                                    </select>
                                </label>
                                <button type="submit" class="button-primary">"Create invite link"</button>
                            </ActionForm>
                            </Renewed>
                            <FormError message=action_error(invite)/>
                        </section>
                    })}
                    {(admin && !p.invites.is_empty()).then(|| view! {
                        <section class="card">
                            <h2>"Open invitations"</h2>
                            <table class="table stack-on-phone">
                                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Invited by"</th><th>"Expires"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {p.invites
                                        .into_iter()
                                        .map(|i| view! {
                                            <tr data-email=i.email.clone()>
                                                <td data-label="Email">{i.email.clone()}</td>
                                                <td data-label="Role">{i.role.label()}</td>
                                                <td data-label="Invited by">{i.invited_by}</td>
                                                <td data-label="Expires">{format_time(i.expires_at)}</td>
                                                <td class="actions">
                                                    <a class="button-quiet danger" href=format!("{HERE}?withdraw={}", i.id) data-noscroll="true">"Withdraw"</a>
                                                </td>
                                            </tr>
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </section>
                    })}
                }
                .into_any()
            }/>
    }
}

/// The dialog the page's URL asks for, if the member or invite it names is still there.
fn dialog(
    page: &MembersPage,
    remove_id: Option<String>,
    withdraw_id: Option<String>,
    remove: ServerAction<RemoveMember>,
    withdraw: ServerAction<RevokeInvite>,
    removed: Leaving,
    withdrawn: Leaving,
) -> Option<AnyView> {
    let id = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
    let member =
        id(remove_id).and_then(|id| page.members.iter().find(|m| m.user_id == id).cloned());
    if let Some(m) = member {
        let (title, text, button) = if m.is_me {
            (
                "Leave this organization?".to_string(),
                "You lose access to its workspaces, and your personal tokens stop working here at once.".to_string(),
                "Leave",
            )
        } else {
            (
                format!("Remove {}?", m.email),
                format!("{} loses access at once, and their personal tokens stop working here. Tokens they made for the organization keep working.", m.email),
                "Remove member",
            )
        };
        return Some(
            view! {
                <UrlDialog title close_href=HERE done=removed>
                    <p>{text}</p>
                    <ActionForm action=remove attr:class="dialog-form">
                        <input type="hidden" name="user_id" value=m.user_id.to_string()/>
                        <FormError message=action_error(remove)/>
                        <div class="dialog-actions">
                            <DialogCancel/>
                            <button type="submit" class="button-danger">{button}</button>
                        </div>
                    </ActionForm>
                </UrlDialog>
            }
            .into_any(),
        );
    }
    let i = id(withdraw_id).and_then(|id| page.invites.iter().find(|i| i.id == id).cloned())?;
    Some(view! {
        <UrlDialog title=format!("Withdraw the invitation of {}?", i.email) close_href=HERE done=withdrawn>
            <p>"The link stops working at once. You can invite the address again later."</p>
            <ActionForm action=withdraw attr:class="dialog-form">
                <input type="hidden" name="invite_id" value=i.id.to_string()/>
                <FormError message=action_error(withdraw)/>
                <div class="dialog-actions">
                    <DialogCancel/>
                    <button type="submit" class="button-danger">"Withdraw invitation"</button>
                </div>
            </ActionForm>
        </UrlDialog>
    }.into_any())
}

/// The roles `my_role` may hand out: only owners make owners.
fn role_options(my_role: Role, selected: Role) -> impl IntoView {
    Role::ALL
        .into_iter()
        .filter(move |r| *r != Role::Owner || my_role == Role::Owner || selected == Role::Owner)
        .map(
            move |r| view! { <option value=r.as_str() selected=r == selected>{r.label()}</option> },
        )
        .collect_view()
}

#[component]
fn MemberRow(
    member: MemberView,
    admin: bool,
    my_role: Role,
    change: ServerAction<ChangeMemberRole>,
) -> impl IntoView {
    let user_id = member.user_id.to_string();
    let remove_href = format!("{HERE}?remove={user_id}");
    let email = member.email.clone();
    let role_label = format!("Role of {}", member.email);
    let can_edit = admin && (member.role != Role::Owner || my_role == Role::Owner);
    let can_remove = member.is_me || can_edit;
    view! {
        <tr data-email=email>
            <td data-label="Member">
                <span class="member-email">{member.email}</span>
                {member.is_me.then(|| view! { <span class="badge">"you"</span> })}
            </td>
            <td data-label="Role">
                {if can_edit {
                    view! {
                        <ActionForm action=change attr:class="inline-form">
                            <input type="hidden" name="user_id" value=user_id.clone()/>
                            <select name="role" aria-label=role_label>
                                {role_options(my_role, member.role)}
                            </select>
                            <button type="submit" class="button-quiet">"Change role"</button>
                        </ActionForm>
                    }
                    .into_any()
                } else {
                    view! { <span class="role">{member.role.label()}</span> }.into_any()
                }}
            </td>
            <td data-label="Joined">{format_time(member.joined_at)}</td>
            <td class="actions">
                {can_remove.then(|| view! {
                    <a class="button-quiet danger" href=remove_href.clone() data-noscroll="true">
                        {if member.is_me { "Leave" } else { "Remove" }}
                    </a>
                })}
            </td>
        </tr>
    }
}
