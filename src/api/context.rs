//! What a server function learns about its request: state, session, client IP, actor.
//!
//! `RequestContext::current()` must be called before the function's first `.await`: Leptos
//! contexts are only reliably reachable while the server function is first polled.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::error::AppError;
use crate::model::Grouping;
use crate::services::organizations::{self, Actor};
use crate::state::AppState;

const USER_KEY: &str = "uid";
const ORG_KEY: &str = "org";

pub struct RequestContext {
    pub state: AppState,
    pub session: Session,
    pub ip: String,
    /// A browser's plain form post (no JavaScript): it can only follow a redirect, so a
    /// response's data never reaches the page.
    pub plain_form_post: bool,
    /// How the reader groups thousands, from the browser's `Accept-Language`.
    pub grouping: Grouping,
}

fn session_error(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store");
    AppError::Internal
}

impl RequestContext {
    /// The context of the request a server function runs for.
    pub fn current() -> Result<RequestContext, AppError> {
        let parts = use_context::<Parts>().ok_or_else(|| {
            tracing::error!("server function called outside a request");
            AppError::Internal
        })?;
        RequestContext::of(&parts)
    }

    /// Reads the state and session from the request (put there by `http::router`'s layers).
    pub fn of(parts: &Parts) -> Result<RequestContext, AppError> {
        let state = parts
            .extensions
            .get::<AppState>()
            .cloned()
            .ok_or(AppError::Internal)?;
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(AppError::Internal)?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        let ip = state.config.client_ip(&parts.headers, peer.map(|c| c.0));
        let plain_form_post = parts
            .headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        let grouping = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Grouping::from_accept_language)
            .unwrap_or_default();
        Ok(RequestContext {
            state,
            session,
            ip,
            plain_form_post,
            grouping,
        })
    }

    pub fn db(&self) -> &crate::storage::Db {
        &self.state.db
    }

    /// Starts a signed-in session under a new id (no session fixation) for `user_id`.
    pub async fn sign_in(&self, user_id: i64, org_id: Option<i64>) -> Result<(), AppError> {
        self.session.cycle_id().await.map_err(session_error)?;
        self.session
            .insert(USER_KEY, user_id)
            .await
            .map_err(session_error)?;
        if let Some(org_id) = org_id {
            self.set_active_org(org_id).await?;
        }
        Ok(())
    }

    /// Deletes the stored session: the old cookie is worthless even if it was copied.
    pub async fn sign_out(&self) -> Result<(), AppError> {
        self.session.flush().await.map_err(session_error)
    }

    pub async fn set_active_org(&self, org_id: i64) -> Result<(), AppError> {
        self.session
            .insert(ORG_KEY, org_id)
            .await
            .map_err(session_error)
    }

    pub async fn user_id(&self) -> Result<Option<i64>, AppError> {
        self.session
            .get::<i64>(USER_KEY)
            .await
            .map_err(session_error)
    }

    pub async fn require_user(&self) -> Result<i64, AppError> {
        self.user_id().await?.ok_or(AppError::SignInRequired)
    }

    /// The active organization of the session, or the user's first one when it was never
    /// chosen or they have left it since.
    pub async fn active_org(&self, user_id: i64) -> Result<Option<i64>, AppError> {
        let chosen = self
            .session
            .get::<i64>(ORG_KEY)
            .await
            .map_err(session_error)?;
        if let Some(org_id) = chosen {
            if organizations::role_in(&self.db().pool, org_id, user_id)
                .await?
                .is_some()
            {
                return Ok(Some(org_id));
            }
        }
        let first = organizations::orgs_of_user(self.db(), user_id)
            .await?
            .first()
            .map(|o| o.id);
        if let Some(org_id) = first {
            self.set_active_org(org_id).await?;
        }
        Ok(first)
    }

    /// The signed-in user acting in their active organization, with their current role.
    pub async fn actor(&self) -> Result<Actor, AppError> {
        let user_id = self.require_user().await?;
        let org_id = self.active_org(user_id).await?.ok_or_else(|| {
            AppError::Forbidden("You are not a member of any organization yet.".into())
        })?;
        Ok(organizations::actor(self.db(), user_id, org_id).await?)
    }
}
