//! OAuth 2.1 for MCP clients (spec §11) through the real router on real databases: discovery,
//! registration, the authorization request and its consent, the code exchange with PKCE,
//! refresh rotation with reuse detection, revocation, audience and step-up.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate::model::{Role, Scope};
use tollgate::services::oauth;
use tollgate::storage::Db;
use tower::ServiceExt;

use crate::support::{founder, join, on_each_engine, sign_in_cookie, ORIGIN};

const CALLBACK: &str = "http://127.0.0.1/callback";
const RESOURCE: &str = "http://127.0.0.1:3999/mcp";

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "127.0.0.1:3999")
        .body(Body::empty())
        .unwrap()
}

/// A form post to a protocol endpoint, as a client sends it (no cookie, no Origin).
async fn post_form(app: &Router, path: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let request = Request::post(path)
        .header(header::HOST, "127.0.0.1:3999")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, headers, body) = send(app, request).await;
    if status == StatusCode::OK || status == StatusCode::BAD_REQUEST {
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
    }
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn pkce() -> (String, String) {
    let verifier = tollgate::secrets::random_base62(64);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn register(app: &Router, redirect_uris: Value) -> (StatusCode, Value) {
    let (status, _, body) = crate::support::post_json(
        app,
        "/register",
        None,
        &[],
        json!({ "client_name": "Test client", "redirect_uris": redirect_uris, "application_type": "native" }),
    )
    .await;
    (status, body)
}

async fn registered(app: &Router) -> String {
    let (status, body) = register(app, json!(["http://localhost/callback", CALLBACK])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["client_id"].as_str().unwrap().to_string()
}

/// `/authorize` with the usual parameters (overridden or dropped by `changes`: an empty value
/// drops one); returns the status and where it leads: `Location`, or the refusal page's link
/// back to the client.
async fn authorize(
    app: &Router,
    client_id: &str,
    challenge: &str,
    changes: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-123"),
        ("resource", RESOURCE),
        (
            "scope",
            "analytics:read credits:read pii:read offline_access",
        ),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let (status, headers, body) = send(app, get(&format!("/authorize?{query}"))).await;
    let location = match headers.get(header::LOCATION) {
        Some(location) => location.to_str().unwrap().to_string(),
        None => link_of(&body),
    };
    (status, location)
}

/// The first link of a page of the protocol's own (the refusal's "Return to …").
fn link_of(page: &str) -> String {
    let start = page.find("<a href=\"").map_or(0, |i| i + 9);
    let end = start + page[start..].find('"').unwrap_or(0);
    page[start..end].replace("&amp;", "&")
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Posts the consent page's form as the signed-in browser of `cookie` does; returns the status
/// and where the browser goes next (the refresh page's target, or the redirect).
async fn decide(
    app: &Router,
    cookie: &str,
    id: &str,
    pairs: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = vec![("id", id)];
    form.extend_from_slice(pairs);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let request = Request::post("/consent")
        .header(header::HOST, "127.0.0.1:3999")
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, headers, body) = send(app, request).await;
    let next = match headers.get(header::LOCATION) {
        Some(location) => location.to_str().unwrap().to_string(),
        None => {
            let start = body.find("url=").map(|i| i + 4).unwrap_or(0);
            let end = start + body[start..].find('"').unwrap_or(0);
            body[start..end].replace("&amp;", "&")
        }
    };
    (status, next)
}

/// Registers a client, authorizes it as `email` (signed in) with the consent page's choices
/// `choices`, and exchanges the code: the token response.
async fn connect(app: &Router, email: &str, choices: &[(&str, &str)]) -> (String, Value) {
    let client_id = registered(app).await;
    let (verifier, challenge) = pkce();
    let (status, location) = authorize(app, &client_id, &challenge, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let id = location
        .strip_prefix("/consent/")
        .expect("sent to the consent page");
    let cookie = sign_in_cookie(app, email, "198.51.100.7").await;
    let (status, back) = decide(app, &cookie, id, choices).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert!(back.starts_with(CALLBACK), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&back, "iss").as_deref(), Some(ORIGIN));
    let code = param(&back, "code").expect("a code");
    let (status, tokens) = post_form(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (client_id, tokens)
}

const APPROVE_READS: &[(&str, &str)] = &[
    ("decision", "approve"),
    ("reach", "user"),
    ("scope", "analytics:read"),
    ("scope", "credits:read"),
    ("expiry", "30"),
];

/// A stateless (2026-07-28) tool call on `/mcp`.
async fn mcp_call(
    app: &Router,
    token: &str,
    tool: &str,
    arguments: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "oauth-test", "version": "1" }
        } }
    });
    let headers = [
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    crate::support::post_json(app, "/mcp", Some(token), &headers, body).await
}

