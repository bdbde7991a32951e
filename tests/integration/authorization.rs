//! The authorization matrix of the dashboard: every server function (but the sign-in and
//! invite flows, tested on their own), called over HTTP as the hydrated page calls it, by each
//! kind of caller: owner, admin and member of organization A, the owner of another
//! organization, a member removed from A, and nobody. Ids always point into A; a call either
//! succeeds or is refused (401/403/404), and whatever the outsider and the removed member are
//! refused leaves A exactly as it was.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use leptos::server_fn::ServerFn;
use tower::ServiceExt;

use crate::support::{first_workspace, founder, join, TestDb, ORIGIN, PASSWORD, T0};
use tollgate::api::{auth, organizations as orgs, tokens as toks, usage};
use tollgate::model::{Binding, Role, Scope};
use tollgate::services::organizations::{self, Actor};
use tollgate::storage::Db;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Owner,
    Admin,
    Member,
    Outsider,
    Removed,
    Anonymous,
}
use Caller::*;

const CALLERS: [Caller; 6] = [Owner, Admin, Member, Outsider, Removed, Anonymous];

struct World {
    db: Db,
    app: Router,
    owner: Actor,
    workspace: i64,
    cookies: Vec<(Caller, Option<String>)>,
    serial: std::cell::Cell<u32>,
}

impl World {
    fn next(&self) -> u32 {
        self.serial.set(self.serial.get() + 1);
        self.serial.get()
    }

    /// An organization token of A that already exists (reading one makes none).
    async fn existing_org_token(&self) -> i64 {
        let (id,): (i64,) = sqlx::query_as(
            "SELECT MIN(id) FROM tokens WHERE org_id = $1 AND binding = 'organization'",
        )
        .bind(self.owner.org_id)
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        id
    }

