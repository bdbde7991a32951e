//! OAuth's dashboard side: the consent page's request, and Developer › Connected apps (whose
//! Revoke is the tokens' `revoke_token`: a grant is a token).

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{ConnectedAppsPage, ConsentRequest};

/// The request behind consent page `id`, with what the signed-in user may grant in their
/// active organization. Signed out: `SignInRequired` (the page sends them to sign in).
#[server]
pub async fn get_consent(id: String) -> Result<ConsentRequest, AppError> {
    use crate::services::{accounts, oauth, organizations, workspaces};

    let ctx = super::context::RequestContext::current()?;
    super::tokens::no_store();
    let now = crate::storage::now_ms();
    let actor = ctx.actor().await?;
    let pending = oauth::pending(ctx.db(), &id, now).await?;
    let email = accounts::email_of(ctx.db(), actor.user_id)
        .await?
        .unwrap_or_default();
    let organization = organizations::settings(ctx.db(), &actor).await?.name;
    let workspaces = match actor.role.is_admin() {
        true => workspaces::workspaces(ctx.db(), &actor)
            .await?
            .workspaces
            .into_iter()
            .map(|w| (w.id, w.name))
            .collect(),
        false => Vec::new(),
    };
    Ok(ConsentRequest {
        id,
        client_name: pending.client.name.clone(),
        client_host: pending
            .client
            .from_document
            .then(|| oauth::host_of(&pending.client.id)),
        redirect_host: oauth::host_of(&pending.redirect_uri),
        loopback_only: oauth::all_loopback(&pending.client.redirect_uris),
        scopes: pending.scopes,
        email,
        organization,
        role: actor.role,
        workspaces,
        now,
    })
}

#[server]
pub async fn get_connected_apps() -> Result<ConnectedAppsPage, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let now = crate::storage::now_ms();
    let actor = ctx.actor().await?;
    Ok(ConnectedAppsPage {
        apps: crate::services::oauth::connected_apps(ctx.db(), &actor, now).await?,
        now,
    })
}
