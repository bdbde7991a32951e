//! Delivering the outbox: claimed under leases whose tokens fence each outcome, posted
//! concurrently and signed with HMAC-SHA256, retried with backoff until a day has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::outbound::{self, Outbound, OutboundError};
use crate::secrets::{random_base62, random_fraction};
use crate::services::ServiceResult;
use crate::storage::Db;

/// Attempts before an event is failed: with `backoff_ms` they span at least 24 hours (about 30
/// without jitter), at most an hour apart.
pub const MAX_ATTEMPTS: i64 = 37;
/// Deliveries one instance has in flight at most.
const IN_FLIGHT: usize = 32;
/// Deliveries in flight to one workspace's endpoint at most.
const PER_ENDPOINT: i64 = 4;
/// A claimed event's lease: far longer than its delivery can take (`DELIVERY_TIMEOUT`), so no
/// other pass or instance claims an event while it is being delivered.
pub const LEASE_MS: i64 = 300_000;
pub const SIGNATURE_HEADER: &str = "x-tollgate-signature";
pub const TIMESTAMP_HEADER: &str = "x-tollgate-timestamp";
pub const EVENT_ID_HEADER: &str = "x-tollgate-event-id";
/// The longest one delivery may take, connecting included.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a delivery failed, as the workspace's admins see it (nothing of the network behind it).
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    #[error("the endpoint answered {0}")]
    Status(u16),
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"): the timestamp is signed too,
/// so a captured delivery cannot be replayed later unnoticed.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", crate::secrets::hex(&bytes))
}

/// Wait after the `attempts`-th failed attempt: 30 s doubling up to an hour, less up to a
/// fifth by `jitter` (in [0, 1)) so that events that failed together do not retry together.
pub fn backoff_ms(attempts: i64, jitter: f64) -> i64 {
    let full = (15_000i64 << attempts.clamp(1, 8)).min(3_600_000);
    full - (full as f64 * jitter.clamp(0.0, 1.0) / 5.0) as i64
}

/// What an instance delivers with: the outbound client and its slots for deliveries in flight,
/// shared by the passes it runs side by side.
#[derive(Clone, Debug)]
pub struct Courier {
    outbound: Outbound,
    slots: Arc<Semaphore>,
}

impl Courier {
    pub fn new(outbound: Outbound) -> Courier {
        Courier {
            outbound,
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }
}

/// An event this pass claimed, with the lease token that fences its outcome.
#[derive(Debug)]
struct Claimed {
    id: i64,
    workspace_id: i64,
    event_id: String,
    payload: String,
    attempts: i64,
    lease_token: String,
}

/// Where a workspace's events go: (url, secret), None when write-back is off or unset.
type Target = Option<(String, String)>;

/// What became of a claimed event.
enum Outcome {
    Delivered,
    Failed(String),
    /// Write-back was switched off after the claim: the event waits, no attempt counted.
    Paused,
}

/// One delivery pass: claims as many due events as the courier has free slots (a lease keeps
/// other passes and instances off them), posts them concurrently, each signed to its
/// workspace's endpoint, and records each outcome. Returns how many it tried.
///
/// Passes may overlap (a slow endpoint holds only its own slots and its workspace's share), and
/// a pass takes at most `DELIVERY_TIMEOUT` after its claim, far less than `LEASE_MS`.
pub async fn deliver_due(db: &Db, courier: &Courier, now: i64) -> ServiceResult<usize> {
    let free = courier.slots.available_permits();
    let Ok(mut slots) = courier.slots.clone().try_acquire_many_owned(free as u32) else {
        return Ok(0);
    };
    let claimed = claim(db, free, now).await?;
    let targets = targets(db, &claimed).await?;
    let mut deliveries = JoinSet::new();
    for event in claimed {
        let slot = slots
            .split(1)
            .expect("a slot was taken for every event claimed");
        let target = targets[&event.workspace_id].clone();
        let (db, outbound) = (db.clone(), courier.outbound.clone());
        deliveries.spawn(async move {
            let outcome = match target {
                Some((url, secret)) => {
                    match post(
                        &outbound,
                        &url,
                        &secret,
                        &event.event_id,
                        &event.payload,
                        now,
                    )
                    .await
                    {
                        Ok(()) => Outcome::Delivered,
                        Err(error) => Outcome::Failed(error.to_string()),
                    }
                }
                None => Outcome::Paused,
            };
            drop(slot);
            record(&db, &event, outcome, now).await
        });
    }
    drop(slots);
    let mut tried = 0;
    while let Some(delivery) = deliveries.join_next().await {
        delivery.expect("a delivery task does not panic")?;
        tried += 1;
    }
    Ok(tried)
}

/// Claims up to `limit` due events of workspaces with write-back on (the others' wait, paused)
/// under a new lease token: the oldest of each workspace first, in turns across workspaces, and
/// no more than `PER_ENDPOINT` of a workspace's events in flight (across instances; two claims
/// at the same instant may each take that share). The outer conditions are checked again on
/// the row as it is when locked (PostgreSQL).
async fn claim(db: &Db, limit: usize, now: i64) -> ServiceResult<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lease_token = random_base62(22);
    let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
        "UPDATE outbox SET leased_until = $1, lease_token = $2 WHERE id IN (\
           SELECT id FROM (\
             SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.workspace_id ORDER BY o.id) + COALESCE(busy.n, 0) AS turn \
             FROM outbox o JOIN workspaces w ON w.id = o.workspace_id AND w.write_back_enabled = 1 \
             LEFT JOIN (SELECT workspace_id, COUNT(*) AS n FROM outbox \
               WHERE status = 'pending' AND leased_until > $3 GROUP BY workspace_id) busy ON busy.workspace_id = o.workspace_id \
             WHERE o.status = 'pending' AND o.next_attempt_at <= $3 AND o.leased_until <= $3\
           ) due WHERE turn <= $4 ORDER BY turn, id LIMIT $5\
         ) AND status = 'pending' AND leased_until <= $3 \
         RETURNING id, workspace_id, event_id, payload, attempts",
    )
    .bind(now + LEASE_MS)
    .bind(&lease_token)
    .bind(now)
    .bind(PER_ENDPOINT)
    .bind(limit as i64)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, workspace_id, event_id, payload, attempts)| Claimed {
            id,
            workspace_id,
            event_id,
            payload,
            attempts,
            lease_token: lease_token.clone(),
        })
        .collect())
}

