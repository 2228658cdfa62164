//! The store contract, written once and run against every backend: a fresh
//! SQLite file per test, and the real PostgreSQL server with a fresh schema per
//! test (`TOLLGATE_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! An unreachable PostgreSQL fails its tests; it never skips them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod connections;
mod gateway;
mod grants;
mod plans;
mod proxies;
mod users;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use common::{client, code, event, h, token};
use tollgate_core::{ScopeSet, TokenKind};
use tollgate_store::{
    AuditQuery, KeyStatus, RegistrationTokenRecord, SigningKeyRecord, Store, StoreError,
};
// The user, session, consent, grant, gateway and connection contract lives
// in its own modules; the `contract!` list below instantiates it per backend
// like the rest.
use connections::*;
use gateway::*;
use grants::*;
use proxies::*;
use users::*;

type S = Arc<dyn Store>;

/// Instantiates every listed contract test once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::common::with_sqlite(crate::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::common::with_postgres(crate::$name).await;
                }
            )*
        }
    };
}

contract!(
    backend_answers_ping,
    client_crud_and_conflicts,
    client_list_pages_by_id,
    delete_client_takes_its_tokens_and_codes,
    tokens_round_trip_every_field,
    token_pair_is_atomic,
    revoke_token_keeps_first_time,
    revoke_grant_and_client_reach_only_their_tokens,
    rotate_refresh_rules,
    rotate_refresh_has_one_winner,
    consume_code_detects_replay,
    redeem_code_marks_and_inserts_together_once,
    code_and_its_grant_are_stored_together,
    concurrent_redemptions_have_one_winner,
    purge_codes_removes_only_expired,
    registration_token_limits,
    registration_token_concurrent_uses_never_exceed_max,
    key_rotation_leaves_one_active,
    next_key_is_published_then_promoted,
    assertion_ids_are_refused_until_they_expire,
    concurrent_key_rotations_leave_one_active,
    audit_append_filters_and_pages,
    audit_queue_is_visible_after_flush,
    purge_tokens_respects_expiry_revocation_and_limit,
    purge_many_tokens_in_batches_keeps_live_and_revoked_refresh,
    purge_audit_removes_only_old_events,
    purge_registration_tokens_removes_only_expired,
    concurrent_inserts_are_all_committed,
    bad_insert_does_not_fail_its_batch,
    user_crud_and_conflicts,
    user_list_pages_by_username,
    delete_user_revokes_tokens_and_removes_the_rest,
    sessions_expire_and_purge,
    consent_save_is_an_upsert,
    revoke_consent_reaches_only_that_client_and_user,
    user_grants_and_tokens_list_newest_first,
    revoke_user_tokens_with_and_without_client,
    purge_grants_keeps_grants_with_tokens_or_codes,
    delete_client_takes_its_consents_and_grants,
    gateway_services_crud_and_conflicts,
    delete_service_takes_its_consumers,
    consumer_put_is_an_upsert_keeping_created_at,
    consumer_needs_its_service_and_client,
    consumers_list_by_service_and_client,
    auth_servers_crud_and_secrets,
    gateway_generation_moves_with_every_write,
    delete_client_takes_its_consumers,
    gateway_json_round_trips_exactly,
    consumers_never_outlive_a_concurrent_delete,
    connections_crud_and_conflicts,
    connection_create_stores_the_given_token_state,
    connection_update_clears_token_state,
    connection_token_save_writes_every_field,
    connection_token_save_with_a_stale_version_changes_nothing,
    connection_token_save_and_reset_of_a_missing_connection,
    concurrent_connection_token_saves_have_one_winner,
    connection_token_reset,
    connection_debug_hides_secret_bytes,
    connection_bytes_and_json_round_trip_exactly,
    proxies_crud_and_conflicts,
    proxy_aliases_are_references,
);

async fn backend_answers_ping(s: S) {
    s.ping().await.unwrap();
    assert!(matches!(s.backend(), "sqlite" | "postgres"));
    s.flush().await.unwrap();
}