    async fn org_token(&self) -> i64 {
        let token = crate::support::issue_token(
            &self.db,
            &self.owner,
            vec![Scope::AnalyticsRead],
            Binding::Organization,
            None,
        )
        .await;
        let hash = tollgate::secrets::sha256_hex(&token);
        sqlx::query_as::<_, (i64,)>("SELECT id FROM tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .0
    }

    async fn fresh_member(&self) -> i64 {
        let email = format!("m{}@example.com", self.next());
        join(&self.db, &self.owner, &email, Role::Member)
            .await
            .user_id
    }

    /// A's workspace, with one more write-back event that failed for good.
    async fn failed_event(&self) -> i64 {
        sqlx::query(
            "INSERT INTO outbox (workspace_id, event_id, payload, status, next_attempt_at, created_at) \
             VALUES ($1, $2, '{}', 'failed', 0, 0)",
        )
        .bind(self.workspace)
        .bind(format!("f{}", self.next()))
        .execute(&self.db.pool)
        .await
        .unwrap();
        self.workspace
    }

    async fn fresh_invite(&self) -> i64 {
        let email = format!("i{}@example.com", self.next());
        tollgate::services::invites::create(&self.db, &self.owner, &email, Role::Member, None, T0)
            .await
            .unwrap();
        sqlx::query_as::<_, (i64,)>("SELECT MAX(id) FROM invites")
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .0
    }

    /// What organization A looks like: a call refused must leave all of it as it was.
    async fn snapshot(&self) -> String {
        let mut rows = Vec::new();
        for sql in [
            "SELECT name || ':' || plan || ':' || credit_balance FROM organizations WHERE id = $1",
            "SELECT CAST(COUNT(*) AS TEXT) || ':' || CAST(COALESCE(SUM(LENGTH(name)), 0) AS TEXT) FROM workspaces WHERE org_id = $1",
            "SELECT CAST(COUNT(*) AS TEXT) || ':' || CAST(COUNT(revoked_at) AS TEXT) || ':' || CAST(COUNT(grace_until) AS TEXT) FROM tokens WHERE org_id = $1",
            "SELECT CAST(COUNT(*) AS TEXT) || ':' || CAST(COUNT(revoked_at) AS TEXT) FROM invites WHERE org_id = $1",
            "SELECT CAST(COUNT(*) AS TEXT) || ':' || CAST(SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END) AS TEXT) FROM memberships WHERE org_id = $1",
            "SELECT CAST(COUNT(write_back_url) AS TEXT) || ':' || COALESCE(MAX(write_back_url), '') FROM workspaces WHERE org_id = $1",
            "SELECT CAST(COUNT(*) AS TEXT) FROM outbox o JOIN workspaces w ON w.id = o.workspace_id WHERE w.org_id = $1 AND o.status = 'failed'",
        ] {
            let (row,): (String,) = sqlx::query_as(sql)
                .bind(self.owner.org_id)
                .fetch_one(&self.db.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.push(row);
        }
        rows.join(" | ")
    }
}

async fn sign_in(app: &Router, email: &str) -> String {
    let form = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let response = app
        .clone()
        .oneshot(
            Request::post(auth::SignIn::PATH)
                .header(header::HOST, "127.0.0.1:3999")
                .header(header::ORIGIN, ORIGIN)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .find_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .unwrap_or_else(|| panic!("{email} signed in ({})", response.status()))
}

async fn call(app: &Router, path: &str, cookie: Option<&str>, form: &str) -> StatusCode {
    let mut request = Request::post(path)
        .header(header::HOST, "127.0.0.1:3999")
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    app.clone()
        .oneshot(request.body(Body::from(form.to_string())).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn every_server_function_by_every_kind_of_caller() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
    let owner = founder(&db, "owner@example.com").await;
    join(&db, &owner, "admin@example.com", Role::Admin).await;
    join(&db, &owner, "member@example.com", Role::Member).await;
    founder(&db, "outsider@example.com").await;
    let removed = join(&db, &owner, "removed@example.com", Role::Member).await;
    tollgate::services::members::remove_member(&db, &owner, removed.user_id, None, T0)
        .await
        .unwrap();
    let mut cookies = Vec::new();
    for (caller, email) in [
        (Owner, "owner"),
        (Admin, "admin"),
        (Member, "member"),
        (Outsider, "outsider"),
        (Removed, "removed"),
    ] {
        cookies.push((
            caller,
            Some(sign_in(&app, &format!("{email}@example.com")).await),
        ));
    }
    cookies.push((Anonymous, None));
    let world = World {
        workspace: first_workspace(&db, &owner).await,
        db,
        app,
        owner,
        cookies,
        serial: Default::default(),
    };

    // (function, who may call it). "May" for the outsider means: on its own organization
    // (calls without ids); with A's ids it is refused.
    let admins_and_outsider = &[Owner, Admin, Outsider][..];
    let owners_and_outsider = &[Owner, Outsider][..];
    let everyone_in_an_org = &[Owner, Admin, Member, Outsider][..];
    let a_admins = &[Owner, Admin][..];
    let mut failures = Vec::new();
    let mut calls = 0;
    for function in [
        "get_session",
        "get_members",
        "get_workspaces",
        "get_organization",
        "get_tokens",
        "get_usage",
        "get_audit_log",
        "invite_member",
        "revoke_invite",
        "change_member_role",
        "remove_member",
        "create_workspace",
        "rename_workspace",
        "update_organization",
        "configure_write_back",
        "redeliver_write_back",
        "create_token",
        "rotate_token",
        "revoke_token",
        "get_token",
        "change_plan",
        "grant_credits",
        "switch_organization",
        "create_organization",
    ] {
        let allowed: &[Caller] = match function {
            "get_session" => &CALLERS,
            "get_members" | "get_workspaces" | "get_organization" | "get_tokens" | "get_usage"
            | "create_token" => everyone_in_an_org,
            "get_audit_log" | "invite_member" | "create_workspace" | "update_organization" => {
                admins_and_outsider
            }
            "change_plan" | "grant_credits" => owners_and_outsider,
            "switch_organization" => &[Owner, Admin, Member],
            "create_organization" => &[Owner, Admin, Member, Outsider, Removed],
            _ => a_admins,
        };
        for (caller, cookie) in &world.cookies {
            let n = world.next();
            let (path, form) = match function {
                "get_session" => (auth::GetSession::PATH, String::new()),
                "get_members" => (orgs::GetMembers::PATH, String::new()),
                "get_workspaces" => (orgs::GetWorkspaces::PATH, String::new()),
                "get_organization" => (orgs::GetOrganization::PATH, String::new()),
                "get_tokens" => (toks::GetTokens::PATH, String::new()),
                "get_usage" => (usage::GetUsage::PATH, String::new()),
                "get_audit_log" => (tollgate::api::audit::GetAuditLog::PATH, String::new()),
                "invite_member" => (
                    orgs::InviteMember::PATH,
                    format!("email=new{n}%40example.com&role=member"),
                ),
                "revoke_invite" => (
                    orgs::RevokeInvite::PATH,
                    format!("invite_id={}", world.fresh_invite().await),
                ),
                "change_member_role" => (
                    orgs::ChangeMemberRole::PATH,
                    format!("user_id={}&role=admin", world.fresh_member().await),
                ),
                "remove_member" => (
                    orgs::RemoveMember::PATH,
                    format!("user_id={}", world.fresh_member().await),
                ),
                "create_workspace" => (orgs::CreateWorkspace::PATH, format!("name=Space+{n}")),
                "rename_workspace" => (
                    orgs::RenameWorkspace::PATH,
                    format!("workspace_id={}&name=Renamed+{n}", world.workspace),
                ),
                "update_organization" => (
                    orgs::UpdateOrganization::PATH,
                    format!("name=Org+{n}&default_rotation_grace=none"),
                ),
                "configure_write_back" => (
                    orgs::ConfigureWriteBack::PATH,
                    format!(
                        "workspace_id={}&enabled=on&url=https%3A%2F%2Fhooks.example.com%2F{n}&secret=0123456789abcdef{n}",
                        world.workspace
                    ),
                ),
                "redeliver_write_back" => (
                    orgs::RedeliverWriteBack::PATH,
                    format!("workspace_id={}", world.failed_event().await),
                ),
                "create_token" => (
                    toks::CreateToken::PATH,
                    format!("label=T{n}&scopes[0]=analytics:read&reach=user&expiry=none"),
                ),
                "rotate_token" => (
                    toks::RotateToken::PATH,
                    format!("token_id={}&grace=none", world.org_token().await),
                ),
                "revoke_token" => (
                    toks::RevokeToken::PATH,
                    format!("token_id={}", world.org_token().await),
                ),
                "get_token" => (
                    toks::GetToken::PATH,
                    format!("token_id={}", world.existing_org_token().await),
                ),
                "change_plan" => (tollgate::api::billing::ChangePlan::PATH, "plan=starter".to_string()),
                "grant_credits" => (tollgate::api::billing::GrantCredits::PATH, "amount=5&note=matrix".to_string()),
                "switch_organization" => (
                    auth::SwitchOrganization::PATH,
                    format!("org_id={}", world.owner.org_id),
                ),
                "create_organization" => (auth::CreateOrganization::PATH, format!("name=New+{n}")),
                other => unreachable!("{other}"),
            };
            let before = world.snapshot().await;
            let status = call(&world.app, path, cookie.as_deref(), &form).await;
            calls += 1;
            let should = allowed.contains(caller);
            let ok = if should {
                status.is_success() || status.is_redirection()
            } else {
                [
                    StatusCode::UNAUTHORIZED,
                    StatusCode::FORBIDDEN,
                    StatusCode::NOT_FOUND,
                ]
                .contains(&status)
            };
            if !ok {
                failures.push(format!(
                    "{function} by {caller:?}: {status} (allowed: {should})"
                ));
            }
            if (!should || *caller == Outsider) && world.snapshot().await != before {
                failures.push(format!("{function} by {caller:?} changed organization A"));
            }
        }
    }
    assert_eq!(calls, 24 * 6);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every tool, for each binding and where its target lies: own workspace, another workspace
/// of the same organization, another organization's workspace, and (personal tokens) after the
/// user left. Reachable targets get past steps 2 and 3; the rest are `workspace_not_accessible`.
/// A token without a tool's scope gets `missing_scope` for exactly the tools that need one.
#[tokio::test]
async fn every_tool_by_binding_and_organization_relation() {
    use serde_json::{json, Value};
    use tollgate::tools::{Target, TOOLS};
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
    let owner = founder(&db, "owner@example.com").await;
    let member = join(&db, &owner, "member@example.com", Role::Member).await;
    let other = founder(&db, "other@example.com").await;
    let a1 = first_workspace(&db, &owner).await;
    let a2 = tollgate::services::workspaces::create_workspace(&db, &owner, "Second", None, T0)
        .await
        .unwrap();
    let b1 = first_workspace(&db, &other).await;
    let all = Scope::ALL.to_vec();
    let token = |actor: Actor, scopes: Vec<Scope>, binding: Binding, ws: Option<i64>| {
        let db = db.clone();
        async move { crate::support::issue_token(&db, &actor, scopes, binding, ws).await }
    };
    // What a member may grant: the read scopes.
    let member_scopes = vec![
        Scope::AnalyticsRead,
        Scope::CampaignsRead,
        Scope::ConversionsRead,
        Scope::CustomersRead,
        Scope::VisitorsRead,
        Scope::RealtimeRead,
        Scope::CreditsRead,
        Scope::ReportsRead,
    ];
    let personal = token(member, member_scopes.clone(), Binding::User, None).await;
    let org = token(owner, all.clone(), Binding::Organization, None).await;
    let bound = token(owner, all.clone(), Binding::Workspace, Some(a2)).await;
    let credits_only = token(owner, vec![Scope::CreditsRead], Binding::Organization, None).await;
    // A key for one profile of A1, with every scope such a key may hold.
    let (profile,): (i64,) =
        sqlx::query_as("SELECT id FROM profiles WHERE workspace_id = $1 LIMIT 1")
            .bind(a1)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let new = tollgate::services::tokens::NewToken {
        label: "api key".into(),
        scopes: all
            .iter()
            .copied()
            .filter(|s| s.for_profile_keys())
            .collect(),
        binding: Binding::Profile,
        workspace_id: None,
        profile_id: Some(profile),
        expires_at: None,
    };
    let profile_key = tollgate::services::tokens::create(
        &db,
        &owner,
        tollgate::config::Environment::Live,
        new,
        None,
        T0,
    )
    .await
    .unwrap()
    .token;

    let call = |token: String, tool: &'static str, ws: i64| {
        let app = app.clone();
        async move {
            let (status, _, body) = crate::support::post_json(
                &app,
                &format!("/v1/tools/{tool}"),
                Some(&token),
                &[],
                json!({ "workspace_id": ws }),
            )
            .await;
            let code = body["error"]["code"].as_str().unwrap_or("").to_string();
            (status, code, body)
        }
    };
    let refused = ["workspace_not_accessible", "missing_scope", "invalid_token"];
    let mut failures = Vec::new();
    let mut check = |what: String, code: String, expected: Option<&str>, body: &Value| {
        let ok = match expected {
            Some(expected) => code == expected,
            None => !refused.contains(&code.as_str()),
        };
        if !ok {
            failures.push(format!(
                "{what}: got {code:?}, expected {expected:?} ({body})"
            ));
        }
    };
    let targeted: Vec<_> = TOOLS.iter().filter(|t| t.target != Target::None).collect();
    for tool in &targeted {
        for (who, token, reaches) in [
            ("personal", &personal, vec![a1, a2]),
            ("organization", &org, vec![a1, a2]),
            ("workspace", &bound, vec![a2]),
        ] {
            if who == "personal" && tool.scope.is_some_and(|s| !member_scopes.contains(&s)) {
                continue; // members cannot hold write scopes
            }
            for ws in [a1, a2, b1] {
                let (_, code, body) = call(token.clone(), tool.name, ws).await;
                let expected = (!reaches.contains(&ws)).then_some("workspace_not_accessible");
                check(
                    format!("{} by {who} token on {ws}", tool.name),
                    code,
                    expected,
                    &body,
                );
            }
        }
        // A profile key: its profile's workspace, with the tools about one profile only.
        for ws in [a1, a2, b1] {
            let (_, code, body) = call(profile_key.clone(), tool.name, ws).await;
            let expected =
                (ws != a1 || !tool.for_profile_keys()).then_some("workspace_not_accessible");
            check(
                format!("{} by profile key on {ws}", tool.name),
                code,
                expected,
                &body,
            );
        }
        let (_, code, body) = call(credits_only.clone(), tool.name, a1).await;
        let expected = match tool.scope {
            Some(scope) if scope != Scope::CreditsRead => Some("missing_scope"),
            _ => None,
        };
        check(
            format!("{} without its scope", tool.name),
            code,
            expected,
            &body,
        );
    }
    // The member leaves: their personal token reaches nothing in A any more.
    tollgate::services::members::remove_member(&db, &owner, member.user_id, None, T0)
        .await
        .unwrap();
    for tool in &targeted {
        if tool.scope.is_some_and(|s| !member_scopes.contains(&s)) {
            continue;
        }
        let (_, code, body) = call(personal.clone(), tool.name, a1).await;
        check(
            format!("{} by a removed member", tool.name),
            code,
            Some("workspace_not_accessible"),
            &body,
        );
    }
    assert!(targeted.len() >= 15);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Spec §3: on every call a personal token's scopes are limited to what its user's current role
/// in the target organization may grant. A member of A who owns C mints a token with every
/// scope in C; in A it may use read scopes only, an admin's token loses its write and PII
/// scopes when they are demoted, and a promotion gives them back, on the next call. A's admins
/// see the denials in A's audit log.
#[tokio::test]
async fn personal_token_scopes_follow_the_users_role_in_the_target_organization() {
    use serde_json::{json, Value};
    use tollgate::tools::{Target, TOOLS};
    crate::support::on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let a1 = first_workspace(&db, &owner).await;
        let member = join(&db, &owner, "member@example.com", Role::Member).await;
        let admin = join(&db, &owner, "admin@example.com", Role::Admin).await;
        // The member owns an organization of their own and mints a token there as its owner.
        let own_org = organizations::create_organization(&db, member.user_id, "Mine", T0)
            .await
            .unwrap();
        let as_owner = organizations::actor(&db, member.user_id, own_org)
            .await
            .unwrap();
        let all = Scope::ALL.to_vec();
        let minted_elsewhere =
            crate::support::issue_token(&db, &as_owner, all.clone(), Binding::User, None).await;
        let admins_token =
            crate::support::issue_token(&db, &admin, all.clone(), Binding::User, None).await;

        let call = |token: String, tool: &'static str, args: Value| {
            let app = app.clone();
            async move {
                let (_, _, body) = crate::support::post_json(
                    &app,
                    &format!("/v1/tools/{tool}"),
                    Some(&token),
                    &[],
                    args,
                )
                .await;
                let code = body["error"]["code"].as_str().unwrap_or("").to_string();
                let message = body["error"]["message"].as_str().unwrap_or("").to_string();
                (code, message)
            }
        };
        // Every tool with a scope, on A's workspace: refused with missing_scope (naming the role)
        // exactly when a member may not grant the scope, else not refused for its scope.
        let check_all = |token: String, role: Role, what: &'static str| {
            let call = &call;
            async move {
                let mut failures = Vec::new();
                for tool in TOOLS.iter().filter(|t| t.target != Target::None) {
                    let Some(scope) = tool.scope else { continue };
                    let (code, message) =
                        call(token.clone(), tool.name, json!({ "workspace_id": a1 })).await;
                    let limited = !scope.grantable_by(role);
                    let ok = if limited {
                        code == "missing_scope" && message.contains(role.as_str())
                    } else {
                        code != "missing_scope" && code != "workspace_not_accessible"
                    };
                    if !ok {
                        failures.push(format!("{what}: {} got {code:?} {message:?}", tool.name));
                    }
                }
                // PII stays masked: unmasking needs pii:read, which a member cannot use here.
                let (code, message) = call(
                    token.clone(),
                    "explain_customer_journey",
                    json!({ "workspace_id": a1, "customer_id": 1, "include_sensitive": true }),
                )
                .await;
                let unmask_refused = code == "missing_scope" && message.contains("pii:read");
                if unmask_refused != !Scope::PiiRead.grantable_by(role) {
                    failures.push(format!("{what}: unmasking got {code:?} {message:?}"));
                }
                failures
            }
        };

        let mut failures = Vec::new();
        failures.extend(
            check_all(
                minted_elsewhere.clone(),
                Role::Member,
                "minted as owner elsewhere",
            )
            .await,
        );
        failures.extend(check_all(admins_token.clone(), Role::Admin, "admin").await);
        tollgate::services::members::change_role(
            &db,
            &owner,
            admin.user_id,
            Role::Member,
            None,
            T0,
        )
        .await
        .unwrap();
        failures.extend(check_all(admins_token.clone(), Role::Member, "admin demoted").await);
        tollgate::services::members::change_role(
            &db,
            &owner,
            member.user_id,
            Role::Admin,
            None,
            T0,
        )
        .await
        .unwrap();
        failures.extend(check_all(minted_elsewhere.clone(), Role::Admin, "member promoted").await);
        assert!(failures.is_empty(), "{}", failures.join("\n"));

        // A's admins see the denials of both personal tokens in A's audit log, and the
        // member's own organization does not get them.
        for token in [&minted_elsewhere, &admins_token] {
            let id = crate::support::token_id(&db, token).await;
            let log = tollgate::services::audit::page(
                &db,
                &owner,
                tollgate::model::AuditFilter::token(id),
                None,
            )
            .await
            .unwrap()
            .rows;
            assert!(
                log.iter()
                    .any(|r| r.action == "token.scope_denied" && r.subject.contains("member")),
                "A's audit log shows the denials of token {id}: {log:?}"
            );
        }
        let as_owner = organizations::actor(&db, member.user_id, own_org)
            .await
            .unwrap();
        let own_log = tollgate::services::audit::page(
            &db,
            &as_owner,
            tollgate::model::AuditFilter::default(),
            None,
        )
        .await
        .unwrap()
        .rows;
        assert!(!own_log.iter().any(|r| r.action == "token.scope_denied"));
    })
    .await;
}
