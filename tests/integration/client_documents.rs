//! OAuth clients named by an https URL (Client ID Metadata Documents), against a local https
//! server with a certificate of a throwaway CA that the server under test is told to trust.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tower::ServiceExt;

use crate::support::{on_each_engine, ORIGIN};

/// What the document server answers at one path.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn json_reply(body: serde_json::Value) -> Reply {
    Reply {
        status: "200 OK",
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("Cache-Control", "max-age=3600".into()),
        ],
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

/// An https server on 127.0.0.1 answering `replies` by path; counts the requests it gets.
struct DocumentServer {
    base: String,
    hits: Arc<AtomicUsize>,
    ca: std::path::PathBuf,
}

/// `replies` gets the server's base URL (`https://127.0.0.1:<port>`): documents name themselves.
async fn document_server(replies: impl FnOnce(&str) -> HashMap<String, Reply>) -> DocumentServer {
    let dir = crate::support::new_data_dir();
    let made = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-tls"))
        .arg(&dir)
        .status()
        .expect("scripts/test-tls runs");
    assert!(made.success());
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("https://127.0.0.1:{port}");
    let replies = Arc::new(replies(&base));
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, replies, hits) = (acceptor.clone(), replies.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&request);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let reply = replies.get(&path).cloned().unwrap_or(Reply {
                    status: "404 Not Found",
                    headers: vec![],
                    body: String::new(),
                    delay: Duration::ZERO,
                });
                tokio::time::sleep(reply.delay).await;
                let mut head = format!(
                    "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (name, value) in &reply.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(reply.body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    DocumentServer {
        base,
        hits,
        ca: dir.join("ca.pem"),
    }
}

/// The router of a server that trusts the document server's CA; loopback is reachable only
/// when `allow_loopback` (the operator's allow-list, as for write-back).
fn router(
    db: &tollgate::storage::Db,
    server: &DocumentServer,
    allow_loopback: bool,
) -> axum::Router {
    let mut state = crate::support::app_state(db, ORIGIN);
    let pem = std::fs::read(&server.ca).unwrap();
    let mut config = (*state.config).clone();
    config.outbound_roots = reqwest::Certificate::from_pem_bundle(&pem).unwrap();
    config.client_document_allow = match allow_loopback {
        true => crate::support::local_allow(),
        false => Default::default(),
    };
    state.client_documents = config.client_documents();
    state.config = Arc::new(config);
    tollgate::http::router(state)
}

/// `/authorize` for `client_id`; returns `Location`.
async fn authorize(app: &axum::Router, client_id: &str, redirect_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ])
        .finish();
    let request = Request::get(format!("/authorize?{query}"))
        .header(header::HOST, "127.0.0.1:3999")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

fn document(client_id: &str) -> serde_json::Value {
    json!({
        "client_id": client_id,
        "client_name": "Document client",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
    })
}

fn replies(base: &str) -> HashMap<String, Reply> {
    let at = |path: &str| format!("{base}{path}");
    let mut replies = HashMap::new();
    for path in ["/good", "/good-elsewhere"] {
        replies.insert(path.to_string(), json_reply(document(&at(path))));
    }
    let mut big = document(&at("/big"));
    big["padding"] = json!("x".repeat(6000));
    replies.insert("/big".into(), json_reply(big));
    replies.insert(
        "/slow".into(),
        Reply {
            delay: Duration::from_secs(5),
            ..json_reply(document(&at("/slow")))
        },
    );
    let html = Reply {
        headers: vec![("Content-Type", "text/html".into())],
        ..json_reply(document(&at("/html")))
    };
    replies.insert("/html".into(), html);
    replies.insert(
        "/not-json".into(),
        Reply {
            body: "{ nope".into(),
            ..json_reply(json!({}))
        },
    );
    let moved = Reply {
        status: "302 Found",
        headers: vec![("Location", at("/good"))],
        body: String::new(),
        delay: Duration::ZERO,
    };
    replies.insert("/moved".into(), moved);
    replies.insert("/other-id".into(), json_reply(document(&at("/good"))));
    let mut secret = document(&at("/secret"));
    secret["client_secret"] = json!("s3cret");
    replies.insert("/secret".into(), json_reply(secret));
    let mut http_redirect = document(&at("/http-redirect"));
    http_redirect["redirect_uris"] = json!(["http://app.example/callback"]);
    replies.insert("/http-redirect".into(), json_reply(http_redirect));
    replies
}

#[tokio::test]
async fn a_client_named_by_its_metadata_document_is_fetched_checked_and_kept() {
    on_each_engine(|db| async move {
        let server = document_server(replies).await;
        let app = router(&db, &server, true);
        let client_id = format!("{}/good", server.base);
        // Claude Code's case: the document lists a loopback URI without a port; it sends one.
        let location = authorize(&app, &client_id, "http://localhost:41234/callback").await;
        assert!(location.starts_with("/consent/"), "{location}");
        let id = location.trim_start_matches("/consent/");
        let pending = tollgate::services::oauth::pending(&db, id, tollgate::storage::now_ms())
            .await
            .unwrap();
        assert_eq!(pending.client.name, "Document client");
        assert!(pending.client.from_document);
        // Kept for its max-age: a second request fetches nothing.
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        authorize(&app, &client_id, "http://localhost:41235/callback").await;
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
        // A redirect URI the document does not list is not sent to.
        let location = authorize(&app, &client_id, "https://evil.example/callback").await;
        assert_eq!(
            location,
            "/authorize/failed?reason=unregistered_redirect_uri"
        );

        for path in [
            "/big",
            "/slow",
            "/html",
            "/not-json",
            "/moved",
            "/other-id",
            "/secret",
            "/http-redirect",
            "/missing",
        ] {
            let location = authorize(
                &app,
                &format!("{}{path}", server.base),
                "http://localhost/callback",
            )
            .await;
            assert_eq!(
                location, "/authorize/failed?reason=client_document",
                "{path}"
            );
        }
        // Nothing invalid was kept: only the good document is a client.
        assert_eq!(
            crate::support::count(&db, "SELECT COUNT(*) FROM oauth_clients").await,
            1
        );
        // The moved document's redirect was not followed.
        let fetched = server.hits.load(Ordering::SeqCst);
        assert_eq!(
            fetched,
            1 + 9,
            "one request per document, none for the redirect's target"
        );

        // Without the operator's leave, a document on a private address is not fetched at all.
        let guarded = router(&db, &server, false);
        let location = authorize(
            &guarded,
            &format!("{}/good-elsewhere", server.base),
            "http://localhost/callback",
        )
        .await;
        assert_eq!(location, "/authorize/failed?reason=client_document");
        assert_eq!(server.hits.load(Ordering::SeqCst), fetched);
    })
    .await;
}
