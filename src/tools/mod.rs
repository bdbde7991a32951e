//! The tool registry: every tool described once (name, description, input schema, scope,
//! units, limits, annotations) next to its handler. `/mcp` and `/v1/tools` both read it.

mod analytics;
mod credits;
mod discovery;
mod error;
mod reports;
mod rest;
mod scopes;
mod web;
mod write_back;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use analytics::RangeArgs;
pub use error::ToolError;
pub use scopes::ScopesInForce;

use crate::model::Scope;
use crate::model::VerifiedToken;
use crate::storage::Db;

/// Which workspace a tool acts on, resolved and checked by the pipeline before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Discovery: the tool sees what the token can reach and nothing else.
    None,
    /// An organization: from `workspace_id` when given, else the token's own organization.
    Organization,
    /// A workspace: `workspace_id`, or the workspace a workspace token is bound to.
    Workspace,
}

/// What a handler receives beside its decoded arguments: the checked token and the scopes in
/// force on this call, the resolved organization and workspace.
pub struct ToolCall {
    pub db: Db,
    pub token: VerifiedToken,
    pub scopes: ScopesInForce,
    pub org_id: Option<i64>,
    pub workspace_id: Option<i64>,
    /// The arguments as sent (JSON); `typed!` decodes them into the handler's `Args`.
    pub args: Value,
}

impl ToolCall {
    /// The workspace the pipeline resolved (tools that act on one always have it).
    pub fn workspace(&self) -> Result<i64, ToolError> {
        self.workspace_id.ok_or(ToolError::Internal)
    }

    /// The organization the pipeline resolved (tools with a target always have it).
    pub fn organization(&self) -> Result<i64, ToolError> {
        self.org_id.ok_or(ToolError::Internal)
    }

    /// Whether to show people's details unmasked: `include_sensitive`, which needs `pii:read`.
    pub fn unmasked(&self, include_sensitive: Option<bool>) -> Result<bool, ToolError> {
        let unmask = include_sensitive.unwrap_or(false);
        if unmask {
            self.scopes.require(Scope::PiiRead)?;
        }
        Ok(unmask)
    }
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
    /// Refused with `write_back_disabled` unless the workspace has write-back on.
    pub write_back: bool,
    /// The tool's own calls-per-minute limit per token, on top of the unit cap.
    pub limit_per_minute: Option<i64>,
    /// Credits the tool bills (checked before it runs; charged by the tool itself).
    pub credits: Option<i64>,
    /// The `GET` path of a REST endpoint (the Atribu API of spec §12), whose query and path
    /// parameters are its arguments; None for a tool called by name.
    pub path: Option<&'static str>,
    pub handler: Handler,
}

/// A tool's arguments and its code, made by `typed!` from one function
/// `fn(ToolCall, Args) -> ToolFuture`: the schema clients see describes the very type the
/// handler decodes, so the two cannot drift apart.
pub struct Handler {
    input_schema: fn() -> Value,
    decode_and_run: fn(ToolCall) -> ToolFuture,
}

impl Handler {
    pub fn run(&self, call: ToolCall) -> ToolFuture {
        (self.decode_and_run)(call)
    }
}

/// `typed!(Args => module::handler)`: the [`Handler`] of a function taking `Args`.
macro_rules! typed {
    ($args:ty => $handler:path) => {{
        fn decode_and_run(call: ToolCall) -> ToolFuture {
            match parse_args::<$args>(&call.args) {
                Ok(args) => $handler(call, args),
                Err(e) => Box::pin(std::future::ready(Err(e))),
            }
        }
        Handler {
            input_schema: schema::<$args>,
            decode_and_run,
        }
    }};
}

