//! The audit log: a page at a time for the dashboard, or all of it as CSV.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::AuditPage;
#[cfg(feature = "ssr")]
use crate::model::{AuditAction, AuditFilter};

/// `token` and `action` filter (either may be absent); `before` is the event id a page of
/// older events starts below.
#[server]
pub async fn get_audit_log(
    token: Option<i64>,
    action: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    let ctx = super::context::RequestContext::current()?;
    let filter = filter(token, action.as_deref())?;
    let actor = ctx.actor().await?;
    Ok(crate::services::audit::page(ctx.db(), &actor, filter, before).await?)
}

#[cfg(feature = "ssr")]
fn filter(token: Option<i64>, action: Option<&str>) -> Result<AuditFilter, AppError> {
    let action = match action.filter(|a| !a.is_empty()) {
        None => None,
        Some(name) => Some(AuditAction::parse(name).ok_or_else(|| {
            AppError::Invalid(format!("There is no event “{name}” to filter by."))
        })?),
    };
    Ok(AuditFilter {
        token_id: token,
        action,
    })
}

/// `GET /audit.csv?token=…&action=…`: the log (or the filtered part of it) as a download, for
/// admins of the session's organization.
#[cfg(feature = "ssr")]
pub async fn export_csv(
    parts: axum::http::request::Parts,
    axum::extract::Query(query): axum::extract::Query<CsvQuery>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    let csv = async {
        let ctx = super::context::RequestContext::of(&parts)?;
        let filter = filter(query.token, query.action.as_deref())?;
        let actor = ctx.actor().await?;
        Ok::<_, AppError>(crate::services::audit::export_csv(ctx.db(), &actor, filter).await?)
    };
    match csv.await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"tollgate-audit.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                e.to_string(),
            )
                .into_response()
        }
    }
}

#[cfg(feature = "ssr")]
#[derive(serde::Deserialize)]
pub struct CsvQuery {
    token: Option<i64>,
    action: Option<String>,
}
