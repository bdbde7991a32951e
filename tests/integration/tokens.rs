//! Token lifecycle on real databases: storage hygiene, verification, rotation grace with a
//! controlled clock, caps, and who may do what.

use crate::support::{founder, join, on_each_engine, TestDb, T0};
use tollgate::config::Environment;
use tollgate::model::{Binding, Role, RotationGrace, Scope, TokenStatus};
use tollgate::services::tokens::{self, NewToken, VerifyError};
use tollgate::services::ServiceError;

const MINUTE: i64 = 60_000;
const LIVE: Environment = Environment::Live;

fn personal(label: &str) -> NewToken {
    NewToken {
        label: label.into(),
        scopes: Scope::ALL.into_iter().filter(|s| s.is_default()).collect(),
        binding: Binding::User,
        workspace_id: None,
        profile_id: None,
        expires_at: None,
    }
}

fn org_token(label: &str) -> NewToken {
    NewToken {
        binding: Binding::Organization,
        ..personal(label)
    }
}

#[tokio::test]
async fn the_database_never_holds_a_token_in_plaintext() {
    for engine in crate::support::engines() {
        let test_db = if engine == "sqlite" {
            TestDb::sqlite().await
        } else {
            TestDb::postgres().await
        };
        let db = test_db.db();
        let owner = founder(db, "owner@example.com").await;
        let mut issued = Vec::new();
        for i in 0..3 {
            issued.push(
                tokens::create(
                    db,
                    &owner,
                    LIVE,
                    personal(&format!("t{i}")),
                    Some("127.0.0.1"),
                    T0,
                )
                .await
                .unwrap()
                .token,
            );
        }
        let rotated = tokens::rotate(db, &owner, 1, RotationGrace::None, LIVE, None, T0)
            .await
            .unwrap();
        issued.push(rotated.token);
        for token in &issued {
            assert!(
                !test_db.contains_text(token).await,
                "{engine}: plaintext token found in the database"
            );
            // The random middle is absent too, not only the whole string.
            assert!(
                !test_db.contains_text(&token[12..42]).await,
                "{engine}: token body found"
            );
        }
        // The check itself can fail: the hint is stored and is found.
        assert!(test_db.contains_text(&tokens::hint(&issued[0])).await);
    }
}

