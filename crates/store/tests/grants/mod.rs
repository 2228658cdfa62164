//! The contract of the consent and grant stores, and how deleting a client
//! reaches them (a module of the contract binary; the tests are instantiated
//! per backend by the `contract!` list in `contract.rs`).
use std::sync::Arc;

use tollgate_core::{ScopeSet, TokenRecord};
use tollgate_store::{Store, StoreError};

use crate::common::{
    client, consent, grant, h, revoked_at, token, two_users, user_code, user_token,
};

type S = Arc<dyn Store>;

pub async fn consent_save_is_an_upsert(s: S) {
    s.save_consent(&consent("u1", "zeta", "read", 5))
        .await
        .unwrap();
    s.save_consent(&consent("u1", "app", "read", 10))
        .await
        .unwrap();
    s.save_consent(&consent("u2", "app", "read", 10))
        .await
        .unwrap();
    let mut wider = consent("u1", "app", "read write", 10);
    wider.updated_at = 20;
    s.save_consent(&wider).await.unwrap();
    assert_eq!(
        s.get_consent("u1", "app").await.unwrap(),
        Some(wider.clone())
    );
    assert_eq!(
        s.get_consent("u1", "app").await.unwrap().unwrap().scope,
        ScopeSet::parse("write read").unwrap()
    );
    let mine = s.list_consents("u1").await.unwrap();
    assert_eq!(mine, [wider, consent("u1", "zeta", "read", 5)]);
    assert_eq!(
        s.get_consent("u2", "app").await.unwrap(),
        Some(consent("u2", "app", "read", 10))
    );
    assert_eq!(s.get_consent("u1", "none").await.unwrap(), None);
    assert!(s.list_consents("u3").await.unwrap().is_empty());
}

pub async fn revoke_consent_reaches_only_that_client_and_user(s: S) {
    two_users(&s).await;
    // A client-credentials token of the same client: no user grant.
    s.insert_tokens(vec![token(9, "app", "g-cc")])
        .await
        .unwrap();
    assert!(s.revoke_consent("u1", "app", 300).await.unwrap());
    assert_eq!(revoked_at(&s, 1).await, Some(300));
    assert_eq!(revoked_at(&s, 2).await, Some(300));
    assert_eq!(revoked_at(&s, 5).await, Some(7));
    for n in [3, 4, 9] {
        assert_eq!(revoked_at(&s, n).await, None, "token {n}");
    }
    assert_eq!(s.get_consent("u1", "app").await.unwrap(), None);
    assert!(s.get_consent("u1", "other").await.unwrap().is_some());
    assert!(s.get_consent("u2", "app").await.unwrap().is_some());
    assert!(s.consume_code(&h(6), 100).await.unwrap().is_none());
    assert!(s.consume_code(&h(8), 100).await.unwrap().is_some());
    // The grant records stay, so the consent is "revocable" again (true)
    // without touching the first revocation time.
    assert_eq!(s.list_user_grants("u1").await.unwrap().len(), 2);
    assert!(s.revoke_consent("u1", "app", 400).await.unwrap());
    assert_eq!(revoked_at(&s, 1).await, Some(300));
    assert!(!s.revoke_consent("u1", "never", 400).await.unwrap());
    // A consent without any grant yet.
    s.save_consent(&consent("u3", "app", "read", 1))
        .await
        .unwrap();
    assert!(s.revoke_consent("u3", "app", 400).await.unwrap());
    assert_eq!(s.get_consent("u3", "app").await.unwrap(), None);
}

pub async fn user_grants_and_tokens_list_newest_first(s: S) {
    for g in [
        grant("g1", "u1", "app", 10),
        grant("g2", "u1", "other", 20),
        grant("g3", "u2", "app", 30),
    ] {
        s.record_grant(&g).await.unwrap();
    }
    assert!(matches!(
        s.record_grant(&grant("g1", "u9", "x", 1)).await,
        Err(StoreError::Conflict)
    ));
    let at = |n, g: &str, issued_at| TokenRecord {
        issued_at,
        ..user_token(n, "app", g, "u1")
    };
    let newest = at(2, "g2", 300);
    s.insert_tokens(vec![at(1, "g1", 100), at(3, "g1", 200), newest.clone()])
        .await
        .unwrap();
    s.insert_tokens(vec![user_token(4, "app", "g3", "u2")])
        .await
        .unwrap();
    // A token whose grant has no record (client credentials) is nobody's.
    s.insert_tokens(vec![user_token(5, "app", "g-none", "u1")])
        .await
        .unwrap();
    let mine = s.list_user_tokens("u1").await.unwrap();
    assert_eq!(
        mine.iter().map(|t| t.hash).collect::<Vec<_>>(),
        [h(2), h(3), h(1)]
    );
    assert_eq!(mine[0], newest);
    assert_eq!(
        s.list_user_tokens("u2").await.unwrap(),
        [user_token(4, "app", "g3", "u2")]
    );
    assert!(s.list_user_tokens("u3").await.unwrap().is_empty());
    assert_eq!(
        s.list_user_grants("u1").await.unwrap(),
        [grant("g2", "u1", "other", 20), grant("g1", "u1", "app", 10)]
    );
    assert!(s.list_user_grants("u3").await.unwrap().is_empty());
}

