//! Sign-up, sign-in, sign-out, the session's view of the user, and organization switching.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::SessionInfo;

#[server]
pub async fn get_session() -> Result<Option<SessionInfo>, AppError> {
    use crate::services::{accounts, organizations};

    let ctx = super::context::RequestContext::current()?;
    let Some(user_id) = ctx.user_id().await? else {
        return Ok(None);
    };
    let Some(email) = accounts::email_of(ctx.db(), user_id).await? else {
        // The account is gone: end the session instead of showing a half-signed-in page.
        ctx.sign_out().await?;
        return Ok(None);
    };
    let active_id = ctx.active_org(user_id).await?;
    let orgs = organizations::orgs_of_user(ctx.db(), user_id).await?;
    let active = orgs.iter().find(|o| Some(o.id) == active_id).cloned();
    Ok(Some(SessionInfo {
        user_id,
        email,
        orgs,
        active,
        grouping: ctx.grouping,
    }))
}

/// Where a sign-in may send the browser back to: only a consent page of this server (an open
/// redirect would make the sign-in page a phishing tool).
#[cfg(feature = "ssr")]
fn return_path(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.strip_prefix("/consent/")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

#[server]
pub async fn sign_up(
    email: String,
    password: String,
    invite: Option<String>,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    use crate::services::{accounts, invites, organizations, throttle};
    use crate::storage::now_ms;

    let ctx = super::context::RequestContext::current()?;
    let now = now_ms();
    let per_ip = throttle::sign_up_by_ip(&ctx.ip, ctx.state.config.sign_ups_per_ip);
    let _attempt = throttle::reserve(ctx.db(), &[per_ip], now).await?;
    let user_id = accounts::create_user(ctx.db(), &email, &password, now).await?;
    // Through an invite for this email the user joins that organization; otherwise (or when
    // the invite cannot be used) they start their own.
    let joined = match invite.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => invites::accept(ctx.db(), code, user_id, Some(&ctx.ip), now)
            .await
            .ok(),
        None => None,
    };
    let org_id = match joined {
        Some(org_id) => org_id,
        None => {
            let name = format!(
                "{}'s organization",
                email.trim().split('@').next().unwrap_or("My")
            );
            organizations::create_organization(ctx.db(), user_id, &name, now).await?
        }
    };
    ctx.sign_in(user_id, Some(org_id)).await?;
    leptos_axum::redirect(return_path(next.as_deref()).unwrap_or("/tokens"));
    Ok(())
}

#[server]
pub async fn sign_in(
    email: String,
    password: String,
    invite: Option<String>,
    #[server(default)] next: Option<String>,
) -> Result<(), AppError> {
    use crate::services::accounts;
    use crate::storage::now_ms;

    let ctx = super::context::RequestContext::current()?;
    let user_id = accounts::authenticate(ctx.db(), &email, &password, &ctx.ip, now_ms()).await?;
    ctx.sign_in(user_id, None).await?;
    match invite.filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric())) {
        Some(code) => leptos_axum::redirect(&format!("/invite/{code}")),
        None => leptos_axum::redirect(return_path(next.as_deref()).unwrap_or("/tokens")),
    }
    Ok(())
}

#[server]
pub async fn sign_out() -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    ctx.sign_out().await?;
    leptos_axum::redirect("/signin");
    Ok(())
}

#[server]
pub async fn switch_organization(org_id: i64) -> Result<(), AppError> {
    use crate::services::organizations;

    let ctx = super::context::RequestContext::current()?;
    let user_id = ctx.require_user().await?;
    organizations::actor(ctx.db(), user_id, org_id).await?;
    ctx.set_active_org(org_id).await?;
    leptos_axum::redirect("/tokens");
    Ok(())
}

#[server]
pub async fn create_organization(name: String) -> Result<(), AppError> {
    use crate::services::organizations;
    use crate::storage::now_ms;

    let ctx = super::context::RequestContext::current()?;
    let user_id = ctx.require_user().await?;
    let max_owned = ctx.state.config.max_owned_organizations;
    let org_id =
        organizations::create_another(ctx.db(), user_id, &name, max_owned, now_ms()).await?;
    ctx.set_active_org(org_id).await?;
    leptos_axum::redirect("/settings/organization");
    Ok(())
}
