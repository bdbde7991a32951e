//! Domain services: plain async functions over `Db`, with the time passed in (`now`, epoch
//! milliseconds) so that tests control the clock. Handlers and server functions stay thin.

pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod billing;
pub mod credits;
pub mod demo;
pub mod invites;
pub mod jobs;
pub mod members;
pub mod oauth;
pub mod organizations;
pub mod throttle;
pub mod tokens;
pub mod usage;
pub mod workspaces;
pub mod write_back;

use crate::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Throttled(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<ServiceError> for AppError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(m) => AppError::Invalid(m),
            ServiceError::Forbidden(m) => AppError::Forbidden(m),
            ServiceError::NotFound(m) => AppError::NotFound(m),
            ServiceError::Conflict(m) => AppError::Conflict(m),
            ServiceError::Throttled(m) => AppError::Throttled(m),
            internal @ (ServiceError::Database(_) | ServiceError::Hashing(_)) => {
                tracing::error!(error = %internal, "internal error");
                AppError::Internal
            }
        }
    }
}

/// Whether an insert failed on a UNIQUE constraint, on either engine.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Work waiting in a queue: how many items, and when the oldest was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub waiting: i64,
    pub oldest_at: Option<i64>,
}

/// The backlog a `SELECT COUNT(*), MIN(created_at) …` reads.
async fn read_backlog(db: &crate::storage::Db, sql: &'static str) -> ServiceResult<Backlog> {
    let (waiting, oldest_at): (i64, Option<i64>) = sqlx::query_as(sql).fetch_one(&db.pool).await?;
    Ok(Backlog { waiting, oldest_at })
}
