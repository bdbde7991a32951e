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
        let (mut admits, mut cancellations) = (Vec::new(), Vec::new());
        for job in &batch {
            match job {
                Job::Admit(request, _) => admits.push(request),
                Job::Cancel(cancellation, _) => cancellations.push(cancellation),
            }
        }
        let mut reading = match Instant::now() < locked_until {
            true => Reading::Locked,
            false => Reading::Optimistic,
        };
        let mut result = write(&db, &mut conn, reading, &admits, &cancellations).await;
        if reading == Reading::Optimistic && result.as_ref().is_err_and(is_conflict) {
            rollback(&mut conn).await;
            reading = Reading::Locked;
            locked_until = Instant::now() + LOCKED_AFTER_CONFLICT;
            result = write(&db, &mut conn, reading, &admits, &cancellations).await;
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
                Job::Cancel(_, done) => {
                    let _ = done.send(result.as_ref().map(|_| ()).map_err(Clone::clone));
                }
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
    let mut refused = Vec::new();
    for (a, decision) in admits.iter().zip(&decisions) {
        match decision {
            Ok(Admission::Admitted { .. }) => admitted.push(*a),
            Ok(Admission::RateLimited { .. }) => refused.push((*a, "rate_limited")),
            Ok(Admission::QuotaExceeded { .. }) => refused.push((*a, "quota_exceeded")),
            Ok(Admission::InvalidToken { .. }) | Err(_) => {}
        }
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

/// The batch's admissions and cancellations: each limit's rows locked and read once, the calls
/// decided in arrival order, the changed rows added to `writes`.
async fn decide(
    conn: &mut AnyConnection,
    begin: &str,
    reading: Reading,
    admits: &[&AdmitRequest],
    cancellations: &[&Cancellation],
    writes: &mut Writes,
) -> Result<Vec<Result<Admission, String>>, sqlx::Error> {
    let mut decided: Vec<Option<Result<Admission, String>>> = vec![None; admits.len()];
    // Each call's row of its token's cap, and of its tool's window if the tool has one.
    let cap_keys: Vec<Vec<Cell>> = admits
        .iter()
        .map(|a| vec![Cell::Text(limits::token_key(a.token_id))])
        .collect();
    let window_keys: Vec<Option<Vec<Cell>>> = admits
        .iter()
        .map(|a| {
            a.tool_limit
                .map(|_| vec![Cell::Text(limits::window_key(a.token_id, a.tool, a.at))])
        })
        .collect();
    // Read optimistically, each table's rows are selected by their first key column: for the
    // allowances all of an organization's periods, since which one a call falls in depends on
    // the plan read beside them.
    let filters = (reading == Reading::Optimistic).then(|| {
        let reserving = admits.iter().filter(|a| a.units > 0).map(|a| a.org_id);
        let orgs = reserving.chain(cancellations.iter().map(|c| c.call.org_id));
        [
            cap_keys.iter().map(|key| key[0].clone()).collect(),
            window_keys
                .iter()
                .flatten()
                .map(|key| key[0].clone())
                .collect(),
            orgs.map(Cell::Int).collect(),
        ]
    });

    // The tokens as stored now: whatever verified them, a token revoked or rotated since
    // runs nothing. The billed organizations' plans give each call its period.
    let Stored {
        statuses,
        plans,
        counters,
    } = read_stored(conn, begin, admits, filters).await?;
    for (i, a) in admits.iter().enumerate() {
        if let Some(refusal) = tokens::stored_refusal(&statuses, a.token_id, a.at) {
            let reason = refusal.to_string();
            decided[i] = Some(Ok(Admission::InvalidToken { reason }));
        }
    }

    let mut periods = Vec::with_capacity(admits.len());
    for (i, a) in admits.iter().enumerate() {
        let plan = plans.get(&a.org_id);
        periods.push(plan.map(|(plan, anchor)| plan.period(*anchor, a.at)));
        if plan.is_none() && decided[i].is_none() {
            decided[i] = Some(Err(format!("organization {} not found", a.org_id)));
        }
    }

    // The rows of every limit the calls still pending may touch, as read or locked and read
    // at once (a row locked for a call that a limit before it then refuses is merely read).
    let pending: Vec<usize> = (0..admits.len())
        .filter(|&i| decided[i].is_none())
        .collect();
    let windowed: Vec<(usize, i64, &Vec<Cell>)> = pending
        .iter()
        .filter_map(|&i| Some((i, admits[i].tool_limit?, window_keys[i].as_ref()?)))
        .collect();
    let reserving: Vec<usize> = pending
        .iter()
        .copied()
        .filter(|&i| admits[i].units > 0)
        .collect();
    let period_of = |i: usize| periods[i].expect("decided without a period");
    let period_key = |org_id: i64, period: Period| vec![Cell::Int(org_id), Cell::Int(period.start)];
    let cap_rows = pending
        .iter()
        .map(|&i| (cap_keys[i].clone(), Vec::new()))
        .collect();
    let window_rows = windowed
        .iter()
        .map(|&(i, _, key)| {
            (
                key.clone(),
                vec![Cell::Int(limits::window_end(admits[i].at))],
            )
        })
        .collect();
    let allowance_rows = cancellations
        .iter()
        .map(|c| period_key(c.call.org_id, c.period))
        .chain(
            reserving
                .iter()
                .map(|&i| period_key(admits[i].org_id, period_of(i))),
        )
        .map(|key| (key, Vec::new()))
        .collect();
    let tables: [RowsToLock; 3] = [cap_rows, window_rows, allowance_rows];
    let stored = match counters {
        Some(stored) => stored,
        None => lock(conn, &tables).await?,
    };
    let [mut caps, mut windows, mut allowances] = Counters::new(tables, &stored);

    // The unit cap of each token.
    let mut rates = vec![RateState::default(); admits.len()];
    for &i in &pending {
        let (a, key) = (admits[i], &cap_keys[i]);
        let (tat, admission) = limits::take_units(caps.get(key), a.units, a.cap, a.at);
        caps.set(key, tat);
        match admission {
            limits::Admission::Admitted(rate) => rates[i] = rate,
            limits::Admission::Refused { retry_after, state } => {
                decided[i] = Some(Ok(Admission::RateLimited {
                    retry_after,
                    rate: state,
                }))
            }
        }
    }
    caps.write_back(&RATE_LIMITS, writes);

    // The tool's own window.
    for (i, limit, key) in &windowed {
        if decided[*i].is_some() {
            continue;
        }
        match limits::take_call(windows.get(key), *limit, admits[*i].at) {
            Ok(count) => windows.set(key, count),
            Err(retry_after) => {
                decided[*i] = Some(Ok(Admission::RateLimited {
                    retry_after,
                    rate: rates[*i],
                }))
            }
        }
    }
    windows.write_back(&RATE_WINDOWS, writes);

    // The allowance of each organization's period: cancellations first, then the calls.
    for c in cancellations {
        let key = period_key(c.call.org_id, c.period);
        allowances.set(&key, (allowances.get(&key) - c.call.units).max(0));
    }
    for &i in &reserving {
        if decided[i].is_some() {
            continue;
        }
        let (a, period) = (admits[i], period_of(i));
        let key = period_key(a.org_id, period);
        match limits::reserve(allowances.get(&key), period, a.units) {
            Some(used) => allowances.set(&key, used),
            None => {
                let (plan, _) = &plans[&a.org_id];
                decided[i] = Some(Ok(Admission::QuotaExceeded {
                    rate: rates[i],
                    resets_at: plan.resets_at(period),
                }))
            }
        }
    }
    allowances.write_back(&PERIOD_USAGE, writes);

    Ok(decided
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            d.unwrap_or_else(|| {
                Ok(Admission::Admitted {
                    rate: rates[i],
                    period: period_of(i),
                })
            })
        })
        .collect())
}

