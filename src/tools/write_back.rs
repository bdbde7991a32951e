//! `send_meta_conversions`: conversions queued for the workspace's write-back endpoint.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::ToolError;
use super::{ToolCall, ToolFuture};
use crate::secrets::sha256_hex;
use crate::services::write_back;

pub const MAX_EVENTS: usize = 100;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionEvent {
    /// Your unique id for the event: resending the same id is a no-op.
    pub event_id: String,
    /// e.g. Purchase, Lead.
    pub event_name: String,
    /// When it happened, Unix seconds.
    pub event_time: i64,
    /// Monetary value, if any.
    pub value: Option<f64>,
    /// ISO 4217 code, e.g. USD.
    pub currency: Option<String>,
    /// The customer's email: only its SHA-256 is sent, as Meta's Conversions API expects.
    pub email: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendConversionsArgs {
    /// 1 to 100 conversion events.
    pub events: Vec<ConversionEvent>,
}

pub fn send_meta_conversions(call: ToolCall, args: SendConversionsArgs) -> ToolFuture {
    Box::pin(async move {
        if args.events.is_empty() || args.events.len() > MAX_EVENTS {
            return Err(ToolError::InvalidParameter(format!(
                "send between 1 and {MAX_EVENTS} events"
            )));
        }
        let mut events = Vec::with_capacity(args.events.len());
        for event in args.events {
            let id = event.event_id.trim().to_string();
            if id.is_empty() || id.len() > 100 {
                return Err(ToolError::InvalidParameter(
                    "each event_id must have 1 to 100 characters".into(),
                ));
            }
            let email_sha256 = event.email.map(|e| sha256_hex(&e.trim().to_lowercase()));
            let payload = json!({
                "event_name": event.event_name,
                "event_time": event.event_time,
                "value": event.value,
                "currency": event.currency,
                "user_data": { "em": email_sha256 },
            });
            events.push((id, payload));
        }
        let workspace_id = call.workspace()?;
        let (queued, duplicates) =
            write_back::enqueue(&call.db, workspace_id, &events, crate::storage::now_ms()).await?;
        Ok(
            json!({ "queued": queued, "duplicates": duplicates, "status": "Delivery runs in the background; see Settings › Workspaces." }),
        )
    })
}
