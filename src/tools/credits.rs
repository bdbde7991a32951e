//! Credit tools.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::ToolError;
use super::{parse_args, ToolCall, ToolFuture};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckCreditsArgs {}

pub fn check_credits(call: ToolCall) -> ToolFuture {
    Box::pin(async move {
        let _: CheckCreditsArgs = parse_args(&call.args)?;
        let org_id = call.org_id.ok_or(ToolError::Internal)?;
        let (balance,): (i64,) =
            sqlx::query_as("SELECT credit_balance FROM organizations WHERE id = $1")
                .bind(org_id)
                .fetch_one(&call.db.pool)
                .await?;
        let ledger: Vec<(String, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT kind, amount, balance_after, note, created_at FROM credit_ledger \
             WHERE org_id = $1 ORDER BY id DESC LIMIT 20",
        )
        .bind(org_id)
        .fetch_all(&call.db.pool)
        .await?;
        let ledger: Vec<_> = ledger
            .into_iter()
            .map(|(kind, amount, balance_after, note, at)| {
                json!({ "kind": kind, "amount": amount, "balance_after": balance_after, "note": note, "at": at })
            })
            .collect();
        Ok(json!({ "organization_id": org_id, "balance": balance, "ledger": ledger }))
    })
}
