//! Verified tokens kept in memory, so that a call does not look its token up in the database.
//!
//! The cache only spares the lookup by hash: every admission re-reads the token's revocation,
//! grace end and expiry in the writer's batch (`enforcement::writer`), so a token revoked or
//! rotated on any instance runs no tool anywhere once that was answered, whatever is cached.
//! Revocation and rotation also evict the entry on every instance, which keeps the answers of
//! the steps before admission (scope and target errors) current too:
//! - locally, at once, when this instance revokes or rotates;
//! - on PostgreSQL, through `NOTIFY tollgate_tokens` sent in the revoking transaction. The
//!   revoking instance answers only after its own listener has received that notification,
//!   that is after PostgreSQL has handed it to every listening instance.
//!
//! When the listener's connection drops, the cache is emptied and bypassed (every call reads
//! the database) until the listener is subscribed again. A generation counter keeps a lookup
//! that raced an eviction from putting a stale entry back, and entries are dropped after
//! [`MAX_AGE_MS`] whatever happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::model::VerifiedToken;

pub const CHANNEL: &str = "tollgate_tokens";
/// The longest an entry is trusted, even with the listener connected.
pub const MAX_AGE_MS: i64 = 60_000;
/// Entries beyond this are not added (a flood of distinct tokens cannot grow memory).
const CAPACITY: usize = 100_000;
/// How long a revocation waits for its own notification to come back.
const ECHO_TIMEOUT: Duration = Duration::from_secs(2);

/// A token as verified, with the times after which it stops working by itself.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub token: VerifiedToken,
    pub expires_at: Option<i64>,
    pub grace_until: Option<i64>,
    cached_at: i64,
}

#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], CachedToken>>,
    live: AtomicBool,
    generation: AtomicU64,
    echoes: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("live", &self.is_live())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Read before the database lookup whose result may be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, hash: &[u8; 32], now: i64) -> Option<CachedToken> {
        if !self.is_live() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let found = entries
            .get(hash)
            .filter(|entry| now - entry.cached_at < MAX_AGE_MS)
            .cloned();
        if crate::metrics::enabled() {
            let result = if found.is_some() { "hit" } else { "miss" };
            metrics::counter!(crate::metrics::TOKEN_CACHE_LOOKUPS, "result" => result).increment(1);
        }
        found
    }

    /// Adds what a database lookup that started at `generation` found, unless something was
    /// evicted since (the lookup may have read a row that has changed).
    pub fn insert(
        &self,
        hash: [u8; 32],
        token: VerifiedToken,
        expires_at: Option<i64>,
        grace_until: Option<i64>,
        generation: u64,
        now: i64,
    ) {
        if !self.is_live() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, entry| now - entry.cached_at < MAX_AGE_MS);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        let entry = CachedToken {
            token,
            expires_at,
            grace_until,
            cached_at: now,
        };
        entries.insert(hash, entry);
    }

    pub fn evict(&self, token_id: i64) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.retain(|_, entry| entry.token.id != token_id);
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    fn set_live(&self, live: bool) {
        if !live {
            self.live.store(false, Ordering::Release);
        }
        // Whatever was missed while not live is forgotten before the cache is trusted again.
        self.clear();
        if live {
            self.live.store(true, Ordering::Release);
        }
    }

    /// SQLite: one process owns the file, so local eviction is all there is to do.
    pub fn enable_single_instance(&self) {
        self.set_live(true);
    }

    /// A payload for the revoking transaction's `pg_notify`, and the wait for its echo.
    pub fn announcement(&self, token_id: i64) -> (String, Option<oneshot::Receiver<()>>) {
        let nonce = argon2::password_hash::rand_core::RngCore::next_u64(
            &mut argon2::password_hash::rand_core::OsRng,
        );
        let waiter = self.is_live().then(|| {
            let (sender, receiver) = oneshot::channel();
            if let Ok(mut echoes) = self.echoes.lock() {
                // Waits whose transaction failed are dropped here.
                echoes.retain(|_, sender| !sender.is_closed());
                echoes.insert(nonce, sender);
            }
            receiver
        });
        (format!("{token_id}:{nonce}"), waiter)
    }

    /// After the revoking transaction committed: evict here, then wait until the listener has
    /// heard the notification (bounded; a listener that stays silent has dropped and stopped
    /// the cache anyway).
    pub async fn announced(&self, token_id: i64, waiter: Option<oneshot::Receiver<()>>) {
        self.evict(token_id);
        if let Some(waiter) = waiter {
            let _ = tokio::time::timeout(ECHO_TIMEOUT, waiter).await;
        }
    }

    fn heard(&self, payload: &str) {
        let Some((id, nonce)) = payload.split_once(':') else {
            return;
        };
        if let Ok(id) = id.parse() {
            self.evict(id);
        }
        if let Ok(nonce) = nonce.parse::<u64>() {
            if let Some(sender) = self.echoes.lock().ok().and_then(|mut e| e.remove(&nonce)) {
                let _ = sender.send(());
            }
        }
    }
}

/// Keeps a PostgreSQL listener subscribed for as long as the cache exists; the cache is live
/// only while the subscription is.
pub fn spawn_listener(cache: &Arc<TokenCache>, url: String) {
    let cache: Weak<TokenCache> = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match subscribe(&url).await {
                Ok(mut listener) => {
                    backoff = Duration::from_millis(100);
                    let Some(live) = cache.upgrade() else { return };
                    live.set_live(true);
                    drop(live);
                    loop {
                        let heard = listener.try_recv().await;
                        let Some(cache) = cache.upgrade() else { return };
                        match heard {
                            Ok(Some(notification)) => cache.heard(notification.payload()),
                            Ok(None) | Err(_) => {
                                tracing::warn!("token invalidation channel dropped; cache off until it is back");
                                cache.set_live(false);
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    if cache.strong_count() == 0 {
                        return;
                    }
                    tracing::warn!(error = %e, "subscribing to token invalidations");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Binding;

    fn token(id: i64) -> VerifiedToken {
        VerifiedToken {
            id,
            org_id: 1,
            binding: Binding::Organization,
            user_id: None,
            workspace_id: None,
            profile_id: None,
            scopes: vec![],
            audience: None,
        }
    }

    #[test]
    fn nothing_is_served_until_live_and_evictions_win_races() {
        let cache = TokenCache::default();
        let g = cache.generation();
        cache.insert([1; 32], token(1), None, None, g, 0);
        assert!(cache.get(&[1; 32], 0).is_none(), "not live: not used");

        cache.enable_single_instance();
        let g = cache.generation();
        cache.insert([1; 32], token(1), None, None, g, 0);
        assert_eq!(cache.get(&[1; 32], 10).unwrap().token.id, 1);
        assert!(cache.get(&[1; 32], MAX_AGE_MS).is_none(), "too old");

        // A lookup that started before an eviction must not put its row back.
        let before = cache.generation();
        cache.evict(1);
        cache.insert([1; 32], token(1), None, None, before, 0);
        assert!(cache.get(&[1; 32], 0).is_none());

        cache.heard(&format!("{}:{}", 1, 7));
        cache.set_live(false);
        assert!(cache.get(&[1; 32], 0).is_none());
    }
}
