//! Billing: the plan and credit grants (owners).

use leptos::prelude::*;

use crate::error::AppError;

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

/// Returns the new balance.
#[server]
pub async fn grant_credits(amount: i64, #[server(default)] note: String) -> Result<i64, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let actor = ctx.actor().await?;
    Ok(crate::services::billing::grant_credits(
        ctx.db(),
        &actor,
        amount,
        &note,
        Some(&ctx.ip),
        crate::storage::now_ms(),
    )
    .await?)
}
