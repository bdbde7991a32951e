//! SQLite: the metered tables live in a file of their own beside the main database
//! (`<main file>-meter`), attached to every connection as `meter`.
//!
//! The admission writer commits about once per batch of calls, and SQLite notices commits per
//! file: while the metered tables shared the main file, each of those commits made every pooled
//! connection drop its cached pages and memory map of the tables every tool call reads (about a
//! tenth of the server's CPU under load). Queries name the tables unqualified; SQLite finds them
//! in `meter` because the main file no longer has them.
//!
//! The file keeps its own migrations (`migrations/sqlite_meter`), recorded in the file itself so
//! that a table and the record of its migration commit together. Installs from before the split
//! have the tables in the main file: [`move_out_of_main`] copies them over, then drops them.

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

static METER_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite_meter");

/// The metered tables with the columns they had in the main file (its migrations 0003, 0006 and
/// 0007), which are the columns of their first version in the meter file.
const METERED_TABLES: [(&str, &str); 6] = [
    (
        "usage_events",
        "id, org_id, workspace_id, token_id, tool, units, created_at",
    ),
    ("rate_limits", "key, tat"),
    ("rate_windows", "key, count, expires_at"),
    ("period_usage", "org_id, period_start, units"),
    ("refusals", "id, org_id, token_id, tool, code, created_at"),
    ("usage_daily", "org_id, day, tool, token_id, calls, units"),
];

/// The meter file of the main database file `main`.
pub fn meter_path(main: &str) -> String {
    format!("{main}-meter")
}

/// Attaches the meter file to a new connection, set up like the main file.
pub(super) async fn attach(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let main = database_file(conn, "main").await?;
    if main.is_empty() {
        return Err(sqlx::Error::Configuration(
            "an in-memory SQLite database cannot hold Tollgate's data: use a file".into(),
        ));
    }
    sqlx::query("ATTACH DATABASE $1 AS meter")
        .bind(meter_path(&main))
        .execute(&mut *conn)
        .await?;
    conn.execute(
        "PRAGMA meter.journal_mode = WAL; PRAGMA meter.synchronous = NORMAL; \
         PRAGMA meter.mmap_size = 268435456;",
    )
    .await?;
    Ok(())
}

/// Applies the meter file's migrations, on a connection to that file alone (its migration
/// records must not meet the main file's).
pub(super) async fn migrate(pool: &AnyPool) -> Result<(), super::StorageError> {
    let path = database_file(&mut *pool.acquire().await?, "meter").await?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(10));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    METER_MIGRATIONS.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Moves metered tables the main file still has (an install from before the meter file, or a
/// new one: the main file's early migrations create them there) into the meter file.
///
/// Two commits, one per file, each safe to repeat: the copy (rows already copied keep their
/// primary key and are skipped), then the drop. A crash between them leaves both copies, and the
/// next start finishes the move before anything reads or writes the tables.
pub(super) async fn move_out_of_main(pool: &AnyPool) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut in_main = Vec::new();
    for (table, columns) in METERED_TABLES {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            in_main.push((table, columns));
        }
    }
    if in_main.is_empty() {
        return Ok(());
    }
    let mut copy = conn.begin_with("BEGIN IMMEDIATE").await?;
    for (table, columns) in &in_main {
        let sql = format!(
            "INSERT OR IGNORE INTO meter.{table} ({columns}) SELECT {columns} FROM main.{table}"
        );
        (&mut *copy).execute(sql.as_str()).await?;
    }
    copy.commit().await?;
    let mut drop = conn.begin_with("BEGIN IMMEDIATE").await?;
    for (table, _) in &in_main {
        let sql = format!("DROP TABLE main.{table}");
        (&mut *drop).execute(sql.as_str()).await?;
    }
    drop.commit().await?;
    tracing::info!(
        tables = in_main.len(),
        "moved the metered tables into the meter file"
    );
    Ok(())
}

/// The file behind one of the connection's databases ("" when in memory).
async fn database_file(conn: &mut AnyConnection, schema: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = $1")
        .bind(schema)
        .fetch_one(conn)
        .await
}
