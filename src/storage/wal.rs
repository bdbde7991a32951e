//! SQLite: keeps the write-ahead logs of both files (main and meter) short.
//!
//! The admission writer's connection never checkpoints (SQLite would otherwise do it in the
//! commit that grows a log past 1,000 pages, and that batch, and every call waiting for it,
//! would wait 20 ms and more for the copy and its fsync). [`checkpoint_continuously`] does it
//! beside the writer, on a connection of its own.
//!
//! A passive checkpoint never waits for the writer or for readers, but while commits keep
//! coming it never catches up with the end of the log either, and SQLite starts a log over
//! only once a checkpoint has caught up: under steady load the meter file's log grew by about
//! 8 MB a second. So once a log is longer than [`RESTART_AFTER_FRAMES`], a restarting
//! checkpoint holds the next commit back for the few frames the passive one left, and the
//! writer starts the log over from its beginning.

use std::time::Duration;

use sqlx::AnyConnection;

use super::Db;

/// A log this long (in pages, 16 MB at SQLite's 4 KB pages; about two seconds of the writer at
/// full load) is started over.
pub const RESTART_AFTER_FRAMES: i64 = 4096;
const EVERY: Duration = Duration::from_millis(200);
/// How long a restarting checkpoint may wait for the writer and for readers of older pages.
/// It holds back the writer's commits while it waits, so it gives up early and tries again.
const RESTART_WAIT_MS: u32 = 20;

/// Checkpoints both files every 200 ms, for as long as the process runs.
pub async fn checkpoint_continuously(db: Db) {
    let mut conn: Option<AnyConnection> = None;
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        ticks.tick().await;
        let checkpointed = match &mut conn {
            Some(conn) => checkpoint(conn).await,
            None => connect(&db).await.map(|c| conn = Some(c)),
        };
        if let Err(e) = checkpointed {
            tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log");
            conn = None;
        }
    }
}

async fn connect(db: &Db) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = db.connect_one().await?;
    sqlx::query(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS}"))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// One passive checkpoint per file, then a restarting one where the log is too long.
async fn checkpoint(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    for schema in ["main", "meter"] {
        let log = run(conn, schema, "PASSIVE").await?.log_frames;
        if log > RESTART_AFTER_FRAMES {
            let restart = run(conn, schema, "RESTART").await?;
            if restart.busy {
                tracing::debug!(schema, log, "the log's restart waits for a reader");
            }
        }
    }
    Ok(())
}

struct Outcome {
    /// The checkpoint could not finish (a reader or the writer was in the way).
    busy: bool,
    log_frames: i64,
}

async fn run(conn: &mut AnyConnection, schema: &str, mode: &str) -> Result<Outcome, sqlx::Error> {
    let (busy, log_frames, _checkpointed): (i64, i64, i64) =
        sqlx::query_as(&format!("PRAGMA {schema}.wal_checkpoint({mode})"))
            .fetch_one(conn)
            .await?;
    Ok(Outcome {
        busy: busy != 0,
        log_frames,
    })
}
