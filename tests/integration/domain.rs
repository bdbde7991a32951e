//! Domain rules on real databases: accounts, throttling, organizations, roles, invites.

use crate::support::{founder, join, on_each_engine, TestDb, PASSWORD, T0};
use tollgate::model::{InviteState, Role, RotationGrace};
use tollgate::services::organizations;
use tollgate::services::throttle::{MAX_FAILURES_PER_ACCOUNT, SIGN_IN_WINDOW_MS as WINDOW_MS};
use tollgate::services::{accounts, invites, ServiceError};

fn message(err: ServiceError) -> String {
    err.to_string()
}

#[tokio::test]
async fn sign_up_creates_a_trial_organization_with_credits_and_a_workspace() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "Ana@Example.com").await;
        assert_eq!(owner.role, Role::Owner);
        let settings = organizations::settings(&db, &owner).await.unwrap();
        assert_eq!(settings.plan, tollgate::model::Plan::Trial);
        assert_eq!(settings.credit_balance, 100);
        assert_eq!(settings.default_rotation_grace, RotationGrace::FifteenMinutes);
        let ws = tollgate::services::workspaces::workspaces(&db, &owner).await.unwrap();
        assert_eq!(ws.workspaces.len(), 1);
        assert_eq!(ws.workspaces[0].name, "Main workspace");
        assert!(!ws.workspaces[0].write_back.enabled);
        let (ledger,): (i64,) = sqlx::query_as(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM credit_ledger WHERE org_id = $1 AND kind = 'grant'",
        )
        .bind(owner.org_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(ledger, 100, "the ledger explains the balance");
        let orgs = organizations::orgs_of_user(&db, owner.user_id).await.unwrap();
        assert_eq!(orgs.len(), 1);
        assert_eq!(accounts::email_of(&db, owner.user_id).await.unwrap().unwrap(), "ana@example.com");
    })
    .await;
}

#[tokio::test]
async fn sign_up_refuses_short_passwords_bad_emails_and_duplicates() {
    on_each_engine(|db| async move {
        let short = accounts::create_user(&db, "a@example.com", "short", T0)
            .await
            .unwrap_err();
        assert_eq!(message(short), "Use a password of at least 12 characters.");
        let bad = accounts::create_user(&db, "not-an-email", PASSWORD, T0)
            .await
            .unwrap_err();
        assert!(message(bad).starts_with("Enter a valid email address"));
        accounts::create_user(&db, "a@example.com", PASSWORD, T0)
            .await
            .unwrap();
        let dup = accounts::create_user(&db, "A@example.com ", PASSWORD, T0)
            .await
            .unwrap_err();
        assert!(matches!(dup, ServiceError::Conflict(_)));
        // Nothing was stored for the refused attempts.
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(users, 1);
    })
    .await;
}