#[tokio::test]
async fn verification_finds_tokens_by_hash_and_refuses_revoked_expired_and_foreign_ones() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let issued = tokens::create(&db, &owner, LIVE, personal("cli"), None, T0)
            .await
            .unwrap();
        let verified = tokens::verify(&db, &issued.token, LIVE, T0).await.unwrap();
        assert_eq!(verified.id, issued.id);
        assert_eq!(verified.binding, Binding::User);
        assert_eq!(verified.user_id, Some(owner.user_id));
        assert!(
            verified.scopes.contains(&Scope::AnalyticsRead)
                && !verified.scopes.contains(&Scope::PiiRead)
        );

        assert!(matches!(
            tokens::verify(&db, &issued.token, Environment::Test, T0).await,
            Err(VerifyError::Environment { .. })
        ));
        let unknown = tokens::generate(LIVE);
        assert!(matches!(
            tokens::verify(&db, &unknown, LIVE, T0).await,
            Err(VerifyError::Unknown)
        ));
        assert!(matches!(
            tokens::verify(&db, &issued.token[..40], LIVE, T0).await,
            Err(VerifyError::Format(_))
        ));

        let expiring = NewToken {
            expires_at: Some(T0 + 7 * 86_400_000),
            ..personal("week")
        };
        let week = tokens::create(&db, &owner, LIVE, expiring, None, T0)
            .await
            .unwrap();
        tokens::verify(&db, &week.token, LIVE, T0 + 7 * 86_400_000 - 1)
            .await
            .unwrap();
        assert!(matches!(
            tokens::verify(&db, &week.token, LIVE, T0 + 7 * 86_400_000).await,
            Err(VerifyError::Expired)
        ));
        // The expiry is audited once, however often the expired token is tried.
        let _ = tokens::verify(&db, &week.token, LIVE, T0 + 8 * 86_400_000).await;
        let log = tollgate::services::audit::page(
            &db,
            &owner,
            tollgate::model::AuditFilter::token(week.id),
            None,
        )
        .await
        .unwrap()
        .rows;
        assert_eq!(
            log.iter().filter(|r| r.action == "token.expired").count(),
            1
        );

        tokens::revoke(&db, &owner, issued.id, Some("127.0.0.1"), T0 + MINUTE)
            .await
            .unwrap();
        assert!(matches!(
            tokens::verify(&db, &issued.token, LIVE, T0 + MINUTE).await,
            Err(VerifyError::Revoked)
        ));
        assert!(matches!(
            tokens::revoke(&db, &owner, issued.id, None, T0).await,
            Err(ServiceError::Conflict(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn rotation_keeps_the_old_token_for_exactly_the_chosen_grace() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        for (grace, millis) in [
            (RotationGrace::None, 0),
            (RotationGrace::FifteenMinutes, 15 * MINUTE),
            (RotationGrace::FortyEightHours, 48 * 60 * MINUTE),
        ] {
            let old = tokens::create(&db, &owner, LIVE, personal(grace.as_str()), None, T0)
                .await
                .unwrap();
            let new = tokens::rotate(&db, &owner, old.id, grace, LIVE, None, T0)
                .await
                .unwrap();
            assert_ne!(old.token, new.token);
            if millis > 0 {
                tokens::verify(&db, &old.token, LIVE, T0 + millis - 1)
                    .await
                    .unwrap();
            }
            assert!(matches!(
                tokens::verify(&db, &old.token, LIVE, T0 + millis).await,
                Err(VerifyError::Rotated)
            ));
            // The successor keeps the label, scopes and binding and works throughout.
            let successor = tokens::verify(&db, &new.token, LIVE, T0 + millis)
                .await
                .unwrap();
            assert_eq!(successor.binding, Binding::User);
            let views = tokens::list(&db, &owner, T0 + millis.max(1) - 1)
                .await
                .unwrap();
            let old_view = views.iter().find(|t| t.id == old.id).unwrap();
            let new_view = views.iter().find(|t| t.id == new.id).unwrap();
            assert_eq!(old_view.label, new_view.label);
            assert_eq!(old_view.scopes, new_view.scopes);
            if millis > 0 {
                assert_eq!(old_view.status, TokenStatus::InGrace { until: T0 + millis });
            }
            // A rotated token cannot be rotated again.
            assert!(matches!(
                tokens::rotate(&db, &owner, old.id, grace, LIVE, None, T0).await,
                Err(ServiceError::Conflict(_))
            ));
        }
        let log = tollgate::services::audit::page(
            &db,
            &owner,
            tollgate::model::AuditFilter::default(),
            None,
        )
        .await
        .unwrap()
        .rows;
        assert_eq!(
            log.iter().filter(|r| r.action == "token.rotated").count(),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn caps_limit_active_tokens_per_user_and_per_organization() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        for i in 0..10 {
            tokens::create(&db, &owner, LIVE, personal(&format!("p{i}")), None, T0)
                .await
                .unwrap();
            tokens::create(&db, &owner, LIVE, org_token(&format!("o{i}")), None, T0)
                .await
                .unwrap();
        }
        assert_eq!(
            tokens::remaining(&db, &owner, T0).await.unwrap(),
            (Some(0), Some(0))
        );
        let over = tokens::create(&db, &owner, LIVE, personal("p10"), None, T0)
            .await
            .unwrap_err();
        assert!(ServiceError::to_string(&over).contains("limit of 10 active personal tokens"));
        assert!(matches!(
            tokens::create(&db, &owner, LIVE, org_token("o10"), None, T0).await,
            Err(ServiceError::Conflict(_))
        ));
        // Rotation is not blocked by the cap; revoking frees a place.
        tokens::rotate(
            &db,
            &owner,
            1,
            RotationGrace::FifteenMinutes,
            LIVE,
            None,
            T0,
        )
        .await
        .unwrap();
        tokens::revoke(&db, &owner, 2, None, T0).await.unwrap();
        tokens::create(&db, &owner, LIVE, org_token("o10"), None, T0)
            .await
            .unwrap();
        // A bigger plan raises the cap.
        sqlx::query("UPDATE organizations SET plan = 'growth' WHERE id = $1")
            .bind(owner.org_id)
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            tokens::remaining(&db, &owner, T0).await.unwrap(),
            (Some(15), Some(15))
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_creations_never_exceed_the_cap() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let attempts = (0..16).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                tokens::create(&db, &owner, LIVE, personal(&format!("c{i}")), None, T0)
                    .await
                    .is_ok()
            })
        });
        let mut created = 0;
        for attempt in attempts {
            created += usize::from(attempt.await.unwrap());
        }
        assert_eq!(created, 10);
    })
    .await;
}