pub async fn revoke_user_tokens_with_and_without_client(s: S) {
    two_users(&s).await;
    assert_eq!(
        s.revoke_user_tokens("u1", Some("app"), 100).await.unwrap(),
        2
    );
    assert_eq!(revoked_at(&s, 1).await, Some(100));
    assert_eq!(revoked_at(&s, 2).await, Some(100));
    assert_eq!(revoked_at(&s, 5).await, Some(7));
    assert_eq!(revoked_at(&s, 3).await, None);
    assert_eq!(revoked_at(&s, 4).await, None);
    assert!(s.consume_code(&h(6), 50).await.unwrap().is_none());
    // Consents are not touched: this is "sign out", not "withdraw".
    assert!(s.get_consent("u1", "app").await.unwrap().is_some());

    assert_eq!(s.revoke_user_tokens("u1", None, 200).await.unwrap(), 1);
    assert_eq!(revoked_at(&s, 3).await, Some(200));
    assert_eq!(revoked_at(&s, 1).await, Some(100));
    assert_eq!(revoked_at(&s, 4).await, None);
    assert!(s.consume_code(&h(7), 50).await.unwrap().is_none());
    assert_eq!(s.revoke_user_tokens("u1", None, 300).await.unwrap(), 0);
    assert_eq!(s.revoke_user_tokens("u9", None, 300).await.unwrap(), 0);
    assert!(s.consume_code(&h(8), 50).await.unwrap().is_some());
}

pub async fn purge_grants_keeps_grants_with_tokens_or_codes(s: S) {
    for g in [
        grant("g1", "u1", "app", 10),  // has a token
        grant("g2", "u1", "app", 20),  // has a code
        grant("g3", "u1", "app", 30),  // bare, old
        grant("g4", "u1", "app", 40),  // bare, old
        grant("g5", "u1", "app", 500), // bare, too new
    ] {
        s.record_grant(&g).await.unwrap();
    }
    s.insert_tokens(vec![user_token(1, "app", "g1", "u1")])
        .await
        .unwrap();
    s.insert_code(&user_code(2, "app", "g2", "u1"))
        .await
        .unwrap();
    let ids = |s: S| async move {
        let mut v: Vec<String> = s
            .list_user_grants("u1")
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.grant_id)
            .collect();
        v.sort();
        v
    };
    // Oldest first: a batch of one takes g3, not g4.
    assert_eq!(s.purge_grants(100, 1).await.unwrap(), 1);
    assert_eq!(ids(s.clone()).await, ["g1", "g2", "g4", "g5"]);
    assert_eq!(s.purge_grants(100, 10).await.unwrap(), 1);
    assert_eq!(s.purge_grants(100, 10).await.unwrap(), 0);
    assert_eq!(ids(s.clone()).await, ["g1", "g2", "g5"]);
    // Once the token and the code are purged, their grants may go too.
    assert_eq!(s.purge_tokens(4_000, 10).await.unwrap(), 1);
    assert_eq!(s.purge_codes(4_000, 10).await.unwrap(), 1);
    assert_eq!(s.purge_grants(100, 10).await.unwrap(), 2);
    assert_eq!(ids(s.clone()).await, ["g5"]);
}

pub async fn delete_client_takes_its_consents_and_grants(s: S) {
    s.create_client(&client("app")).await.unwrap();
    s.create_client(&client("other")).await.unwrap();
    two_users(&s).await;
    assert!(s.delete_client("app").await.unwrap());
    assert_eq!(s.get_consent("u1", "app").await.unwrap(), None);
    assert_eq!(s.get_consent("u2", "app").await.unwrap(), None);
    assert!(s.get_consent("u1", "other").await.unwrap().is_some());
    assert_eq!(
        s.list_user_grants("u1").await.unwrap(),
        [grant("g2", "u1", "other", 20)]
    );
    assert!(s.list_user_grants("u2").await.unwrap().is_empty());
    assert_eq!(
        s.list_user_tokens("u1")
            .await
            .unwrap()
            .iter()
            .map(|t| t.hash)
            .collect::<Vec<_>>(),
        [h(3)]
    );
    // Users and their sessions do not belong to a client.
    assert!(s.get_user("u2").await.unwrap().is_some());
    assert!(s.find_session(&h(12), 0).await.unwrap().is_some());
}
