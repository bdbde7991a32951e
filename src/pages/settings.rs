//! Settings › Organization, Workspaces, Members.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::auth::CreateOrganization;
use crate::api::organizations::{
    get_members, get_organization, get_workspaces, ChangeMemberRole, ConfigureWriteBack,
    CreateWorkspace, InviteMember, RedeliverWriteBack, RemoveMember, RenameWorkspace, RevokeInvite,
    UpdateOrganization,
};
use crate::components::{action_error, action_succeeded, page_error, FormError, PageHeader};
use crate::model::{format_time, MemberView, Role, RotationGrace, WriteBackView};

#[component]
pub fn OrganizationSettings() -> impl IntoView {
    let update = ServerAction::<UpdateOrganization>::new();
    let create = ServerAction::<CreateOrganization>::new();
    let settings = Resource::new_blocking(move || update.version().get(), |_| get_organization());
    view! {
        <PageHeader title="Organization" lead="Your organization's name, plan and token defaults."/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(e) => page_error(e),
                    Ok(s) => {
                        let disabled = !s.can_edit;
                        view! {
                            <section class="card">
                                <dl class="facts">
                                    <div><dt>"Plan"</dt><dd class="plan">{s.plan.label()}</dd></div>
                                    <div><dt>"Credits"</dt><dd>{s.credit_balance}</dd></div>
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
                    }
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Another organization"</h2>
            <p class="hint">"Each organization has its own plan, workspaces, members and tokens. You become its owner."</p>
            <ActionForm action=create attr:class="inline-form">
                <label class="grow">"Name" <input name="name" required maxlength="80"/></label>
                <button type="submit">"Create organization"</button>
            </ActionForm>
            <FormError message=action_error(create)/>
        </section>
    }
}

#[component]
pub fn WorkspacesSettings() -> impl IntoView {
    let create = ServerAction::<CreateWorkspace>::new();
    let rename = ServerAction::<RenameWorkspace>::new();
    let configure = ServerAction::<ConfigureWriteBack>::new();
    let redeliver = ServerAction::<RedeliverWriteBack>::new();
    let page = Resource::new_blocking(
        move || {
            (
                create.version().get(),
                rename.version().get(),
                configure.version().get(),
                redeliver.version().get(),
            )
        },
        |_| get_workspaces(),
    );
    view! {
        <PageHeader title="Workspaces" lead="Data tenants inside your organization: each has its own profiles and data."/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => page_error(e),
                    Ok(p) => {
                        let can_manage = p.can_manage;
                        view! {
                            <section class="card">
                                <table class="table">
                                    <thead><tr><th>"Name"</th><th>"Created"</th><th>"Write-back"</th></tr></thead>
                                    <tbody>
                                        {p.workspaces
                                            .into_iter()
                                            .map(|w| view! {
                                                <tr>
                                                    <td>
                                                        {if can_manage {
                                                            view! {
                                                                <ActionForm action=rename attr:class="inline-form">
                                                                    <input type="hidden" name="workspace_id" value=w.id.to_string()/>
                                                                    <input name="name" value=w.name.clone() required maxlength="60" aria-label="Workspace name"/>
                                                                    <button type="submit" class="button-quiet">"Rename"</button>
                                                                </ActionForm>
                                                            }
                                                            .into_any()
                                                        } else {
                                                            view! { <span>{w.name.clone()}</span> }.into_any()
                                                        }}
                                                    </td>
                                                    <td>{format_time(w.created_at)}</td>
                                                    <td><WriteBackCell workspace_id=w.id write_back=w.write_back.clone() can_manage configure redeliver/></td>
                                                </tr>
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <FormError message=action_error(rename)/>
                                <FormError message=action_error(configure)/>
                                <FormError message=action_error(redeliver)/>
                            </section>
                            {can_manage.then(|| view! {
                                <section class="card">
                                    <h2>"New workspace"</h2>
                                    <ActionForm action=create attr:class="inline-form">
                                        <label class="grow">"Name" <input name="name" required maxlength="60"/></label>
                                        <button type="submit" class="button-primary">"Create workspace"</button>
                                    </ActionForm>
                                    <FormError message=action_error(create)/>
                                </section>
                            })}
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn WriteBackCell(
    workspace_id: i64,
    write_back: WriteBackView,
    can_manage: bool,
    configure: ServerAction<ConfigureWriteBack>,
    redeliver: ServerAction<RedeliverWriteBack>,
) -> impl IntoView {
    let summary = format!(
        "{} · {} delivered, {} pending, {} failed",
        if write_back.enabled { "On" } else { "Off" },
        write_back.delivered,
        write_back.pending,
        write_back.failed
    );
    view! {
        <span class="write-back-status" data-testid=format!("write-back-{workspace_id}")>{summary}</span>
        {write_back.last_error.clone().map(|e| view! { <br/><span class="hint">{format!("Last error: {e}")}</span> })}
        {(can_manage && write_back.failed > 0).then(|| view! {
            <ActionForm action=redeliver attr:class="inline-form">
                <input type="hidden" name="workspace_id" value=workspace_id.to_string()/>
                <button type="submit" class="button-quiet">"Redeliver failed events"</button>
            </ActionForm>
        })}
        {can_manage.then(|| view! {
            <details class="confirm">
                <summary class="button-quiet">"Configure"</summary>
                <ActionForm action=configure attr:class="confirm-body write-back-form">
                    <input type="hidden" name="workspace_id" value=workspace_id.to_string()/>
                    <label class="check">
                        <input type="checkbox" name="enabled" value="on" checked=write_back.enabled/>
                        <span>"Send conversions to this endpoint"</span>
                    </label>
                    <label>"Endpoint URL" <input type="url" name="url" value=write_back.url.clone().unwrap_or_default() placeholder="https://…"/></label>
                    <label>
                        "Signing secret"
                        <input
                            type="password"
                            name="secret"
                            autocomplete="off"
                            placeholder=if write_back.secret_set { "set: leave empty to keep" } else { "at least 16 characters" }
                        />
                        <span class="hint">"Deliveries carry X-Tollgate-Signature: sha256=HMAC(secret, timestamp.body)."</span>
                    </label>
                    <button type="submit" class="button-primary">"Save write-back"</button>
                </ActionForm>
            </details>
        })}
    }
}

#[component]
pub fn MembersSettings() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let withdraw = ServerAction::<RevokeInvite>::new();
    let page = Resource::new_blocking(
        move || {
            (
                invite.version().get(),
                change.version().get(),
                remove.version().get(),
                withdraw.version().get(),
            )
        },
        |_| get_members(),
    );
    let query = use_query_map();
    let new_invite = move || query.read().get("invite").filter(|c| !c.is_empty());
    view! {
        <PageHeader title="Members" lead="Who belongs to this organization, and what they may do."/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => page_error(e),
                    Ok(p) => {
                        let admin = p.my_role.is_admin();
                        let my_role = p.my_role;
                        let public_url = p.public_url.clone();
                        view! {
                            {new_invite().map(|code| {
                                let link = format!("{public_url}/invite/{code}");
                                view! {
                                    <section class="card notice-ok invite-created" role="status">
                                        <h2>"Invite link created"</h2>
                                        <p>"No email is sent: pass this link on. It works once, for the invited address, for 7 days."</p>
                                        <input class="copy-field" readonly value=link.clone() aria-label="Invite link" data-testid="invite-link"/>
                                    </section>
                                }
                            })}
                            <section class="card">
                                <table class="table">
                                    <thead><tr><th>"Member"</th><th>"Role"</th><th>"Joined"</th><th></th></tr></thead>
                                    <tbody>
                                        {p.members
                                            .into_iter()
                                            .map(|m| view! { <MemberRow member=m admin my_role change remove/> })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <FormError message=action_error(change)/>
                                <FormError message=action_error(remove)/>
                            </section>
                            {admin.then(|| view! {
                                <section class="card">
                                    <h2>"Invite someone"</h2>
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
                                    <FormError message=action_error(invite)/>
                                </section>
                            })}
                            {(admin && !p.invites.is_empty()).then(|| view! {
                                <section class="card">
                                    <h2>"Open invitations"</h2>
                                    <table class="table">
                                        <thead><tr><th>"Email"</th><th>"Role"</th><th>"Invited by"</th><th>"Expires"</th><th></th></tr></thead>
                                        <tbody>
                                            {p.invites
                                                .into_iter()
                                                .map(|i| view! {
                                                    <tr>
                                                        <td>{i.email}</td>
                                                        <td>{i.role.label()}</td>
                                                        <td>{i.invited_by}</td>
                                                        <td>{format_time(i.expires_at)}</td>
                                                        <td>
                                                            <ActionForm action=withdraw>
                                                                <input type="hidden" name="invite_id" value=i.id.to_string()/>
                                                                <button type="submit" class="button-quiet">"Withdraw"</button>
                                                            </ActionForm>
                                                        </td>
                                                    </tr>
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                    <FormError message=action_error(withdraw)/>
                                </section>
                            })}
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
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
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let user_id = member.user_id.to_string();
    let remove_user_id = user_id.clone();
    let email = member.email.clone();
    let role_label = format!("Role of {}", member.email);
    let can_edit = admin && (member.role != Role::Owner || my_role == Role::Owner);
    let can_remove = member.is_me || can_edit;
    view! {
        <tr data-email=email>
            <td>
                <span class="member-email">{member.email}</span>
                {member.is_me.then(|| view! { <span class="badge">"you"</span> })}
            </td>
            <td>
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
            <td>{format_time(member.joined_at)}</td>
            <td class="actions">
                {can_remove.then(|| view! {
                    // <details> asks for confirmation without any JavaScript.
                    <details class="confirm">
                        <summary class="button-quiet danger">{if member.is_me { "Leave" } else { "Remove" }}</summary>
                        <ActionForm action=remove attr:class="confirm-body">
                            <input type="hidden" name="user_id" value=remove_user_id.clone()/>
                            <span>{if member.is_me { "Leave this organization?" } else { "Remove this member? Their personal tokens stop working here at once." }}</span>
                            <button type="submit" class="button-danger">{if member.is_me { "Yes, leave" } else { "Yes, remove" }}</button>
                        </ActionForm>
                    </details>
                })}
            </td>
        </tr>
    }
}