#[tokio::test]
async fn permission_matrix_role_by_action_by_binding() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let admin = join(&db, &owner, "admin@example.com", Role::Admin).await;
        let member = join(&db, &owner, "member@example.com", Role::Member).await;
        let outsider = founder(&db, "outsider@example.com").await;

        // Creating: members only personal tokens with read scopes.
        let write = NewToken {
            scopes: vec![Scope::ReportsWrite],
            ..personal("w")
        };
        let pii = NewToken {
            scopes: vec![Scope::PiiRead],
            ..personal("pii")
        };
        assert!(matches!(
            tokens::create(&db, &member, LIVE, write.clone(), None, T0).await,
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            tokens::create(&db, &member, LIVE, pii.clone(), None, T0).await,
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            tokens::create(&db, &member, LIVE, org_token("o"), None, T0).await,
            Err(ServiceError::Forbidden(_))
        ));
        tokens::create(&db, &admin, LIVE, write, None, T0)
            .await
            .unwrap();
        tokens::create(&db, &owner, LIVE, pii, None, T0)
            .await
            .unwrap();

        let member_token = tokens::create(&db, &member, LIVE, personal("mine"), None, T0)
            .await
            .unwrap();
        let admin_personal = tokens::create(&db, &admin, LIVE, personal("admin's"), None, T0)
            .await
            .unwrap();
        let org = tokens::create(&db, &admin, LIVE, org_token("shared"), None, T0)
            .await
            .unwrap();
        let org2 = tokens::create(&db, &admin, LIVE, org_token("shared 2"), None, T0)
            .await
            .unwrap();
        let workspace_id = crate::support::first_workspace(&db, &owner).await;
        let ws = tokens::create(
            &db,
            &owner,
            LIVE,
            NewToken {
                binding: Binding::Workspace,
                workspace_id: Some(workspace_id),
                profile_id: None,
                ..personal("ws")
            },
            None,
            T0,
        )
        .await
        .unwrap();
        // A workspace of another organization cannot be bound.
        let foreign_ws = crate::support::first_workspace(&db, &outsider).await;
        let foreign = NewToken {
            binding: Binding::Workspace,
            workspace_id: Some(foreign_ws),
            profile_id: None,
            ..personal("x")
        };
        assert!(matches!(
            tokens::create(&db, &owner, LIVE, foreign, None, T0).await,
            Err(ServiceError::NotFound(_))
        ));

        // (actor, token, may manage)
        let cases = [
            (member, member_token.id, true),
            (member, admin_personal.id, false),
            (member, org.id, false),
            (member, ws.id, false),
            (admin, member_token.id, false),
            (admin, org.id, true),
            (admin, ws.id, true),
            (owner, admin_personal.id, false),
            (owner, org2.id, true),
            (outsider, org.id, false),
            (outsider, member_token.id, false),
        ];
        for (actor, token_id, allowed) in cases {
            let rotate = tokens::rotate(
                &db,
                &actor,
                token_id,
                RotationGrace::FifteenMinutes,
                LIVE,
                None,
                T0,
            )
            .await;
            assert_eq!(
                rotate.is_ok(),
                allowed,
                "rotate by {:?} of token {token_id}",
                actor.role
            );
            if !allowed {
                assert!(
                    matches!(rotate, Err(ServiceError::NotFound(_))),
                    "refusals do not reveal the token"
                );
                assert!(matches!(
                    tokens::revoke(&db, &actor, token_id, None, T0).await,
                    Err(ServiceError::NotFound(_))
                ));
            }
        }
        // Listing: members see their own personal tokens only; admins also the organization's.
        let seen = |views: Vec<tollgate::model::TokenView>| {
            views.into_iter().map(|t| t.id).collect::<Vec<_>>()
        };
        let member_sees = seen(tokens::list(&db, &member, T0).await.unwrap());
        assert!(member_sees.contains(&member_token.id));
        assert!(!member_sees.contains(&org.id) && !member_sees.contains(&admin_personal.id));
        let admin_sees = seen(tokens::list(&db, &admin, T0).await.unwrap());
        assert!(
            admin_sees.contains(&org.id)
                && admin_sees.contains(&ws.id)
                && !admin_sees.contains(&member_token.id)
        );
        let outsider_sees = seen(tokens::list(&db, &outsider, T0).await.unwrap());
        assert!(outsider_sees.is_empty());
        // The audit log is for admins of the organization only.
        assert!(matches!(
            tollgate::services::audit::page(
                &db,
                &member,
                tollgate::model::AuditFilter::default(),
                None
            )
            .await,
            Err(ServiceError::Forbidden(_))
        ));
        let outsider_log = tollgate::services::audit::page(
            &db,
            &outsider,
            tollgate::model::AuditFilter::token(org.id),
            None,
        )
        .await
        .unwrap();
        assert!(outsider_log.rows.is_empty());
        let org_log = tollgate::services::audit::page(
            &db,
            &owner,
            tollgate::model::AuditFilter::token(org.id),
            None,
        )
        .await
        .unwrap()
        .rows;
        assert_eq!(
            org_log
                .iter()
                .map(|r| r.action.as_str())
                .collect::<Vec<_>>(),
            ["token.rotated", "token.created"]
        );
    })
    .await;
}