async fn client_crud_and_conflicts(s: S) {
    let mut c = client("svc-a");
    c.metadata.insert("tier".into(), "gold".into());
    c.scopes = ScopeSet::parse("read write").unwrap();
    s.create_client(&c).await.unwrap();
    assert_eq!(s.get_client("svc-a").await.unwrap(), Some(c.clone()));
    assert!(matches!(
        s.create_client(&c).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.get_client("nobody").await.unwrap(), None);

    c.name = "Renamed".into();
    c.enabled = false;
    c.updated_at = 99;
    s.update_client(&c).await.unwrap();
    assert_eq!(s.get_client("svc-a").await.unwrap(), Some(c));
    assert!(matches!(
        s.update_client(&client("missing")).await,
        Err(StoreError::NotFound)
    ));
}

async fn client_list_pages_by_id(s: S) {
    for i in (0..25).rev() {
        s.create_client(&client(&format!("c{i:02}"))).await.unwrap();
    }
    let ids = |v: Vec<tollgate_core::Client>| -> Vec<String> {
        v.into_iter().map(|c| c.id.to_string()).collect()
    };
    let first = ids(s.list_clients(None, 10).await.unwrap());
    assert_eq!(
        first,
        (0..10).map(|i| format!("c{i:02}")).collect::<Vec<_>>()
    );
    let second = ids(s.list_clients(Some("c09"), 10).await.unwrap());
    assert_eq!(second.first().map(String::as_str), Some("c10"));
    let last = ids(s.list_clients(Some("c19"), 10).await.unwrap());
    assert_eq!(
        last,
        (20..25).map(|i| format!("c{i:02}")).collect::<Vec<_>>()
    );
    assert!(s.list_clients(Some("c24"), 10).await.unwrap().is_empty());
    // 0 asks for the default page, which holds all 25.
    assert_eq!(s.list_clients(None, 0).await.unwrap().len(), 25);
}

async fn delete_client_takes_its_tokens_and_codes(s: S) {
    s.create_client(&client("gone")).await.unwrap();
    s.create_client(&client("kept")).await.unwrap();
    s.insert_tokens(vec![token(1, "gone", "g1"), token(2, "gone", "g1")])
        .await
        .unwrap();
    s.insert_tokens(vec![token(3, "kept", "g2")]).await.unwrap();
    s.insert_code(&code(4, "gone")).await.unwrap();
    s.insert_code(&code(5, "kept")).await.unwrap();

    assert!(s.delete_client("gone").await.unwrap());
    assert_eq!(s.get_client("gone").await.unwrap(), None);
    assert_eq!(s.find_token(&h(1)).await.unwrap(), None);
    assert_eq!(s.find_token(&h(2)).await.unwrap(), None);
    assert!(s.consume_code(&h(4), 10).await.unwrap().is_none());
    assert!(s.find_token(&h(3)).await.unwrap().is_some());
    assert!(s.consume_code(&h(5), 10).await.unwrap().is_some());
    assert!(!s.delete_client("gone").await.unwrap());
}

async fn tokens_round_trip_every_field(s: S) {
    let mut access = token(1, "svc", "grant-1");
    access.subject = Some("alice".into());
    access.audience = vec!["https://api.example".into(), "orders".into()];
    access.metadata = BTreeMap::from([("tier".into(), "gold".into()), ("é".into(), "ü".into())]);
    access.scope = ScopeSet::parse("read write:all").unwrap();
    access.token_type = "DPoP".into();
    let mut refresh = token(2, "svc", "grant-1");
    refresh.kind = TokenKind::Refresh;
    refresh.subject = None;
    refresh.audience = Vec::new();
    refresh.revoked_at = Some(1_500);
    refresh.scope = ScopeSet::default();
    s.insert_tokens(vec![access.clone(), refresh.clone()])
        .await
        .unwrap();
    assert_eq!(s.find_token(&h(1)).await.unwrap(), Some(access.clone()));
    assert_eq!(s.find_token(&h(2)).await.unwrap(), Some(refresh));
    assert_eq!(s.find_token(&h(3)).await.unwrap(), None);
    assert!(matches!(
        s.insert_tokens(vec![access]).await,
        Err(StoreError::Conflict)
    ));
    s.insert_tokens(Vec::new()).await.unwrap();
}

async fn token_pair_is_atomic(s: S) {
    s.insert_tokens(vec![token(1, "svc", "g")]).await.unwrap();
    // The refresh half collides, so the access half must not be stored either.
    let r = s
        .insert_tokens(vec![token(2, "svc", "g"), token(1, "svc", "g")])
        .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.find_token(&h(2)).await.unwrap(), None);
}