/// What a batch reads first, in one statement after `begin`: the stored status of each of its
/// tokens, the plan and period anchor of each organization it bills and, when it reads
/// optimistically, the stored counters of every row its calls may touch (missing rows are new).
struct Stored {
    statuses: HashMap<i64, tokens::StoredStatus>,
    plans: HashMap<i64, (Plan, i64)>,
    /// For each of [`COUNTER_TABLES`], each stored row's counter.
    counters: Option<[StoredCounters; 3]>,
}

async fn read_stored(
    conn: &mut AnyConnection,
    begin: &str,
    admits: &[&AdmitRequest],
    counter_filters: Option<[BTreeSet<Cell>; 3]>,
) -> Result<Stored, sqlx::Error> {
    let engine = Engine::of(conn);
    let mut parts = Vec::new();
    let mut values: Vec<Cell> = Vec::new();
    // Each part: (part, int, int, int, int, text), the columns of the tokens' part.
    let mut part = |sql: &str, filter: Vec<Cell>| {
        let mut sql = format!("{sql} IN ");
        storage::push_placeholders(&mut sql, 1, filter.len(), values.len() + 1, engine);
        parts.push(sql);
        values.extend(filter);
    };
    if !admits.is_empty() {
        let token_ids = storage::distinct_ids(admits.iter().map(|a| a.token_id));
        let org_ids = storage::distinct_ids(admits.iter().map(|a| a.org_id));
        part(
            "SELECT 0, id, revoked_at, grace_until, expires_at, NULL FROM tokens WHERE id",
            token_ids.into_iter().map(Cell::Int).collect(),
        );
        part(
            "SELECT 1, id, period_anchor, NULL, NULL, plan FROM organizations WHERE id",
            org_ids.into_iter().map(Cell::Int).collect(),
        );
    }
    let counters = counter_filters.is_some().then(Default::default);
    for (i, (table, filter)) in COUNTER_TABLES
        .iter()
        .zip(counter_filters.into_iter().flatten())
        .enumerate()
    {
        if !filter.is_empty() {
            let columns = table.read_columns(FIRST_COUNTER_PART + i);
            let sql = format!(
                "SELECT {columns} FROM {} WHERE {}",
                table.name, table.key[0].0
            );
            part(&sql, filter.into_iter().collect());
        }
    }
    let mut sql = parts.join(" UNION ALL ");
    if engine == Engine::Postgres || sql.is_empty() {
        conn.execute(begin).await?;
    } else {
        sql = format!("{begin}; {sql}");
    }
    let mut stored = Stored {
        statuses: HashMap::new(),
        plans: HashMap::new(),
        counters,
    };
    if parts.is_empty() {
        return Ok(stored);
    }
    for row in bind_rows(sqlx::query(&sql), [&values])
        .fetch_all(conn)
        .await?
    {
        match row.try_get::<i64, _>(0)? {
            0 => {
                let status = tokens::StoredStatus {
                    revoked_at: row.try_get(2)?,
                    grace_until: row.try_get(3)?,
                    expires_at: row.try_get(4)?,
                };
                stored.statuses.insert(row.try_get(1)?, status);
            }
            1 => {
                let plan = (Plan::stored(row.try_get(5)?), row.try_get(2)?);
                stored.plans.insert(row.try_get(1)?, plan);
            }
            _ => {
                let (i, key, counter) = stored_counter(&row)?;
                if let Some(counters) = &mut stored.counters {
                    counters[i].insert(key, counter);
                }
            }
        }
    }
    Ok(stored)
}