#[tokio::test]
async fn last_use_is_written_in_batches_at_most_once_a_minute_and_never_moves_back() {
    on_each_engine(|db| async move {
        use crate::support::{org_token, token_id};
        use tollgate::enforcement::last_used::LastUsed;
        let owner = founder(&db, "owner@example.com").await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let token = org_token(&db, &owner).await;
            ids.push(token_id(&db, &token).await);
        }
        let last_used = LastUsed::default();
        // More uses than one statement takes (ids of no token among them): the real tokens'
        // rows are written by the second statement.
        for ghost in 1_000_000..1_000_600 {
            last_used.record(ghost, T0, None);
        }
        last_used.record(ids[0], T0 + 1_000, Some("client a"));
        last_used.record(ids[1], T0 + 2_000, None);
        last_used.flush(&db).await.unwrap();

        let rows = || async {
            sqlx::query_as::<_, (i64, Option<i64>, Option<i64>, Option<String>)>(
                "SELECT id, first_used_at, last_used_at, last_client FROM tokens \
                 WHERE id IN ($1, $2) ORDER BY id",
            )
            .bind(ids[0])
            .bind(ids[1])
            .fetch_all(&db.pool)
            .await
            .unwrap()
        };
        let first_uses = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'token.first_use'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap()
        };
        let after_first = rows().await;
        assert_eq!(
            after_first,
            vec![
                (
                    ids[0],
                    Some(T0 + 1_000),
                    Some(T0 + 1_000),
                    Some("client a".into())
                ),
                (ids[1], Some(T0 + 2_000), Some(T0 + 2_000), None),
            ]
        );
        assert_eq!(first_uses().await, 2);

        // An older use arriving late changes nothing; a newer one moves last use only.
        last_used.record(ids[0], T0 + 500, Some("client b"));
        last_used.record(ids[1], T0 + 9_000, Some("client c"));
        last_used.flush(&db).await.unwrap();
        assert_eq!(
            rows().await,
            vec![
                (
                    ids[0],
                    Some(T0 + 1_000),
                    Some(T0 + 1_000),
                    Some("client a".into())
                ),
                (
                    ids[1],
                    Some(T0 + 2_000),
                    Some(T0 + 9_000),
                    Some("client c".into())
                ),
            ]
        );
        assert_eq!(first_uses().await, 2, "a token's first use is audited once");

        // The same client's uses within a minute of the last one written are not written
        // again; a use after that minute is, and another client's at once.
        let last_use = || async {
            rows()
                .await
                .into_iter()
                .map(|(_, _, at, client)| (at.unwrap(), client))
                .collect::<Vec<_>>()
        };
        let minute = tollgate::enforcement::last_used::REWRITE_AFTER_MS;
        last_used.record(ids[1], T0 + 9_000 + minute - 1, Some("client c"));
        last_used.flush(&db).await.unwrap();
        assert_eq!(last_use().await[1], (T0 + 9_000, Some("client c".into())));
        last_used.record(ids[1], T0 + 9_000 + minute, Some("client c"));
        last_used.record(ids[0], T0 + 2_000, Some("client d"));
        last_used.flush(&db).await.unwrap();
        assert_eq!(
            last_use().await,
            vec![
                (T0 + 2_000, Some("client d".into())),
                (T0 + 9_000 + minute, Some("client c".into()))
            ]
        );
    })
    .await;
}
