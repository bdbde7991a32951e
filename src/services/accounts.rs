//! Users: sign-up, sign-in with throttling, password hashing (argon2id, OWASP parameters).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::storage::Db;

use super::throttle;
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

fn hash_now(password: &str) -> ServiceResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Hashing(e.to_string()))
}

fn verify_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Runs argon2 work on the blocking pool, at most one per core at once: a burst of sign-ups or
/// sign-ins waits its turn there instead of stalling the runtime that serves `/mcp`.
async fn on_hashing_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ServiceResult<T> {
    static PERMITS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::sync::Semaphore::new(cores)
    });
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|e| ServiceError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ServiceError::Hashing(e.to_string()))
}

pub async fn hash_password(password: &str) -> ServiceResult<String> {
    let password = password.to_string();
    on_hashing_pool(move || hash_now(&password)).await?
}

async fn verify_password(password: &str, stored: &str) -> ServiceResult<bool> {
    let (password, stored) = (password.to_string(), stored.to_string());
    on_hashing_pool(move || verify_now(&password, &stored)).await
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

const EMAIL_TAKEN: &str =
    "An account could not be created with this email. If it is yours, sign in instead.";

/// Creates the user; the caller decides which organization they join. A taken email is
/// refused before any hashing.
pub async fn create_user(db: &Db, email: &str, password: &str, now: i64) -> ServiceResult<i64> {
    let email = normalize_email(email)?;
    check_password_rules(password)?;
    let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&db.pool)
        .await?;
    if taken.is_some() {
        return Err(ServiceError::Conflict(EMAIL_TAKEN.into()));
    }
    let hash = hash_password(password).await?;
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
        Err(e) if is_unique_violation(&e) => Err(ServiceError::Conflict(EMAIL_TAKEN.into())),
        Err(e) => Err(e.into()),
    }
}

/// Checks the password, throttled per account and per IP: the attempt is counted before the
/// password is verified and kept as a failure unless it succeeds. Unknown emails cost the same
/// argon2 work as known ones, so timing does not tell them apart either.
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    ip: &str,
    now: i64,
) -> ServiceResult<i64> {
    let email = email.trim().to_lowercase();
    // The account's limit first: a good password clears its failures.
    let limits = [
        throttle::sign_in_by_account(&email),
        throttle::sign_in_by_ip(ip),
    ];
    let attempt = throttle::reserve(db, &limits, now).await?;

    let user: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    let stored = match &user {
        Some((_, stored)) => stored.clone(),
        None => dummy_hash().await?,
    };
    let verified = verify_password(password, &stored).await?;
    match user {
        Some((id, _)) if verified => {
            throttle::release(db, attempt).await?;
            throttle::clear(db, &limits[0]).await?;
            Ok(id)
        }
        _ => Err(ServiceError::Invalid(BAD_CREDENTIALS.into())),
    }
}

async fn dummy_hash() -> ServiceResult<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| hash_password("not a real password, only for timing"))
        .await
        .cloned()
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

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &hash)
            .await
            .unwrap());
        assert!(!verify_password("wrong horse battery", &hash).await.unwrap());
    }

    /// On a runtime with a single thread, another task runs while a password is hashed: the
    /// hash is computed off the runtime (inline, it held the only thread until done).
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_leaves_the_runtime_free() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let other_ran = Arc::new(AtomicBool::new(false));
        let flag = other_ran.clone();
        let hashing = tokio::spawn(async move {
            hash_password("correct horse battery").await.unwrap();
            flag.load(Ordering::SeqCst)
        });
        let flag = other_ran.clone();
        tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        assert!(
            hashing.await.unwrap(),
            "the other task ran before the hash was done"
        );
    }
}
