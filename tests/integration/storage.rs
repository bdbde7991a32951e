//! SQLite's second file: the metered tables live in `<main file>-meter`. A metered call lands
//! there, and an install from before the split keeps every metered row when it starts again,
//! also when the move was interrupted between its two commits. Its write-ahead log stays short
//! while commits never pause.

use std::path::Path;

use axum::http::StatusCode;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Executor, SqliteConnection};

use crate::support::{founder, new_data_dir, org_token, post_json, TestDb, ORIGIN};
use tollgate::storage::{wal, Db};

const METERED: [&str; 6] = [
    "usage_events",
    "rate_limits",
    "rate_windows",
    "period_usage",
    "refusals",
    "usage_daily",
];

/// What the metered tables hold, row by row, as text; read with unqualified names, as the
/// server reads them.
async fn metered_rows(db: &Db) -> Vec<String> {
    let mut rows = Vec::new();
    for table in METERED {
        let sql = format!("SELECT * FROM {table} ORDER BY 1");
        let all: Vec<sqlx::any::AnyRow> = sqlx::query(&sql).fetch_all(&db.pool).await.unwrap();
        for row in all {
            use sqlx::Row;
            let values: Vec<String> = (0..row.len())
                .map(|i| {
                    row.try_get::<i64, _>(i)
                        .map(|v| v.to_string())
                        .or_else(|_| row.try_get::<String, _>(i))
                        .unwrap_or_else(|_| "NULL".into())
                })
                .collect();
            rows.push(format!("{table}: {}", values.join(", ")));
        }
    }
    rows
}

async fn metered_tables_in_main(db: &Db) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name IN \
         ('usage_events', 'rate_limits', 'rate_windows', 'period_usage', 'refusals', 'usage_daily')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn open_raw(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(false);
    SqliteConnection::connect_with(&options).await.unwrap()
}

#[tokio::test]
async fn a_metered_call_is_written_to_the_meter_file() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
    let owner = founder(&db, "owner@example.com").await;
    let ws = crate::support::first_workspace(&db, &owner).await;
    let token = org_token(&db, &owner).await;

    let (status, _, body) = post_json(
        &app,
        "/v1/tools/get_performance_summary",
        Some(&token),
        &[],
        json!({ "workspace_id": ws }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let in_meter: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM meter.usage_events), (SELECT SUM(calls) FROM meter.usage_daily)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        in_meter,
        (1, 1),
        "the call's event and rollup are in the meter file"
    );
    assert_eq!(metered_tables_in_main(&db).await, 0);
}

#[tokio::test]
async fn an_install_from_before_the_meter_file_keeps_its_metered_rows() {
    let dir = new_data_dir();
    let main_file = dir.join("tollgate.db");
    let url = format!("sqlite://{}", main_file.display());

    // The layout of an install from before the split: every table in the main file.
    let mut old = open_raw(&main_file).await;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut old)
        .await
        .unwrap();
    old.execute(
        "INSERT INTO usage_events VALUES (1, 1, NULL, 7, 'get_performance_summary', 5, 1000), \
                                         (2, 1, 3, NULL, 'generate_report', 50, 2000); \
         INSERT INTO rate_limits VALUES ('token:7', 123456); \
         INSERT INTO rate_windows VALUES ('token:7:generate_report', 3, 99999); \
         INSERT INTO period_usage VALUES (1, 0, 55); \
         INSERT INTO refusals VALUES (1, 1, 7, 'generate_report', 'rate_limited', 1500); \
         INSERT INTO usage_daily VALUES (1, '2026-11-23', 'get_performance_summary', 7, 1, 5);",
    )
    .await
    .unwrap();
    old.close().await.unwrap();
    assert!(!dir.join("tollgate.db-meter").exists());

    let db = Db::connect(&url).await.expect("the old install opens");
    let rows = metered_rows(&db).await;
    assert_eq!(rows.len(), 7, "{rows:#?}");
    assert!(rows.contains(&"usage_events: 2, 1, 3, NULL, generate_report, 50, 2000".into()));
    assert!(rows.contains(&"period_usage: 1, 0, 55".into()));
    assert_eq!(metered_tables_in_main(&db).await, 0);
    assert!(dir.join("tollgate.db-meter").exists());
    db.pool.close().await;

    // A start that stopped between the copy and the drop: the main file still has its tables
    // (with the same rows) beside the meter file's copies.
    let mut interrupted = open_raw(&main_file).await;
    let meter_file = dir.join("tollgate.db-meter");
    sqlx::query("ATTACH DATABASE $1 AS copied")
        .bind(meter_file.display().to_string())
        .execute(&mut interrupted)
        .await
        .unwrap();
    for table in METERED {
        let sql = format!("CREATE TABLE main.{table} AS SELECT * FROM copied.{table}");
        interrupted.execute(sql.as_str()).await.unwrap();
    }
    interrupted.close().await.unwrap();

    let db = Db::connect(&url)
        .await
        .expect("the interrupted move finishes");
    assert_eq!(
        metered_rows(&db).await,
        rows,
        "nothing lost, nothing copied twice"
    );
    assert_eq!(metered_tables_in_main(&db).await, 0);
    db.pool.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_in_memory_sqlite_url_is_refused_with_a_clear_error() {
    let error = Db::connect("sqlite::memory:").await.unwrap_err();
    assert!(error.to_string().contains("in-memory"), "{error}");
}

