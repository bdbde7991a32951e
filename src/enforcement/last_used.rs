//! Last use of each token, kept in memory and written in batches: no database write on the
//! hot path of a call. The first use of a token is also written to its audit log.

use crate::model::AuditAction;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::storage::Db;

/// A use this soon after the last one written, by the same client, is not written again: the
/// dashboard shows last use to the minute, and a busy token would otherwise rewrite its row at
/// every flush (on PostgreSQL a new row version each time, and the flush's burst of updates
/// held up the calls running beside it).
pub const REWRITE_AFTER_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub struct LastUsed {
    uses: Mutex<Uses>,
    /// The MCP client (clientInfo of `initialize`) each token last introduced itself as:
    /// stateless calls after the handshake do not repeat it.
    mcp_clients: Mutex<HashMap<i64, String>>,
}

#[derive(Debug, Default)]
struct Uses {
    /// Recorded since the last flush.
    pending: HashMap<i64, LastUse>,
    /// What this instance last wrote of each token.
    written: HashMap<i64, LastUse>,
}

impl LastUsed {
    pub fn remember_client(&self, token_id: i64, client: String) {
        if let Ok(mut clients) = self.mcp_clients.lock() {
            clients.insert(token_id, client);
        }
    }

    pub fn client_of(&self, token_id: i64) -> Option<String> {
        self.mcp_clients
            .lock()
            .ok()
            .and_then(|clients| clients.get(&token_id).cloned())
    }

    pub fn record(&self, token_id: i64, at: i64, client: Option<&str>) {
        let Ok(mut uses) = self.uses.lock() else {
            return;
        };
        let fresh = |(written_at, written_client): &LastUse| {
            at < written_at + REWRITE_AFTER_MS && written_client.as_deref() == client
        };
        if uses.written.get(&token_id).is_some_and(fresh) {
            return;
        }
        uses.pending
            .insert(token_id, (at, client.map(str::to_owned)));
    }

    /// Writes what was recorded since the last flush, in one transaction; on failure the uses
    /// are kept for the next flush (unless the token was used again since).
    pub async fn flush(&self, db: &Db) -> crate::services::ServiceResult<()> {
        let batch: Vec<Use> = match self.uses.lock() {
            Ok(mut uses) => uses.pending.drain().collect(),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        let written = write(db, &batch).await;
        if let Ok(mut uses) = self.uses.lock() {
            for (token_id, last) in batch {
                match written {
                    Ok(()) => {
                        uses.written.insert(token_id, last);
                    }
                    Err(_) => {
                        uses.pending.entry(token_id).or_insert(last);
                    }
                }
            }
        }
        written
    }
}

/// When a token was used, and by which MCP client.
type LastUse = (i64, Option<String>);

/// A token and its last use.
type Use = (i64, LastUse);

/// Tokens per statement: three bound values each, far below either engine's limit.
const TOKENS_PER_STATEMENT: usize = 500;

/// A few statements per flush, not two per token: each of those committed on its own, and on
/// SQLite every commit to the main file empties the page cache of every pooled connection.
async fn write(db: &Db, batch: &[Use]) -> crate::services::ServiceResult<()> {
    let mut tx = db.begin_write().await?;
    for uses in batch.chunks(TOKENS_PER_STATEMENT) {
        let mut values = String::new();
        crate::storage::push_placeholders(&mut values, uses.len(), 3, 1, db.engine);
        // VALUES names its columns column1, column2, column3 on both engines.
        let first_use = format!(
            "UPDATE tokens SET first_used_at = v.column2 FROM (VALUES {values}) AS v \
             WHERE tokens.id = v.column1 AND tokens.first_used_at IS NULL RETURNING id, org_id"
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&first_use);
        for (token_id, (at, client)) in uses {
            query = query.bind(token_id).bind(at).bind(client);
        }
        let first_uses = query.fetch_all(&mut *tx).await?;
        let last_use = format!(
            "UPDATE tokens SET last_used_at = v.column2, last_client = v.column3 \
             FROM (VALUES {values}) AS v WHERE tokens.id = v.column1 \
             AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.column2)"
        );
        let mut query = sqlx::query(&last_use);
        for (token_id, (at, client)) in uses {
            query = query.bind(token_id).bind(at).bind(client);
        }
        query.execute(&mut *tx).await?;
        for (token_id, org_id) in first_uses {
            let Some((_, (at, client))) = uses.iter().find(|(id, _)| *id == token_id) else {
                continue;
            };
            let subject = format!(
                "first call, client {}",
                client.as_deref().unwrap_or("unknown")
            );
            let entry = crate::services::audit::AuditEntry {
                org_id,
                actor_user_id: None,
                action: AuditAction::TokenFirstUse,
                subject: &subject,
                ip: None,
                token_id: Some(token_id),
            };
            crate::services::audit::record(&mut *tx, entry, *at).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
