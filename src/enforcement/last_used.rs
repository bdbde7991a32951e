//! Last use of each token, kept in memory and written in batches: no database write on the
//! hot path of a call. The first use of a token is also written to its audit log.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::storage::Db;

#[derive(Debug, Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<i64, (i64, Option<String>)>>,
    /// The MCP client (clientInfo of `initialize`) each token last introduced itself as:
    /// stateless calls after the handshake do not repeat it.
    mcp_clients: Mutex<HashMap<i64, String>>,
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

    pub fn record(&self, token_id: i64, at: i64, client: Option<String>) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(token_id, (at, client));
        }
    }

    /// Writes what was recorded since the last flush.
    pub async fn flush(&self, db: &Db) -> crate::services::ServiceResult<()> {
        let batch: Vec<_> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Ok(()),
        };
        for (token_id, (at, client)) in batch {
            let first: Option<(i64,)> = sqlx::query_as(
                "UPDATE tokens SET first_used_at = $1 WHERE id = $2 AND first_used_at IS NULL RETURNING org_id",
            )
            .bind(at)
            .bind(token_id)
            .fetch_optional(&db.pool)
            .await?;
            sqlx::query("UPDATE tokens SET last_used_at = $1, last_client = $2 WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)")
                .bind(at)
                .bind(&client)
                .bind(token_id)
                .execute(&db.pool)
                .await?;
            if let Some((org_id,)) = first {
                let subject = format!(
                    "first call, client {}",
                    client.as_deref().unwrap_or("unknown")
                );
                let entry = crate::services::audit::AuditEntry {
                    org_id,
                    actor_user_id: None,
                    action: "token.first_use",
                    subject: &subject,
                    ip: None,
                    token_id: Some(token_id),
                };
                crate::services::audit::record(&db.pool, entry, at).await?;
            }
        }
        Ok(())
    }
}