#[tokio::test]
async fn the_meter_files_log_stays_short_while_commits_never_pause() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    // The server's state starts the writer and, beside it, the checkpointer.
    let _state = crate::support::app_state(&db, ORIGIN);
    let log_file = match &test_db {
        TestDb::Sqlite { dir, .. } => dir.join("tollgate.db-meter-wal"),
        TestDb::Postgres { .. } => unreachable!(),
    };

    // Commits back to back on a connection that never checkpoints, as the writer's at full load.
    let mut conn = db.connect_one().await.unwrap();
    conn.execute(
        "PRAGMA wal_autocheckpoint = 0; \
         INSERT INTO rate_windows (key, count, expires_at) VALUES ('busy', 0, 0);",
    )
    .await
    .unwrap();
    let commits = 6 * wal::RESTART_AFTER_FRAMES;
    let mut longest_log = 0;
    for i in 0..commits {
        sqlx::query("UPDATE rate_windows SET count = count + 1 WHERE key = 'busy'")
            .execute(&mut conn)
            .await
            .unwrap();
        if i % 64 == 0 {
            longest_log = longest_log.max(std::fs::metadata(&log_file).unwrap().len());
        }
    }

    // A frame is a 4 KB page and its 24-byte header; each commit wrote at least one. Without
    // the restart the log took every commit (6 × RESTART_AFTER_FRAMES); with it, the log stays
    // near the bound, a little past twice it while the checkpointer waits for a core (8,276
    // frames seen in CI with the other tests running beside it).
    let frames = longest_log / (4096 + 24);
    assert!(
        frames < 3 * wal::RESTART_AFTER_FRAMES as u64,
        "{commits} commits grew the meter file's log to {frames} frames"
    );
    let count: i64 = sqlx::query_scalar("SELECT count FROM rate_windows WHERE key = 'busy'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, commits, "every commit is readable");
}

/// A service's write transaction (`Db::begin_write`) holds the main file's lock only: calls
/// are still admitted and metered while it is open (a lock on the meter file too would stall
/// every call behind every dashboard write, and fail them after `busy_timeout`).
#[tokio::test]
async fn a_write_transaction_leaves_the_meter_file_to_the_writer() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
    let owner = founder(&db, "owner@example.com").await;
    let token = org_token(&db, &owner).await;
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(owner.org_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let (status, _, body) = post_json(
        &app,
        "/v1/tools/get_performance_summary",
        Some(&token),
        &[],
        json!({ "workspace_id": crate::support::first_workspace(&db, &owner).await }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tx.rollback().await.unwrap();
}