pub static TOOLS: &[ToolSpec] = &[
    ToolSpec::read_only(
        "list_workspaces",
        "List workspaces",
        "Lists the workspaces this token can reach, with their organization. Free.",
        None,
        0,
        Target::None,
        typed!(discovery::ListWorkspacesArgs => discovery::list_workspaces),
    ),
    ToolSpec::read_only(
        "list_profiles",
        "List profiles",
        "Lists the tracked brands and sites (profiles) of a workspace. Free.",
        None,
        0,
        Target::Workspace,
        typed!(analytics::ListProfilesArgs => analytics::list_profiles),
    ),
    ToolSpec::read_only(
        "get_performance_summary",
        "Performance summary",
        "Spend, impressions, clicks, conversions and revenue with CTR, CPC, CPA and ROAS for a date range (default: the last 30 days).",
        Some(Scope::AnalyticsRead),
        1,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::get_performance_summary),
    ),
    ToolSpec::read_only(
        "compare_periods",
        "Compare periods",
        "Compares a date range with the period of the same length just before it, with changes in percent.",
        Some(Scope::AnalyticsRead),
        1,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::compare_periods),
    ),
    ToolSpec::read_only(
        "top_campaigns",
        "Top campaigns",
        "Ranks campaigns by revenue, spend, conversions or ROAS over a date range.",
        Some(Scope::CampaignsRead),
        1,
        Target::Workspace,
        typed!(analytics::TopArgs => analytics::top_campaigns),
    ),
    ToolSpec::read_only(
        "top_creatives",
        "Top creatives",
        "Ranks creatives by revenue, spend, conversions or ROAS over a date range.",
        Some(Scope::CampaignsRead),
        1,
        Target::Workspace,
        typed!(analytics::TopArgs => analytics::top_creatives),
    ),
    ToolSpec::read_only(
        "explain_campaign",
        "Explain a campaign",
        "A campaign's results with its ad sets and creatives, how the second half of the period compares with the first, and a plain-language explanation.",
        Some(Scope::CampaignsRead),
        2,
        Target::Workspace,
        typed!(analytics::CampaignArgs => analytics::explain_campaign),
    ),
    ToolSpec::read_only(
        "explain_customer_journey",
        "Explain a customer journey",
        "A customer's touchpoints and conversions. Email, phone and name are masked unless the token holds pii:read and the call passes include_sensitive=true.",
        Some(Scope::CustomersRead),
        2,
        Target::Workspace,
        typed!(analytics::JourneyArgs => analytics::explain_customer_journey),
    ),
    ToolSpec::read_only(
        "creative_fatigue_check",
        "Creative fatigue check",
        "Compares each creative's click-through rate in the first and last 7 days of the range; a drop of 20 % or more is fatigue.",
        Some(Scope::CampaignsRead),
        2,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::creative_fatigue_check),
    ),
    ToolSpec::read_only(
        "find_anomalies",
        "Find anomalies",
        "Days on which a campaign's spend or conversions stand 3 or more standard deviations from its other days.",
        Some(Scope::AnalyticsRead),
        2,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::find_anomalies),
    ),
    ToolSpec::read_only(
        "whatsapp_attribution_summary",
        "WhatsApp attribution",
        "How many conversions (and how much revenue) came through WhatsApp, and which first touches brought those customers.",
        Some(Scope::ConversionsRead),
        2,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::whatsapp_attribution_summary),
    ),
    ToolSpec::read_only(
        "compare_attribution_models",
        "Compare attribution models",
        "Credits conversions and revenue to campaigns and channels under five models: first touch, last touch, linear, time decay (7-day half-life) and position based (40/20/40).",
        Some(Scope::CampaignsRead),
        5,
        Target::Workspace,
        typed!(analytics::RangeArgs => analytics::compare_attribution_models),
    ),
    ToolSpec::read_only(
        "check_credits",
        "Check credits",
        "Shows the organization's credit balance and its latest ledger entries (grants, charges, refunds). Free.",
        Some(Scope::CreditsRead),
        0,
        Target::Organization,
        typed!(credits::CheckCreditsArgs => credits::check_credits),
    ),
    ToolSpec {
        name: "send_meta_conversions",
        title: "Send conversions (write-back)",
        description: "Queues conversion events for the workspace's write-back endpoint (Meta Conversions API relay): signed with HMAC-SHA256, retried, deduplicated on event_id. Needs write-back enabled on the workspace.",
        scope: Some(Scope::ConversionsWrite),
        units: 10,
        target: Target::Workspace,
        read_only: false,
        destructive: false,
        idempotent: true,
        write_back: true,
        limit_per_minute: Some(20),
        credits: None,
        path: None,
        handler: typed!(write_back::SendConversionsArgs => write_back::send_meta_conversions),
    },
    ToolSpec {
        name: "generate_report",
        title: "Generate a report",
        description: "Starts a performance report (Markdown and CSV) over a date range as a background job. Costs 10 credits, charged at dispatch and refunded if the report fails. Poll get_report_status.",
        scope: Some(Scope::ReportsWrite),
        units: 1,
        target: Target::Workspace,
        read_only: false,
        destructive: false,
        idempotent: true,
        write_back: false,
        limit_per_minute: Some(10),
        credits: Some(crate::services::jobs::REPORT_CREDITS),
        path: None,
        handler: typed!(reports::JobArgs => reports::generate_report),
    },
    ToolSpec {
        name: "export_audience",
        title: "Export an audience",
        description: "Starts an export of a customer segment (hashed emails) as a background job. Costs 4 credits, charged when it completes. Poll get_report_status.",
        scope: Some(Scope::ReportsWrite),
        units: 1,
        target: Target::Workspace,
        read_only: false,
        destructive: false,
        idempotent: true,
        write_back: false,
        limit_per_minute: Some(5),
        credits: Some(crate::services::jobs::EXPORT_CREDITS),
        path: None,
        handler: typed!(reports::ExportArgs => reports::export_audience),
    },
    ToolSpec::read_only(
        "get_report_status",
        "Report or export status",
        "The status of a report or audience export job, and its result once it has succeeded.",
        Some(Scope::ReportsRead),
        0,
        Target::Workspace,
        typed!(reports::StatusArgs => reports::get_report_status),
    ),
    ToolSpec::endpoint(
        "campaigns_performance",
        "Campaign performance",
        "Every campaign's spend, impressions, clicks, conversions and revenue with CTR, CPC, CPA and ROAS over a date range, by spend.",
        Scope::CampaignsRead,
        1,
        "/v1/campaigns",
        typed!(rest::CampaignArgs => rest::campaigns_performance),
    ),
    ToolSpec::endpoint(
        "campaigns_ad_sets",
        "Ad set breakdown",
        "Every ad set's results over a date range (optionally of one campaign), by spend.",
        Scope::CampaignsRead,
        1,
        "/v1/campaigns/ad-sets",
        typed!(rest::CampaignArgs => rest::campaigns_ad_sets),
    ),
    ToolSpec::endpoint(
        "campaigns_ads",
        "Ad breakdown",
        "Every ad's results (ad set and creative) over a date range (optionally of one campaign), by spend.",
        Scope::CampaignsRead,
        1,
        "/v1/campaigns/ads",
        typed!(rest::CampaignArgs => rest::campaigns_ads),
    ),
    ToolSpec::endpoint(
        "campaigns_daily",
        "Daily campaign trends",
        "Spend, clicks, conversions, revenue and ROAS day by day over a date range (optionally of one campaign); every day of the range is listed.",
        Scope::CampaignsRead,
        1,
        "/v1/campaigns/daily",
        typed!(rest::CampaignArgs => rest::campaigns_daily),
    ),
    ToolSpec::endpoint(
        "conversions_summary",
        "Conversions",
        "Conversion count, revenue and cash collected (what of the revenue has been paid) over a date range, by source, with a daily series (every day of the range).",
        Scope::ConversionsRead,
        1,
        "/v1/conversions",
        typed!(rest::RestRange => rest::conversions_summary),
    ),
    ToolSpec::endpoint(
        "customers_list",
        "Customers",
        "Customers first seen in a date range, newest first, with their conversions and revenue to date; names and emails masked unless the token holds pii:read and include_sensitive=true. Heavy: 3 units.",
        Scope::CustomersRead,
        3,
        "/v1/customers",
        typed!(rest::ListArgs => rest::customers_list),
    ),
    ToolSpec::endpoint(
        "customer_journey",
        "Customer journey",
        "One customer's touchpoints and conversions, masked as customers_list. Heavy: 3 units.",
        Scope::CustomersRead,
        3,
        "/v1/customers/{customer_id}/journey",
        typed!(rest::JourneyArgs => rest::customer_journey),
    ),
    ToolSpec::endpoint(
        "analytics_overview",
        "Website overview",
        "Visitors, sessions, pageviews, bounce rate, average session duration, pages per session and returning rate over a date range, with the conversions, revenue and cash collected of the range.",
        Scope::AnalyticsRead,
        1,
        "/v1/analytics/overview",
        typed!(rest::RestRange => web::analytics_overview),
    ),
    ToolSpec::endpoint(
        "analytics_timeseries",
        "Website traffic over time",
        "The overview's figures per day or per week (Monday to Sunday) over a date range; every day or week of the range is listed.",
        Scope::AnalyticsRead,
        1,
        "/v1/analytics/timeseries",
        typed!(web::TimeseriesArgs => web::analytics_timeseries),
    ),
    ToolSpec::endpoint(
        "analytics_breakdown",
        "Website traffic breakdown",
        "Sessions, their share, visitors, pageviews and bounce rate per channel, landing page, country, device, browser, OS, referrer or keyword over a date range, most sessions first.",
        Scope::AnalyticsRead,
        1,
        "/v1/analytics/breakdowns/{dimension}",
        typed!(web::BreakdownArgs => web::analytics_breakdown),
    ),
    ToolSpec::endpoint(
        "analytics_quality",
        "Traffic quality",
        "Bounce rate, average session duration, pages per session and returning rate, overall and per channel, over a date range.",
        Scope::AnalyticsRead,
        1,
        "/v1/analytics/quality",
        typed!(rest::RestRange => web::analytics_quality),
    ),
    ToolSpec::endpoint(
        "analytics_keywords",
        "Search keywords",
        "The search keywords that brought sessions (organic and paid search) over a date range, with their share of search sessions.",
        Scope::AnalyticsRead,
        1,
        "/v1/analytics/keywords",
        typed!(rest::RestRange => web::analytics_keywords),
    ),
    ToolSpec::endpoint(
        "visitors_list",
        "Visitors",
        "Visitors with a session in a date range, newest first, with their sessions and pageviews in it; a known customer's name and email masked unless the token holds pii:read and include_sensitive=true. Heavy: 3 units.",
        Scope::VisitorsRead,
        3,
        "/v1/visitors",
        typed!(rest::ListArgs => web::visitors_list),
    ),
    ToolSpec::endpoint(
        "visitor_sessions",
        "Visitor sessions",
        "One visitor with their sessions and pageviews to date, and their sessions, newest first (landing page, channel, referrer, keyword, pageviews, duration); masked as visitors_list. Heavy: 3 units.",
        Scope::VisitorsRead,
        3,
        "/v1/visitors/{visitor_id}/sessions",
        typed!(web::VisitorSessionsArgs => web::visitor_sessions),
    ),
    ToolSpec::endpoint(
        "realtime_visitors",
        "Realtime visitors",
        "Visitors active on the website in the last 5 minutes, with their landing pages, countries and devices.",
        Scope::RealtimeRead,
        1,
        "/v1/realtime",
        typed!(web::RealtimeArgs => web::realtime_visitors),
    ),
];

