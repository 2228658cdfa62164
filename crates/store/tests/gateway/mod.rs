//! The contract of the gateway store: services, consumers, third-party
//! authorization servers and the generation that tells readers to reload
//! (a module of the contract binary; the tests are instantiated per backend
//! by the `contract!` list in `contract.rs`).
use std::sync::Arc;

use serde_json::json;
use tollgate_store::{
    AuthServerRecord, ConsumerRecord, ConsumerStatus, ServiceRecord, Store, StoreError,
};

use crate::common::{client, code, h, token};

type S = Arc<dyn Store>;

fn service(name: &str, alias: &str, at: i64) -> ServiceRecord {
    ServiceRecord {
        name: name.into(),
        alias: alias.into(),
        spec: json!({"upstream": format!("http://127.0.0.1:9000/{name}"), "scopes": [name]}),
        created_at: at,
        updated_at: at,
    }
}

fn consumer(service: &str, client_id: &str, at: i64) -> ConsumerRecord {
    ConsumerRecord {
        service: service.into(),
        client_id: client_id.into(),
        application: format!("App of {client_id}"),
        status: ConsumerStatus::Pending,
        settings: json!({"rate_limit": {"per_minute": 60}}),
        created_at: at,
        updated_at: at,
    }
}

fn auth_server(name: &str, secret: Option<&[u8]>, at: i64) -> AuthServerRecord {
    AuthServerRecord {
        name: name.into(),
        spec: json!({"introspection_endpoint": format!("https://{name}.example/introspect")}),
        secret_encrypted: secret.map(<[u8]>::to_vec),
        created_at: at,
        updated_at: at,
    }
}

async fn generation(s: &S) -> i64 {
    s.gateway_generation().await.unwrap()
}

/// Runs `write`, then checks that it moved the generation forward when
/// `moves` and left it alone otherwise.
async fn expect_generation<T>(s: &S, moves: bool, write: impl Future<Output = T>) -> T {
    let before = generation(s).await;
    let out = write.await;
    let after = generation(s).await;
    if moves {
        assert!(after > before, "generation {before} -> {after}");
    } else {
        assert_eq!(after, before, "a write that changed nothing moved it");
    }
    out
}

/// Services, clients `app` and `other`, consumers: (orders, app),
/// (orders, other), (stock, app).
async fn two_services_three_consumers(s: &S) {
    s.create_client(&client("app")).await.unwrap();
    s.create_client(&client("other")).await.unwrap();
    s.create_service(&service("orders", "orders", 10))
        .await
        .unwrap();
    s.create_service(&service("stock", "inventory", 10))
        .await
        .unwrap();
    for (svc, c) in [("stock", "app"), ("orders", "other"), ("orders", "app")] {
        s.put_consumer(&consumer(svc, c, 20)).await.unwrap();
    }
}

pub async fn gateway_services_crud_and_conflicts(s: S) {
    assert_eq!(generation(&s).await, 0);
    let orders = service("orders", "orders", 10);
    s.create_service(&orders).await.unwrap();
    assert_eq!(s.get_service("orders").await.unwrap(), Some(orders.clone()));
    assert_eq!(s.get_service("nobody").await.unwrap(), None);
    // The name taken, then the alias taken by another name.
    for dup in [
        service("orders", "other-alias", 11),
        service("orders2", "orders", 11),
    ] {
        let r = expect_generation(&s, false, s.create_service(&dup)).await;
        assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    }
    assert_eq!(s.get_service("orders2").await.unwrap(), None);
    assert_eq!(
        s.list_services().await.unwrap(),
        std::slice::from_ref(&orders)
    );

    // Update: new alias and spec, `created_at` kept whatever the record says.
    let mut renamed = ServiceRecord {
        alias: "orders-v2".into(),
        spec: json!({"upstream": "http://127.0.0.1:9001", "require_approval": true}),
        created_at: 999,
        updated_at: 50,
        ..orders.clone()
    };
    expect_generation(&s, true, s.update_service(&renamed))
        .await
        .unwrap();
    renamed.created_at = 10;
    assert_eq!(
        s.get_service("orders").await.unwrap(),
        Some(renamed.clone())
    );
    // The old alias is free again; the new one is taken.
    s.create_service(&service("billing", "orders", 60))
        .await
        .unwrap();
    let r = expect_generation(
        &s,
        false,
        s.update_service(&service("billing", "orders-v2", 70)),
    )
    .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(
        s.get_service("billing").await.unwrap().unwrap().alias,
        "orders"
    );
    // Keeping its own alias is no conflict.
    let mut same = renamed.clone();
    same.updated_at = 80;
    s.update_service(&same).await.unwrap();
    let r = expect_generation(&s, false, s.update_service(&service("ghost", "ghost", 1))).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(s.get_service("ghost").await.unwrap(), None);

    // Listed by name, whatever the insertion order.
    s.create_service(&service("accounts", "acc", 90))
        .await
        .unwrap();
    let names: Vec<String> = s
        .list_services()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(names, ["accounts", "billing", "orders"]);

    assert!(
        expect_generation(&s, true, s.delete_service("billing"))
            .await
            .unwrap()
    );
    assert_eq!(s.get_service("billing").await.unwrap(), None);
    assert!(
        !expect_generation(&s, false, s.delete_service("billing"))
            .await
            .unwrap()
    );
    // Its alias can be used again.
    s.create_service(&service("billing2", "orders", 100))
        .await
        .unwrap();
}

