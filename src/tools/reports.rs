//! Credit-spending tools: reports and audience exports run as durable jobs.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::ToolError;
use super::{ToolCall, ToolFuture};
use crate::model::DateRange;
use crate::services::jobs::{self, Kind};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before end_date).
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday).
    pub end_date: Option<String>,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Customers who converted in the range.
    Converters,
    /// Customers who converted through WhatsApp in the range.
    WhatsappConverters,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// Which customers (default: converters).
    pub segment: Option<Segment>,
    /// Limit to one profile (see list_profiles).
    pub profile_id: Option<i64>,
    /// First day, YYYY-MM-DD (default: 30 days before end_date).
    pub start_date: Option<String>,
    /// Last day, YYYY-MM-DD (default: yesterday).
    pub end_date: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// The job_id generate_report or export_audience returned.
    pub job_id: i64,
}

fn dispatch(
    call: ToolCall,
    kind: Kind,
    mut args: serde_json::Value,
    start: Option<String>,
    end: Option<String>,
) -> ToolFuture {
    Box::pin(async move {
        let today = super::today();
        let range = DateRange::parse(start.as_deref(), end.as_deref(), today)?;
        let (start, end) = range.bounds();
        args["start_date"] = json!(start);
        args["end_date"] = json!(end);
        let (org_id, workspace_id) = (call.organization()?, call.workspace()?);
        match jobs::dispatch(
            &call.db,
            org_id,
            workspace_id,
            Some(call.token.id),
            kind,
            &args,
            crate::storage::now_ms(),
        )
        .await?
        {
            Ok(job_id) => {
                Ok(json!({ "job_id": job_id, "status": "queued", "poll": "get_report_status" }))
            }
            Err(short) => Err(ToolError::InsufficientCredits {
                required: short.required,
                available: short.available,
            }),
        }
    })
}

pub fn generate_report(call: ToolCall, a: JobArgs) -> ToolFuture {
    let args = json!({ "profile_id": a.profile_id });
    dispatch(call, Kind::Report, args, a.start_date, a.end_date)
}

pub fn export_audience(call: ToolCall, a: ExportArgs) -> ToolFuture {
    let segment = match a.segment.unwrap_or(Segment::Converters) {
        Segment::Converters => "converters",
        Segment::WhatsappConverters => "whatsapp_converters",
    };
    let args = json!({ "profile_id": a.profile_id, "segment": segment });
    dispatch(call, Kind::AudienceExport, args, a.start_date, a.end_date)
}

pub fn get_report_status(call: ToolCall, args: StatusArgs) -> ToolFuture {
    Box::pin(async move {
        let workspace_id = call.workspace()?;
        jobs::status(&call.db, workspace_id, args.job_id)
            .await?
            .ok_or_else(|| {
                ToolError::InvalidParameter(format!("no job {} in this workspace", args.job_id))
            })
    })
}