fn app(db: &Db) -> Router {
    tollgate::http::router(crate::support::app_state(db, ORIGIN))
}

#[tokio::test]
async fn discovery_starts_from_the_401_of_mcp() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let (status, headers, _) = mcp_call(&app, "", "list_workspaces", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert_eq!(
            challenge,
            "Bearer realm=\"tollgate\", error=\"invalid_token\", resource_metadata=\"http://127.0.0.1:3999/.well-known/oauth-protected-resource/mcp\", \
             scope=\"analytics:read campaigns:read conversions:read realtime:read credits:read reports:read\""
        );
        // `/v1` keeps the plain challenge: OAuth tokens are not for it.
        let (status, headers, _) = crate::support::post_json(&app, "/v1/tools/list_workspaces", None, &[], json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"tollgate\", error=\"invalid_token\"");

        for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
            let (status, _, body) = send(&app, get(path)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let prm: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(prm["resource"], RESOURCE);
            assert_eq!(prm["authorization_servers"], json!([ORIGIN]));
            assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
            assert!(!prm["scopes_supported"].as_array().unwrap().contains(&json!("pii:read")));
        }
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let (status, headers, body) = send(&app, get(path)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            let meta: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(meta["issuer"], ORIGIN);
            assert_eq!(meta["token_endpoint"], format!("{ORIGIN}/token"));
            assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
            assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["none"]));
            assert_eq!(meta["client_id_metadata_document_supported"], true);
            assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        }
        // Path-suffixed authorization-server documents do not exist: the issuer has no path.
        let (status, _, _) = send(&app, get("/.well-known/oauth-authorization-server/mcp")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_client_connects_and_its_token_works_on_mcp_only() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let owner = founder(&db, "owner@example.com").await;
        let (_, tokens) = connect(&app, "owner@example.com", APPROVE_READS).await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        // pii:read and offline_access were asked for; only what was approved is granted.
        assert_eq!(tokens["scope"], "analytics:read credits:read");
        let access = tokens["access_token"].as_str().unwrap();
        assert!(access.starts_with("tg_live_"));
        assert!(tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("tgr_"));

        let (status, _, body) = mcp_call(&app, access, "list_workspaces", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["result"]["structuredContent"]["workspaces"][0]["name"], "Main workspace",
            "{body}"
        );
        let (status, _, body) = crate::support::post_json(
            &app,
            "/v1/tools/list_workspaces",
            Some(access),
            &[],
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("OAuth client"),
            "{body}"
        );

        // The grant is a connected app, not one of Developer › Tokens, and counts as a token.
        let apps = oauth::connected_apps(&db, &owner, tollgate::storage::now_ms())
            .await
            .unwrap();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].grant.label, "Test client");
        assert_eq!(apps[0].calls, 1, "its call is counted for it");
        assert_eq!(
            apps[0].grant.scopes,
            vec![Scope::AnalyticsRead, Scope::CreditsRead]
        );
        assert!(
            tollgate::services::tokens::list(&db, &owner, tollgate::storage::now_ms())
                .await
                .unwrap()
                .is_empty()
        );
        let (personal_left, _) =
            tollgate::services::tokens::remaining(&db, &owner, tollgate::storage::now_ms())
                .await
                .unwrap();
        assert_eq!(personal_left, Some(9));
        assert_eq!(
            crate::support::count(
                &db,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'app.connected'"
            )
            .await,
            1
        );
    })
    .await;
}