pub async fn delete_service_takes_its_consumers(s: S) {
    two_services_three_consumers(&s).await;
    assert!(
        expect_generation(&s, true, s.delete_service("orders"))
            .await
            .unwrap()
    );
    let left = s.list_consumers(None).await.unwrap();
    assert_eq!(left, [consumer("stock", "app", 20)]);
    assert!(s.list_consumers(Some("orders")).await.unwrap().is_empty());
    // A service re-created under the name inherits nothing.
    s.create_service(&service("orders", "orders", 30))
        .await
        .unwrap();
    assert_eq!(s.get_consumer("orders", "app").await.unwrap(), None);
}

pub async fn consumer_put_is_an_upsert_keeping_created_at(s: S) {
    two_services_three_consumers(&s).await;
    let first = consumer("orders", "app", 20);
    assert_eq!(
        s.get_consumer("orders", "app").await.unwrap(),
        Some(first.clone())
    );
    let approved = ConsumerRecord {
        application: "Renamed app".into(),
        status: ConsumerStatus::Approved,
        settings: json!({"token_lifetime": 600}),
        created_at: 999,
        updated_at: 40,
        ..first.clone()
    };
    expect_generation(&s, true, s.put_consumer(&approved))
        .await
        .unwrap();
    assert_eq!(
        s.get_consumer("orders", "app").await.unwrap(),
        Some(ConsumerRecord {
            created_at: 20,
            ..approved.clone()
        })
    );
    // Every status round-trips.
    for status in [
        ConsumerStatus::Pending,
        ConsumerStatus::Approved,
        ConsumerStatus::Rejected,
        ConsumerStatus::Revoked,
    ] {
        let c = ConsumerRecord {
            status,
            ..consumer("stock", "app", 20)
        };
        s.put_consumer(&c).await.unwrap();
        assert_eq!(s.get_consumer("stock", "app").await.unwrap(), Some(c));
    }
    // Only that pair changed.
    assert_eq!(
        s.get_consumer("orders", "other").await.unwrap(),
        Some(consumer("orders", "other", 20))
    );
    assert_eq!(s.get_consumer("stock", "other").await.unwrap(), None);
}

pub async fn consumer_needs_its_service_and_client(s: S) {
    two_services_three_consumers(&s).await;
    for bad in [
        consumer("nowhere", "app", 30),
        consumer("orders", "stranger", 30),
        consumer("nowhere", "stranger", 30),
    ] {
        let r = expect_generation(&s, false, s.put_consumer(&bad)).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{bad:?}: {r:?}");
        assert_eq!(
            s.get_consumer(&bad.service, &bad.client_id).await.unwrap(),
            None
        );
    }
    assert_eq!(s.list_consumers(None).await.unwrap().len(), 3);
}

pub async fn consumers_list_by_service_and_client(s: S) {
    two_services_three_consumers(&s).await;
    s.create_client(&client("aaa")).await.unwrap();
    s.put_consumer(&consumer("stock", "aaa", 30)).await.unwrap();
    let pairs = |v: Vec<ConsumerRecord>| -> Vec<(String, String)> {
        v.into_iter().map(|c| (c.service, c.client_id)).collect()
    };
    let p = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        pairs(s.list_consumers(None).await.unwrap()),
        [
            p("orders", "app"),
            p("orders", "other"),
            p("stock", "aaa"),
            p("stock", "app")
        ]
    );
    assert_eq!(
        pairs(s.list_consumers(Some("stock")).await.unwrap()),
        [p("stock", "aaa"), p("stock", "app")]
    );
    assert_eq!(
        s.list_consumers(Some("orders")).await.unwrap(),
        [
            consumer("orders", "app", 20),
            consumer("orders", "other", 20)
        ]
    );
    assert!(s.list_consumers(Some("nowhere")).await.unwrap().is_empty());

    assert!(
        expect_generation(&s, true, s.delete_consumer("stock", "aaa"))
            .await
            .unwrap()
    );
    assert!(
        !expect_generation(&s, false, s.delete_consumer("stock", "aaa"))
            .await
            .unwrap()
    );
    assert!(
        !expect_generation(&s, false, s.delete_consumer("nowhere", "app"))
            .await
            .unwrap()
    );
    assert_eq!(s.get_consumer("stock", "aaa").await.unwrap(), None);
    assert_eq!(s.list_consumers(None).await.unwrap().len(), 3);
}

