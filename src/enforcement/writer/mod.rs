//! The hot path's writes, done by one writer task per instance in batch
//! transactions: admissions (steps 4 and 5: the unit cap, the tool's window, the allowance)
//! with the metering of step 8, and the cancellation of admitted calls that then failed.
//! Whatever arrives while a batch is written goes into the next one, so under load one commit
//! serves many calls.
//!
//! An admitted call is metered in the batch that admits it (its usage event and daily rollup
//! written with its reserved units), so a successful call costs one commit; a call that fails
//! afterwards is cancelled: its units, event and rollup count are taken back. A crash between
//! the two leaves the call metered, never a run call unmetered. Refusals (rate limit, quota)
//! are recorded in the batch that decides them.
//!
//! A batch costs the same few statements however many calls it holds: it reads every row its
//! calls touch in one statement, decides the calls in arrival order with the rules of `limits`
//! in Rust, and writes the changed rows back in one statement. The database refuses those
//! writes if another writer changed one of the rows since the read (see [`Reading`]); the batch
//! is then decided again with its rows locked until the commit. So every limit stays exact,
//! also across instances. A caller is answered only once its batch has committed, so a crash
//! loses nothing that was answered.
//!
//! Every batch takes its row locks in one order (rate limits, tool windows, allowances, daily
//! rollups; each sorted by key), the same on every instance: two instances' batches cannot
//! deadlock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};
use tokio::sync::{mpsc, oneshot};

mod decide;
mod meter;
mod sql;

use decide::decide;
use meter::{meter, record_refusals};
use sql::*;

use super::limits::{self, RateState};
use crate::model::{Period, Plan};
use crate::services::tokens;
use crate::storage::{self, wal, Db, Engine};

/// The most jobs in one transaction (an event binds 6 values: well inside both engines' limits).
const MAX_BATCH: usize = 256;

/// A call asking to be admitted: its units against the token's cap, its tool's own window,
/// and the allowance of the billed organization's plan for the period holding `at`.
#[derive(Clone, Debug)]
pub struct AdmitRequest {
    pub token_id: i64,
    /// The workspace the call acts on, for its usage event.
    pub workspace_id: Option<i64>,
    pub units: i64,
    pub cap: i64,
    pub tool: &'static str,
    pub tool_limit: Option<i64>,
    pub org_id: i64,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted and metered; a call that then fails is cancelled with this `period`.
    Admitted { rate: RateState, period: Period },
    /// The unit cap or the tool's window: retry after this many seconds.
    RateLimited { retry_after: i64, rate: RateState },
    /// The allowance is used up until `resets_at` (never, for a trial). The units stay taken
    /// from the cap, as for any refusal after admission.
    QuotaExceeded {
        rate: RateState,
        resets_at: Option<i64>,
    },
    /// The token was revoked, rotated past its grace or expired since it was verified (the
    /// verified-token cache of another instance may be a moment behind).
    InvalidToken { reason: String },
}

/// A call refused outside the writer's decisions, for the usage page's count of refusals.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub org_id: i64,
    pub token_id: i64,
    pub tool: &'static str,
    pub code: &'static str,
    pub at: i64,
}

/// An admitted call that failed: its metering is taken back.
#[derive(Clone, Debug)]
struct Cancellation {
    call: AdmitRequest,
    period: Period,
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Job {
    Admit(AdmitRequest, Reply<Admission>),
    Cancel(Cancellation, Reply<()>),
    /// Recorded in the next batch; nobody waits for it.
    Refusal(Refusal),
    /// Answered once every job sent before it is committed.
    Flush(Reply<()>),
}

/// The handle calls write through; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("writing limits or usage failed: {0}")]
pub struct WriteError(String);

impl Writer {
    /// Starts the writer for `db` as a task of the current runtime; it ends when the last handle
    /// is dropped. (On a thread of its own it was woken from sleep for each statement's answer:
    /// about 1.9 context switches per call, and 15-25 % less throughput at full load.)
    pub fn start(db: Db) -> Writer {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, jobs));
        Writer { queue }
    }

    pub async fn admit(&self, request: AdmitRequest) -> Result<Admission, WriteError> {
        self.send(|reply| Job::Admit(request, reply)).await
    }

    /// Takes back the metering of an admitted call that failed (failed calls debit nothing):
    /// the units it reserved in `period`, its usage event and its count in the daily rollup.
    pub async fn cancel(&self, call: AdmitRequest, period: Period) -> Result<(), WriteError> {
        let cancellation = Cancellation { call, period };
        self.send(|done| Job::Cancel(cancellation, done)).await
    }

    /// Whether the writer's task still takes jobs.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Waits until everything sent so far (refusals included, which nobody waits for) is
    /// committed: the last step of a shutdown.
    pub async fn flush(&self) -> Result<(), WriteError> {
        self.send(Job::Flush).await
    }

    /// Counts a refusal decided outside the writer; the call's answer does not wait for it.
    pub fn record_refusal(&self, refusal: Refusal) {
        let _ = self.queue.send(Job::Refusal(refusal));
    }

    async fn send<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, WriteError> {
        let stopped = || WriteError("the writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send(job(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(WriteError)
    }
}

