//! The hot path's writes, done by one task per instance in batch transactions: admissions
//! (steps 4 and 5: the unit cap, the tool's window, the allowance), releases of failed calls,
//! and usage records (step 8). Whatever arrives while a batch is written goes into the next one,
//! so under load one commit serves many calls, and on SQLite the writes of concurrent calls
//! never wait on each other's locks. Each decision is still the conditional write of
//! `limits`, in order, so every limit stays exact, also across instances; a caller is answered
//! only once its batch has committed, so a crash loses nothing that was answered.
//!
//! Every batch takes its row locks in one order (rate limits, tool windows, allowances, daily
//! rollups; each sorted by key), the same on every instance: two instances' batches cannot
//! deadlock.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use super::limits::{self, Period, RateState};
use crate::storage::Db;

/// The most jobs in one transaction (an event binds 6 values: well inside both engines' limits).
const MAX_BATCH: usize = 256;

/// A call asking to be admitted: its units against the token's cap, its tool's own window,
/// and the billed organization's allowance for the period.
#[derive(Clone, Debug)]
pub struct AdmitRequest {
    pub token_id: i64,
    pub units: i64,
    pub cap: i64,
    pub tool: &'static str,
    pub tool_limit: Option<i64>,
    pub org_id: i64,
    pub period: Period,
    pub at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted(RateState),
    /// The unit cap or the tool's window: retry after this many seconds.
    RateLimited {
        retry_after: i64,
        state: RateState,
    },
    /// The allowance is used up (the units stay taken from the cap, as for any refusal after
    /// admission).
    QuotaExceeded {
        state: RateState,
    },
}

/// A successful call, as the usage page and the allowance history see it.
#[derive(Clone, Debug)]
pub struct UsageEvent {
    pub org_id: i64,
    pub workspace_id: Option<i64>,
    pub token_id: i64,
    pub tool: &'static str,
    pub units: i64,
    pub at: i64,
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Job {
    Admit(AdmitRequest, Reply<Admission>),
    Release {
        org_id: i64,
        period: Period,
        units: i64,
        done: Reply<()>,
    },
    Record(UsageEvent, Reply<()>),
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
    /// Starts the writer for `db`; it ends when the last handle is dropped.
    pub fn start(db: Db) -> Writer {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, jobs));
        Writer { queue }
    }

    pub async fn admit(&self, request: AdmitRequest) -> Result<Admission, WriteError> {
        self.send(|reply| Job::Admit(request, reply)).await
    }

    /// Gives back the allowance a failed call reserved.
    pub async fn release(&self, org_id: i64, period: Period, units: i64) -> Result<(), WriteError> {
        self.send(|done| Job::Release {
            org_id,
            period,
            units,
            done,
        })
        .await
    }

    /// Returns once the event is committed.
    pub async fn record(&self, event: UsageEvent) -> Result<(), WriteError> {
        self.send(|reply| Job::Record(event, reply)).await
    }

    async fn send<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, WriteError> {
        let stopped = || WriteError("the writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send(job(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(WriteError)
    }
}

async fn write_batches(db: Db, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let admits: Vec<&AdmitRequest> = batch
            .iter()
            .filter_map(|job| match job {
                Job::Admit(request, _) => Some(request),
                _ => None,
            })
            .collect();
        let releases: Vec<(i64, Period, i64)> = batch
            .iter()
            .filter_map(|job| match job {
                Job::Release {
                    org_id,
                    period,
                    units,
                    ..
                } => Some((*org_id, *period, *units)),
                _ => None,
            })
            .collect();
        let events: Vec<&UsageEvent> = batch
            .iter()
            .filter_map(|job| match job {
                Job::Record(event, _) => Some(event),
                _ => None,
            })
            .collect();
        let result = write(&db, &admits, &releases, &events).await.map_err(|e| {
            tracing::error!(error = %e, "writing a batch of admissions and usage");
            e.to_string()
        });
        let mut decisions = match &result {
            Ok(decisions) => decisions.clone().into_iter(),
            Err(_) => Vec::new().into_iter(),
        };
        for job in batch.drain(..) {
            let failed = || result.as_ref().map(|_| ()).map_err(Clone::clone);
            match job {
                Job::Admit(_, reply) => {
                    let _ = reply.send(failed().map(|()| decisions.next().expect("one per admit")));
                }
                Job::Release { done, .. } | Job::Record(_, done) => {
                    let _ = done.send(failed());
                }
            }
        }
    }
}

/// One batch in one transaction; the decisions in the order of `admits`.
async fn write(
    db: &Db,
    admits: &[&AdmitRequest],
    releases: &[(i64, Period, i64)],
    events: &[&UsageEvent],
) -> Result<Vec<Admission>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let decisions = decide(&mut tx, admits, releases).await?;
    if !events.is_empty() {
        record(&mut tx, events).await?;
    }
    tx.commit().await?;
    Ok(decisions)
}

