//! Discovery tools: they need a valid token and no scope.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{parse_args, ToolCall, ToolFuture};
use crate::model::Binding;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWorkspacesArgs {}

pub fn list_workspaces(call: ToolCall) -> ToolFuture {
    Box::pin(async move {
        let _: ListWorkspacesArgs = parse_args(&call.args)?;
        let token = &call.token;
        // Personal tokens reach the workspaces of the organizations the user belongs to now.
        let rows: Vec<(i64, String, i64, i64, String)> = match token.binding {
            Binding::User => sqlx::query_as(
                "SELECT w.id, w.name, w.write_back_enabled, o.id, o.name FROM workspaces w \
                 JOIN organizations o ON o.id = w.org_id JOIN memberships m ON m.org_id = o.id \
                 WHERE m.user_id = $1 ORDER BY o.name, w.name",
            )
            .bind(token.user_id.unwrap_or_default())
            .fetch_all(&call.db.pool)
            .await?,
            Binding::Organization | Binding::Workspace => sqlx::query_as(
                "SELECT w.id, w.name, w.write_back_enabled, o.id, o.name FROM workspaces w \
                 JOIN organizations o ON o.id = w.org_id WHERE o.id = $1 AND ($2 = 0 OR w.id = $2) ORDER BY w.name",
            )
            .bind(token.org_id)
            .bind(token.workspace_id.unwrap_or_default())
            .fetch_all(&call.db.pool)
            .await?,
        };
        let workspaces: Vec<_> = rows
            .into_iter()
            .map(|(id, name, write_back, org_id, org_name)| {
                json!({
                    "id": id,
                    "name": name,
                    "write_back_enabled": write_back != 0,
                    "organization": { "id": org_id, "name": org_name },
                })
            })
            .collect();
        Ok(json!({ "workspaces": workspaces }))
    })
}