impl ToolSpec {
    /// A tool that only reads: no side effects, safe to repeat, no own limit.
    #[allow(clippy::too_many_arguments)]
    const fn read_only(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        scope: Option<Scope>,
        units: i64,
        target: Target,
        handler: Handler,
    ) -> ToolSpec {
        ToolSpec {
            name,
            title,
            description,
            scope,
            units,
            target,
            read_only: true,
            destructive: false,
            idempotent: true,
            write_back: false,
            limit_per_minute: None,
            credits: None,
            path: None,
            handler,
        }
    }

    /// A REST endpoint: a read-only entry reached by `GET path` (and by name like any tool).
    const fn endpoint(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        scope: Scope,
        units: i64,
        path: &'static str,
        handler: Handler,
    ) -> ToolSpec {
        let tool = ToolSpec::read_only(
            name,
            title,
            description,
            Some(scope),
            units,
            Target::Workspace,
            handler,
        );
        ToolSpec {
            path: Some(path),
            ..tool
        }
    }

    /// Whether a key bound to one profile may call it: it reads, bills no credits, and takes a
    /// `profile_id` that limits everything it reads (the pipeline fills in the key's own). A
    /// tool that also takes another id must check that id against the profile.
    pub fn for_profile_keys(&self) -> bool {
        self.read_only
            && self.credits.is_none()
            && self.schema()["properties"].get("profile_id").is_some()
    }

