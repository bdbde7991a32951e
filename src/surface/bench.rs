//! Benchmark builds only (`--features bench`): `/bench/bare/mcp` serves the same tools over the
//! same MCP stack with no enforcement at all: no token, scope, limit, allowance or metering.
//! It is the "bare" baseline of `tollgate-bench` and never exists in the server users run.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::model::VerifiedToken;
use crate::model::{Binding, Scope};
use crate::state::AppState;
use crate::tools::ScopesInForce;
use crate::tools::{self, ToolCall};

/// Where bare calls act: `TOLLGATE_BENCH_BARE_TARGET=<org id>:<workspace id>`.
#[derive(Clone)]
pub struct BareMcp {
    state: AppState,
    org_id: i64,
    workspace_id: i64,
}

pub fn service(state: &AppState) -> Option<StreamableHttpService<BareMcp, NeverSessionManager>> {
    let target = std::env::var("TOLLGATE_BENCH_BARE_TARGET").ok()?;
    let (org, workspace) = target.split_once(':')?;
    let handler = BareMcp {
        state: state.clone(),
        org_id: org.parse().ok()?,
        workspace_id: workspace.parse().ok()?,
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(super::allowed_hosts(state));
    Some(StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    ))
}

impl ServerHandler for BareMcp {
    fn get_info(&self) -> ServerConfig {
        super::mcp::server_config()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            super::mcp::MCP_TOOLS.clone(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = tools::find(&request.name)
            .ok_or_else(|| ErrorData::invalid_params("unknown tool", None))?;
        let token = VerifiedToken {
            id: 0,
            org_id: self.org_id,
            binding: Binding::Workspace,
            user_id: None,
            workspace_id: Some(self.workspace_id),
            profile_id: None,
            scopes: Scope::ALL.to_vec(),
            audience: None,
        };
        let call = ToolCall {
            db: self.state.db.clone(),
            scopes: ScopesInForce::new(&token, None),
            token,
            org_id: Some(self.org_id),
            workspace_id: Some(self.workspace_id),
            args: request.arguments.map(Value::Object).unwrap_or(Value::Null),
        };
        let result = match tool.handler.run(call).await {
            Ok(value) => super::mcp::success_result(value),
            Err(err) => super::mcp::error_result(&err, None),
        };
        Ok(result.into())
    }
}