#[tokio::test]
async fn the_code_exchange_refuses_what_does_not_match() {
    on_each_engine(|db| async move {
        let app = app(&db);
        founder(&db, "owner@example.com").await;
        let cookie = sign_in_cookie(&app, "owner@example.com", "198.51.100.7").await;
        let client_id = registered(&app).await;
        // A fresh code per attempt: each is spent by its first presentation.
        let code_for = |challenge: String| {
            let (app, cookie, client_id) = (app.clone(), cookie.clone(), client_id.clone());
            async move {
                let (_, location) = authorize(&app, &client_id, &challenge, &[]).await;
                let id = location.strip_prefix("/consent/").unwrap().to_string();
                let (_, back) = decide(&app, &cookie, &id, APPROVE_READS).await;
                param(&back, "code").unwrap()
            }
        };
        let exchange = |code: String,
                        verifier: String,
                        changes: Vec<(&'static str, &'static str)>| {
            let (app, client_id) = (app.clone(), client_id.clone());
            async move {
                let mut form = vec![
                    ("grant_type", "authorization_code".to_string()),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("client_id", client_id),
                    ("redirect_uri", CALLBACK.to_string()),
                ];
                for (name, value) in changes {
                    form.retain(|(n, _)| *n != name);
                    form.push((name, value.to_string()));
                }
                let pairs: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
                post_form(&app, "/token", &pairs).await
            }
        };
        let (verifier, challenge) = pkce();

        let (other_verifier, _) = pkce();
        let (status, body) =
            exchange(code_for(challenge.clone()).await, other_verifier, vec![]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );

        let code = code_for(challenge.clone()).await;
        let (status, body) = exchange(
            code.clone(),
            verifier.clone(),
            vec![("redirect_uri", "http://127.0.0.1/other")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );
        // That code is spent, even though the attempt failed.
        let (_, body) = exchange(code, verifier.clone(), vec![]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");

        let (_, body) = exchange(
            code_for(challenge.clone()).await,
            verifier.clone(),
            vec![("resource", "http://127.0.0.1:3999/v1")],
        )
        .await;
        assert_eq!(body["error"], "invalid_target", "{body}");
        // An unknown client is told to register again; another client's code is refused.
        let (status, body) = exchange(
            code_for(challenge.clone()).await,
            verifier.clone(),
            vec![("client_id", "tgc_someoneelse")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client")),
            "{body}"
        );
        let other: &'static str = Box::leak(registered(&app).await.into_boxed_str());
        let (_, body) = exchange(
            code_for(challenge.clone()).await,
            verifier.clone(),
            vec![("client_id", other)],
        )
        .await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        // Refused exchanges leave no grant behind. The unknown client's code was not spent (its
        // grant waits for the sweep once the code ends, like any code nobody exchanged).
        assert_eq!(
            crate::support::count(&db, "SELECT COUNT(*) FROM tokens").await,
            1
        );
        let later = tollgate::storage::now_ms() + oauth::CODE_TTL_MS + 1;
        oauth::sweep(&db, later).await.unwrap();
        assert_eq!(
            crate::support::count(&db, "SELECT COUNT(*) FROM tokens").await,
            0
        );
        let (_, body) = exchange(
            code_for(challenge.clone()).await,
            verifier.clone(),
            vec![("grant_type", "password")],
        )
        .await;
        assert_eq!(body["error"], "unsupported_grant_type", "{body}");

        // A code used twice: the second use is refused and the grant made from it revoked.
        let code = code_for(challenge.clone()).await;
        let (status, tokens) = exchange(code.clone(), verifier.clone(), vec![]).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            mcp_call(&app, &access, "list_workspaces", json!({}))
                .await
                .0,
            StatusCode::OK
        );
        let (_, body) = exchange(code, verifier.clone(), vec![]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert_eq!(
            mcp_call(&app, &access, "list_workspaces", json!({}))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (_, body) = post_form(
            &app,
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(body["error"], "invalid_grant", "{body}");

        // A code older than a minute is refused (the service, with its clock moved on).
        let code = code_for(challenge.clone()).await;
        let issuer = oauth::Issuer {
            url: ORIGIN.into(),
            resource: RESOURCE.into(),
            environment: tollgate::config::Environment::Live,
        };
        let later = tollgate::storage::now_ms() + oauth::CODE_TTL_MS + 1;
        let request = oauth::CodeExchange {
            code: &code,
            code_verifier: &verifier,
            client_id: &client_id,
            redirect_uri: None,
            resource: None,
        };
        let err = oauth::exchange_code(&db, &issuer, request, later)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_grant");
        assert!(err.to_string().contains("expired"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    on_each_engine(|db| async move {
        let app = app(&db);
        founder(&db, "owner@example.com").await;
        let (client_id, first) = connect(&app, "owner@example.com", APPROVE_READS).await;
        let refresh = |token: String| {
            let (app, client_id) = (app.clone(), client_id.clone());
            async move {
                post_form(
                    &app,
                    "/token",
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &token),
                        ("client_id", &client_id),
                        ("resource", RESOURCE),
                    ],
                )
                .await
            }
        };
        let (status, second) = refresh(first["refresh_token"].as_str().unwrap().into()).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(second["scope"], "analytics:read credits:read");
        let (old, new) = (
            first["access_token"].as_str().unwrap(),
            second["access_token"].as_str().unwrap(),
        );
        // The old access token stops at once; the new one works.
        assert_eq!(
            mcp_call(&app, old, "list_workspaces", json!({})).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            mcp_call(&app, new, "list_workspaces", json!({})).await.0,
            StatusCode::OK
        );
        // More scope than granted cannot be had by refreshing.
        let (_, body) = post_form(
            &app,
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", second["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
                ("scope", "pii:read"),
            ],
        )
        .await;
        assert_eq!(body["error"], "invalid_scope", "{body}");
        // The first refresh token again: two parties hold it, the grant goes.
        let (status, body) = refresh(first["refresh_token"].as_str().unwrap().into()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );
        assert_eq!(
            mcp_call(&app, new, "list_workspaces", json!({})).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (_, body) = refresh(second["refresh_token"].as_str().unwrap().into()).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        let revocations = crate::support::count(
            &db,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'app.revoked'",
        )
        .await;
        assert_eq!(revocations, 1);
    })
    .await;
}

#[tokio::test]
async fn revocation_cuts_the_client_off_from_either_side() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let owner = founder(&db, "owner@example.com").await;
        // The client revokes its own refresh token (RFC 7009): the grant ends.
        let (client_id, tokens) = connect(&app, "owner@example.com", APPROVE_READS).await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, _) = post_form(
            &app,
            "/revoke",
            &[
                ("token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", "tgc_another"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            mcp_call(&app, access, "list_workspaces", json!({})).await.0,
            StatusCode::OK,
            "another client's revocation is ignored"
        );
        let (status, _) = post_form(
            &app,
            "/revoke",
            &[
                ("token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            mcp_call(&app, access, "list_workspaces", json!({})).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = post_form(
            &app,
            "/revoke",
            &[
                ("token", "nonsense"),
                ("client_id", &client_id),
                ("token_type_hint", "id_token"),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unsupported_token_type"))
        );

        // The user revokes it in Connected apps (the tokens' revoke): the same.
        let (_, tokens) = connect(&app, "owner@example.com", APPROVE_READS).await;
        let access = tokens["access_token"].as_str().unwrap();
        let now = tollgate::storage::now_ms();
        let apps = oauth::connected_apps(&db, &owner, now).await.unwrap();
        let live = apps.iter().find(|a| a.grant.status.is_usable()).unwrap();
        tollgate::services::tokens::revoke(&db, &owner, live.grant.id, None, now)
            .await
            .unwrap();
        assert_eq!(
            mcp_call(&app, access, "list_workspaces", json!({})).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (_, body) = post_form(
            &app,
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        // A grant is not rotated like a token.
        let err = tollgate::services::tokens::rotate(
            &db,
            &owner,
            live.grant.id,
            tollgate::model::RotationGrace::None,
            tollgate::config::Environment::Live,
            None,
            now,
        )
        .await;
        assert!(err.is_err());
    })
    .await;
}

#[tokio::test]
async fn bad_authorization_requests_are_shown_here_or_sent_back() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let client_id = registered(&app).await;
        let (_, challenge) = pkce();
        let shown = |location: &str| location.strip_prefix("/authorize/failed?reason=").map(str::to_string);

        let (status, location) = authorize(&app, "tgc_unknown", &challenge, &[]).await;
        assert_eq!((status, shown(&location).as_deref()), (StatusCode::SEE_OTHER, Some("unknown_client")));
        let (_, location) = authorize(&app, &client_id, &challenge, &[("redirect_uri", "https://evil.example/cb")]).await;
        assert_eq!(shown(&location).as_deref(), Some("unregistered_redirect_uri"));
        let (_, location) = authorize(&app, &client_id, &challenge, &[("redirect_uri", "")]).await;
        assert_eq!(shown(&location).as_deref(), Some("missing_redirect_uri"));
        // A loopback redirect URI matches on any port (RFC 8252); its path still must match.
        let (_, location) = authorize(&app, &client_id, &challenge, &[("redirect_uri", "http://localhost:53682/callback")]).await;
        assert!(location.starts_with("/consent/"), "{location}");
        let (_, location) = authorize(&app, &client_id, &challenge, &[("redirect_uri", "http://localhost:53682/elsewhere")]).await;
        assert_eq!(shown(&location).as_deref(), Some("unregistered_redirect_uri"));

        // The rest goes back to the client, with its state and the issuer.
        for (changes, error) in [
            (vec![("code_challenge", "")], "invalid_request"),
            (vec![("code_challenge_method", "plain")], "invalid_request"),
            (vec![("response_type", "token")], "unsupported_response_type"),
            (vec![("resource", "https://other.example/mcp")], "invalid_target"),
            (vec![("scope", "openid profile")], "invalid_scope"),
        ] {
            // Shown here with a link back, never sent on by itself (no open redirector).
            let (status, location) = authorize(&app, &client_id, &challenge, &changes).await;
            assert_eq!(status, StatusCode::OK);
            assert!(location.starts_with(CALLBACK), "{location}");
            assert_eq!(param(&location, "error").as_deref(), Some(error), "{changes:?}");
            assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
            assert_eq!(param(&location, "iss").as_deref(), Some(ORIGIN));
        }
        // The resource's scheme and host are compared without case.
        let (_, location) = authorize(&app, &client_id, &challenge, &[("resource", "HTTP://127.0.0.1:3999/mcp")]).await;
        assert!(location.starts_with("/consent/"), "{location}");

        // Registration refuses what could not be redirected to safely.
        let (status, body) = register(&app, json!(["http://app.example/cb"])).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")), "{body}");
        let (status, body) = register(&app, json!([])).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")), "{body}");
        // A client asking for a secret is registered as a public one, and told so (claude.ai asks).
        let (status, _, body) = crate::support::post_json(&app, "/register", None, &[], json!({ "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "client_secret_post" })).await;
        assert_eq!((status, body["token_endpoint_auth_method"].as_str()), (StatusCode::CREATED, Some("none")), "{body}");
        assert!(body.get("client_secret").is_none());
        // A state too long to keep is refused.
        let long_state = "s".repeat(2000);
        let (_, location) = authorize(&app, &client_id, &challenge, &[("state", long_state.as_str())]).await;
        assert_eq!(param(&location, "error").as_deref(), Some("invalid_request"), "{location}");
        let (status, body) = register(&app, json!([CALLBACK])).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(body["redirect_uris"], json!([CALLBACK]));
        assert!(body.get("client_secret").is_none());
    })
    .await;
}

#[tokio::test]
async fn the_consent_page_grants_only_what_the_users_role_may() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let owner = founder(&db, "owner@example.com").await;
        join(&db, &owner, "member@example.com", Role::Member).await;
        let client_id = registered(&app).await;
        let (_, challenge) = pkce();
        let cookie = sign_in_cookie(&app, "member@example.com", "198.51.100.8").await;
        let consent = || async {
            let (_, location) = authorize(&app, &client_id, &challenge, &[]).await;
            location.strip_prefix("/consent/").unwrap().to_string()
        };
        // A member cannot grant pii:read, nor an organization reach.
        let id = consent().await;
        let (status, back) = decide(
            &app,
            &cookie,
            &id,
            &[
                ("decision", "approve"),
                ("reach", "user"),
                ("scope", "pii:read"),
                ("expiry", "30"),
            ],
        )
        .await;
        assert_eq!(
            (status, back.as_str()),
            (
                StatusCode::SEE_OTHER,
                format!("/consent/{id}?refused=not_allowed").as_str()
            )
        );
        let (_, back) = decide(
            &app,
            &cookie,
            &id,
            &[
                ("decision", "approve"),
                ("reach", "organization"),
                ("scope", "analytics:read"),
                ("expiry", "30"),
            ],
        )
        .await;
        assert!(back.ends_with("refused=not_allowed"), "{back}");
        // Nor one profile: API keys are made on Developer › Tokens.
        let (_, back) = decide(
            &app,
            &cookie,
            &id,
            &[
                ("decision", "approve"),
                ("reach", "profile:1"),
                ("scope", "analytics:read"),
                ("expiry", "30"),
            ],
        )
        .await;
        assert!(back.ends_with("refused=invalid"), "{back}");
        // Nor a scope the client did not ask for.
        let (_, back) = decide(
            &app,
            &cookie,
            &id,
            &[
                ("decision", "approve"),
                ("reach", "user"),
                ("scope", "campaigns:read"),
                ("expiry", "30"),
            ],
        )
        .await;
        assert!(back.ends_with("refused=invalid"), "{back}");
        assert_eq!(
            crate::support::count(&db, "SELECT COUNT(*) FROM tokens").await,
            0
        );
        // The request is still open: the member approves what they may.
        let (status, back) = decide(&app, &cookie, &id, APPROVE_READS).await;
        assert_eq!(status, StatusCode::OK);
        assert!(param(&back, "code").is_some(), "{back}");
        // Answered once.
        let (_, back) = decide(&app, &cookie, &id, APPROVE_READS).await;
        assert!(back.ends_with("refused=ended"), "{back}");

        // Deny sends access_denied back, with the state.
        let id = consent().await;
        let (_, back) = decide(&app, &cookie, &id, &[("decision", "deny")]).await;
        assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(param(&back, "state").as_deref(), Some("st-123"));
        assert_eq!(param(&back, "code"), None);

        // The consent form refuses a post from another site.
        let request = Request::post("/consent")
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "id={}&decision=approve&reach=user&scope=analytics%3Aread&expiry=30",
                consent().await
            )))
            .unwrap();
        assert_eq!(send(&app, request).await.0, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn connected_apps_count_against_the_token_cap() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let owner = founder(&db, "owner@example.com").await;
        for _ in 0..9 {
            crate::support::issue_token(
                &db,
                &owner,
                vec![Scope::AnalyticsRead],
                tollgate::model::Binding::User,
                None,
            )
            .await;
        }
        connect(&app, "owner@example.com", APPROVE_READS).await;
        let client_id = registered(&app).await;
        let (_, challenge) = pkce();
        let (_, location) = authorize(&app, &client_id, &challenge, &[]).await;
        let id = location.strip_prefix("/consent/").unwrap();
        let cookie = sign_in_cookie(&app, "owner@example.com", "198.51.100.9").await;
        let (_, back) = decide(&app, &cookie, id, APPROVE_READS).await;
        assert!(back.ends_with("refused=cap"), "{back}");
    })
    .await;
}

#[tokio::test]
async fn a_missing_scope_is_a_403_step_up_for_oauth_clients_only() {
    on_each_engine(|db| async move {
        let app = app(&db);
        let owner = founder(&db, "owner@example.com").await;
        let (_, tokens) = connect(&app, "owner@example.com", APPROVE_READS).await;
        let access = tokens["access_token"].as_str().unwrap();
        let ws = crate::support::first_workspace(&db, &owner).await;
        let (status, headers, body) = mcp_call(&app, access, "send_meta_conversions", json!({ "workspace_id": ws, "events": [] })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"analytics:read credits:read conversions:write\", \
             resource_metadata=\"http://127.0.0.1:3999/.well-known/oauth-protected-resource/mcp\", \
             error_description=\"this call needs the conversions:write scope\""
        );
        // The granted scopes still work.
        let (status, _, body) = mcp_call(&app, access, "check_credits", json!({ "workspace_id": ws })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["isError"], false, "{body}");
        // A pasted token keeps the tool error.
        let pasted = crate::support::issue_token(&db, &owner, vec![Scope::AnalyticsRead], tollgate::model::Binding::User, None).await;
        let (status, _, body) = mcp_call(&app, &pasted, "send_meta_conversions", json!({ "workspace_id": ws, "events": [] })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["structuredContent"]["error"]["code"], "missing_scope", "{body}");
    })
    .await;
}