#[tokio::test]
async fn sign_in_checks_the_password_and_never_tells_whether_the_email_exists() {
    on_each_engine(|db| async move {
        let id = accounts::create_user(&db, "ana@example.com", PASSWORD, T0)
            .await
            .unwrap();
        assert_eq!(
            accounts::authenticate(&db, " ANA@example.com", PASSWORD, "10.0.0.1", T0)
                .await
                .unwrap(),
            id
        );
        let wrong =
            accounts::authenticate(&db, "ana@example.com", "wrong password!!", "10.0.0.1", T0)
                .await
                .unwrap_err();
        let unknown = accounts::authenticate(&db, "nobody@example.com", PASSWORD, "10.0.0.1", T0)
            .await
            .unwrap_err();
        assert_eq!(message(wrong), accounts::BAD_CREDENTIALS);
        assert_eq!(message(unknown), accounts::BAD_CREDENTIALS);
    })
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account_until_the_window_passes() {
    on_each_engine(|db| async move {
        accounts::create_user(&db, "ana@example.com", PASSWORD, T0)
            .await
            .unwrap();
        for i in 0..MAX_FAILURES_PER_ACCOUNT {
            let ip = format!("10.0.0.{i}");
            accounts::authenticate(&db, "ana@example.com", "wrong password!!", &ip, T0 + i)
                .await
                .unwrap_err();
        }
        // Now even the right password is refused, from any IP, with the wait named.
        let throttled =
            accounts::authenticate(&db, "ana@example.com", PASSWORD, "10.9.9.9", T0 + 1000)
                .await
                .unwrap_err();
        assert!(matches!(throttled, ServiceError::Throttled(_)));
        assert_eq!(
            message(throttled),
            "Too many failed sign-in attempts. Try again in 15 minutes."
        );
        // Unknown emails are throttled the same way, so the limit does not reveal accounts.
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            accounts::authenticate(&db, "ghost@example.com", "whatever at all", "10.0.1.1", T0)
                .await
                .unwrap_err();
        }
        let ghost =
            accounts::authenticate(&db, "ghost@example.com", "whatever at all", "10.0.1.1", T0)
                .await
                .unwrap_err();
        assert!(matches!(ghost, ServiceError::Throttled(_)));
        // Another account is unaffected; after the window the first one signs in again.
        accounts::create_user(&db, "bo@example.com", PASSWORD, T0)
            .await
            .unwrap();
        accounts::authenticate(&db, "bo@example.com", PASSWORD, "10.9.9.9", T0 + 2000)
            .await
            .unwrap();
        accounts::authenticate(
            &db,
            "ana@example.com",
            PASSWORD,
            "10.9.9.9",
            T0 + WINDOW_MS + 10,
        )
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_ip_across_accounts() {
    on_each_engine(|db| async move {
        accounts::create_user(&db, "ana@example.com", PASSWORD, T0)
            .await
            .unwrap();
        for i in 0..tollgate::services::throttle::MAX_FAILURES_PER_IP {
            let email = format!("guess{i}@example.com");
            accounts::authenticate(&db, &email, "wrong password!!", "192.0.2.7", T0)
                .await
                .unwrap_err();
        }
        let blocked = accounts::authenticate(&db, "ana@example.com", PASSWORD, "192.0.2.7", T0)
            .await
            .unwrap_err();
        assert!(matches!(blocked, ServiceError::Throttled(_)));
        accounts::authenticate(&db, "ana@example.com", PASSWORD, "192.0.2.8", T0)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn members_cannot_manage_and_admins_cannot_touch_owners() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let admin = join(&db, &owner, "admin@example.com", Role::Admin).await;
        let member = join(&db, &owner, "member@example.com", Role::Member).await;

        for denied in [
            invites::create(&db, &member, "x@example.com", Role::Member, None, T0)
                .await
                .err(),
            tollgate::services::workspaces::create_workspace(&db, &member, "Side", None, T0)
                .await
                .err(),
            tollgate::services::members::change_role(
                &db,
                &member,
                admin.user_id,
                Role::Member,
                None,
                T0,
            )
            .await
            .err(),
            tollgate::services::members::remove_member(&db, &member, admin.user_id, None, T0)
                .await
                .err(),
            organizations::update_settings(&db, &member, "X", RotationGrace::None, None, T0)
                .await
                .err(),
        ] {
            assert!(
                matches!(denied, Some(ServiceError::Forbidden(_))),
                "{denied:?}"
            );
        }
        // Admins manage members and admins, not owners.
        tollgate::services::members::change_role(
            &db,
            &admin,
            member.user_id,
            Role::Admin,
            None,
            T0,
        )
        .await
        .unwrap();
        assert_eq!(
            organizations::role_in(&db.pool, owner.org_id, member.user_id)
                .await
                .unwrap(),
            Some(Role::Admin)
        );
        let promote = tollgate::services::members::change_role(
            &db,
            &admin,
            member.user_id,
            Role::Owner,
            None,
            T0,
        )
        .await;
        assert!(matches!(promote, Err(ServiceError::Forbidden(_))));
        let demote_owner = tollgate::services::members::change_role(
            &db,
            &admin,
            owner.user_id,
            Role::Member,
            None,
            T0,
        )
        .await;
        assert!(matches!(demote_owner, Err(ServiceError::Forbidden(_))));
        let invite_owner =
            invites::create(&db, &admin, "o2@example.com", Role::Owner, None, T0).await;
        assert!(matches!(invite_owner, Err(ServiceError::Forbidden(_))));
        // A member sees the member list but not the open invites.
        let member = organizations::actor(&db, member.user_id, owner.org_id)
            .await
            .unwrap();
        tollgate::services::members::change_role(
            &db,
            &owner,
            member.user_id,
            Role::Member,
            None,
            T0,
        )
        .await
        .unwrap();
        let member = organizations::actor(&db, member.user_id, owner.org_id)
            .await
            .unwrap();
        invites::create(&db, &owner, "pending@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        let seen = tollgate::services::members::members_page(&db, &member, "http://x", T0)
            .await
            .unwrap();
        assert_eq!(seen.members.len(), 3);
        assert!(seen.invites.is_empty());
        let seen_by_owner = tollgate::services::members::members_page(&db, &owner, "http://x", T0)
            .await
            .unwrap();
        assert_eq!(seen_by_owner.invites.len(), 1);
        // Removal ends membership at once.
        tollgate::services::members::remove_member(&db, &admin, member.user_id, None, T0)
            .await
            .unwrap();
        assert!(organizations::actor(&db, member.user_id, owner.org_id)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let demote = tollgate::services::members::change_role(
            &db,
            &owner,
            owner.user_id,
            Role::Admin,
            None,
            T0,
        )
        .await
        .unwrap_err();
        assert!(matches!(demote, ServiceError::Conflict(_)));
        let leave =
            tollgate::services::members::remove_member(&db, &owner, owner.user_id, None, T0)
                .await
                .unwrap_err();
        assert!(message(leave).contains("at least one owner"));
        // With a second owner, one may step down, and then the other is the last again.
        let second = join(&db, &owner, "second@example.com", Role::Owner).await;
        tollgate::services::members::change_role(
            &db,
            &second,
            owner.user_id,
            Role::Member,
            None,
            T0,
        )
        .await
        .unwrap();
        let alone =
            tollgate::services::members::remove_member(&db, &second, second.user_id, None, T0)
                .await
                .unwrap_err();
        assert!(matches!(alone, ServiceError::Conflict(_)));
    })
    .await;
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    on_each_engine(|db| async move {
        let a = founder(&db, "a@example.com").await;
        let b = join(&db, &a, "b@example.com", Role::Owner).await;
        let (ra, rb) = tokio::join!(
            tollgate::services::members::change_role(&db, &a, b.user_id, Role::Member, None, T0),
            tollgate::services::members::change_role(&db, &b, a.user_id, Role::Member, None, T0),
        );
        let (owners,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
                .bind(a.org_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(owners, 1, "results: {ra:?} {rb:?}");
        assert!(ra.is_ok() != rb.is_ok());
    })
    .await;
}

#[tokio::test]
async fn invites_join_only_the_invited_email_once_before_expiry() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let invite = invites::create(&db, &owner, "New@Example.com", Role::Admin, None, T0)
            .await
            .unwrap();
        let details = invites::details(&db, &invite.code, T0).await.unwrap();
        assert_eq!(
            (details.email.as_str(), details.role, details.state),
            ("new@example.com", Role::Admin, InviteState::Open)
        );
        assert_eq!(details.org_name, "Acme");

        let stranger = accounts::create_user(&db, "stranger@example.com", PASSWORD, T0)
            .await
            .unwrap();
        let wrong = invites::accept(&db, &invite.code, stranger, None, T0)
            .await
            .unwrap_err();
        assert!(message(wrong).contains("This invite is for new@example.com"));

        let newcomer = accounts::create_user(&db, "new@example.com", PASSWORD, T0)
            .await
            .unwrap();
        assert_eq!(
            invites::accept(&db, &invite.code, newcomer, None, T0)
                .await
                .unwrap(),
            owner.org_id
        );
        assert_eq!(
            organizations::role_in(&db.pool, owner.org_id, newcomer)
                .await
                .unwrap(),
            Some(Role::Admin)
        );
        assert!(
            invites::accept(&db, &invite.code, newcomer, None, T0)
                .await
                .is_err(),
            "an invite works once"
        );
        assert_eq!(
            invites::details(&db, &invite.code, T0).await.unwrap().state,
            InviteState::Accepted
        );

        // Expiry and withdrawal.
        let late = invites::create(&db, &owner, "late@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        let late_user = accounts::create_user(&db, "late@example.com", PASSWORD, T0)
            .await
            .unwrap();
        let expired = invites::accept(
            &db,
            &late.code,
            late_user,
            None,
            T0 + invites::INVITE_TTL_MS,
        )
        .await
        .unwrap_err();
        assert!(message(expired).contains("expired"));
        let withdrawn = invites::create(&db, &owner, "w@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        invites::revoke(&db, &owner, withdrawn.id, None, T0)
            .await
            .unwrap();
        assert_eq!(
            invites::details(&db, &withdrawn.code, T0)
                .await
                .unwrap()
                .state,
            InviteState::Revoked
        );
        // A second invite to the same address replaces the first.
        let first = invites::create(&db, &owner, "twice@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        invites::create(&db, &owner, "twice@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        assert_eq!(
            invites::details(&db, &first.code, T0).await.unwrap().state,
            InviteState::Revoked
        );
        // Existing members are not invited again; a malformed code is simply not found.
        assert!(matches!(
            invites::create(&db, &owner, "new@example.com", Role::Member, None, T0).await,
            Err(ServiceError::Conflict(_))
        ));
        assert!(matches!(
            invites::details(&db, "nope", T0).await,
            Err(ServiceError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn ids_from_another_organization_reach_nothing() {
    on_each_engine(|db| async move {
        let a = founder(&db, "a@example.com").await;
        let b = founder(&db, "b@example.com").await;
        let b_workspace = crate::support::first_workspace(&db, &b).await;
        let rename = tollgate::services::workspaces::rename_workspace(
            &db,
            &a,
            b_workspace,
            "Mine now",
            None,
            T0,
        )
        .await;
        assert!(matches!(rename, Err(ServiceError::NotFound(_))));
        assert_eq!(
            tollgate::services::workspaces::workspaces(&db, &b)
                .await
                .unwrap()
                .workspaces[0]
                .name,
            "Main workspace"
        );
        let role =
            tollgate::services::members::change_role(&db, &a, b.user_id, Role::Member, None, T0)
                .await;
        assert!(matches!(role, Err(ServiceError::NotFound(_))));
        let remove = tollgate::services::members::remove_member(&db, &a, b.user_id, None, T0).await;
        assert!(matches!(remove, Err(ServiceError::NotFound(_))));
        let b_invite = invites::create(&db, &b, "c@example.com", Role::Member, None, T0)
            .await
            .unwrap();
        assert!(matches!(
            invites::revoke(&db, &a, b_invite.id, None, T0).await,
            Err(ServiceError::NotFound(_))
        ));
        assert!(organizations::actor(&db, a.user_id, b.org_id)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn workspaces_are_created_and_renamed_with_unique_names() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let id =
            tollgate::services::workspaces::create_workspace(&db, &owner, "  Client A ", None, T0)
                .await
                .unwrap();
        let dup =
            tollgate::services::workspaces::create_workspace(&db, &owner, "Client A", None, T0)
                .await
                .unwrap_err();
        assert!(matches!(dup, ServiceError::Conflict(_)));
        assert!(
            tollgate::services::workspaces::create_workspace(&db, &owner, "   ", None, T0)
                .await
                .is_err()
        );
        tollgate::services::workspaces::rename_workspace(&db, &owner, id, "Client B", None, T0)
            .await
            .unwrap();
        let names: Vec<String> = tollgate::services::workspaces::workspaces(&db, &owner)
            .await
            .unwrap()
            .workspaces
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["Main workspace", "Client B"]);
    })
    .await;
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire() {
    use tower_sessions::session::{Id, Record};
    use tower_sessions::SessionStore;

    for engine in crate::support::engines() {
        let test_db = if engine == "sqlite" {
            TestDb::sqlite().await
        } else {
            TestDb::postgres().await
        };
        let store = tollgate::storage::session_store::DbSessionStore::new(test_db.db().clone());
        let mut record = Record {
            id: Id::default(),
            data: [("uid".to_string(), serde_json::json!(7))]
                .into_iter()
                .collect(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut record).await.unwrap();
        // A new pool, as after a restart, loads the same session.
        let restarted =
            tollgate::storage::session_store::DbSessionStore::new(test_db.reopen().await);
        let loaded = restarted
            .load(&record.id)
            .await
            .unwrap()
            .expect("session persisted");
        assert_eq!(loaded.data["uid"], 7);
        restarted.delete(&record.id).await.unwrap();
        assert!(
            store.load(&record.id).await.unwrap().is_none(),
            "sign-out deletes it everywhere"
        );
        let mut old = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        };
        store.create(&mut old).await.unwrap();
        assert!(
            store.load(&old.id).await.unwrap().is_none(),
            "expired sessions do not load"
        );
    }
}
