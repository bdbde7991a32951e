//! Tokens: list, one token, create, rotate, revoke.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{RevealedToken, TokenDetail, TokensPage};

/// A new token can only be shown by the enhanced page: a plain form post would create it and
/// then lose it in the redirect, so it is refused before anything is created.
#[cfg(feature = "ssr")]
fn require_script(ctx: &super::context::RequestContext) -> Result<(), AppError> {
    if ctx.plain_form_post {
        return Err(AppError::Invalid(
            "Creating or rotating a token needs JavaScript, so that the new token can be shown to you once. \
             Nothing was created: enable JavaScript for this site and try again."
                .into(),
        ));
    }
    Ok(())
}

/// A response that carries a token in plaintext (or a consent request) must never be stored by
/// a cache or the browser.
#[cfg(feature = "ssr")]
pub(super) fn no_store() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
}

#[server]
pub async fn get_tokens() -> Result<TokensPage, AppError> {
    use crate::services::{organizations, tokens};
    let ctx = super::context::RequestContext::current()?;
    let now = crate::storage::now_ms();
    let actor = ctx.actor().await?;
    let (personal_remaining, organization_remaining) =
        tokens::remaining(ctx.db(), &actor, now).await?;
    let workspaces = crate::services::workspaces::workspaces(ctx.db(), &actor).await?;
    // API keys for one profile are an admin's to make.
    let mut profiles = Vec::new();
    if actor.role.is_admin() {
        for w in &workspaces.workspaces {
            for p in crate::services::analytics::profiles(ctx.db(), w.id).await? {
                profiles.push((p.id, format!("{} ({})", p.name, w.name)));
            }
        }
    }
    let settings = organizations::settings(ctx.db(), &actor).await?;
    Ok(TokensPage {
        my_role: actor.role,
        now,
        tokens: tokens::list(ctx.db(), &actor, now).await?,
        workspaces: workspaces
            .workspaces
            .into_iter()
            .map(|w| (w.id, w.name))
            .collect(),
        profiles,
        personal_remaining,
        organization_remaining: actor
            .role
            .is_admin()
            .then_some(organization_remaining)
            .flatten(),
        default_grace: settings.default_rotation_grace,
        public_url: ctx.state.config.public_url.clone(),
    })
}

/// One token's page: the token, its usage this period and (admins) its audit events.
#[server]
pub async fn get_token(token_id: i64) -> Result<TokenDetail, AppError> {
    use crate::services::{audit, tokens, usage};
    let ctx = super::context::RequestContext::current()?;
    let now = crate::storage::now_ms();
    let actor = ctx.actor().await?;
    let token = tokens::one(ctx.db(), &actor, token_id, now).await?;
    let (period_start, usage) = usage::of_token(ctx.db(), &actor, token_id, now).await?;
    let events = match actor.role.is_admin() {
        true => Some(
            audit::page(
                ctx.db(),
                &actor,
                crate::model::AuditFilter::token(token_id),
                None,
            )
            .await?,
        ),
        false => None,
    };
    Ok(TokenDetail {
        token,
        now,
        period_start,
        usage,
        events,
    })
}

/// `reach` is `user`, `organization` or `workspace:<id>`; `expiry` is `none`, a number of days
/// (`7`, `30`, `90`) or `date` with `expiry_date` (YYYY-MM-DD).
#[server]
pub async fn create_token(
    label: String,
    #[server(default)] scopes: Vec<String>,
    reach: String,
    expiry: String,
    #[server(default)] expiry_date: Option<String>,
) -> Result<RevealedToken, AppError> {
    use crate::model::{chosen_expiry, Reach, Scope};
    use crate::services::tokens::{self, NewToken};

    no_store();
    let ctx = super::context::RequestContext::current()?;
    require_script(&ctx)?;
    let now = crate::storage::now_ms();
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| AppError::Invalid(format!("Unknown scope {s}."))))
        .collect::<Result<Vec<_>, _>>()?;
    let reach = Reach::parse(&reach)
        .ok_or_else(|| AppError::Invalid("Choose what the token can reach.".into()))?;
    let expires_at =
        chosen_expiry(&expiry, expiry_date.as_deref(), now).map_err(AppError::Invalid)?;
    let actor = ctx.actor().await?;
    let new = NewToken {
        label,
        scopes,
        binding: reach.binding(),
        workspace_id: reach.workspace_id(),
        profile_id: reach.profile_id(),
        expires_at,
    };
    let issued = tokens::create(
        ctx.db(),
        &actor,
        ctx.state.config.environment,
        new,
        Some(&ctx.ip),
        now,
    )
    .await?;
    Ok(RevealedToken {
        token: issued.token,
        label: issued.label,
        public_url: ctx.state.config.public_url.clone(),
    })
}

#[server]
pub async fn rotate_token(token_id: i64, grace: String) -> Result<RevealedToken, AppError> {
    use crate::model::RotationGrace;
    use crate::services::tokens;

    no_store();
    let ctx = super::context::RequestContext::current()?;
    require_script(&ctx)?;
    let grace = RotationGrace::parse(&grace)
        .ok_or_else(|| AppError::Invalid("Choose when the old token stops.".into()))?;
    let actor = ctx.actor().await?;
    let now = crate::storage::now_ms();
    let issued = tokens::rotate(
        ctx.db(),
        &actor,
        token_id,
        grace,
        ctx.state.config.environment,
        Some(&ctx.ip),
        now,
    )
    .await?;
    Ok(RevealedToken {
        token: issued.token,
        label: issued.label,
        public_url: ctx.state.config.public_url.clone(),
    })
}

/// Returns the revoked token's label, for the page to say what it did.
#[server]
pub async fn revoke_token(token_id: i64) -> Result<String, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::tokens::revoke(
        ctx.db(),
        &actor,
        token_id,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}
