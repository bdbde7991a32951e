//! The database: one `sqlx::AnyPool` over SQLite (default) or PostgreSQL.
//!
//! Every query in Tollgate is written once in the SQL both engines accept: `$1` placeholders,
//! BIGINT millisecond timestamps, `RETURNING`, `ON CONFLICT`. Aggregates are cast to BIGINT
//! because the `Any` driver has no NUMERIC type.

pub mod meter_file;
pub mod session_store;
pub mod token_cache;
pub mod wal;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
/// A pooled connection idle for longer is checked before it is handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine behind `conn`.
    pub fn of(conn: &sqlx::AnyConnection) -> Engine {
        match conn.backend_name() {
            "SQLite" => Engine::Sqlite,
            _ => Engine::Postgres,
        }
    }
}

/// Cheap to clone: the pool and the cache are reference-counted.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub engine: Engine,
    /// Verified tokens; off until [`Db::start_token_cache`].
    pub token_cache: Arc<token_cache::TokenCache>,
    url: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported DATABASE_URL (expected sqlite://… or postgres://…)")]
    UnsupportedUrl,
    #[error("an in-memory SQLite database cannot hold Tollgate's data: use a file (sqlite://data/tollgate.db)")]
    InMemorySqlite,
    #[error("could not create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// A transaction that writes. On SQLite it takes the main file's write lock first,
    /// waiting as `busy_timeout` says: a transaction that reads first fails at once with
    /// "database is locked" when its first write finds another writer or a checkpoint in the
    /// way (SQLite cannot let a reader wait for a lock). Not `BEGIN IMMEDIATE`, which would
    /// lock the attached meter file too and stall the writer's admissions behind every write.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.engine == Engine::Sqlite {
            sqlx::query("UPDATE main.organizations SET id = id WHERE 0")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Connects, creating the SQLite file (and its folder) on first start, and applies migrations.
    pub async fn connect(url: &str) -> Result<Db, StorageError> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        let url = match engine {
            Engine::Sqlite => prepare_sqlite_url(url)?,
            Engine::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A connection is pinged before use only after it sat idle (where dropped
            // connections come from); pinging every acquisition cost a round trip per query.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| Box::pin(configure(conn, engine)))
            .connect_with(options)
            .await?;
        let db = Db {
            pool,
            engine,
            token_cache: Default::default(),
            url: url.into(),
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Whether the database holds every migration this build knows (a restored backup, or a
    /// database another build migrated, may lack some). Errs when the database does not answer.
    pub async fn migrations_applied(&self) -> Result<bool, sqlx::Error> {
        let known = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied.unwrap_or(0) >= known)
    }

    /// A connection of its own, outside the pool, set up like the pool's (the writer's).
    pub async fn connect_one(&self) -> Result<sqlx::AnyConnection, sqlx::Error> {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&self.url).await?;
        configure(&mut conn, self.engine).await?;
        Ok(conn)
    }

    /// Turns the verified-token cache on: at once on SQLite (one process owns the file), on
    /// PostgreSQL once the invalidation listener is subscribed (and only while it is).
    pub fn start_token_cache(&self) {
        match self.engine {
            Engine::Sqlite => self.token_cache.enable_single_instance(),
            Engine::Postgres => {
                token_cache::spawn_listener(&self.token_cache, self.url.to_string())
            }
        }
    }

    /// Within a transaction that revokes or rotates `token_id`: tells every instance to forget
    /// it. Returns what [`Db::token_changed`] needs once the transaction has committed.
    pub async fn announce_token_change(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        token_id: i64,
    ) -> Result<Option<tokio::sync::oneshot::Receiver<()>>, sqlx::Error> {
        if self.engine == Engine::Sqlite {
            return Ok(None); // one process: the local eviction after the commit is enough
        }
        let (payload, waiter) = self.token_cache.announcement(token_id);
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(token_cache::CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(waiter)
    }

    /// After the commit: evicts locally and waits until the notification went out.
    pub async fn token_changed(
        &self,
        token_id: i64,
        waiter: Option<tokio::sync::oneshot::Receiver<()>>,
    ) {
        self.token_cache.announced(token_id, waiter).await;
    }

    fn migrator(&self) -> &'static Migrator {
        match self.engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        match self.engine {
            Engine::Sqlite => {
                meter_file::migrate(&self.pool).await?;
                self.migrator().run(&self.pool).await?;
                meter_file::move_out_of_main(&self.pool).await?;
            }
            Engine::Postgres => self.migrator().run(&self.pool).await?,
        }
        Ok(())
    }
}

/// Every new connection's settings.
async fn configure(conn: &mut sqlx::AnyConnection, engine: Engine) -> Result<(), sqlx::Error> {
    if engine == Engine::Sqlite {
        // WAL lets readers run beside the one writer; busy_timeout queues writers instead of
        // failing them; SQLite leaves foreign keys off unless asked. Memory-mapped reads: each
        // commit empties every other connection's page cache, and re-reading pages through
        // read() cost more than the queries themselves under load.
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             PRAGMA mmap_size = 268435456;",
        )
        .await?;
        meter_file::attach(conn).await?;
    }
    Ok(())
}

/// `sqlite://data/tollgate.db` → creates `data/` and asks SQLite to create the file.
fn prepare_sqlite_url(url: &str) -> Result<String, StorageError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
        return Err(StorageError::InMemorySqlite);
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StorageError::DataDir(parent.display().to_string(), e))?;
        }
    }
    Ok(if rest.contains("mode=") {
        url.to_string()
    } else if rest.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// `($1, $2, …), (…)` for `rows` rows of `width` values, numbered from `$first`; `(?, ?, …), (…)`
/// on SQLite, which looks each numbered parameter's name up in a list when binding (quadratic
/// in a batch's hundreds of values: 2 µs of every enforced call).
pub fn push_placeholders(
    sql: &mut String,
    rows: usize,
    width: usize,
    first: usize,
    engine: Engine,
) {
    use std::fmt::Write;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            let sep = if col == 0 { "" } else { ", " };
            let _ = match engine {
                Engine::Sqlite => write!(sql, "{sep}?"),
                Engine::Postgres => write!(sql, "{sep}${}", first + row * width + col),
            };
        }
        sql.push(')');
    }
}

/// The rows `select` returns for the distinct `ids`, in one query; `select` ends in
/// `WHERE <column> IN` and the list of ids is appended.
pub async fn fetch_by_ids<T>(
    conn: &mut sqlx::AnyConnection,
    select: &str,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let ids = distinct_ids(ids);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!("{select} ");
    push_placeholders(&mut sql, 1, ids.len(), 1, Engine::of(conn));
    let mut query = sqlx::query_as::<_, T>(&sql);
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_all(conn).await
}

/// `ids` sorted, each once.
pub fn distinct_ids(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Milliseconds since the Unix epoch, the one time format stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{push_placeholders, Engine};

    #[test]
    fn placeholders_number_every_value() {
        let mut sql = String::new();
        push_placeholders(&mut sql, 2, 3, 1, Engine::Postgres);
        assert_eq!(sql, "($1, $2, $3), ($4, $5, $6)");
        sql.clear();
        push_placeholders(&mut sql, 1, 2, 7, Engine::Postgres);
        assert_eq!(sql, "($7, $8)");
        sql.clear();
        push_placeholders(&mut sql, 2, 2, 7, Engine::Sqlite);
        assert_eq!(sql, "(?, ?), (?, ?)");
    }
}