/// A value to bind, or a key column's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Cell {
    fn from(n: i64) -> Cell {
        Cell::Int(n)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

/// A table of counters the writer locks, reads and writes back.
struct CounterTable {
    name: &'static str,
    /// The key columns; `true` for a text column.
    key: &'static [(&'static str, bool)],
    counter: &'static str,
    /// Columns written only when a row is created.
    on_insert: &'static [&'static str],
}

const RATE_LIMITS: CounterTable = CounterTable {
    name: "rate_limits",
    key: &[("key", true)],
    counter: "tat",
    on_insert: &[],
};
const RATE_WINDOWS: CounterTable = CounterTable {
    name: "rate_windows",
    key: &[("key", true)],
    counter: "count",
    on_insert: &["expires_at"],
};
const PERIOD_USAGE: CounterTable = CounterTable {
    name: "period_usage",
    key: &[("org_id", false), ("period_start", false)],
    counter: "units",
    on_insert: &[],
};

/// The tables in the order every batch locks them.
const COUNTER_TABLES: [&CounterTable; 3] = [&RATE_LIMITS, &RATE_WINDOWS, &PERIOD_USAGE];

/// The part number of the first of [`COUNTER_TABLES`] in a batch's first read (after the
/// tokens' and the organizations'), and in its locks' rows.
const FIRST_COUNTER_PART: usize = 2;

impl CounterTable {
    /// A row of this table as a batch's first read (see [`read_stored`]) and its locks select
    /// it: (part, integer keys, counter, NULL, text key), the columns of the read's other
    /// parts. A table has one text key or up to two integer ones.
    fn read_columns(&self, part: usize) -> String {
        let mut ints: Vec<&str> = self
            .key
            .iter()
            .filter(|(_, text)| !text)
            .map(|k| k.0)
            .collect();
        ints.resize(2, "NULL");
        let text = self
            .key
            .iter()
            .find(|(_, text)| *text)
            .map_or("NULL", |k| k.0);
        format!(
            "{part}, {}, {}, {}, NULL, {text}",
            ints[0], ints[1], self.counter
        )
    }

