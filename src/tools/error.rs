//! The errors of the enforcement pipeline (spec §6) and their one mapping to HTTP statuses
//! and JSON shapes, shared by `/mcp` and `/v1`.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::model::Role;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error(
        "workspace {0} does not belong to this organization or is not reachable with this token"
    )]
    WorkspaceNotAccessible(i64),
    #[error("this key is bound to profile {pinned}: name that profile or none, and use tools about one profile")]
    ProfileNotAccessible { pinned: i64 },
    #[error("{}", missing_scope_message(scope, *.limited_by))]
    MissingScope {
        scope: &'static str,
        /// Set when the token holds the scope but its user's role in the target organization
        /// may not use it (spec §3).
        limited_by: Option<Role>,
    },
    #[error("write-back is disabled for this workspace: an admin can enable it in Settings › Workspaces")]
    WriteBackDisabled,
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    InvalidDateRange(String),
    #[error("rate limited: retry after {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error("{}", quota_message(*.resets_at))]
    QuotaExceeded { resets_at: Option<i64>, now: i64 },
    #[error("insufficient credits: requires {required}, available {available}")]
    InsufficientCredits { required: i64, available: i64 },
    #[error("idempotency conflict: this idempotency key was used with other arguments in the last 24 hours")]
    IdempotencyConflict,
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("send the arguments as JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the server is busy: retry in a moment")]
    Overloaded,
    #[error("internal error")]
    Internal,
}

fn missing_scope_message(scope: &str, limited_by: Option<Role>) -> String {
    match limited_by {
        None => format!("missing scope: {scope} is needed for this tool"),
        Some(role) => format!(
            "missing scope: {scope} is needed for this tool; the token holds it, but its user is \
             a {} of this organization, and a {} may use read scopes only",
            role.as_str(),
            role.as_str()
        ),
    }
}

fn quota_message(resets_at: Option<i64>) -> String {
    match resets_at {
        Some(at) => format!(
            "quota exceeded: the plan's units for this period are used up; they reset at {}",
            crate::model::format_time(at)
        ),
        None => "quota exceeded: the trial's units are used up or the trial has ended; an owner can choose a plan in the dashboard".into(),
    }
}

impl ToolError {
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::MissingToken => "missing_token",
            ToolError::InvalidToken(_) => "invalid_token",
            ToolError::WorkspaceNotAccessible(_) | ToolError::ProfileNotAccessible { .. } => {
                "workspace_not_accessible"
            }
            ToolError::MissingScope { .. } => "missing_scope",
            ToolError::WriteBackDisabled => "write_back_disabled",
            ToolError::InvalidParameter(_) => "invalid_parameter",
            ToolError::InvalidDateRange(_) => "invalid_date_range",
            ToolError::RateLimited { .. } => "rate_limited",
            ToolError::QuotaExceeded { .. } => "quota_exceeded",
            ToolError::InsufficientCredits { .. } => "insufficient_credits",
            ToolError::IdempotencyConflict => "idempotency_conflict",
            ToolError::UnknownTool(_) => "unknown_tool",
            ToolError::PayloadTooLarge { .. } => "payload_too_large",
            ToolError::UnsupportedMediaType => "unsupported_media_type",
            ToolError::Overloaded => "overloaded",
            ToolError::Internal => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ToolError::MissingToken | ToolError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ToolError::WorkspaceNotAccessible(_)
            | ToolError::ProfileNotAccessible { .. }
            | ToolError::MissingScope { .. }
            | ToolError::WriteBackDisabled => StatusCode::FORBIDDEN,
            ToolError::InvalidParameter(_) | ToolError::InvalidDateRange(_) => {
                StatusCode::BAD_REQUEST
            }
            ToolError::RateLimited { .. } | ToolError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ToolError::InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
            ToolError::IdempotencyConflict => StatusCode::CONFLICT,
            ToolError::UnknownTool(_) => StatusCode::NOT_FOUND,
            ToolError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ToolError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ToolError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ToolError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `{"code", "message", ...}`: the `error` object of both surfaces.
    pub fn body(&self) -> Value {
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        match self {
            ToolError::MissingScope { scope, limited_by } => {
                body["required_scope"] = json!(scope);
                if let Some(role) = limited_by {
                    body["role"] = json!(role.as_str());
                }
            }
            ToolError::InsufficientCredits {
                required,
                available,
            } => {
                body["required"] = json!(required);
                body["available"] = json!(available);
            }
            ToolError::RateLimited { retry_after } => {
                body["retry_after"] = json!(retry_after);
                body["retryable"] = json!(true);
            }
            ToolError::Overloaded => {
                body["retry_after"] = json!(1);
                body["retryable"] = json!(true);
            }
            ToolError::QuotaExceeded { resets_at, .. } => {
                body["resets_at"] = json!(resets_at);
                body["retryable"] = json!(resets_at.is_some());
                if let Some(seconds) = self.retry_after() {
                    body["retry_after"] = json!(seconds);
                }
            }
            _ => {}
        }
        body
    }

    /// Seconds a client should wait before trying again, where waiting helps.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            ToolError::RateLimited { retry_after } => Some(*retry_after),
            ToolError::Overloaded => Some(1),
            ToolError::QuotaExceeded {
                resets_at: Some(at),
                now,
            } => Some(crate::model::seconds_until(*at, *now)),
            _ => None,
        }
    }

    /// The `/v1` response body: the error object with its status and the request id.
    pub fn http_body(&self, request_id: &str) -> Value {
        let mut error = self.body();
        error["status"] = json!(self.status().as_u16());
        error["request_id"] = json!(request_id);
        json!({ "error": error })
    }
}

impl From<sqlx::Error> for ToolError {
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "database error in a tool call");
        ToolError::Internal
    }
}

impl From<crate::model::DateRangeError> for ToolError {
    fn from(err: crate::model::DateRangeError) -> Self {
        ToolError::InvalidDateRange(err.0)
    }
}

/// A service's refusal of the call's input reaches the client as `invalid_parameter` with the
/// service's sentence; anything else is the server's fault.
impl From<crate::services::ServiceError> for ToolError {
    fn from(err: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match err {
            ServiceError::Invalid(m) | ServiceError::NotFound(m) | ServiceError::Conflict(m) => {
                ToolError::InvalidParameter(m)
            }
            other => {
                tracing::error!(error = %other, "service error in a tool call");
                ToolError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ToolError;
    use crate::services::ServiceError;

    #[test]
    fn a_services_refusal_of_input_is_the_clients_error_not_the_servers() {
        let refused = ToolError::from(ServiceError::NotFound("No such job here.".into()));
        assert_eq!(refused.code(), "invalid_parameter");
        assert!(refused.to_string().contains("No such job here."));
        let failed = ToolError::from(ServiceError::Hashing("x".into()));
        assert_eq!(failed.code(), "internal_error");
    }
}