async fn revoke_token_keeps_first_time(s: S) {
    s.insert_tokens(vec![token(1, "svc", "g")]).await.unwrap();
    assert!(s.revoke_token(&h(1), 100).await.unwrap());
    assert!(s.revoke_token(&h(1), 200).await.unwrap());
    assert_eq!(
        s.find_token(&h(1)).await.unwrap().unwrap().revoked_at,
        Some(100)
    );
    assert!(!s.revoke_token(&h(9), 100).await.unwrap());
}

async fn revoke_grant_and_client_reach_only_their_tokens(s: S) {
    s.insert_tokens(vec![
        token(1, "a", "g1"),
        token(2, "a", "g1"),
        token(3, "a", "g2"),
    ])
    .await
    .unwrap();
    s.insert_tokens(vec![token(4, "b", "g3")]).await.unwrap();
    assert_eq!(s.revoke_grant("g1", 50).await.unwrap(), 2);
    assert_eq!(s.revoke_grant("g1", 60).await.unwrap(), 0);
    assert_eq!(
        s.find_token(&h(1)).await.unwrap().unwrap().revoked_at,
        Some(50)
    );
    assert_eq!(s.find_token(&h(3)).await.unwrap().unwrap().revoked_at, None);
    assert_eq!(s.revoke_client_tokens("a", 70).await.unwrap(), 1);
    assert_eq!(
        s.find_token(&h(3)).await.unwrap().unwrap().revoked_at,
        Some(70)
    );
    assert_eq!(
        s.find_token(&h(2)).await.unwrap().unwrap().revoked_at,
        Some(50)
    );
    assert_eq!(s.find_token(&h(4)).await.unwrap().unwrap().revoked_at, None);
}

async fn rotate_refresh_rules(s: S) {
    let refresh = |n, exp| {
        let mut t = token(n, "svc", "g");
        t.kind = TokenKind::Refresh;
        t.expires_at = exp;
        t
    };
    s.insert_tokens(vec![
        refresh(1, 5_000),
        token(2, "svc", "g"),
        refresh(3, 900),
    ])
    .await
    .unwrap();
    assert!(
        s.rotate_refresh(&h(1), 1_000, vec![refresh(10, 9_000)])
            .await
            .unwrap()
    );
    assert_eq!(
        s.find_token(&h(1)).await.unwrap().unwrap().revoked_at,
        Some(1_000)
    );
    assert!(s.find_token(&h(10)).await.unwrap().is_some());
    // Already used, an access token, expired, unknown: refused, nothing stored.
    for (old, new) in [(1, 11), (2, 12), (3, 13), (99, 14)] {
        assert!(
            !s.rotate_refresh(&h(old), 1_000, vec![refresh(new, 9_000)])
                .await
                .unwrap()
        );
        assert_eq!(s.find_token(&h(new)).await.unwrap(), None);
    }
    assert_eq!(s.find_token(&h(3)).await.unwrap().unwrap().revoked_at, None);
}

async fn rotate_refresh_has_one_winner(s: S) {
    let mut old = token(1, "svc", "g");
    old.kind = TokenKind::Refresh;
    s.insert_tokens(vec![old]).await.unwrap();
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.rotate_refresh(&h(1), 100, vec![token(100 + i, "svc", "g")])
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(wins, 1);
    let mut stored = 0;
    for i in 0..10 {
        stored += usize::from(s.find_token(&h(100 + i)).await.unwrap().is_some());
    }
    assert_eq!(stored, 1);
}

async fn consume_code_detects_replay(s: S) {
    let c = code(1, "svc");
    s.insert_code(&c).await.unwrap();
    assert!(matches!(s.insert_code(&c).await, Err(StoreError::Conflict)));
    let (first, is_first) = s.consume_code(&h(1), 100).await.unwrap().unwrap();
    assert!(is_first);
    assert_eq!(
        first,
        tollgate_store::CodeRecord {
            used_at: Some(100),
            ..c.clone()
        }
    );
    let (again, is_first) = s.consume_code(&h(1), 200).await.unwrap().unwrap();
    assert!(!is_first);
    assert_eq!(again.used_at, Some(100));
    assert!(s.consume_code(&h(2), 100).await.unwrap().is_none());
}

