//! `/mcp`: Streamable HTTP on the official Rust SDK (`rmcp`), stateless with JSON responses.
//! The bearer token was verified by `surface::guard`; the caller rides in the request's
//! extensions, which rmcp hands to the handler with the HTTP request parts.

use std::sync::{Arc, LazyLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::enforcement::limits::RateState;
use crate::enforcement::{self, Caller};
use crate::state::AppState;
use crate::tools::ToolError;
use crate::tools::TOOLS;

#[derive(Clone)]
pub struct TollgateMcp {
    state: AppState,
}

pub fn service(state: &AppState) -> StreamableHttpService<TollgateMcp, NeverSessionManager> {
    let handler = TollgateMcp {
        state: state.clone(),
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(super::MAX_BODY_BYTES)
        .with_allowed_hosts(super::allowed_hosts(state))
        .with_allowed_origins([state.config.public_origin().to_string()]);
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// The MCP form of each tool of the registry: input schema and annotations (built once).
pub(super) static MCP_TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    TOOLS
        .iter()
        // The REST endpoints answer what the analytics tools answer, shaped for the API:
        // listing them too would give a model two of everything.
        .filter(|t| t.path.is_none())
        .map(|t| {
            let schema = match t.schema() {
                Value::Object(map) => map.clone(),
                _ => Default::default(),
            };
            let annotations = ToolAnnotations::with_title(t.title)
                .read_only(t.read_only)
                .destructive(t.destructive)
                .idempotent(t.idempotent)
                .open_world(false);
            Tool::new(t.name, t.description, Arc::new(schema)).with_annotations(annotations)
        })
        .collect()
});

fn client_label(info: &Implementation) -> String {
    format!("{} {}", info.name, info.version)
        .chars()
        .take(80)
        .collect()
}

/// A tool's answer: structured content, and the same JSON as text for older clients.
pub(super) fn success_result(value: Value) -> CallToolResult {
    let text = value.to_string();
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result
}

/// Tool errors are results the model can read: `isError` with the error object and, once the
/// call met its limits, what they said (the facts of `/v1`'s rate-limit headers).
pub(super) fn error_result(err: &ToolError, rate: Option<&RateState>) -> CallToolResult {
    let mut error = err.body();
    if let Some(rate) = rate {
        error["rate_limit"] = serde_json::json!(rate);
    }
    let mut result = CallToolResult::structured_error(serde_json::json!({ "error": error }));
    result.content = vec![ContentBlock::text(err.to_string())];
    result
}

pub(super) fn server_config() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("tollgate", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Marketing analytics behind scoped tokens. Call list_workspaces first, then pass \
             workspace_id to the other tools.",
        )
}

impl ServerHandler for TollgateMcp {
    fn get_info(&self) -> ServerConfig {
        server_config()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let caller = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>());
        if let Some(caller) = caller {
            let client = client_label(&request.client_info);
            self.state
                .enforcer
                .last_used
                .remember_client(caller.token.id, client);
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(MCP_TOOLS.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let Some(mut caller) = parts.and_then(|p| p.extensions.get::<Caller>()).cloned() else {
            return Err(ErrorData::internal_error(
                "the caller was not authenticated",
                None,
            ));
        };
        // 2026-07-28 requests name their client in `_meta`; older ones did at `initialize`.
        let named = request
            .meta
            .as_ref()
            .and_then(|meta| meta.client_info())
            .or_else(|| context.meta.client_info());
        if let Some(info) = named {
            let client = client_label(&info);
            self.state
                .enforcer
                .last_used
                .remember_client(caller.token.id, client);
        }
        if let Some(client) = self.state.enforcer.last_used.client_of(caller.token.id) {
            caller.client = Some(client);
        }
        // The REST endpoints are not MCP tools (tools/list does not show them either).
        if crate::tools::find(&request.name).is_some_and(|t| t.path.is_some()) {
            let err = ToolError::UnknownTool(request.name.to_string());
            return Ok(error_result(&err, None).into());
        }
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let outcome =
            enforcement::call(&self.state.enforcer, &caller, &request.name, args, None).await;
        let result = match outcome.result {
            Ok(value) => success_result(value),
            Err(err) => error_result(&err, outcome.rate.as_ref()),
        };
        Ok(result.into())
    }
}