async fn decide(
    conn: &mut AnyConnection,
    admits: &[&AdmitRequest],
    releases: &[(i64, Period, i64)],
) -> Result<Vec<Admission>, sqlx::Error> {
    let mut states = vec![
        RateState {
            limit: 0,
            remaining: 0
        };
        admits.len()
    ];
    let mut decided: Vec<Option<Admission>> = vec![None; admits.len()];
    // The unit cap, token by token (a stable sort keeps each token's calls in arrival order).
    let mut order: Vec<usize> = (0..admits.len()).collect();
    order.sort_by_cached_key(|&i| limits::token_key(admits[i].token_id));
    for &i in &order {
        let a = admits[i];
        match limits::take_units(conn, a.token_id, a.units, a.cap, a.at).await? {
            limits::Admission::Admitted(state) => states[i] = state,
            limits::Admission::Refused { retry_after, state } => {
                decided[i] = Some(Admission::RateLimited { retry_after, state })
            }
        }
    }
    // The tool's own window.
    let mut windowed: Vec<usize> = (0..admits.len())
        .filter(|&i| decided[i].is_none() && admits[i].tool_limit.is_some())
        .collect();
    windowed.sort_by_cached_key(|&i| {
        limits::window_key(admits[i].token_id, admits[i].tool, admits[i].at)
    });
    for i in windowed {
        let a = admits[i];
        let limit = a.tool_limit.unwrap_or_default();
        if let Some(retry_after) = limits::take_call(conn, a.token_id, a.tool, limit, a.at).await? {
            decided[i] = Some(Admission::RateLimited {
                retry_after,
                state: states[i],
            });
        }
    }
    // Allowances and releases, organization by organization.
    enum Allowance<'a> {
        Reserve(usize),
        Release(&'a (i64, Period, i64)),
    }
    let mut allowances: Vec<((i64, i64), Allowance)> = (0..admits.len())
        .filter(|&i| decided[i].is_none())
        .map(|i| {
            (
                (admits[i].org_id, admits[i].period.start),
                Allowance::Reserve(i),
            )
        })
        .chain(
            releases
                .iter()
                .map(|r| ((r.0, r.1.start), Allowance::Release(r))),
        )
        .collect();
    allowances.sort_by_key(|(key, _)| *key);
    for (_, allowance) in allowances {
        match allowance {
            Allowance::Reserve(i) => {
                let a = admits[i];
                decided[i] = Some(
                    if limits::reserve(conn, a.org_id, a.period, a.units).await? {
                        Admission::Admitted(states[i])
                    } else {
                        Admission::QuotaExceeded { state: states[i] }
                    },
                );
            }
            Allowance::Release(&(org_id, period, units)) => {
                limits::release(conn, org_id, period, units).await?
            }
        }
    }
    Ok(decided
        .into_iter()
        .map(|d| d.expect("every admission is decided"))
        .collect())
}

/// The events and their daily rollups.
async fn record(conn: &mut AnyConnection, events: &[&UsageEvent]) -> Result<(), sqlx::Error> {
    let mut rollups: BTreeMap<(i64, String, &str, i64), (i64, i64)> = BTreeMap::new();
    for event in events {
        let day = crate::model::day_string(event.at.div_euclid(86_400_000));
        let entry = rollups
            .entry((event.org_id, day, event.tool, event.token_id))
            .or_default();
        entry.0 += 1;
        entry.1 += event.units;
    }
    let mut sql = String::from(
        "INSERT INTO usage_events (org_id, workspace_id, token_id, tool, units, created_at) VALUES ",
    );
    push_placeholders(&mut sql, events.len(), 6);
    let mut insert = sqlx::query(&sql);
    for event in events {
        insert = insert
            .bind(event.org_id)
            .bind(event.workspace_id)
            .bind(event.token_id)
            .bind(event.tool)
            .bind(event.units)
            .bind(event.at);
    }
    insert.execute(&mut *conn).await?;

    let mut sql =
        String::from("INSERT INTO usage_daily (org_id, day, tool, token_id, calls, units) VALUES ");
    push_placeholders(&mut sql, rollups.len(), 6);
    sql.push_str(
        " ON CONFLICT (org_id, day, tool, token_id) DO UPDATE SET \
         calls = usage_daily.calls + excluded.calls, units = usage_daily.units + excluded.units",
    );
    let mut upsert = sqlx::query(&sql);
    for ((org_id, day, tool, token_id), (calls, units)) in &rollups {
        upsert = upsert
            .bind(*org_id)
            .bind(day.as_str())
            .bind(*tool)
            .bind(*token_id)
            .bind(*calls)
            .bind(*units);
    }
    upsert.execute(&mut *conn).await?;
    Ok(())
}

/// `($1, $2, …), (…)` for `rows` rows of `width` values.
fn push_placeholders(sql: &mut String, rows: usize, width: usize) {
    use std::fmt::Write;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            let sep = if col == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", row * width + col + 1);
        }
        sql.push(')');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_value() {
        let mut sql = String::new();
        super::push_placeholders(&mut sql, 2, 3);
        assert_eq!(sql, "($1, $2, $3), ($4, $5, $6)");
    }
}
