//! Step 8's usage record, written by one task per instance in group commits: the calls that
//! finish while a batch is being written go together into the next transaction (one multi-row
//! insert of events, one upsert per daily rollup row). A call is answered only after its batch
//! has committed, so a crash loses nothing that was answered; under load one commit serves
//! many calls instead of one each.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};

use crate::storage::Db;

/// The most events in one transaction (6 bound values each, well inside both engines' limits).
const MAX_BATCH: usize = 512;

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

type Done = oneshot::Sender<Result<(), String>>;

/// The handle calls record through; cheap to clone.
#[derive(Clone, Debug)]
pub struct Meter {
    queue: mpsc::UnboundedSender<(UsageEvent, Done)>,
}

#[derive(Debug, thiserror::Error)]
#[error("recording usage failed: {0}")]
pub struct MeterError(String);

impl Meter {
    /// Starts the writer for `db`; it ends when the last handle is dropped.
    pub fn start(db: Db) -> Meter {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, pending));
        Meter { queue }
    }

    /// Returns once the event is committed.
    pub async fn record(&self, event: UsageEvent) -> Result<(), MeterError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send((event, done))
            .map_err(|_| MeterError("the usage writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| MeterError("the usage writer has stopped".into()))?
            .map_err(MeterError)
    }
}

async fn write_batches(db: Db, mut pending: mpsc::UnboundedReceiver<(UsageEvent, Done)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let events: Vec<&UsageEvent> = batch.iter().map(|(event, _)| event).collect();
        let result = write(&db, &events).await.map_err(|e| {
            tracing::error!(error = %e, "recording usage");
            e.to_string()
        });
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// Writes events and their daily rollups in one transaction.
async fn write(db: &Db, events: &[&UsageEvent]) -> Result<(), sqlx::Error> {
    let mut rollups: BTreeMap<(i64, String, &str, i64), (i64, i64)> = BTreeMap::new();
    for event in events {
        let day = crate::model::day_string(event.at.div_euclid(86_400_000));
        let entry = rollups
            .entry((event.org_id, day, event.tool, event.token_id))
            .or_default();
        entry.0 += 1;
        entry.1 += event.units;
    }
    let mut tx = db.pool.begin().await?;
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
    insert.execute(&mut *tx).await?;

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
    upsert.execute(&mut *tx).await?;
    tx.commit().await
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
