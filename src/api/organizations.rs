//! Members, invites, workspaces and organization settings.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{InviteDetails, MembersPage, OrgSettings, WorkspacesPage};

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<crate::model::Role, AppError> {
    crate::model::Role::parse(role)
        .ok_or_else(|| AppError::Invalid("Choose owner, admin or member.".into()))
}

#[server]
pub async fn get_members() -> Result<MembersPage, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::members::members_page(
        ctx.db(),
        &actor,
        &ctx.state.config.public_url,
        crate::storage::now_ms(),
    )
    .await?)
}

/// Creates the invite and sends the admin to the members page showing its link.
#[server]
pub async fn invite_member(email: String, role: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    let role = parse_role(&role)?;
    let invite = crate::services::invites::create(
        ctx.db(),
        &actor,
        &email,
        role,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?;
    leptos_axum::redirect(&format!("/settings/members?invite={}", invite.code));
    Ok(())
}

/// Returns the invited address.
#[server]
pub async fn revoke_invite(invite_id: i64) -> Result<String, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::invites::revoke(
        ctx.db(),
        &actor,
        invite_id,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

/// Returns the member's address.
#[server]
pub async fn change_member_role(user_id: i64, role: String) -> Result<String, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    let role = parse_role(&role)?;
    Ok(crate::services::members::change_role(
        ctx.db(),
        &actor,
        user_id,
        role,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

/// Returns the removed member's address.
#[server]
pub async fn remove_member(user_id: i64) -> Result<String, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    let email = crate::services::members::remove_member(
        ctx.db(),
        &actor,
        user_id,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?;
    if user_id == actor.user_id {
        leptos_axum::redirect("/tokens");
    }
    Ok(email)
}

#[server]
pub async fn get_workspaces() -> Result<WorkspacesPage, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::workspaces::workspaces(ctx.db(), &actor).await?)
}

#[server]
pub async fn create_workspace(name: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    crate::services::workspaces::create_workspace(
        ctx.db(),
        &actor,
        &name,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?;
    Ok(())
}

#[server]
pub async fn rename_workspace(workspace_id: i64, name: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::workspaces::rename_workspace(
        ctx.db(),
        &actor,
        workspace_id,
        &name,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

#[server]
pub async fn get_organization() -> Result<OrgSettings, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::organizations::settings(ctx.db(), &actor).await?)
}

#[server]
pub async fn update_organization(
    name: String,
    default_rotation_grace: String,
) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    let grace = crate::model::RotationGrace::parse(&default_rotation_grace)
        .ok_or_else(|| AppError::Invalid("Choose a rotation grace period from the list.".into()))?;
    Ok(crate::services::organizations::update_settings(
        ctx.db(),
        &actor,
        &name,
        grace,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

#[server]
pub async fn get_invite(code: String) -> Result<InviteDetails, AppError> {
    let ctx = super::context::RequestContext::current()?;
    Ok(crate::services::invites::details(ctx.db(), &code, crate::storage::now_ms()).await?)
}

#[server]
pub async fn accept_invite(code: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let user_id = ctx.require_user().await?;
    let org_id = crate::services::invites::accept(
        ctx.db(),
        &code,
        user_id,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?;
    ctx.set_active_org(org_id).await?;
    leptos_axum::redirect("/tokens");
    Ok(())
}

/// `enabled` is the checkbox: present ("on") when ticked. An empty `secret` keeps the current one.
#[server]
pub async fn configure_write_back(
    workspace_id: i64,
    #[server(default)] enabled: Option<String>,
    url: String,
    #[server(default)] secret: String,
) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    let settings = crate::services::write_back::Settings {
        enabled: enabled.is_some(),
        url: &url,
        secret: &secret,
    };
    Ok(crate::services::write_back::configure(
        ctx.db(),
        &actor,
        workspace_id,
        settings,
        &ctx.state.config.outbound_allow,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

/// Sends a workspace's failed write-back events again; returns how many.
#[server]
pub async fn redeliver_write_back(workspace_id: i64) -> Result<u64, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::write_back::redeliver_failed(
        ctx.db(),
        &actor,
        workspace_id,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}
