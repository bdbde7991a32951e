//! Credit tools.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{ToolCall, ToolFuture};
use crate::services::credits;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckCreditsArgs {}

pub fn check_credits(call: ToolCall, _: CheckCreditsArgs) -> ToolFuture {
    Box::pin(async move {
        let org_id = call.organization()?;
        let balance = credits::current_balance(&call.db, org_id).await?;
        let ledger: Vec<_> = credits::latest_entries(&call.db, org_id)
            .await?
            .into_iter()
            .map(|e| {
                json!({ "kind": e.kind, "amount": e.amount, "balance_after": e.balance_after, "note": e.note, "at": e.at })
            })
            .collect();
        Ok(json!({ "organization_id": org_id, "balance": balance, "ledger": ledger }))
    })
}
