//! Discovery tools: they need a valid token and no scope.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolCall, ToolFuture};
use crate::services::workspaces;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWorkspacesArgs {}

pub fn list_workspaces(call: ToolCall, _: ListWorkspacesArgs) -> ToolFuture {
    Box::pin(async move {
        let workspaces: Vec<_> = workspaces::reachable(&call.db, &call.token)
            .await?
            .into_iter()
            .map(|w| {
                json!({
                    "id": w.id,
                    "name": w.name,
                    "write_back_enabled": w.write_back_enabled != 0,
                    "organization": { "id": w.org_id, "name": w.org_name },
                })
            })
            .collect();
        Ok(json!({ "workspaces": workspaces }))
    })
}
