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
