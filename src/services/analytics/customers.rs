//! One customer's record, and the masks that hide who they are.

use serde::Serialize;

use crate::services::ServiceResult;
use crate::storage::Db;

use super::{Touch, IN_WORKSPACE};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Customer {
    pub id: i64,
    pub full_name: String,
    pub email: String,
    pub phone: String,
    pub first_seen: String,
}

/// A customer of the workspace (of one profile, when given), with their touchpoints and
/// conversions.
pub async fn customer(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    customer_id: i64,
) -> ServiceResult<Option<(Customer, Vec<Touch>, Vec<(String, i64, String)>)>> {
    let row: Option<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT c.id, c.full_name, c.email, c.phone, c.first_seen FROM customers c JOIN profiles p ON p.id = c.profile_id \
         WHERE c.id = $1 AND p.workspace_id = $2 AND ($3 = 0 OR p.id = $3)",
    )
    .bind(customer_id)
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .fetch_optional(&db.pool)
    .await?;
    let Some((id, full_name, email, phone, first_seen)) = row else {
        return Ok(None);
    };
    let touches: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT t.day, t.channel, c.name FROM touchpoints t LEFT JOIN campaigns c ON c.id = t.campaign_id \
         WHERE t.customer_id = $1 ORDER BY t.day, t.id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let conversions: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT day, value_cents, source FROM conversions WHERE customer_id = $1 ORDER BY day, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(Some((
        Customer {
            id,
            full_name,
            email,
            phone,
            first_seen,
        },
        touches
            .into_iter()
            .map(|(day, channel, campaign)| Touch {
                day,
                channel,
                campaign,
            })
            .collect(),
        conversions,
    )))
}

/// A customer in a list: who, since when, and what they bought to date (money in cents).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ListedCustomer {
    pub id: i64,
    pub profile_id: i64,
    pub full_name: String,
    pub email: String,
    pub first_seen: String,
    pub conversions: i64,
    pub revenue_cents: i64,
}

/// Up to `limit` customers of a workspace (or one profile) first seen from `start` to `end`,
/// newest id first, those below `before` only (the list's cursor).
pub async fn customers_page(
    db: &Db,
    workspace_id: i64,
    profile_id: Option<i64>,
    (start, end): (&str, &str),
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<ListedCustomer>> {
    Ok(sqlx::query_as::<_, ListedCustomer>(
        &format!("SELECT c.id, c.profile_id, c.full_name, c.email, c.first_seen, \
         CAST(COUNT(cv.id) AS BIGINT) AS conversions, CAST(COALESCE(SUM(cv.value_cents), 0) AS BIGINT) AS revenue_cents \
         FROM customers c JOIN profiles p ON p.id = c.profile_id \
         LEFT JOIN conversions cv ON cv.customer_id = c.id AND cv.profile_id = c.profile_id \
         WHERE {IN_WORKSPACE} AND c.first_seen >= $3 AND c.first_seen <= $4 \
         AND ($5 = 0 OR c.id < $5) \
         GROUP BY c.id, c.profile_id, c.full_name, c.email, c.first_seen ORDER BY c.id DESC LIMIT $6"),
    )
    .bind(workspace_id)
    .bind(profile_id.unwrap_or_default())
    .bind(start)
    .bind(end)
    .bind(before.unwrap_or_default())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn customer_id_by_email(
    db: &Db,
    workspace_id: i64,
    email: &str,
) -> ServiceResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM customers c JOIN profiles p ON p.id = c.profile_id WHERE p.workspace_id = $1 AND c.email = $2",
    )
    .bind(workspace_id)
    .bind(email.trim().to_lowercase())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// `jane@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// Every digit but the last two hidden: `+1 555 0123 4567` → `+* *** **** **67`.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > digits.saturating_sub(2) {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

/// `Ana Silva` → `A. S.`
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|part| part.chars().next())
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn pii_masks() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_phone("+1 555 0123 4567"), "+* *** **** **67");
        assert_eq!(mask_name("Ana Silva"), "A. S.");
    }
}
