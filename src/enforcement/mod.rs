//! The enforcement pipeline of spec §6, one for both surfaces (`/mcp` and `/v1/tools`):
//! authenticate, resolve and check the target, check the scope, run, meter.

pub mod idempotency;
pub mod last_used;
pub mod limits;
pub mod writer;

use std::sync::Arc;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::config::{Config, Environment};
use crate::metrics::{REFUSALS, TOOL_CALLS, TOOL_CALL_SECONDS};
use crate::model::VerifiedToken;
use crate::model::{Binding, RefusalKind, Role};
use crate::services::audit;
use crate::services::tokens::{self, VerifyError};
use crate::storage::{now_ms, Db};
use crate::tools::{self, ScopesInForce, Target, ToolCall, ToolError, ToolSpec};
use last_used::LastUsed;
use writer::Writer;

/// What the pipeline needs of the server: the database, the environment whose tokens it
/// accepts, token last-use times (batched in memory, flushed by a background task) and the
/// hot path's writer (admissions with their metering, cancellations). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Enforcer {
    pub db: Db,
    pub environment: Environment,
    /// The canonical URL of `/mcp`: the only audience an OAuth client's token has.
    pub mcp_resource: Arc<str>,
    pub last_used: Arc<LastUsed>,
    pub writer: Writer,
}

impl Enforcer {
    /// The pipeline over `db`, with its writer task started.
    pub fn start(db: Db, config: &Config) -> Enforcer {
        Enforcer {
            writer: Writer::start(db.clone()),
            db,
            environment: config.environment,
            mcp_resource: config.mcp_resource().into(),
            last_used: Default::default(),
        }
    }
}

/// An authenticated caller: the verified token, the client it says it is and the surface it
/// came through.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: VerifiedToken,
    pub client: Option<String>,
    pub surface: Surface,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Mcp,
    Http,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Mcp => "mcp",
            Surface::Http => "http",
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ToolError> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(ToolError::MissingToken)?;
    if values.next().is_some() {
        return Err(ToolError::InvalidToken(
            "more than one Authorization header".into(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ToolError::InvalidToken("the header is not ASCII".into()))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ToolError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ToolError::MissingToken);
    }
    Ok(token.trim())
}

/// Step 1: the bearer token, verified, on a surface its audience allows.
pub async fn authenticate(
    enforcer: &Enforcer,
    headers: &HeaderMap,
    surface: Surface,
) -> Result<Caller, ToolError> {
    let refused = |e: ToolError| {
        if crate::metrics::enabled() {
            let (surface, code) = (surface.as_str(), e.code());
            metrics::counter!(REFUSALS, "surface" => surface, "code" => code).increment(1);
        }
        e
    };
    let token = bearer_token(headers).map_err(refused)?;
    let token = tokens::verify(&enforcer.db, token, enforcer.environment, now_ms())
        .await
        .map_err(|e| match e {
            VerifyError::Database(e) => ToolError::from(e),
            other => refused(ToolError::InvalidToken(other.to_string())),
        })?;
    // An OAuth client's token works where it was issued for (RFC 8707), and only there.
    match (&token.audience, surface) {
        (None, _) => {}
        (Some(audience), Surface::Mcp) if **audience == *enforcer.mcp_resource => {}
        (Some(audience), _) => {
            return Err(refused(ToolError::InvalidToken(format!(
                "this token was issued to an OAuth client for {audience}, and works there only"
            ))))
        }
    }
    let client = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(80).collect());
    Ok(Caller {
        token,
        client,
        surface,
    })
}

/// The per-token cap of weighted units per minute (spec §7).
pub const UNITS_PER_MINUTE: i64 = 120;
/// The cap of a profile key (spec §12: the REST API's 60 a minute, heavy endpoints 3 units).
pub const PROFILE_KEY_UNITS_PER_MINUTE: i64 = 60;

/// The weighted units a token may spend a minute.
pub fn units_per_minute(binding: Binding) -> i64 {
    match binding {
        Binding::Profile => PROFILE_KEY_UNITS_PER_MINUTE,
        _ => UNITS_PER_MINUTE,
    }
}