async fn redeem_code_marks_and_inserts_together_once(s: S) {
    let c = code(1, "svc");
    s.insert_code(&c).await.unwrap();
    assert_eq!(s.find_code(&h(1)).await.unwrap(), Some(c.clone()));
    assert!(s.find_code(&h(2)).await.unwrap().is_none());
    let pair = vec![token(10, "svc", "g1"), token(11, "svc", "g1")];
    assert!(s.redeem_code(&h(1), 100, pair).await.unwrap());
    assert!(s.find_token(&h(10)).await.unwrap().is_some());
    assert_eq!(
        s.find_code(&h(1)).await.unwrap().unwrap().used_at,
        Some(100)
    );
    // A second redemption inserts nothing and keeps the first use's time.
    let again = vec![token(12, "svc", "g1")];
    assert!(!s.redeem_code(&h(1), 200, again).await.unwrap());
    assert!(s.find_token(&h(12)).await.unwrap().is_none());
    assert_eq!(
        s.find_code(&h(1)).await.unwrap().unwrap().used_at,
        Some(100)
    );
    // Unknown codes redeem nothing.
    assert!(
        !s.redeem_code(&h(3), 100, vec![token(13, "svc", "g1")])
            .await
            .unwrap()
    );
    assert!(s.find_token(&h(13)).await.unwrap().is_none());
}

async fn code_and_its_grant_are_stored_together(s: S) {
    let c = tollgate_store::CodeRecord {
        grant_id: "g-code".into(),
        ..code(1, "svc")
    };
    s.insert_code_with_grant(&common::grant("g-code", "u1", "svc", 10), &c)
        .await
        .unwrap();
    assert_eq!(s.find_code(&h(1)).await.unwrap(), Some(c.clone()));
    assert_eq!(
        s.list_user_grants("u1").await.unwrap()[0].grant_id,
        "g-code"
    );
    // A taken grant id stores neither: the code insert is rolled back too.
    let other = tollgate_store::CodeRecord {
        grant_id: "g-code".into(),
        ..code(2, "svc")
    };
    let again = s
        .insert_code_with_grant(&common::grant("g-code", "u1", "svc", 10), &other)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert!(s.find_code(&h(2)).await.unwrap().is_none());
    // And a taken code hash leaves no grant record behind.
    let dup = s
        .insert_code_with_grant(&common::grant("g-other", "u1", "svc", 10), &c)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict)), "{dup:?}");
    assert_eq!(s.list_user_grants("u1").await.unwrap().len(), 1);
}

async fn concurrent_redemptions_have_one_winner(s: S) {
    s.insert_code(&code(1, "svc")).await.unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.redeem_code(&h(1), 100, vec![token(20 + i, "svc", "g1")])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    let mut stored = 0;
    for i in 0..8u64 {
        stored += usize::from(s.find_token(&h(20 + i)).await.unwrap().is_some());
    }
    assert_eq!(stored, 1, "only the winner's tokens exist");
}

async fn purge_codes_removes_only_expired(s: S) {
    for (n, exp) in [(1, 100), (2, 200), (3, 300)] {
        s.insert_code(&tollgate_store::CodeRecord {
            expires_at: exp,
            ..code(n, "svc")
        })
        .await
        .unwrap();
    }
    assert_eq!(s.purge_codes(250, 1).await.unwrap(), 1);
    assert_eq!(s.purge_codes(250, 10).await.unwrap(), 1);
    assert_eq!(s.purge_codes(250, 10).await.unwrap(), 0);
    assert!(s.consume_code(&h(3), 10).await.unwrap().is_some());
}

fn reg(n: u64, max_uses: Option<u32>, expires_at: Option<i64>) -> RegistrationTokenRecord {
    RegistrationTokenRecord {
        id: format!("rt{n}"),
        hash: h(n),
        description: "for tests".into(),
        created_at: i64::try_from(n).unwrap(),
        expires_at,
        max_uses,
        uses: 0,
        revoked: false,
    }
}