pub async fn auth_servers_crud_and_secrets(s: S) {
    let plain = auth_server("plain", None, 10);
    let secret = auth_server("corp", Some(&[0, 1, 2, 255, 254]), 10);
    s.create_auth_server(&plain).await.unwrap();
    s.create_auth_server(&secret).await.unwrap();
    assert_eq!(
        s.get_auth_server("plain").await.unwrap(),
        Some(plain.clone())
    );
    assert_eq!(
        s.get_auth_server("corp").await.unwrap(),
        Some(secret.clone())
    );
    assert_eq!(s.get_auth_server("nobody").await.unwrap(), None);
    let r = expect_generation(
        &s,
        false,
        s.create_auth_server(&auth_server("corp", None, 11)),
    )
    .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(
        s.get_auth_server("corp").await.unwrap(),
        Some(secret.clone())
    );
    // Listed by name.
    assert_eq!(
        s.list_auth_servers().await.unwrap(),
        [secret.clone(), plain.clone()]
    );

    // A secret set, a secret removed; `created_at` is kept.
    let with_secret = AuthServerRecord {
        spec: json!({"jwks_uri": "https://plain.example/jwks"}),
        secret_encrypted: Some(vec![9; 60]),
        created_at: 999,
        updated_at: 20,
        ..plain.clone()
    };
    expect_generation(&s, true, s.update_auth_server(&with_secret))
        .await
        .unwrap();
    assert_eq!(
        s.get_auth_server("plain").await.unwrap(),
        Some(AuthServerRecord {
            created_at: 10,
            ..with_secret
        })
    );
    let without = AuthServerRecord {
        secret_encrypted: None,
        updated_at: 30,
        ..secret.clone()
    };
    expect_generation(&s, true, s.update_auth_server(&without))
        .await
        .unwrap();
    assert_eq!(s.get_auth_server("corp").await.unwrap(), Some(without));
    let r = expect_generation(
        &s,
        false,
        s.update_auth_server(&auth_server("ghost", None, 1)),
    )
    .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(s.get_auth_server("ghost").await.unwrap(), None);

    assert!(
        expect_generation(&s, true, s.delete_auth_server("corp"))
            .await
            .unwrap()
    );
    assert!(
        !expect_generation(&s, false, s.delete_auth_server("corp"))
            .await
            .unwrap()
    );
    let names: Vec<String> = s
        .list_auth_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["plain"]);
}

/// Every kind of successful write moves the generation, each by itself
/// (so a reader that saw one value and sees a larger one knows something
/// changed in between).
pub async fn gateway_generation_moves_with_every_write(s: S) {
    s.create_client(&client("app")).await.unwrap();
    let mut seen = vec![generation(&s).await];
    macro_rules! step {
        ($write:expr) => {
            $write.await.unwrap();
            seen.push(generation(&s).await);
        };
    }
    step!(s.create_service(&service("orders", "orders", 1)));
    step!(s.update_service(&service("orders", "o", 2)));
    step!(s.put_consumer(&consumer("orders", "app", 3)));
    // The same record again is still a write.
    step!(s.put_consumer(&consumer("orders", "app", 3)));
    step!(s.delete_consumer("orders", "app"));
    step!(s.create_auth_server(&auth_server("corp", None, 4)));
    step!(s.update_auth_server(&auth_server("corp", Some(b"k"), 5)));
    step!(s.delete_auth_server("corp"));
    step!(s.put_consumer(&consumer("orders", "app", 6)));
    step!(s.delete_service("orders"));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not strictly increasing: {seen:?}"
    );
    // Reads and the authorization server's writes leave it alone.
    let last = generation(&s).await;
    s.get_service("orders").await.unwrap();
    s.list_services().await.unwrap();
    s.list_consumers(None).await.unwrap();
    s.list_auth_servers().await.unwrap();
    s.create_client(&client("unrelated")).await.unwrap();
    s.insert_tokens(vec![token(1, "unrelated", "g")])
        .await
        .unwrap();
    assert_eq!(generation(&s).await, last);
}