/// The endpoint of each workspace among `claimed`.
async fn targets(db: &Db, claimed: &[Claimed]) -> ServiceResult<HashMap<i64, Target>> {
    let mut targets = HashMap::new();
    for event in claimed {
        if targets.contains_key(&event.workspace_id) {
            continue;
        }
        let row: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT write_back_enabled, write_back_url, write_back_secret FROM workspaces WHERE id = $1",
        )
        .bind(event.workspace_id)
        .fetch_optional(&db.pool)
        .await?;
        let target = match row {
            Some((1, Some(url), Some(secret))) => Some((url, secret)),
            _ => None,
        };
        targets.insert(event.workspace_id, target);
    }
    Ok(targets)
}

/// Records a delivery's outcome, if the event's lease is still this claim's: a pass whose
/// lease ended and was taken over by another changes nothing.
async fn record(db: &Db, event: &Claimed, outcome: Outcome, now: i64) -> ServiceResult<()> {
    let attempts = event.attempts + 1;
    let query = match outcome {
        Outcome::Delivered => sqlx::query(
            "UPDATE outbox SET status = 'delivered', attempts = $1, delivered_at = $2, leased_until = 0, last_error = NULL \
             WHERE id = $3 AND lease_token = $4",
        )
        .bind(attempts)
        .bind(now),
        Outcome::Failed(error) => {
            let status = if attempts >= MAX_ATTEMPTS {
                "failed"
            } else {
                "pending"
            };
            sqlx::query(
                "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, leased_until = 0, last_error = $4 \
                 WHERE id = $5 AND lease_token = $6",
            )
            .bind(status)
            .bind(attempts)
            .bind(now + backoff_ms(attempts, random_fraction()))
            .bind(error.chars().take(300).collect::<String>())
        }
        Outcome::Paused => {
            sqlx::query("UPDATE outbox SET leased_until = 0 WHERE id = $1 AND lease_token = $2")
        }
    };
    query
        .bind(event.id)
        .bind(&event.lease_token)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn post(
    outbound: &Outbound,
    url: &str,
    secret: &str,
    event_id: &str,
    payload: &str,
    now: i64,
) -> Result<(), DeliveryError> {
    let timestamp = now / 1000;
    let response = outbound
        .request(reqwest::Method::POST, url)?
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, event_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, payload))
        .body(payload.to_string())
        .send()
        .await
        .map_err(|e| outbound::failure(&e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // Computed independently with Python's hmac module.
        let sig = signature("key", 1, "{}");
        assert_eq!(
            sig,
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(sig, signature("key", 2, "{}"));
        assert_ne!(sig, signature("other", 1, "{}"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour_less_its_jitter() {
        assert_eq!(backoff_ms(1, 0.0), 30_000);
        assert_eq!(backoff_ms(2, 0.0), 60_000);
        assert_eq!(backoff_ms(7, 0.0), 1_920_000);
        assert_eq!(backoff_ms(8, 0.0), 3_600_000);
        assert_eq!(backoff_ms(30, 0.0), 3_600_000);
        assert_eq!(backoff_ms(1, 0.5), 27_000);
        assert_eq!(backoff_ms(30, 0.999_999), 2_880_001);
    }

    #[test]
    fn retries_span_a_day_whatever_the_jitter_and_no_attempt_more() {
        let span = |attempts: i64, jitter: f64| {
            (1..attempts)
                .map(|failed| backoff_ms(failed, jitter))
                .sum::<i64>()
        };
        assert!(span(MAX_ATTEMPTS, 1.0) >= 86_400_000, "the shortest run");
        assert!(
            span(MAX_ATTEMPTS - 1, 1.0) < 86_400_000,
            "one attempt fewer"
        );
        assert!(span(MAX_ATTEMPTS, 0.0) <= 31 * 3_600_000, "about 30 hours");
    }
}