    /// The key and counter of a row selected as [`CounterTable::read_columns`] lists them.
    fn read_row(&self, row: &AnyRow) -> Result<(Vec<Cell>, i64), sqlx::Error> {
        let mut key = Vec::with_capacity(self.key.len());
        let mut int_column = 1;
        for (_, text) in self.key {
            key.push(match text {
                true => Cell::Text(row.try_get(5)?),
                false => {
                    int_column += 1;
                    Cell::Int(row.try_get(int_column - 1)?)
                }
            });
        }
        Ok((key, row.try_get(3)?))
    }

    fn key_columns(&self) -> String {
        let key: Vec<&str> = self.key.iter().map(|(column, _)| *column).collect();
        key.join(", ")
    }

    /// The columns of a row as [`counter_row`] lists them.
    fn columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&str> = self.key.iter().map(|(column, _)| *column).collect();
        columns.push(self.counter);
        columns.extend(self.on_insert);
        columns
    }

    /// What an insert does to an existing row: `set`.
    fn on_conflict(&self, set: &str) -> String {
        format!(" ON CONFLICT ({}) DO UPDATE SET {set}", self.key_columns())
    }
}

/// A counter table's row as the upsert binds it: key, counter, insert-only values.
fn counter_row(key: &[Cell], counter: i64, on_insert: &[Cell]) -> Vec<Cell> {
    let mut row = key.to_vec();
    row.push(Cell::Int(counter));
    row.extend_from_slice(on_insert);
    row
}

/// The rows of one table a batch locks: each key, with the values a new row gets.
type RowsToLock = BTreeMap<Vec<Cell>, Vec<Cell>>;

/// The stored counters of one table's rows, by key.
type StoredCounters = BTreeMap<Vec<Cell>, i64>;

/// The locked rows of one table: each key's counter as stored and as decided.
struct Counters {
    rows: BTreeMap<Vec<Cell>, Counter>,
}

struct Counter {
    stored: i64,
    decided: i64,
    on_insert: Vec<Cell>,
}

impl Counters {
    /// The rows of each of [`COUNTER_TABLES`] a batch decides, with their counters as read or
    /// locked: a row missing from `stored` is new, with a zero counter and the given
    /// insert-only values.
    fn new(tables: [RowsToLock; 3], stored: &[StoredCounters; 3]) -> [Counters; 3] {
        let mut tables = tables.into_iter().zip(stored);
        std::array::from_fn(|_| {
            let (rows, stored) = tables.next().expect("three tables");
            let rows = rows.into_iter().map(|(key, on_insert)| {
                let value = stored.get(&key).copied().unwrap_or(0);
                let counter = Counter {
                    stored: value,
                    decided: value,
                    on_insert,
                };
                (key, counter)
            });
            Counters {
                rows: rows.collect(),
            }
        })
    }

    /// The counter of a locked row.
    fn get(&self, key: &[Cell]) -> i64 {
        self.rows.get(key).map(|c| c.decided).expect("a locked row")
    }

    fn set(&mut self, key: &[Cell], value: i64) {
        self.rows.get_mut(key).expect("a locked row").decided = value;
    }

    /// Adds the write-back of the changed counters to `writes`.
    fn write_back(&self, table: &CounterTable, writes: &mut Writes) {
        let rows = self
            .rows
            .iter()
            .filter(|(_, c)| c.stored != c.decided)
            .map(|(key, c)| counter_row(key, c.decided, &c.on_insert))
            .collect();
        let counter = table.counter;
        let set = table.on_conflict(&format!("{counter} = excluded.{counter}"));
        writes.insert(table.name, &table.columns(), rows, &set);
    }
}

