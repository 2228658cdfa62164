//! The contract of the user and session stores (a module of the contract
//! binary; the tests are instantiated per backend by the `contract!` list in
//! `contract.rs`).
use std::sync::Arc;

use tollgate_core::{User, Username};
use tollgate_store::{Store, StoreError};

use crate::common::{h, revoked_at, session, two_users, user};

type S = Arc<dyn Store>;

pub async fn user_crud_and_conflicts(s: S) {
    let alice = user("u1", "alice");
    s.create_user(&alice).await.unwrap();
    assert_eq!(s.get_user("u1").await.unwrap(), Some(alice.clone()));
    assert_eq!(
        s.find_user_by_name("alice").await.unwrap(),
        Some(alice.clone())
    );
    // Names are stored in lower case, so a differently cased lookup finds it.
    assert_eq!(
        s.find_user_by_name("Alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.get_user("nobody").await.unwrap(), None);
    assert_eq!(s.find_user_by_name("nobody").await.unwrap(), None);
    // Same id, other name; other id, same name.
    for dup in [user("u1", "carol"), user("u9", "alice")] {
        assert!(
            matches!(s.create_user(&dup).await, Err(StoreError::Conflict)),
            "{dup:?}"
        );
    }
    assert_eq!(s.find_user_by_name("carol").await.unwrap(), None);
    assert_eq!(s.get_user("u9").await.unwrap(), None);

    let bob = user("u2", "bob");
    s.create_user(&bob).await.unwrap();
    let taken = User {
        username: Username::try_from("alice").unwrap(),
        ..bob.clone()
    };
    assert!(matches!(
        s.update_user(&taken).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.get_user("u2").await.unwrap(), Some(bob));

    let mut renamed = alice.clone();
    renamed.username = Username::try_from("alice2").unwrap();
    renamed.enabled = false;
    renamed.attributes.insert("team".into(), "blue".into());
    renamed.password_hash = "$argon2id$other".into();
    renamed.updated_at = 99;
    s.update_user(&renamed).await.unwrap();
    assert_eq!(s.get_user("u1").await.unwrap(), Some(renamed.clone()));
    assert_eq!(s.find_user_by_name("alice2").await.unwrap(), Some(renamed));
    assert_eq!(s.find_user_by_name("alice").await.unwrap(), None);
    assert!(matches!(
        s.update_user(&user("u7", "nobody")).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn user_list_pages_by_username(s: S) {
    // Ids run the other way, so an id order would show up as reversed.
    for i in 0..25 {
        s.create_user(&user(&format!("id{:02}", 24 - i), &format!("user{i:02}")))
            .await
            .unwrap();
    }
    let names =
        |v: Vec<User>| -> Vec<String> { v.into_iter().map(|u| u.username.to_string()).collect() };
    let first = names(s.list_users(None, 10).await.unwrap());
    assert_eq!(
        first,
        (0..10).map(|i| format!("user{i:02}")).collect::<Vec<_>>()
    );
    let second = names(s.list_users(Some("user09"), 10).await.unwrap());
    assert_eq!(
        second,
        (10..20).map(|i| format!("user{i:02}")).collect::<Vec<_>>()
    );
    let last = names(s.list_users(Some("user19"), 10).await.unwrap());
    assert_eq!(
        last,
        (20..25).map(|i| format!("user{i:02}")).collect::<Vec<_>>()
    );
    assert!(s.list_users(Some("user24"), 10).await.unwrap().is_empty());
    assert_eq!(s.list_users(None, 0).await.unwrap().len(), 25);

    // Punctuation sorts by byte on both backends, whatever the locale.
    let odd = ["a_b", "a.b", "ab", "a-b", "a@b", "a+b"];
    for (i, name) in odd.iter().enumerate() {
        s.create_user(&user(&format!("odd{i}"), name))
            .await
            .unwrap();
    }
    let mut sorted: Vec<String> = odd.iter().map(|n| (*n).to_owned()).collect();
    sorted.sort();
    assert_eq!(names(s.list_users(None, 6).await.unwrap()), sorted);
    // Keyset paging through the whole table visits each user once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = names(s.list_users(after.as_deref(), 4).await.unwrap());
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        seen.extend(page);
    }
    assert_eq!(seen.len(), 31);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

pub async fn delete_user_revokes_tokens_and_removes_the_rest(s: S) {
    two_users(&s).await;
    assert!(s.delete_user("u1", 500).await.unwrap());
    assert_eq!(s.get_user("u1").await.unwrap(), None);
    assert_eq!(s.find_user_by_name("alice").await.unwrap(), None);
    // Revoked, not deleted; an earlier revocation keeps its time.
    for n in [1, 2, 3] {
        assert_eq!(revoked_at(&s, n).await, Some(500), "token {n}");
    }
    assert_eq!(revoked_at(&s, 5).await, Some(7));
    assert_eq!(revoked_at(&s, 4).await, None);
    // A pending code can no longer be redeemed.
    assert!(s.consume_code(&h(6), 100).await.unwrap().is_none());
    assert!(s.consume_code(&h(7), 100).await.unwrap().is_none());
    assert!(s.list_user_grants("u1").await.unwrap().is_empty());
    assert!(s.list_user_tokens("u1").await.unwrap().is_empty());
    assert!(s.list_consents("u1").await.unwrap().is_empty());
    assert_eq!(s.find_session(&h(10), 100).await.unwrap(), None);
    assert_eq!(s.find_session(&h(11), 100).await.unwrap(), None);
    // Bob is untouched.
    assert!(s.get_user("u2").await.unwrap().is_some());
    assert_eq!(s.list_user_grants("u2").await.unwrap().len(), 1);
    assert_eq!(s.list_consents("u2").await.unwrap().len(), 1);
    assert!(s.find_session(&h(12), 100).await.unwrap().is_some());
    assert!(s.consume_code(&h(8), 100).await.unwrap().is_some());
    assert!(!s.delete_user("u1", 600).await.unwrap());
    assert_eq!(revoked_at(&s, 1).await, Some(500));
}

pub async fn sessions_expire_and_purge(s: S) {
    let one = session(1, "u1", 100);
    s.insert_session(&one).await.unwrap();
    s.insert_session(&session(2, "u1", 200)).await.unwrap();
    s.insert_session(&session(3, "u2", 300)).await.unwrap();
    s.insert_session(&session(4, "u2", 1_000)).await.unwrap();
    assert!(matches!(
        s.insert_session(&one).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.find_session(&h(1), 99).await.unwrap(), Some(one));
    // Expired at `expires_at` itself, and past it.
    assert_eq!(s.find_session(&h(1), 100).await.unwrap(), None);
    assert_eq!(s.find_session(&h(2), 5_000).await.unwrap(), None);
    assert_eq!(s.find_session(&h(9), 0).await.unwrap(), None);

    assert!(s.delete_session(&h(3)).await.unwrap());
    assert!(!s.delete_session(&h(3)).await.unwrap());
    assert_eq!(s.purge_sessions(250, 1).await.unwrap(), 1);
    assert_eq!(s.purge_sessions(250, 10).await.unwrap(), 1);
    assert_eq!(s.purge_sessions(250, 10).await.unwrap(), 0);
    // Purged, not merely hidden: still gone at an earlier `now`.
    assert_eq!(s.find_session(&h(1), 0).await.unwrap(), None);
    assert!(s.find_session(&h(4), 0).await.unwrap().is_some());

    s.insert_session(&session(5, "u3", 1_000)).await.unwrap();
    s.insert_session(&session(6, "u3", 1_000)).await.unwrap();
    assert_eq!(s.delete_user_sessions("u3").await.unwrap(), 2);
    assert_eq!(s.delete_user_sessions("u3").await.unwrap(), 0);
    assert_eq!(s.find_session(&h(5), 0).await.unwrap(), None);
    assert!(s.find_session(&h(4), 0).await.unwrap().is_some());
}
