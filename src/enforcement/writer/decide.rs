//! A batch's decisions: every row its calls touch read once, the calls decided in arrival
//! order with the rules of `limits`, the changed rows handed to the batch's writes.

use super::*;

/// The batch's admissions and cancellations: each limit's rows locked and read once, the calls
/// decided in arrival order, the changed rows added to `writes`.
pub(super) async fn decide(
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
        let (tat, take) = limits::take_units(caps.get(key), a.units, a.cap, a.at);
        caps.set(key, tat);
        match take {
            limits::Take::Admitted(units) => rates[i].units = units,
            limits::Take::Refused { retry_after, quota } => {
                rates[i].units = quota;
                decided[i] = Some(Ok(Admission::RateLimited {
                    retry_after,
                    rate: rates[i],
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
        let (count, at) = (windows.get(key), admits[*i].at);
        let taken = limits::take_call(count, *limit, at);
        let counted = *taken.as_ref().unwrap_or(&count);
        rates[*i].tool = Some(limits::window_quota(counted, *limit, at));
        match taken {
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
        let resets_at = plans[&a.org_id].0.resets_at(period);
        let used = allowances.get(&key);
        let reserved = limits::reserve(used, period, a.units);
        let counted = reserved.unwrap_or(used);
        rates[i].allowance = limits::allowance_quota(counted, period, resets_at, a.at);
        match reserved {
            Some(used) => allowances.set(&key, used),
            None => {
                decided[i] = Some(Ok(Admission::QuotaExceeded {
                    rate: rates[i],
                    resets_at,
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
pub(super) struct Stored {
    pub(super) statuses: HashMap<i64, tokens::StoredStatus>,
    pub(super) plans: HashMap<i64, (Plan, i64)>,
    /// For each of [`COUNTER_TABLES`], each stored row's counter.
    pub(super) counters: Option<[StoredCounters; 3]>,
}

pub(super) async fn read_stored(
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
        let tokens_part = format!(
            "SELECT 0, id, revoked_at, grace_until, {}, NULL FROM tokens WHERE id",
            tokens::STOPS_AT
        );
        part(&tokens_part, token_ids.into_iter().map(Cell::Int).collect());
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
