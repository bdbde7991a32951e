//! The enforcement pipeline of spec §6, one for both surfaces (`/mcp` and `/v1/tools`):
//! authenticate, resolve and check the target, check the scope, run, meter.

mod error;
pub mod last_used;

pub use error::ToolError;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::model::Binding;
use crate::services::audit::{self, AuditEntry};
use crate::services::tokens::{self, VerifiedToken, VerifyError};
use crate::state::AppState;
use crate::storage::now_ms;
use crate::tools::{self, Target, ToolCall, ToolSpec};

/// An authenticated caller: the verified token and the client it says it is.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: VerifiedToken,
    pub client: Option<String>,
}

/// Step 1: `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ToolError> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(ToolError::MissingToken)?;
    if values.next().is_some() {
        return Err(ToolError::InvalidToken(
            "more than one Authorization header".into(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ToolError::InvalidToken("the header is not ASCII".into()))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ToolError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ToolError::MissingToken);
    }
    let token = tokens::verify(&state.db, token.trim(), state.config.environment, now_ms())
        .await
        .map_err(|e| match e {
            VerifyError::Database(e) => ToolError::from(e),
            other => ToolError::InvalidToken(other.to_string()),
        })?;
    let client = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(80).collect());
    Ok(Caller { token, client })
}

/// Steps 2, 3 and 8 for one call of `name` with `args`.
pub async fn call(
    state: &AppState,
    caller: &Caller,
    name: &str,
    args: Value,
) -> Result<Value, ToolError> {
    let tool = tools::find(name).ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
    let args = match args {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => args,
        _ => {
            return Err(ToolError::InvalidParameter(
                "arguments must be a JSON object".into(),
            ))
        }
    };
    let db = &state.db;
    let now = now_ms();
    state
        .last_used
        .record(caller.token.id, now, caller.client.clone());

    let (org_id, workspace_id) = resolve_target(state, &caller.token, tool, &args).await?;
    if let Some(scope) = tool.scope {
        if !caller.token.scopes.contains(&scope) {
            let subject = format!("{} needs {}", tool.name, scope.as_str());
            let entry = AuditEntry {
                org_id: caller.token.org_id,
                actor_user_id: None,
                action: "token.scope_denied",
                subject: &subject,
                ip: None,
                token_id: Some(caller.token.id),
            };
            audit::record(&db.pool, entry, now).await?;
            return Err(ToolError::MissingScope(scope.as_str()));
        }
    }

    if tool.write_back {
        let enabled = match workspace_id {
            Some(ws) => crate::services::write_back::is_enabled(db, ws).await?,
            None => false,
        };
        if !enabled {
            return Err(ToolError::WriteBackDisabled);
        }
    }

    let call = ToolCall {
        db: db.clone(),
        token: caller.token.clone(),
        org_id,
        workspace_id,
        args,
    };
    let result = (tool.handler)(call).await?;

    // Only successful calls are metered, against the organization the call acted on.
    let metered_org = org_id.unwrap_or(caller.token.org_id);
    sqlx::query(
        "INSERT INTO usage_events (org_id, workspace_id, token_id, tool, units, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(metered_org)
    .bind(workspace_id)
    .bind(caller.token.id)
    .bind(tool.name)
    .bind(tool.units)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(result)
}

/// Step 2: the organization (and workspace) a call acts on, checked against the token's
/// binding and, for personal tokens, against the user's membership now.
async fn resolve_target(
    state: &AppState,
    token: &VerifiedToken,
    tool: &ToolSpec,
    args: &Value,
) -> Result<(Option<i64>, Option<i64>), ToolError> {
    if tool.target == Target::None {
        return Ok((None, None));
    }
    let workspace_id = tools::workspace_arg(args)?.or(token.workspace_id);
    let Some(workspace_id) = workspace_id else {
        return match token.binding {
            Binding::Organization if tool.target == Target::Organization => Ok((Some(token.org_id), None)),
            _ => Err(ToolError::InvalidParameter(
                "workspace_id is required: call list_workspaces to see the workspaces this token reaches".into(),
            )),
        };
    };
    let row: Option<(i64,)> = sqlx::query_as("SELECT org_id FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some((org_id,)) = row else {
        return Err(ToolError::WorkspaceNotAccessible(workspace_id));
    };
    let reachable = match token.binding {
        Binding::Workspace => token.workspace_id == Some(workspace_id),
        Binding::Organization => token.org_id == org_id,
        Binding::User => {
            let user_id = token.user_id.unwrap_or_default();
            crate::services::organizations::role_in(&state.db, org_id, user_id)
                .await?
                .is_some()
        }
    };
    if reachable {
        Ok((Some(org_id), Some(workspace_id)))
    } else {
        Err(ToolError::WorkspaceNotAccessible(workspace_id))
    }
}
