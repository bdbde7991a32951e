//! The writer's small SQL builder for both engines: counter tables, their locks, and a batch's
//! writes as few statements (one `WITH` statement on PostgreSQL).

use super::*;

/// A value to bind, or a key column's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cell {
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
pub(super) struct CounterTable {
    pub(super) name: &'static str,
    /// The key columns; `true` for a text column.
    pub(super) key: &'static [(&'static str, bool)],
    pub(super) counter: &'static str,
    /// Columns written only when a row is created.
    pub(super) on_insert: &'static [&'static str],
}

pub(super) const RATE_LIMITS: CounterTable = CounterTable {
    name: "rate_limits",
    key: &[("key", true)],
    counter: "tat",
    on_insert: &[],
};
pub(super) const RATE_WINDOWS: CounterTable = CounterTable {
    name: "rate_windows",
    key: &[("key", true)],
    counter: "count",
    on_insert: &["expires_at"],
};
pub(super) const PERIOD_USAGE: CounterTable = CounterTable {
    name: "period_usage",
    key: &[("org_id", false), ("period_start", false)],
    counter: "units",
    on_insert: &[],
};

/// The tables in the order every batch locks them.
pub(super) const COUNTER_TABLES: [&CounterTable; 3] = [&RATE_LIMITS, &RATE_WINDOWS, &PERIOD_USAGE];

/// The part number of the first of [`COUNTER_TABLES`] in a batch's first read (after the
/// tokens' and the organizations'), and in its locks' rows.
pub(super) const FIRST_COUNTER_PART: usize = 2;

impl CounterTable {
    /// A row of this table as a batch's first read (see [`read_stored`]) and its locks select
    /// it: (part, integer keys, counter, NULL, text key), the columns of the read's other
    /// parts. A table has one text key or up to two integer ones.
    pub(super) fn read_columns(&self, part: usize) -> String {
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
    pub(super) fn read_row(&self, row: &AnyRow) -> Result<(Vec<Cell>, i64), sqlx::Error> {
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

    pub(super) fn key_columns(&self) -> String {
        let key: Vec<&str> = self.key.iter().map(|(column, _)| *column).collect();
        key.join(", ")
    }

    /// The columns of a row as [`counter_row`] lists them.
    pub(super) fn columns(&self) -> Vec<&'static str> {
        let mut columns: Vec<&str> = self.key.iter().map(|(column, _)| *column).collect();
        columns.push(self.counter);
        columns.extend(self.on_insert);
        columns
    }

    /// What an insert does to an existing row: `set`.
    pub(super) fn on_conflict(&self, set: &str) -> String {
        format!(" ON CONFLICT ({}) DO UPDATE SET {set}", self.key_columns())
    }
}

/// A counter table's row as the upsert binds it: key, counter, insert-only values.
pub(super) fn counter_row(key: &[Cell], counter: i64, on_insert: &[Cell]) -> Vec<Cell> {
    let mut row = key.to_vec();
    row.push(Cell::Int(counter));
    row.extend_from_slice(on_insert);
    row
}

/// The rows of one table a batch locks: each key, with the values a new row gets.
pub(super) type RowsToLock = BTreeMap<Vec<Cell>, Vec<Cell>>;

/// The stored counters of one table's rows, by key.
pub(super) type StoredCounters = BTreeMap<Vec<Cell>, i64>;

/// The locked rows of one table: each key's counter as stored and as decided.
pub(super) struct Counters {
    pub(super) rows: BTreeMap<Vec<Cell>, Counter>,
}

pub(super) struct Counter {
    pub(super) stored: i64,
    pub(super) decided: i64,
    pub(super) on_insert: Vec<Cell>,
}

impl Counters {
    /// The rows of each of [`COUNTER_TABLES`] a batch decides, with their counters as read or
    /// locked: a row missing from `stored` is new, with a zero counter and the given
    /// insert-only values.
    pub(super) fn new(tables: [RowsToLock; 3], stored: &[StoredCounters; 3]) -> [Counters; 3] {
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
    pub(super) fn get(&self, key: &[Cell]) -> i64 {
        self.rows.get(key).map(|c| c.decided).expect("a locked row")
    }

    pub(super) fn set(&mut self, key: &[Cell], value: i64) {
        self.rows.get_mut(key).expect("a locked row").decided = value;
    }

    /// Adds the write-back of the changed counters to `writes`.
    pub(super) fn write_back(&self, table: &CounterTable, writes: &mut Writes) {
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
pub(super) async fn lock(
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
pub(super) fn stored_counter(row: &AnyRow) -> Result<(usize, Vec<Cell>, i64), sqlx::Error> {
    let i = row.try_get::<i64, _>(0)? as usize - FIRST_COUNTER_PART;
    let (key, counter) = COUNTER_TABLES[i].read_row(row)?;
    Ok((i, key, counter))
}

/// `INSERT INTO table (columns) VALUES ($first, …), …` for `rows` rows.
pub(super) fn insert_sql(
    table: &str,
    columns: &[&str],
    rows: usize,
    first: usize,
    engine: Engine,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    storage::push_placeholders(&mut sql, rows, columns.len(), first, engine);
    sql
}

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

pub(super) fn bind_rows<'q>(
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
pub(super) struct Insert {
    pub(super) table: &'static str,
    pub(super) columns: Vec<&'static str>,
    pub(super) rows: Vec<Vec<Cell>>,
    pub(super) then: String,
}

impl Insert {
    pub(super) fn sql(&self, first: usize, engine: Engine) -> String {
        insert_sql(self.table, &self.columns, self.rows.len(), first, engine) + &self.then
    }
}

/// The batch's inserts and write-backs, sent once the batch is decided. On PostgreSQL they go
/// as one statement, each insert a data-modifying `WITH` part (they touch different tables,
/// whose rows the batch has locked already): one round trip instead of one per table, which
/// shortens every batch and so the wait of every call. On SQLite they go with the `COMMIT` as
/// one string of statements (see [`write`]).
#[derive(Default)]
pub(super) struct Writes {
    pub(super) inserts: Vec<Insert>,
}

impl Writes {
    /// Adds the insert of `rows` into `table` (nothing when there are none); `then` follows the
    /// values (an `ON CONFLICT` clause, or nothing).
    pub(super) fn insert(
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
    pub(super) async fn commit(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
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
