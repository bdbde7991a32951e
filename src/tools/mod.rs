//! The tool registry: every tool described once (name, description, input schema, scope,
//! units, limits, annotations) next to its handler. `/mcp` and `/v1/tools` both read it.

mod credits;
mod discovery;

use std::future::Future;
use std::pin::Pin;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::enforcement::ToolError;
use crate::model::Scope;
use crate::services::tokens::VerifiedToken;
use crate::storage::Db;

/// Which workspace a tool acts on, resolved and checked by the pipeline before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Discovery: the tool sees what the token can reach and nothing else.
    None,
    /// An organization: from `workspace_id` when given, else the token's own organization.
    Organization,
}

/// What a handler receives: the checked token, the resolved organization, the arguments.
pub struct ToolCall {
    pub db: Db,
    pub token: VerifiedToken,
    pub org_id: Option<i64>,
    pub args: Value,
}

pub type ToolFuture = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send>>;

pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub scope: Option<Scope>,
    /// Units charged against the allowance (and the per-minute cap) on success.
    pub units: i64,
    pub target: Target,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub input_schema: fn() -> Value,
    pub handler: fn(ToolCall) -> ToolFuture,
}

pub static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "list_workspaces",
        title: "List workspaces",
        description: "Lists the workspaces this token can reach, with their organization. Free.",
        scope: None,
        units: 0,
        target: Target::None,
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: schema::<discovery::ListWorkspacesArgs>,
        handler: discovery::list_workspaces,
    },
    ToolSpec {
        name: "check_credits",
        title: "Check credits",
        description: "Shows the organization's credit balance and its latest ledger entries (grants, charges, refunds). Free.",
        scope: Some(Scope::CreditsRead),
        units: 0,
        target: Target::Organization,
        read_only: true,
        destructive: false,
        idempotent: true,
        input_schema: schema::<credits::CheckCreditsArgs>,
        handler: credits::check_credits,
    },
];

pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default()
}

/// Decodes a tool's arguments, naming the field that is wrong.
pub fn parse_args<T: DeserializeOwned>(args: &Value) -> Result<T, ToolError> {
    serde_json::from_value(args.clone()).map_err(|e| ToolError::InvalidParameter(format!("invalid arguments: {e}")))
}

/// The optional `workspace_id` every workspace-aware tool accepts.
pub fn workspace_arg(args: &Value) -> Result<Option<i64>, ToolError> {
    match args.get("workspace_id") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ToolError::InvalidParameter("workspace_id must be an integer".into())),
    }
}