async fn registration_token_limits(s: S) {
    s.insert_registration_token(&reg(1, Some(2), None))
        .await
        .unwrap();
    s.insert_registration_token(&reg(2, None, Some(500)))
        .await
        .unwrap();
    s.insert_registration_token(&reg(3, None, None))
        .await
        .unwrap();
    assert!(matches!(
        s.insert_registration_token(&reg(1, None, None)).await,
        Err(StoreError::Conflict)
    ));
    let used = |r: Option<RegistrationTokenRecord>| r.map(|r| r.uses);
    assert_eq!(
        used(s.use_registration_token(&h(1), 10).await.unwrap()),
        Some(1)
    );
    assert_eq!(
        used(s.use_registration_token(&h(1), 10).await.unwrap()),
        Some(2)
    );
    assert_eq!(s.use_registration_token(&h(1), 10).await.unwrap(), None);
    assert_eq!(
        used(s.use_registration_token(&h(2), 499).await.unwrap()),
        Some(1)
    );
    assert_eq!(s.use_registration_token(&h(2), 500).await.unwrap(), None);
    assert_eq!(
        used(s.use_registration_token(&h(3), 10).await.unwrap()),
        Some(1)
    );
    assert!(s.revoke_registration_token("rt3").await.unwrap());
    assert!(!s.revoke_registration_token("nope").await.unwrap());
    assert_eq!(s.use_registration_token(&h(3), 10).await.unwrap(), None);
    assert_eq!(s.use_registration_token(&h(9), 10).await.unwrap(), None);
    let all = s.list_registration_tokens().await.unwrap();
    let ids: Vec<_> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["rt3", "rt2", "rt1"]);
    assert!(all[0].revoked && all[0].uses == 1);
    assert_eq!((all[2].uses, all[2].max_uses), (2, Some(2)));
}

async fn registration_token_concurrent_uses_never_exceed_max(s: S) {
    s.insert_registration_token(&reg(1, Some(5), None))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.use_registration_token(&h(1), 10).await })
        })
        .collect();
    let mut granted = HashSet::new();
    for t in tasks {
        if let Some(r) = t.await.unwrap().unwrap() {
            assert!(granted.insert(r.uses), "use {} granted twice", r.uses);
        }
    }
    assert_eq!(granted, (1..=5).collect());
    assert_eq!(s.list_registration_tokens().await.unwrap()[0].uses, 5);
}

fn key(kid: &str, created_at: i64, status: KeyStatus) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_key_encrypted: vec![1, 2, 3, kid.len() as u8],
        public_jwk: serde_json::json!({"kty": "EC", "kid": kid}),
        status,
        created_at,
        retired_at: None,
    }
}

async fn key_rotation_leaves_one_active(s: S) {
    s.insert_key(&key("k0", 5, KeyStatus::Retired), 5)
        .await
        .unwrap();
    s.insert_key(&key("k1", 10, KeyStatus::Active), 10)
        .await
        .unwrap();
    s.insert_key(&key("k2", 20, KeyStatus::Active), 20)
        .await
        .unwrap();
    assert!(matches!(
        s.insert_key(&key("k2", 30, KeyStatus::Retired), 30).await,
        Err(StoreError::Conflict)
    ));
    let keys = s.list_keys().await.unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k2", "k1", "k0"]);
    assert_eq!(keys[0], key("k2", 20, KeyStatus::Active));
    assert_eq!(
        (keys[1].status, keys[1].retired_at),
        (KeyStatus::Retired, Some(20))
    );
    assert_eq!(keys[1].public_jwk["kid"], "k1");
    assert_eq!(keys[2].retired_at, None);
}

