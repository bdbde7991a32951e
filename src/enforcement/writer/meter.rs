//! Metering in the batch that admits: usage events and daily rollups of admitted calls, taken
//! back for cancelled ones; refusals recorded.

use super::*;

/// The removal of the cancelled calls' usage events; the admitted calls' events and the daily
/// rollups of both, added to `writes`.
pub(super) async fn meter(
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

/// Refusals, for the usage page, added to `writes`.
pub(super) fn record_refusals(refused: &[Refusal], writes: &mut Writes) {
    let rows = refused
        .iter()
        .map(|r| {
            vec![
                r.org_id.into(),
                r.token_id.into(),
                r.tool.into(),
                r.code.into(),
                r.at.into(),
            ]
        })
        .collect();
    let columns = ["org_id", "token_id", "tool", "code", "created_at"];
    writes.insert("refusals", &columns, rows, "");
}
