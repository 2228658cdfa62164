//! The contract of the proxy-alias store and of the reference connections
//! hold to an alias (a module of the contract binary; the tests are
//! instantiated per backend by the `contract!` list in `contract.rs`).
use std::sync::Arc;

use tollgate_store::{ConnectionRecord, ProxyRecord, Store, StoreError};

use crate::connections::{awkward_bytes, connection};

type S = Arc<dyn Store>;

fn proxy(name: &str, password: Option<&[u8]>, at: i64) -> ProxyRecord {
    ProxyRecord {
        name: name.into(),
        url: format!("http://{name}.proxy.example:3128"),
        username: password.map(|_| format!("user-{name}")),
        password_encrypted: password.map(<[u8]>::to_vec),
        created_at: at,
        updated_at: at,
    }
}

fn via(name: &str, alias: Option<&str>) -> ConnectionRecord {
    ConnectionRecord {
        proxy_alias: alias.map(str::to_owned),
        ..connection(name, None, 10)
    }
}

pub async fn proxies_crud_and_conflicts(s: S) {
    assert_eq!(s.list_proxies().await.unwrap(), []);
    let open = proxy("open", None, 10);
    let corp = proxy("corp", Some(&awkward_bytes(3)), 10);
    s.create_proxy(&open).await.unwrap();
    s.create_proxy(&corp).await.unwrap();
    assert_eq!(s.get_proxy("open").await.unwrap(), Some(open.clone()));
    assert_eq!(s.get_proxy("corp").await.unwrap(), Some(corp.clone()));
    assert_eq!(s.get_proxy("nobody").await.unwrap(), None);
    let dup = ProxyRecord {
        url: "http://other:8080".into(),
        ..proxy("corp", None, 11)
    };
    let r = s.create_proxy(&dup).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(s.get_proxy("corp").await.unwrap(), Some(corp.clone()));
    // In name order.
    let names: Vec<String> = s
        .list_proxies()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["corp", "open"]);

    // Update: url, user and password replaced, `created_at` kept.
    let changed = ProxyRecord {
        url: "https://new.proxy.example:8443".into(),
        username: Some("u2".into()),
        password_encrypted: Some(vec![0, 1, 0xFF]),
        created_at: 999,
        updated_at: 20,
        ..open.clone()
    };
    s.update_proxy(&changed).await.unwrap();
    assert_eq!(
        s.get_proxy("open").await.unwrap(),
        Some(ProxyRecord {
            created_at: 10,
            ..changed
        })
    );
    // Credentials removed.
    let plain = ProxyRecord {
        username: None,
        password_encrypted: None,
        updated_at: 21,
        ..corp.clone()
    };
    s.update_proxy(&plain).await.unwrap();
    assert_eq!(s.get_proxy("corp").await.unwrap(), Some(plain));
    let r = s.update_proxy(&proxy("ghost", None, 22)).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(s.get_proxy("ghost").await.unwrap(), None);

    assert!(s.delete_proxy("open").await.unwrap());
    assert!(!s.delete_proxy("open").await.unwrap());
    assert_eq!(s.get_proxy("open").await.unwrap(), None);
    // The sealed password never shows in Debug.
    let d = format!("{corp:?}");
    assert!(d.contains("corp") && !d.contains("255"), "{d}");
}

pub async fn proxy_aliases_are_references(s: S) {
    s.create_proxy(&proxy("corp", Some(b"sealed"), 1))
        .await
        .unwrap();
    s.create_proxy(&proxy("spare", None, 1)).await.unwrap();

    // An alias that does not exist: nothing stored.
    let r = s.create_connection(&via("lost", Some("ghost"))).await;
    assert!(matches!(r, Err(StoreError::Reference)), "{r:?}");
    assert_eq!(s.get_connection("lost").await.unwrap(), None);

    let a = via("a", Some("corp"));
    s.create_connection(&a).await.unwrap();
    s.create_connection(&via("b", Some("corp"))).await.unwrap();
    s.create_connection(&via("direct", None)).await.unwrap();
    assert_eq!(s.get_connection("a").await.unwrap(), Some(a.clone()));
    assert_eq!(s.proxy_users("corp").await.unwrap(), ["a", "b"]);
    assert!(s.proxy_users("spare").await.unwrap().is_empty());

    // In use: refused, and still there.
    let r = s.delete_proxy("corp").await;
    assert!(matches!(r, Err(StoreError::Reference)), "{r:?}");
    assert!(s.get_proxy("corp").await.unwrap().is_some());

    // Updates move the reference, and are refused to an unknown alias.
    s.update_connection("a", &a.spec, None, Some("spare"), 5)
        .await
        .unwrap();
    assert_eq!(
        s.get_connection("a").await.unwrap().unwrap().proxy_alias,
        Some("spare".into())
    );
    let r = s
        .update_connection("b", &a.spec, None, Some("ghost"), 5)
        .await;
    assert!(matches!(r, Err(StoreError::Reference)), "{r:?}");
    assert_eq!(
        s.get_connection("b").await.unwrap().unwrap().proxy_alias,
        Some("corp".into()),
        "the refused update changed nothing"
    );
    s.update_connection("b", &a.spec, None, None, 6)
        .await
        .unwrap();
    assert!(s.proxy_users("corp").await.unwrap().is_empty());
    assert!(s.delete_proxy("corp").await.unwrap());

    // Deleting the connection frees its alias.
    let r = s.delete_proxy("spare").await;
    assert!(matches!(r, Err(StoreError::Reference)), "{r:?}");
    assert!(s.delete_connection("a").await.unwrap());
    assert!(s.delete_proxy("spare").await.unwrap());
}