/// Locks and reads the rows of each of [`COUNTER_TABLES`] in key order, one statement a table,
/// the tables in that order; a missing row is created with a zero counter and the given
/// insert-only values. The no-op update takes each row's lock on PostgreSQL, held until the
/// commit; a row another batch has just created makes this one wait for that batch. On SQLite,
/// where the batch's first write took the one write lock, the statements go in one hop; on
/// PostgreSQL one after another, so that every batch locks in the same order.
async fn lock(
    conn: &mut AnyConnection,
    tables: &[RowsToLock; 3],
) -> Result<[StoredCounters; 3], sqlx::Error> {
    let engine = Engine::of(conn);
    let mut statements: Vec<(String, Vec<Vec<Cell>>)> = Vec::new();
    for (i, (table, rows)) in COUNTER_TABLES.iter().zip(tables).enumerate() {
        if rows.is_empty() {
            continue;
        }
        let counter = table.counter;
        let mut sql = insert_sql(table.name, &table.columns(), rows.len(), 1, engine);
        sql.push_str(&table.on_conflict(&format!("{counter} = {}.{counter}", table.name)));
        sql.push_str(&format!(
            " RETURNING {}",
            table.read_columns(FIRST_COUNTER_PART + i)
        ));
        let values = rows
            .iter()
            .map(|(key, on_insert)| counter_row(key, 0, on_insert))
            .collect();
        statements.push((sql, values));
    }
    if engine == Engine::Sqlite && statements.len() > 1 {
        let sql: Vec<&str> = statements.iter().map(|(sql, _)| sql.as_str()).collect();
        let sql = sql.join("; ");
        let values = statements
            .iter_mut()
            .flat_map(|(_, v)| v.drain(..))
            .collect();
        statements = vec![(sql, values)];
    }
    let mut stored: [StoredCounters; 3] = Default::default();
    for (sql, values) in &statements {
        for row in bind_rows(sqlx::query(sql), values)
            .fetch_all(&mut *conn)
            .await?
        {
            let (i, key, counter) = stored_counter(&row)?;
            stored[i].insert(key, counter);
        }
    }
    for ((table, rows), stored) in COUNTER_TABLES.iter().zip(tables).zip(&stored) {
        if stored.len() != rows.len() {
            let message = format!("{} returned fewer rows than it locked", table.name);
            return Err(sqlx::Error::Protocol(message));
        }
    }
    Ok(stored)
}

/// A counter row as [`CounterTable::read_columns`] lists it: the index of its table in
/// [`COUNTER_TABLES`], its key and its counter.
fn stored_counter(row: &AnyRow) -> Result<(usize, Vec<Cell>, i64), sqlx::Error> {
    let i = row.try_get::<i64, _>(0)? as usize - FIRST_COUNTER_PART;
    let (key, counter) = COUNTER_TABLES[i].read_row(row)?;
    Ok((i, key, counter))
}

/// `INSERT INTO table (columns) VALUES ($first, …), …` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize, first: usize, engine: Engine) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    storage::push_placeholders(&mut sql, rows, columns.len(), first, engine);
    sql
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_rows<'q>(
    mut query: AnyQuery<'q>,
    rows: impl IntoIterator<Item = &'q Vec<Cell>>,
) -> AnyQuery<'q> {
    for cell in rows.into_iter().flatten() {
        query = match cell {
            Cell::Null => query.bind(None::<i64>),
            Cell::Int(n) => query.bind(*n),
            Cell::Text(s) => query.bind(s.as_str()),
        };
    }
    query
}

/// An insert of rows into a table, and what follows its values.
struct Insert {
    table: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    then: String,
}

impl Insert {
    fn sql(&self, first: usize, engine: Engine) -> String {
        insert_sql(self.table, &self.columns, self.rows.len(), first, engine) + &self.then
    }
}

/// The batch's inserts and write-backs, sent once the batch is decided. On PostgreSQL they go
/// as one statement, each insert a data-modifying `WITH` part (they touch different tables,
/// whose rows the batch has locked already): one round trip instead of one per table, which
/// shortens every batch and so the wait of every call. On SQLite they go with the `COMMIT` as
/// one string of statements (see [`write`]).
#[derive(Default)]
struct Writes {
    inserts: Vec<Insert>,
}

