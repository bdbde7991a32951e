//! Settings › Workspaces: create and rename them; configure each one's write-back in a dialog
//! (`?write_back=<id>`).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::organizations::{
    get_workspaces, ConfigureWriteBack, CreateWorkspace, RedeliverWriteBack, RenameWorkspace,
};
use crate::components::dialog::{leave_on_success, DialogCancel, Leaving, UrlDialog};
use crate::components::{
    action_error, announce, successes, FormError, Loaded, PageHeader, Renewed, StatusLine,
};
use crate::model::{format_time, WorkspaceView, WorkspacesPage, WriteBackView};

const HERE: &str = "/settings/workspaces";

#[component]
pub fn WorkspacesSettings() -> impl IntoView {
    let create = ServerAction::<CreateWorkspace>::new();
    let rename = ServerAction::<RenameWorkspace>::new();
    let configure = ServerAction::<ConfigureWriteBack>::new();
    let redeliver = ServerAction::<RedeliverWriteBack>::new();
    let status = RwSignal::new(None::<String>);
    announce(create, status, |input, _| {
        format!("Workspace “{}” created.", input.name.trim())
    });
    announce(rename, status, |input, _| {
        format!("Renamed to “{}”.", input.name.trim())
    });
    announce(configure, status, |input, _| {
        let state = if input.enabled.is_some() { "on" } else { "off" };
        format!("Write-back settings saved: write-back is {state}.")
    });
    announce(redeliver, status, |_, n| {
        format!("{n} failed events will be sent again.")
    });
    let (created, renamed) = (successes(create), successes(rename));
    let (configured, redelivered) = (successes(configure), successes(redeliver));
    let configure_done = leave_on_success(configured, || HERE);
    // Reloaded after a success only: a refusal leaves every field as it was typed.
    let page = Resource::new_blocking(
        move || {
            (
                created.get(),
                renamed.get(),
                configured.get(),
                redelivered.get(),
            )
        },
        |_| get_workspaces(),
    );
    let query = use_query_map();
    view! {
        <PageHeader title="Workspaces" lead="Data tenants inside your organization: each has its own profiles and data."/>
        <StatusLine status/>
        <Loaded data=page view=move |p: WorkspacesPage| {
                let can_manage = p.can_manage;
                let workspaces = p.workspaces.clone();
                view! {
                    {move || {
                        let id = query.read().get("write_back")?.parse::<i64>().ok()?;
                        let w = workspaces.iter().find(|w| w.id == id).cloned()?;
                        can_manage.then(|| view! { <WriteBackDialog w configure done=configure_done/> })
                    }}
                    <section class="card">
                        <table class="table stack-on-phone">
                            <thead><tr><th>"Name"</th><th>"Created"</th><th>"Write-back"</th></tr></thead>
                            <tbody>
                                {p.workspaces
                                    .into_iter()
                                    .map(|w| view! {
                                        <tr>
                                            <td data-label="Name">
                                                {if can_manage {
                                                    view! {
                                                        <ActionForm action=rename attr:class="inline-form">
                                                            <input type="hidden" name="workspace_id" value=w.id.to_string()/>
                                                            <input name="name" value=w.name.clone() required maxlength="60" aria-label=format!("Name of {}", w.name)/>
                                                            <button type="submit" class="button-quiet">"Rename"</button>
                                                        </ActionForm>
                                                    }
                                                    .into_any()
                                                } else {
                                                    view! { <span>{w.name.clone()}</span> }.into_any()
                                                }}
                                            </td>
                                            <td data-label="Created">{format_time(w.created_at)}</td>
                                            <td data-label="Write-back"><WriteBackCell workspace_id=w.id write_back=w.write_back.clone() can_manage redeliver/></td>
                                        </tr>
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                        <FormError message=action_error(rename)/>
                        <FormError message=action_error(redeliver)/>
                    </section>
                    {can_manage.then(|| view! {
                        <section class="card">
                            <h2>"New workspace"</h2>
                            <Renewed done=created>
                            <ActionForm action=create attr:class="inline-form" attr:aria-label="New workspace">
                                <label class="grow">"Name" <input name="name" required maxlength="60"/></label>
                                <button type="submit" class="button-primary">"Create workspace"</button>
                            </ActionForm>
                            </Renewed>
                            <FormError message=action_error(create)/>
                        </section>
                    })}
                }
                .into_any()
            }/>
    }
}

#[component]
fn WriteBackCell(
    workspace_id: i64,
    write_back: WriteBackView,
    can_manage: bool,
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
            " " <a class="button-quiet" href=format!("{HERE}?write_back={workspace_id}") data-noscroll="true">"Configure"</a>
        })}
    }
}

#[component]
fn WriteBackDialog(
    w: WorkspaceView,
    configure: ServerAction<ConfigureWriteBack>,
    done: Leaving,
) -> impl IntoView {
    let write_back = w.write_back;
    view! {
        <UrlDialog title=format!("Write-back for {}", w.name) close_href=HERE done>
            <ActionForm action=configure attr:class="dialog-form write-back-form">
                <input type="hidden" name="workspace_id" value=w.id.to_string()/>
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
                <FormError message=action_error(configure)/>
                <div class="dialog-actions">
                    <DialogCancel/>
                    <button type="submit" class="button-primary">"Save write-back"</button>
                </div>
            </ActionForm>
        </UrlDialog>
    }
}