async fn write_batches(db: Db, mut jobs: mpsc::UnboundedReceiver<Job>) {
    if db.engine == Engine::Sqlite {
        tokio::spawn(wal::checkpoint_continuously(db.clone()));
    }
    // The writer keeps a connection of its own: its prepared statements stay cached. A failed batch drops it; the next one connects again.
    let mut conn: Option<AnyConnection> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut locked_until = Instant::now();
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Under load the calls about to ask are tasks ready to run: they run first and join
        // this batch, instead of waiting out the whole of it for the next.
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH {
            let Ok(job) = jobs.try_recv() else { break };
            batch.push(job);
        }
        let (mut admits, mut cancellations, mut refusals) = (Vec::new(), Vec::new(), Vec::new());
        for job in &batch {
            match job {
                Job::Admit(request, _) => admits.push(request),
                Job::Cancel(cancellation, _) => cancellations.push(cancellation),
                Job::Refusal(refusal) => refusals.push(refusal.clone()),
                Job::Flush(_) => {}
            }
        }
        if admits.is_empty() && cancellations.is_empty() && refusals.is_empty() {
            // Only flushes: everything before them is committed already.
            for job in batch.drain(..) {
                if let Job::Flush(done) = job {
                    let _ = done.send(Ok(()));
                }
            }
            continue;
        }
        let started = Instant::now();
        let mut reading = match started < locked_until {
            true => Reading::Locked,
            false => Reading::Optimistic,
        };
        let mut result = write(&db, &mut conn, reading, &admits, &cancellations, &refusals).await;
        if reading == Reading::Optimistic && result.as_ref().is_err_and(is_conflict) {
            metrics::counter!(crate::metrics::WRITER_CONFLICTS).increment(1);
            rollback(&mut conn).await;
            reading = Reading::Locked;
            locked_until = Instant::now() + LOCKED_AFTER_CONFLICT;
            result = write(&db, &mut conn, reading, &admits, &cancellations, &refusals).await;
        }
        if crate::metrics::enabled() {
            let size = admits.len() + cancellations.len() + refusals.len();
            metrics::histogram!(crate::metrics::WRITER_BATCH_SIZE).record(size as f64);
            metrics::histogram!(crate::metrics::WRITER_COMMIT_SECONDS)
                .record(started.elapsed().as_secs_f64());
        }
        let result = result.map_err(|e| {
            tracing::error!(error = %e, "writing a batch of admissions and usage");
            conn = None;
            e.to_string()
        });
        let mut decisions = match &result {
            Ok(decisions) => decisions.clone().into_iter(),
            Err(_) => Vec::new().into_iter(),
        };
        for job in batch.drain(..) {
            match job {
                Job::Admit(_, reply) => {
                    let decision = match &result {
                        Ok(_) => decisions.next().expect("one decision per admission"),
                        Err(e) => Err(e.clone()),
                    };
                    let _ = reply.send(decision);
                }
                Job::Cancel(_, done) | Job::Flush(done) => {
                    let _ = done.send(result.as_ref().map(|_| ()).map_err(Clone::clone));
                }
                Job::Refusal(_) => {}
            }
        }
    }
}

/// Ends the failed batch's transaction, or drops the connection if that fails too.
async fn rollback(conn: &mut Option<AnyConnection>) {
    if let Some(c) = conn {
        if c.execute("ROLLBACK").await.is_err() {
            *conn = None;
        }
    }
}