async fn next_key_is_published_then_promoted(s: S) {
    s.insert_key(&key("k1", 10, KeyStatus::Active), 10)
        .await
        .unwrap();
    s.insert_key(&key("k2", 20, KeyStatus::Next), 20)
        .await
        .unwrap();
    // Only one key waits to sign.
    assert!(matches!(
        s.insert_key(&key("k3", 25, KeyStatus::Next), 25).await,
        Err(StoreError::Conflict)
    ));
    let keys = s.list_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.status))
            .collect::<Vec<_>>(),
        [("k2", KeyStatus::Next), ("k1", KeyStatus::Active)]
    );
    // Only the next key can be promoted, and only once.
    assert!(!s.promote_key("k1", 30).await.unwrap());
    assert!(!s.promote_key("nope", 30).await.unwrap());
    assert!(s.promote_key("k2", 30).await.unwrap());
    assert!(!s.promote_key("k2", 31).await.unwrap());
    let keys = s.list_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.status, k.retired_at))
            .collect::<Vec<_>>(),
        [
            ("k2", KeyStatus::Active, None),
            ("k1", KeyStatus::Retired, Some(30))
        ]
    );
}

async fn assertion_ids_are_refused_until_they_expire(s: S) {
    assert!(s.record_jti(&h(1), 100, 10).await.unwrap());
    assert!(!s.record_jti(&h(1), 100, 50).await.unwrap());
    assert!(!s.record_jti(&h(1), 200, 99).await.unwrap());
    assert!(s.record_jti(&h(2), 100, 50).await.unwrap());
    // At its last second the assertion is still valid, so still a replay;
    // once past it the record no longer blocks (and the identifier is
    // remembered again for the new lifetime).
    assert!(!s.record_jti(&h(1), 300, 100).await.unwrap());
    assert!(s.record_jti(&h(1), 300, 101).await.unwrap());
    assert!(!s.record_jti(&h(1), 300, 200).await.unwrap());
    // Concurrent presentations of one identifier: exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.record_jti(&h(3), 100, 10).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(wins, 1);
    // The purge takes expired records only.
    assert_eq!(s.purge_jtis(150, 100).await.unwrap(), 2);
    assert!(!s.record_jti(&h(1), 300, 200).await.unwrap());
    assert!(s.record_jti(&h(2), 400, 200).await.unwrap());
}

async fn concurrent_key_rotations_leave_one_active(s: S) {
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.insert_key(&key(&format!("k{i}"), i, KeyStatus::Active), i)
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let keys = s.list_keys().await.unwrap();
    assert_eq!(keys.len(), 6);
    assert_eq!(
        keys.iter()
            .filter(|k| k.status == KeyStatus::Active)
            .count(),
        1
    );
}

async fn audit_append_filters_and_pages(s: S) {
    let mut events = Vec::new();
    for i in 0..30i64 {
        let client = if i % 3 == 0 { Some("a") } else { None };
        let name = if i % 2 == 0 {
            "token.issued"
        } else {
            "token.rejected"
        };
        events.push(event(100 + i, name, client));
    }
    s.append_audit(events.clone()).await.unwrap();
    s.append_audit(Vec::new()).await.unwrap();
    let all = s.query_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 30);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].event, events[29]);

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let by_client = s
        .query_audit(&q(|q| q.client_id = Some("a".into())))
        .await
        .unwrap();
    assert_eq!(by_client.len(), 10);
    assert!(
        by_client
            .iter()
            .all(|r| r.event.client_id.as_deref() == Some("a"))
    );
    let by_event = s
        .query_audit(&q(|q| q.event = Some("token.rejected".into())))
        .await
        .unwrap();
    assert_eq!(by_event.len(), 15);
    let window = s
        .query_audit(&q(|q| (q.since, q.until) = (Some(110), Some(120))))
        .await
        .unwrap();
    let ats: Vec<_> = window.iter().map(|r| r.event.at).collect();
    assert_eq!(ats, (110..120).rev().collect::<Vec<_>>());
    let both = s
        .query_audit(&q(|q| {
            (q.client_id, q.event) = (Some("a".into()), Some("token.issued".into()))
        }))
        .await
        .unwrap();
    assert_eq!(
        both.iter().map(|r| r.event.at).collect::<Vec<_>>(),
        [124, 118, 112, 106, 100]
    );

    // Keyset paging visits every record exactly once.
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = s
            .query_audit(&AuditQuery {
                before_id,
                limit: 7,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before_id = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, all.iter().map(|r| r.id).collect::<Vec<_>>());
}

async fn audit_queue_is_visible_after_flush(s: S) {
    for i in 0..50 {
        s.audit(event(i, "client.created", Some("x")));
    }
    s.flush().await.unwrap();
    let got = s
        .query_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(s.dropped_audit_events(), 0);
}