    /// The input schema, with the `workspace_id` the pipeline resolves for targeted tools;
    /// built once per tool.
    pub fn schema(&self) -> &'static Value {
        static SCHEMAS: LazyLock<HashMap<&'static str, Value>> =
            LazyLock::new(|| TOOLS.iter().map(|t| (t.name, t.build_schema())).collect());
        &SCHEMAS[self.name]
    }

    fn build_schema(&self) -> Value {
        let mut schema = (self.handler.input_schema)();
        if !self.read_only && self.idempotent {
            schema["properties"]["idempotency_key"] = serde_json::json!({
                "type": "string",
                "description": "Repeat a call safely: the same key within 24 hours returns the first result and charges nothing."
            });
        }
        if self.target != Target::None {
            let description = match self.target {
                Target::Organization => {
                    "The workspace whose organization to act on (see list_workspaces). Personal tokens must name one."
                }
                _ => "The workspace to act on (see list_workspaces). Workspace tokens default to their own.",
            };
            schema["properties"]["workspace_id"] =
                serde_json::json!({ "type": "integer", "description": description });
        }
        schema
    }
}

/// Today's day number, for ranges that default to the days before it.
fn today() -> i64 {
    crate::model::day_of(crate::storage::now_ms())
}

pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default()
}

/// Decodes a tool's own arguments (the pipeline has taken `workspace_id`), naming the field
/// that is wrong.
pub fn parse_args<T: DeserializeOwned>(args: &Value) -> Result<T, ToolError> {
    let mut args = args.clone();
    if let Some(map) = args.as_object_mut() {
        map.remove("workspace_id");
    }
    serde_json::from_value(args)
        .map_err(|e| ToolError::InvalidParameter(format!("invalid arguments: {e}")))
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

#[cfg(test)]
mod registry_tests {
    use super::*;

    /// The scopes a profile key may hold are those its tools need, and `pii:read` to unmask.
    #[test]
    fn profile_keys_hold_the_scopes_of_their_tools() {
        let mut needed: Vec<Scope> = TOOLS
            .iter()
            .filter(|t| t.for_profile_keys())
            .filter_map(|t| t.scope)
            .chain([Scope::PiiRead])
            .collect();
        needed.sort();
        needed.dedup();
        let mut allowed: Vec<Scope> = Scope::ALL
            .into_iter()
            .filter(|s| s.for_profile_keys())
            .collect();
        allowed.sort();
        assert_eq!(needed, allowed);
    }

    /// The tools a profile key may call, named: a tool that starts taking `profile_id` must be
    /// checked to limit every row it reads by it (and any other id it takes) before it joins.
    #[test]
    fn profile_keys_call_exactly_these_tools() {
        let allowed: Vec<&str> = TOOLS
            .iter()
            .filter(|t| t.for_profile_keys())
            .map(|t| t.name)
            .collect();
        assert_eq!(
            allowed,
            [
                "list_profiles",
                "get_performance_summary",
                "compare_periods",
                "top_campaigns",
                "top_creatives",
                "creative_fatigue_check",
                "find_anomalies",
                "whatsapp_attribution_summary",
                "compare_attribution_models",
                "campaigns_performance",
                "campaigns_ad_sets",
                "campaigns_ads",
                "campaigns_daily",
                "conversions_summary",
                "customers_list",
                "customer_journey",
                "analytics_overview",
                "analytics_timeseries",
                "analytics_breakdown",
                "analytics_quality",
                "analytics_keywords",
                "visitors_list",
                "visitor_sessions",
                "realtime_visitors",
            ]
        );
    }
}