/// What a call produced, and the rate-limit state for the `X-RateLimit-*` headers.
pub struct Outcome {
    pub result: Result<Value, ToolError>,
    pub rate: Option<limits::RateState>,
}

/// Steps 2 to 8 for one call of `name` with `args`. The idempotency key comes from the
/// `Idempotency-Key` header (`/v1`) or the `idempotency_key` argument (both surfaces).
pub async fn call(
    enforcer: &Enforcer,
    caller: &Caller,
    name: &str,
    args: Value,
    idempotency_key: Option<String>,
) -> Outcome {
    let started = std::time::Instant::now();
    let mut rate = None;
    let mut acted_on = None;
    let result = run(
        enforcer,
        caller,
        name,
        args,
        idempotency_key,
        &mut rate,
        &mut acted_on,
    )
    .await;
    // An unknown name is the client's words: it names no metric and no refusal.
    let tool = || tools::find(name).map_or("unknown_tool", |t| t.name);
    let refused = result
        .as_ref()
        .err()
        .filter(|e| RefusalKind::of_code(e.code()).is_some());
    if crate::metrics::enabled() {
        record_call(caller.surface, tool(), &result, refused.is_some(), started);
    }
    // The writer counts the refusals it decides itself (rate limit, allowance).
    if let Some(e) = refused.filter(|e| {
        !matches!(
            e,
            ToolError::RateLimited { .. } | ToolError::QuotaExceeded { .. }
        )
    }) {
        enforcer.writer.record_refusal(writer::Refusal {
            org_id: acted_on.unwrap_or(caller.token.org_id),
            token_id: caller.token.id,
            tool: tool(),
            code: e.code(),
            at: now_ms(),
        });
    }
    Outcome { result, rate }
}

fn record_call(
    surface: Surface,
    tool: &'static str,
    result: &Result<Value, ToolError>,
    refused: bool,
    started: std::time::Instant,
) {
    let (surface, code) = (
        surface.as_str(),
        result.as_ref().err().map_or("ok", |e| e.code()),
    );
    metrics::counter!(TOOL_CALLS, "surface" => surface, "tool" => tool, "code" => code)
        .increment(1);
    metrics::histogram!(TOOL_CALL_SECONDS, "surface" => surface, "tool" => tool)
        .record(started.elapsed().as_secs_f64());
    if refused {
        metrics::counter!(REFUSALS, "surface" => surface, "code" => code).increment(1);
    }
}

async fn run(
    enforcer: &Enforcer,
    caller: &Caller,
    name: &str,
    args: Value,
    header_key: Option<String>,
    rate: &mut Option<limits::RateState>,
    acted_on: &mut Option<i64>,
) -> Result<Value, ToolError> {
    let tool = tools::find(name).ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
    let mut args = match args {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => args,
        _ => {
            return Err(ToolError::InvalidParameter(
                "arguments must be a JSON object".into(),
            ))
        }
    };
    let arg_key = match args
        .as_object_mut()
        .and_then(|a| a.remove("idempotency_key"))
    {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) => Some(key),
        Some(_) => {
            return Err(ToolError::InvalidParameter(
                "idempotency_key must be a string".into(),
            ))
        }
    };
    let idempotency_key: Option<String> = arg_key.or(header_key);
    let token = &caller.token;
    let now = now_ms();
    enforcer
        .last_used
        .record(token.id, now, caller.client.as_deref());

    // Step 2: target, binding and membership.
    pin_profile(token, tool, &mut args)?;
    let reach = resolve_target(enforcer, token, tool, &args).await?;
    *acted_on = reach.org_id;
    let result = authorize_and_run(
        enforcer,
        token,
        tool,
        &reach,
        args,
        idempotency_key,
        now,
        rate,
    )
    .await;
    if let Err(ToolError::MissingScope { scope, limited_by }) = &result {
        // In the organization the call acted on: its admins see what reached for their data.
        let org_id = reach.org_id.unwrap_or(token.org_id);
        audit::record_scope_denial(
            &enforcer.db,
            org_id,
            token.id,
            tool.name,
            scope,
            *limited_by,
            now,
        )
        .await?;
    }
    result
}