async fn purge_tokens_respects_expiry_revocation_and_limit(s: S) {
    let t = |n, exp, rev| tollgate_core::TokenRecord {
        expires_at: exp,
        revoked_at: rev,
        ..token(n, "svc", "g")
    };
    s.insert_tokens(vec![
        t(1, 100, None),        // expired
        t(2, 150, None),        // expired
        t(3, 9_000, Some(50)),  // revoked long ago
        t(4, 9_000, Some(400)), // revoked after the cut-off
        t(5, 9_000, None),      // active
    ])
    .await
    .unwrap();
    assert_eq!(s.purge_tokens(200, 1).await.unwrap(), 1);
    assert_eq!(s.purge_tokens(200, 10).await.unwrap(), 2);
    assert_eq!(s.purge_tokens(200, 10).await.unwrap(), 0);
    for (n, kept) in [(1, false), (2, false), (3, false), (4, true), (5, true)] {
        assert_eq!(
            s.find_token(&h(n)).await.unwrap().is_some(),
            kept,
            "token {n}"
        );
    }
}

/// The purge the background task runs, at scale: 5,000 expired and 5,000
/// live tokens, batches of 1,000. Only expired tokens and revoked access
/// tokens go; a revoked refresh token stays until it expires so presenting it
/// again is still recognised as reuse.
async fn purge_many_tokens_in_batches_keeps_live_and_revoked_refresh(s: S) {
    const NOW: i64 = 1_000;
    // 0..5000 expired (every tenth a revoked refresh token), 5000..10000
    // live: n % 10 == 0 revoked refresh (stays), n % 10 == 1 revoked access
    // (goes), the rest active.
    let t = |n: u64| {
        let live = n >= 5_000;
        let mut t = token(n, "svc", &format!("g{n}"));
        t.expires_at = if live { 9_000 } else { 500 + (n % 400) as i64 };
        match n % 10 {
            0 => {
                t.kind = TokenKind::Refresh;
                t.revoked_at = Some(100);
            }
            1 if live => t.revoked_at = Some(100),
            _ => {}
        }
        t
    };
    for chunk in 0..10u64 {
        s.insert_tokens((chunk * 1_000..(chunk + 1) * 1_000).map(t).collect())
            .await
            .unwrap();
    }
    let mut batches = Vec::new();
    loop {
        let n = s.purge_tokens(NOW, 1_000).await.unwrap();
        batches.push(n);
        if n < 1_000 {
            break;
        }
    }
    assert_eq!(batches, [1_000, 1_000, 1_000, 1_000, 1_000, 500]);
    assert_eq!(s.purge_tokens(NOW, 1_000).await.unwrap(), 0);
    for n in 0..10_000u64 {
        let kept = n >= 5_000 && n % 10 != 1;
        assert_eq!(
            s.find_token(&h(n)).await.unwrap().is_some(),
            kept,
            "token {n}"
        );
    }
    // Once the revoked refresh tokens expire, they go too, with the rest.
    let mut later = Vec::new();
    loop {
        let n = s.purge_tokens(9_001, 1_000).await.unwrap();
        later.push(n);
        if n < 1_000 {
            break;
        }
    }
    assert_eq!(later, [1_000, 1_000, 1_000, 1_000, 500]);
}

async fn purge_audit_removes_only_old_events(s: S) {
    for chunk in 0..3 {
        s.append_audit(
            (chunk * 1_000..(chunk + 1) * 1_000)
                .map(|at| event(at, "token.issued", Some("svc")))
                .collect(),
        )
        .await
        .unwrap();
    }
    assert_eq!(s.purge_audit(2_500, 1_000).await.unwrap(), 1_000);
    assert_eq!(s.purge_audit(2_500, 1_000).await.unwrap(), 1_000);
    assert_eq!(s.purge_audit(2_500, 1_000).await.unwrap(), 500);
    assert_eq!(s.purge_audit(2_500, 1_000).await.unwrap(), 0);
    let left = s
        .query_audit(&AuditQuery {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 500);
    assert!(left.iter().all(|r| r.event.at >= 2_500));
}

async fn purge_registration_tokens_removes_only_expired(s: S) {
    for (n, exp) in [(1, Some(100)), (2, Some(150)), (3, None), (4, Some(9_000))] {
        s.insert_registration_token(&reg(n, Some(1), exp))
            .await
            .unwrap();
    }
    assert_eq!(s.purge_registration_tokens(200, 1).await.unwrap(), 1);
    assert_eq!(s.purge_registration_tokens(200, 10).await.unwrap(), 1);
    assert_eq!(s.purge_registration_tokens(200, 10).await.unwrap(), 0);
    let mut left: Vec<_> = s
        .list_registration_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.expires_at)
        .collect();
    left.sort();
    assert_eq!(left, [None, Some(9_000)]);
}

