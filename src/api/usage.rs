//! The Usage page's data.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::UsagePage;

#[server]
pub async fn get_usage() -> Result<UsagePage, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::usage::usage_page(ctx.db(), &actor, crate::storage::now_ms()).await?)
}

#[server]
pub async fn change_plan(plan: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::billing::change_plan(
        ctx.db(),
        &actor,
        &plan,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}

#[server]
pub async fn grant_credits(amount: i64, #[server(default)] note: String) -> Result<(), AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    crate::services::billing::grant_credits(
        ctx.db(),
        &actor,
        amount,
        &note,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?;
    Ok(())
}