/// Steps 3 to 8, once the call's target is known.
#[allow(clippy::too_many_arguments)]
async fn authorize_and_run(
    enforcer: &Enforcer,
    token: &VerifiedToken,
    tool: &'static ToolSpec,
    reach: &Reach,
    args: Value,
    idempotency_key: Option<String>,
    now: i64,
    rate: &mut Option<limits::RateState>,
) -> Result<Value, ToolError> {
    let db = &enforcer.db;
    // Step 3: scope and write-back switch.
    let scopes = ScopesInForce::new(token, reach.role);
    if let Some(scope) = tool.scope {
        scopes.require(scope)?;
    }
    if tool.write_back {
        let enabled = match reach.workspace_id {
            Some(ws) => crate::services::write_back::is_enabled(db, ws).await?,
            None => false,
        };
        if !enabled {
            return Err(ToolError::WriteBackDisabled);
        }
    }

    // Step 7 comes first in time: a replay answers without being charged again, and a
    // conflict is refused before anything is taken.
    let owned_key = match idempotency_key.filter(|_| !tool.read_only && tool.idempotent) {
        Some(key) => {
            idempotency::check_key(&key)?;
            let hash = idempotency::request_hash(tool.name, &args);
            match idempotency::claim(db, token.id, &key, tool.name, &hash, now).await? {
                idempotency::Claim::Replay(result) => {
                    // A replay skips admission, and with it the writer's check of the token.
                    let mut conn = db.pool.acquire().await?;
                    let statuses = tokens::stored_statuses(&mut conn, [token.id]).await?;
                    return match tokens::stored_refusal(&statuses, token.id, now) {
                        Some(refusal) => Err(ToolError::InvalidToken(refusal.to_string())),
                        None => Ok(result),
                    };
                }
                idempotency::Claim::Owner => Some(key),
            }
        }
        None => None,
    };
    let result = charge_and_run(enforcer, token, tool, reach, scopes, args, now, rate).await;
    if let Some(key) = owned_key {
        match &result {
            Ok(value) => idempotency::complete(db, token.id, &key, value).await?,
            Err(_) => idempotency::abandon(db, token.id, &key).await?,
        }
    }
    result
}

/// Steps 4, 5 and 8: rate limits, allowance, the tool itself and its metering.
#[allow(clippy::too_many_arguments)]
async fn charge_and_run(
    enforcer: &Enforcer,
    token: &VerifiedToken,
    tool: &ToolSpec,
    reach: &Reach,
    scopes: ScopesInForce,
    args: Value,
    now: i64,
    rate: &mut Option<limits::RateState>,
) -> Result<Value, ToolError> {
    let db = &enforcer.db;
    let billed_org = reach.org_id.unwrap_or(token.org_id);
    // Steps 4 and 5, decided together in the writer's next batch: the weighted per-minute cap
    // (units are taken at admission), the tool's own window, and the plan's allowance. The
    // batch also meters the call; a call that then fails is cancelled (failed calls debit none).
    let request = writer::AdmitRequest {
        token_id: token.id,
        workspace_id: reach.workspace_id,
        units: tool.units,
        cap: units_per_minute(token.binding),
        tool: tool.name,
        tool_limit: tool.limit_per_minute,
        org_id: billed_org,
        at: now,
    };
    let period = match enforcer.writer.admit(request.clone()).await? {
        writer::Admission::Admitted {
            rate: rate_state,
            period,
        } => {
            *rate = Some(rate_state);
            period
        }
        writer::Admission::RateLimited {
            retry_after,
            rate: rate_state,
        } => {
            *rate = Some(rate_state);
            return Err(ToolError::RateLimited { retry_after });
        }
        writer::Admission::QuotaExceeded {
            rate: rate_state,
            resets_at,
        } => {
            *rate = Some(rate_state);
            return Err(ToolError::QuotaExceeded { resets_at, now });
        }
        writer::Admission::InvalidToken { reason } => return Err(ToolError::InvalidToken(reason)),
    };

    // Step 6: credits pre-flight, so a call that cannot pay fails fast (the tool charges
    // atomically itself: at dispatch or on completion).
    if let Some(required) = tool.credits {
        let available = crate::services::credits::current_balance(db, billed_org).await?;
        if available < required {
            enforcer.writer.cancel(request, period).await?;
            return Err(ToolError::InsufficientCredits {
                required,
                available,
            });
        }
    }

    // Step 8: run; a failure takes the metering back.
    let call = ToolCall {
        db: db.clone(),
        token: token.clone(),
        scopes,
        org_id: reach.org_id,
        workspace_id: reach.workspace_id,
        args,
    };
    let result = tool.handler.run(call).await;
    if result.is_err() {
        enforcer.writer.cancel(request, period).await?;
    }
    result
}

