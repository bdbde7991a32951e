//! Users: sign-up, sign-in with throttling, password hashing (argon2id, OWASP parameters).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::storage::Db;

use super::throttle::{self, MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_IP};
use super::{is_unique_violation, ServiceError, ServiceResult};

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The one message for a failed sign-in, so it never tells whether the email exists.
pub const BAD_CREDENTIALS: &str = "That email and password do not match an account.";

/// argon2id with 19 MiB, 2 passes, 1 lane: OWASP's recommended minimum.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Hashing(e.to_string()))
}

fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Trims and lower-cases; refuses what cannot be an address.
pub fn normalize_email(email: &str) -> ServiceResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(ServiceError::Invalid(
            "Enter a valid email address, such as ana@example.com.".into(),
        ))
    }
}

pub fn check_password_rules(password: &str) -> ServiceResult<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ServiceError::Invalid(format!(
            "Use a password of at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ServiceError::Invalid(format!(
            "Use a password of at most {MAX_PASSWORD_CHARS} characters."
        )));
    }
    Ok(())
}

/// Creates the user; the caller decides which organization they join.
pub async fn create_user(db: &Db, email: &str, password: &str, now: i64) -> ServiceResult<i64> {
    let email = normalize_email(email)?;
    check_password_rules(password)?;
    let hash = hash_password(password)?;
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&email)
    .bind(&hash)
    .bind(now)
    .fetch_one(&db.pool)
    .await;
    match inserted {
        Ok((id,)) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(ServiceError::Conflict(
            "An account could not be created with this email. If it is yours, sign in instead."
                .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Checks the password, throttled per account and per IP. Unknown emails cost the same
/// argon2 work as known ones, so timing does not tell them apart either.
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    ip: &str,
    now: i64,
) -> ServiceResult<i64> {
    let email = email.trim().to_lowercase();
    let subjects = [
        (throttle::account_subject(&email), MAX_FAILURES_PER_ACCOUNT),
        (throttle::ip_subject(ip), MAX_FAILURES_PER_IP),
    ];
    throttle::check(db, &subjects, now).await?;

    let user: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    let verified = match &user {
        Some((_, stored)) => verify_password(password, stored),
        None => {
            let _ = verify_password(password, dummy_hash());
            false
        }
    };
    match user {
        Some((id, _)) if verified => {
            throttle::clear(db, &subjects[0].0).await?;
            Ok(id)
        }
        _ => {
            throttle::record_failure(db, &subjects, now).await?;
            Err(ServiceError::Invalid(BAD_CREDENTIALS.into()))
        }
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password, only for timing").unwrap_or_default())
}

pub async fn email_of(db: &Db, user_id: i64) -> ServiceResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|(email,)| email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "ana@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_length_rules_count_characters() {
        assert!(check_password_rules("short").is_err());
        assert!(check_password_rules(&"é".repeat(12)).is_ok());
        assert!(check_password_rules(&"x".repeat(257)).is_err());
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
    }
}