async fn concurrent_inserts_are_all_committed(s: S) {
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.insert_tokens(vec![token(2 * i, "svc", "g"), token(2 * i + 1, "svc", "g")])
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for n in 0..400 {
        assert!(
            s.find_token(&h(n)).await.unwrap().is_some(),
            "token {n} missing"
        );
    }
}

async fn bad_insert_does_not_fail_its_batch(s: S) {
    s.insert_tokens(vec![token(0, "svc", "g")]).await.unwrap();
    let tasks: Vec<_> = (0..40u64)
        .map(|i| {
            let s = s.clone();
            // Every tenth insert collides with token 0.
            let n = if i % 10 == 5 { 0 } else { 1 + i };
            tokio::spawn(async move { (n, s.insert_tokens(vec![token(n, "svc", "g")]).await) })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            (0, r) => assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}"),
            (n, r) => {
                r.unwrap();
                assert!(s.find_token(&h(n)).await.unwrap().is_some());
            }
        }
    }
}

// Opening: not per backend, about choosing one.

#[tokio::test]
async fn unknown_scheme_is_a_config_error() {
    let r = tollgate_store::open(&tollgate_store::StoreOptions::new("mysql://x/y")).await;
    assert!(matches!(r, Err(StoreError::Config(_))));
}

#[tokio::test]
async fn in_memory_sqlite_is_refused() {
    let r = tollgate_store::open(&tollgate_store::StoreOptions::new("sqlite::memory:")).await;
    assert!(matches!(r, Err(StoreError::Config(_))));
}

#[tokio::test]
async fn schema_names_are_checked() {
    let opts = tollgate_store::StoreOptions {
        schema: Some("x\"; DROP TABLE y; --".into()),
        ..tollgate_store::StoreOptions::new(common::pg_url())
    };
    assert!(matches!(
        tollgate_store::open(&opts).await,
        Err(StoreError::Config(_))
    ));
}

#[tokio::test]
async fn reopening_an_existing_sqlite_file_keeps_data() {
    let dir = std::env::temp_dir().join(format!("tollgate-store-{}", common::unique()));
    let url = format!("sqlite:{}/store.db", dir.display());
    let opts = tollgate_store::StoreOptions::new(url);
    {
        let s = tollgate_store::open(&opts).await.unwrap();
        s.insert_tokens(vec![token(1, "svc", "g")]).await.unwrap();
    }
    let s = tollgate_store::open(&opts).await.unwrap();
    assert!(s.find_token(&h(1)).await.unwrap().is_some());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The opt-in background WAL checkpointer changes where checkpoints run, not
/// what is committed: tokens written with it are there after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_background_checkpoint_keeps_data() {
    let dir = std::env::temp_dir().join(format!("tollgate-store-{}", common::unique()));
    let opts = tollgate_store::StoreOptions {
        sqlite_background_checkpoint: true,
        sqlite_cache_mib: 8,
        ..tollgate_store::StoreOptions::new(format!("sqlite:{}/store.db", dir.display()))
    };
    {
        let s = tollgate_store::open(&opts).await.unwrap();
        for chunk in 0..5u64 {
            s.insert_tokens(
                (chunk * 500..(chunk + 1) * 500)
                    .map(|n| token(n, "svc", "g"))
                    .collect(),
            )
            .await
            .unwrap();
        }
        // Let the checkpointer run at least once.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let s = tollgate_store::open(&opts).await.unwrap();
    for n in [0, 1_234, 2_499] {
        assert!(s.find_token(&h(n)).await.unwrap().is_some(), "token {n}");
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