/// Step 2 for a profile key: a call that names a profile gets the key's own, filled in when it
/// names none; a tool that is not for profile keys is refused.
fn pin_profile(token: &VerifiedToken, tool: &ToolSpec, args: &mut Value) -> Result<(), ToolError> {
    let Some(pinned) = token
        .profile_id
        .filter(|_| token.binding == Binding::Profile)
    else {
        return Ok(());
    };
    if tool.target == Target::None {
        return Ok(()); // discovery shows what the key reaches
    }
    if !tool.for_profile_keys() {
        return Err(ToolError::ProfileNotAccessible { pinned });
    }
    match args.get("profile_id") {
        None | Some(Value::Null) => {
            args["profile_id"] = Value::from(pinned);
            Ok(())
        }
        Some(named) if named.as_i64() == Some(pinned) => Ok(()),
        Some(_) => Err(ToolError::ProfileNotAccessible { pinned }),
    }
}

/// Where a call acts (step 2): its organization and workspace, and for a personal token the
/// user's current role in that organization.
struct Reach {
    org_id: Option<i64>,
    workspace_id: Option<i64>,
    role: Option<Role>,
}

/// Step 2: the organization (and workspace) a call acts on, checked against the token's
/// binding and, for personal tokens, against the user's membership now.
async fn resolve_target(
    enforcer: &Enforcer,
    token: &VerifiedToken,
    tool: &ToolSpec,
    args: &Value,
) -> Result<Reach, ToolError> {
    let reach = |org_id, workspace_id, role| Reach {
        org_id: Some(org_id),
        workspace_id,
        role,
    };
    if tool.target == Target::None {
        return Ok(Reach {
            org_id: None,
            workspace_id: None,
            role: None,
        });
    }
    let workspace_id = tools::workspace_arg(args)?.or(token.workspace_id);
    let Some(workspace_id) = workspace_id else {
        return match token.binding {
            Binding::Organization if tool.target == Target::Organization => Ok(reach(token.org_id, None, None)),
            _ => Err(ToolError::InvalidParameter(
                "workspace_id is required: call list_workspaces to see the workspaces this token reaches".into(),
            )),
        };
    };
    // A workspace (or profile) token's own workspace is in its organization: nothing to look up.
    let pinned = matches!(token.binding, Binding::Workspace | Binding::Profile);
    if pinned && token.workspace_id == Some(workspace_id) {
        return Ok(reach(token.org_id, Some(workspace_id), None));
    }
    let Some(org_id) = crate::services::workspaces::org_of(&enforcer.db, workspace_id).await?
    else {
        return Err(ToolError::WorkspaceNotAccessible(workspace_id));
    };
    let (reachable, role) = match token.binding {
        Binding::Workspace | Binding::Profile => (token.workspace_id == Some(workspace_id), None),
        Binding::Organization => (token.org_id == org_id, None),
        Binding::User => {
            let user_id = token.user_id.unwrap_or_default();
            let role =
                crate::services::organizations::role_in(&enforcer.db.pool, org_id, user_id).await?;
            (role.is_some(), role)
        }
    };
    if reachable {
        Ok(reach(org_id, Some(workspace_id), role))
    } else {
        Err(ToolError::WorkspaceNotAccessible(workspace_id))
    }
}