/// The writer's connection. On SQLite its commits never checkpoint the WAL:
/// [`wal::checkpoint_continuously`] does, beside it. On PostgreSQL it never scans a table
/// whose index can find the rows.
async fn connect(db: &Db) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = db.connect_one().await?;
    let setting = match db.engine {
        Engine::Sqlite => "PRAGMA wal_autocheckpoint = 0",
        // Every statement of a batch finds its rows by key, yet PostgreSQL at times planned a
        // read of many keys as a scan of the whole table, its `IN` list of parameters rebuilt
        // as an array for every row: in one bench run 274 reads of rate_limits scanned 2,400
        // rows each, a fifth of the writer's database time. A scan stays possible where no
        // index serves.
        Engine::Postgres => "SET enable_seqscan = off",
    };
    conn.execute(setting).await?;
    Ok(conn)
}

/// How a batch reads the rows of its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// With the batch's first read, unlocked: the database refuses the batch's writes if
    /// another writer changed one of those rows since (PostgreSQL at repeatable read; SQLite,
    /// whose snapshot of the meter file would be stale), and the batch is then written again,
    /// locked. Two round trips fewer on PostgreSQL, one hop fewer on SQLite, and no no-op
    /// write of each row to lock it.
    Optimistic,
    /// Locked and read before the batch decides ([`lock`]): what a writer does for a
    /// while after a conflict, when other instances write the same rows.
    Locked,
}

/// How long a writer locks its rows after a conflict before it reads optimistically again.
const LOCKED_AFTER_CONFLICT: Duration = Duration::from_secs(1);

/// A batch's write that failed because another writer changed a row it had read unlocked:
/// PostgreSQL's serialization failure (or a deadlock with a locked batch), SQLite's busy (a
/// transaction that has read waits for no lock, and a stale snapshot cannot write).
fn is_conflict(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|e| e.code());
    matches!(code.as_deref(), Some("40001" | "40P01" | "5" | "517"))
}

/// One batch in one transaction; the decisions in the order of `admits`.
///
/// On SQLite sqlx runs each call on a worker thread of the connection's own, and every call is
/// a hop there and back that wakes two threads: about 100 µs of a batch's time at full load
/// (a `BEGIN` alone measured 118 µs), far more than the statements' own work. A string of
/// several statements is one hop (sqlx runs them in order, binding their `?`s in turn), so there
/// an optimistic batch makes two: `BEGIN` with its reads, its writes with `COMMIT`.
/// PostgreSQL's protocol takes one statement at a time: there `BEGIN`, the read, the writes and
/// `COMMIT` are round trips of their own (and each lock, when locked).
async fn write(
    db: &Db,
    conn: &mut Option<AnyConnection>,
    reading: Reading,
    admits: &[&AdmitRequest],
    cancellations: &[&Cancellation],
    refusals: &[Refusal],
) -> Result<Vec<Result<Admission, String>>, sqlx::Error> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(connect(db).await?),
    };
    // A failed batch rolls back, or drops the connection and with it whatever it had begun.
    // On SQLite a deferred BEGIN: the batch reads the main file and writes only the meter file.
    // BEGIN IMMEDIATE would take the main file's write lock too, and every batch would queue
    // behind the dashboard's writes and the flush of tokens' last use (and they behind it).
    let begin = match (Engine::of(conn), reading) {
        (Engine::Postgres, Reading::Optimistic) => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        _ => "BEGIN",
    };
    let mut writes = Writes::default();
    let decisions = decide(conn, begin, reading, admits, cancellations, &mut writes).await?;
    let mut admitted = Vec::new();
    let mut refused = refusals.to_vec();
    for (a, decision) in admits.iter().zip(&decisions) {
        let code = match decision {
            Ok(Admission::Admitted { .. }) => {
                admitted.push(*a);
                continue;
            }
            Ok(Admission::RateLimited { .. }) => "rate_limited",
            Ok(Admission::QuotaExceeded { .. }) => "quota_exceeded",
            Ok(Admission::InvalidToken { .. }) | Err(_) => continue,
        };
        refused.push(Refusal {
            org_id: a.org_id,
            token_id: a.token_id,
            tool: a.tool,
            code,
            at: a.at,
        });
    }
    meter(conn, &admitted, cancellations, &mut writes).await?;
    record_refusals(&refused, &mut writes);
    writes.commit(conn).await?;
    for (a, decision) in admits.iter().zip(&decisions) {
        if let Ok(Admission::InvalidToken { .. }) = decision {
            db.token_cache.evict(a.token_id);
        }
    }
    Ok(decisions)
}

impl From<WriteError> for crate::tools::ToolError {
    fn from(err: WriteError) -> Self {
        tracing::error!(error = %err, "admitting or metering a call");
        crate::tools::ToolError::Internal
    }
}