impl Writes {
    /// Adds the insert of `rows` into `table` (nothing when there are none); `then` follows the
    /// values (an `ON CONFLICT` clause, or nothing).
    fn insert(
        &mut self,
        table: &'static str,
        columns: &[&'static str],
        rows: Vec<Vec<Cell>>,
        then: &str,
    ) {
        if !rows.is_empty() {
            self.inserts.push(Insert {
                table,
                columns: columns.to_vec(),
                rows,
                then: then.to_string(),
            });
        }
    }

    /// Sends the writes and commits the batch: on SQLite in one hop, on PostgreSQL the writes'
    /// one statement, then `COMMIT`.
    async fn commit(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if self.inserts.is_empty() {
            conn.execute("COMMIT").await?;
            return Ok(());
        }
        let engine = Engine::of(conn);
        // PostgreSQL runs a statement's `WITH` parts last to first: they are written in reverse,
        // so that its rows are locked in the order every batch locks them.
        let inserts: Vec<&Insert> = match engine {
            Engine::Sqlite => self.inserts.iter().collect(),
            Engine::Postgres => self.inserts.iter().rev().collect(),
        };
        let mut sql = String::new();
        let mut first = 1;
        for (i, insert) in inserts.iter().enumerate() {
            let part = insert.sql(first, engine);
            match engine {
                Engine::Sqlite => sql.push_str(&format!("{part}; ")),
                Engine::Postgres => {
                    let with = if i == 0 { "WITH" } else { "," };
                    sql.push_str(&format!("{with} w{i} AS ({part})"));
                    first += insert.rows.len() * insert.columns.len();
                }
            }
        }
        sql.push_str(match engine {
            Engine::Sqlite => "COMMIT",
            Engine::Postgres => " SELECT 1",
        });
        let rows = inserts.iter().flat_map(|insert| &insert.rows);
        bind_rows(sqlx::query(&sql), rows)
            .execute(&mut *conn)
            .await?;
        if engine == Engine::Postgres {
            conn.execute("COMMIT").await?;
        }
        Ok(())
    }
}

/// The removal of the cancelled calls' usage events; the admitted calls' events and the daily
/// rollups of both, added to `writes`.
async fn meter(
    conn: &mut AnyConnection,
    admitted: &[&AdmitRequest],
    cancellations: &[&Cancellation],
    writes: &mut Writes,
) -> Result<(), sqlx::Error> {
    let events = admitted
        .iter()
        .map(|a| {
            vec![
                a.org_id.into(),
                a.workspace_id.map_or(Cell::Null, Cell::Int),
                a.token_id.into(),
                a.tool.into(),
                a.units.into(),
                a.at.into(),
            ]
        })
        .collect();
    let columns = [
        "org_id",
        "workspace_id",
        "token_id",
        "tool",
        "units",
        "created_at",
    ];
    writes.insert("usage_events", &columns, events, "");
    // Events with the same values are interchangeable: removing any one of them will do.
    for c in cancellations {
        let a = &c.call;
        sqlx::query(
            "DELETE FROM usage_events WHERE id IN (SELECT id FROM usage_events \
             WHERE org_id = $1 AND created_at = $2 AND token_id = $3 AND tool = $4 \
             AND units = $5 AND COALESCE(workspace_id, 0) = $6 LIMIT 1)",
        )
        .bind(a.org_id)
        .bind(a.at)
        .bind(a.token_id)
        .bind(a.tool)
        .bind(a.units)
        .bind(a.workspace_id.unwrap_or(0))
        .execute(&mut *conn)
        .await?;
    }

    let mut rollups: BTreeMap<(i64, String, &str, i64), (i64, i64)> = BTreeMap::new();
    let counted = admitted.iter().map(|a| (*a, 1));
    for (a, sign) in counted.chain(cancellations.iter().map(|c| (&c.call, -1))) {
        let day = crate::model::day_string(crate::model::day_of(a.at));
        let entry = rollups
            .entry((a.org_id, day, a.tool, a.token_id))
            .or_default();
        entry.0 += sign;
        entry.1 += sign * a.units;
    }
    let rows = rollups
        .into_iter()
        .filter(|(_, delta)| *delta != (0, 0))
        .map(|((org_id, day, tool, token_id), (calls, units))| {
            vec![
                org_id.into(),
                Cell::Text(day),
                tool.into(),
                token_id.into(),
                calls.into(),
                units.into(),
            ]
        })
        .collect();
    let columns = ["org_id", "day", "tool", "token_id", "calls", "units"];
    let on_conflict = " ON CONFLICT (org_id, day, tool, token_id) DO UPDATE SET \
         calls = usage_daily.calls + excluded.calls, units = usage_daily.units + excluded.units";
    writes.insert("usage_daily", &columns, rows, on_conflict);
    Ok(())
}

/// Rate-limit and quota refusals, for the usage page, added to `writes`.
fn record_refusals(refused: &[(&AdmitRequest, &'static str)], writes: &mut Writes) {
    let rows = refused
        .iter()
        .map(|(a, code)| {
            vec![
                a.org_id.into(),
                a.token_id.into(),
                a.tool.into(),
                (*code).into(),
                a.at.into(),
            ]
        })
        .collect();
    let columns = ["org_id", "token_id", "tool", "code", "created_at"];
    writes.insert("refusals", &columns, rows, "");
}

impl From<WriteError> for crate::tools::ToolError {
    fn from(err: WriteError) -> Self {
        tracing::error!(error = %err, "admitting or metering a call");
        crate::tools::ToolError::Internal
    }
}