pub async fn delete_client_takes_its_consumers(s: S) {
    two_services_three_consumers(&s).await;
    s.insert_tokens(vec![token(1, "app", "g1")]).await.unwrap();
    s.insert_code(&code(2, "app")).await.unwrap();
    assert!(
        expect_generation(&s, true, s.delete_client("app"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.list_consumers(None).await.unwrap(),
        [consumer("orders", "other", 20)]
    );
    assert_eq!(s.find_token(&h(1)).await.unwrap(), None);
    // A client re-created under that id inherits no approval.
    s.create_client(&client("app")).await.unwrap();
    assert_eq!(s.get_consumer("orders", "app").await.unwrap(), None);
    // Deleting a client without consumers is no gateway change.
    assert!(
        expect_generation(&s, false, s.delete_client("app"))
            .await
            .unwrap()
    );
    assert!(
        !expect_generation(&s, false, s.delete_client("app"))
            .await
            .unwrap()
    );
    // The services stay.
    assert_eq!(s.list_services().await.unwrap().len(), 2);
}

/// The JSON documents come back equal as `serde_json::Value`s: nesting,
/// key order, Unicode and escapes, integers (kept apart from floats) at the
/// limits of i64 and u64, floats, null and booleans.
pub async fn gateway_json_round_trips_exactly(s: S) {
    let doc = json!({
        "z_last": [1, -1, 0, i64::MIN, i64::MAX, u64::MAX],
        "a_first": {"nested": {"deeper": [[], {}, [null, true, false]]}},
        "floats": [1.5, -0.25, 1.0, 1e-7, 6.02e23, 0.1],
        "text": "Grüße, 東京 🚀 \"quoted\" \\ back\\slash \n\t tab </script>",
        "empty": "",
        "unicode key ü": "value",
        "scopes": ["read", "write:all"],
    });
    s.create_client(&client("app")).await.unwrap();
    let svc = ServiceRecord {
        spec: doc.clone(),
        ..service("orders", "orders", 1)
    };
    s.create_service(&svc).await.unwrap();
    let c = ConsumerRecord {
        settings: doc.clone(),
        ..consumer("orders", "app", 1)
    };
    s.put_consumer(&c).await.unwrap();
    let a = AuthServerRecord {
        spec: doc.clone(),
        ..auth_server("corp", Some(b"secret"), 1)
    };
    s.create_auth_server(&a).await.unwrap();

    let got = s.get_service("orders").await.unwrap().unwrap();
    assert_eq!(got.spec, doc);
    assert_eq!(got.spec["floats"][2], json!(1.0));
    assert!(got.spec["floats"][2].is_f64());
    assert_eq!(got.spec["z_last"][5].as_u64(), Some(u64::MAX));
    assert_eq!(got.spec["z_last"][3].as_i64(), Some(i64::MIN));
    assert_eq!(s.list_services().await.unwrap()[0].spec, doc);
    assert_eq!(
        s.get_consumer("orders", "app")
            .await
            .unwrap()
            .unwrap()
            .settings,
        doc
    );
    assert_eq!(s.list_consumers(None).await.unwrap()[0].settings, doc);
    assert_eq!(s.get_auth_server("corp").await.unwrap().unwrap().spec, doc);
    // Scalars and arrays are documents too.
    for other in [
        json!(null),
        json!([1, "two"]),
        json!("just text"),
        json!(42),
    ] {
        let svc = ServiceRecord {
            spec: other.clone(),
            updated_at: 2,
            ..service("orders", "orders", 1)
        };
        s.update_service(&svc).await.unwrap();
        assert_eq!(s.get_service("orders").await.unwrap().unwrap().spec, other);
    }
}

/// A consumer written while its client or its service is being deleted
/// never outlives them: either the delete comes first and the write is
/// `NotFound`, or the write comes first and the delete takes it along.
pub async fn consumers_never_outlive_a_concurrent_delete(s: S) {
    s.create_client(&client("keep")).await.unwrap();
    for i in 0..40 {
        let (c, svc) = (format!("c{i}"), format!("s{i}"));
        s.create_client(&client(&c)).await.unwrap();
        s.create_service(&service(&svc, &svc, 1)).await.unwrap();
        // One consumer whose client goes, one whose service goes.
        let put_c = {
            let (s, svc, c) = (Arc::clone(&s), svc.clone(), c.clone());
            tokio::spawn(async move { s.put_consumer(&consumer(&svc, &c, 2)).await })
        };
        let put_s = {
            let (s, svc) = (Arc::clone(&s), svc.clone());
            tokio::spawn(async move { s.put_consumer(&consumer(&svc, "keep", 2)).await })
        };
        let del_c = {
            let (s, c) = (Arc::clone(&s), c.clone());
            tokio::spawn(async move { s.delete_client(&c).await })
        };
        let del_s = {
            let (s, svc) = (Arc::clone(&s), svc.clone());
            tokio::spawn(async move { s.delete_service(&svc).await })
        };
        for put in [put_c.await.unwrap(), put_s.await.unwrap()] {
            assert!(matches!(put, Ok(()) | Err(StoreError::NotFound)), "{put:?}");
        }
        assert!(del_c.await.unwrap().unwrap());
        assert!(del_s.await.unwrap().unwrap());
    }
    assert_eq!(s.list_consumers(None).await.unwrap(), []);
}
