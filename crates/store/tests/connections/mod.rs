//! The contract of the connection store: outbound OAuth client
//! configurations and the compare-and-set of their token state (a module of
//! the contract binary; the tests are instantiated per backend by the
//! `contract!` list in `contract.rs`, except the two at the end, which open
//! two stores on one database the way two processes would).
use std::sync::Arc;

use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tollgate_store::{ConnectionRecord, ConnectionTokens, Store, StoreError, StoreOptions, open};

use crate::common::{pg_url, unique};

type S = Arc<dyn Store>;

/// Bytes no text column would keep: a NUL, invalid UTF-8 (a lone
/// continuation byte, a truncated sequence, 0xFF), and every byte value.
pub(crate) fn awkward_bytes(tag: u8) -> Vec<u8> {
    let mut b = vec![tag, 0x00, 0x80, 0xC3, 0x28, 0xFF, 0xFE, 0x00, 0x00];
    b.extend(0..=255u8);
    b.push(0x00);
    b
}

pub(crate) fn connection(name: &str, secrets: Option<&[u8]>, at: i64) -> ConnectionRecord {
    ConnectionRecord {
        name: name.into(),
        spec: json!({
            "flow": "client_credentials",
            "token_endpoint": format!("https://{name}.example/token"),
            "client_id": format!("tollgate-{name}"),
            "scopes": ["read", "write:all"],
        }),
        secrets_encrypted: secrets.map(<[u8]>::to_vec),
        proxy_alias: None,
        tokens: ConnectionTokens::new_empty(),
        created_at: at,
        updated_at: at,
    }
}

/// A token state with every field set.
fn full_tokens(n: u8) -> ConnectionTokens {
    ConnectionTokens {
        access_token_encrypted: Some(awkward_bytes(n)),
        refresh_token_encrypted: Some(vec![n, 0x00, 0xFF, n]),
        token_type: Some("Bearer".into()),
        scope: Some(format!("read write:{n}")),
        expires_at: Some(10_000 + i64::from(n)),
        obtained_at: Some(6_400 + i64::from(n)),
        status: "ok".into(),
        last_error: Some(format!("previous failure {n}")),
        // Ignored by the save: the store counts.
        version: 999,
    }
}

async fn get(s: &S, name: &str) -> ConnectionRecord {
    s.get_connection(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("connection {name} is gone"))
}

fn names(v: Vec<ConnectionRecord>) -> Vec<String> {
    v.into_iter().map(|c| c.name).collect()
}

pub async fn connections_crud_and_conflicts(s: S) {
    assert_eq!(s.list_connections().await.unwrap(), []);
    let generation = s.gateway_generation().await.unwrap();
    let plain = connection("plain", None, 10);
    let corp = connection("corp", Some(&awkward_bytes(1)), 10);
    s.create_connection(&plain).await.unwrap();
    s.create_connection(&corp).await.unwrap();
    assert_eq!(
        s.get_connection("plain").await.unwrap(),
        Some(plain.clone())
    );
    assert_eq!(s.get_connection("corp").await.unwrap(), Some(corp.clone()));
    assert_eq!(s.get_connection("nobody").await.unwrap(), None);

    // The name is taken: nothing of the second record lands.
    let dup = ConnectionRecord {
        spec: json!({"other": true}),
        tokens: full_tokens(2),
        ..connection("corp", None, 11)
    };
    let r = s.create_connection(&dup).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(get(&s, "corp").await, corp);

    // Listed by name, in byte order whatever the database's collation.
    s.create_connection(&connection("Zeta", None, 12))
        .await
        .unwrap();
    s.create_connection(&connection("alpha", None, 12))
        .await
        .unwrap();
    assert_eq!(
        names(s.list_connections().await.unwrap()),
        ["Zeta", "alpha", "corp", "plain"]
    );
    assert_eq!(s.list_connections().await.unwrap()[2], corp);

    // Update: spec and secrets replaced, `created_at` kept.
    let spec = json!({"flow": "jwt_bearer", "x5t": true});
    s.update_connection("plain", &spec, Some(&[7, 0, 7]), None, 20)
        .await
        .unwrap();
    assert_eq!(
        get(&s, "plain").await,
        ConnectionRecord {
            spec: spec.clone(),
            secrets_encrypted: Some(vec![7, 0, 7]),
            tokens: ConnectionTokens {
                version: plain.tokens.version + 1,
                ..ConnectionTokens::new_empty()
            },
            updated_at: 20,
            ..plain.clone()
        }
    );
    // Secrets removed.
    s.update_connection("corp", &corp.spec, None, None, 21)
        .await
        .unwrap();
    assert_eq!(
        get(&s, "corp").await,
        ConnectionRecord {
            secrets_encrypted: None,
            tokens: ConnectionTokens {
                version: corp.tokens.version + 1,
                ..ConnectionTokens::new_empty()
            },
            updated_at: 21,
            ..corp.clone()
        }
    );
    let r = s.update_connection("ghost", &spec, None, None, 22).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(s.get_connection("ghost").await.unwrap(), None);

    assert!(s.delete_connection("corp").await.unwrap());
    assert_eq!(s.get_connection("corp").await.unwrap(), None);
    assert!(!s.delete_connection("corp").await.unwrap());
    assert!(!s.delete_connection("ghost").await.unwrap());
    assert_eq!(
        names(s.list_connections().await.unwrap()),
        ["Zeta", "alpha", "plain"]
    );
    // The name can be used again, and the new connection starts afresh.
    s.create_connection(&connection("corp", None, 30))
        .await
        .unwrap();
    assert_eq!(get(&s, "corp").await, connection("corp", None, 30));
    // Connections are not the gateway's configuration: its readers do not
    // reload for them.
    assert_eq!(s.gateway_generation().await.unwrap(), generation);
}

pub async fn connection_create_stores_the_given_token_state(s: S) {
    let given = ConnectionTokens {
        version: 5,
        ..full_tokens(3)
    };
    let c = ConnectionRecord {
        tokens: given.clone(),
        ..connection("seeded", Some(b"sealed"), 10)
    };
    s.create_connection(&c).await.unwrap();
    assert_eq!(get(&s, "seeded").await, c);
    // Its version is the one to compare against.
    let r = s
        .save_connection_tokens("seeded", 0, &full_tokens(4), 20)
        .await
        .unwrap();
    assert_eq!(r, None);
    let r = s
        .save_connection_tokens("seeded", 5, &full_tokens(4), 20)
        .await
        .unwrap();
    assert_eq!(r, Some(6));
}

pub async fn connection_update_clears_token_state(s: S) {
    let c = connection("api", Some(b"v1"), 10);
    s.create_connection(&c).await.unwrap();
    let v1 = s
        .save_connection_tokens("api", 0, &full_tokens(1), 15)
        .await
        .unwrap()
        .unwrap();
    let spec = json!({"flow": "authorization_code", "redirect": "http://127.0.0.1:9/cb"});
    s.update_connection("api", &spec, Some(b"v2"), None, 20)
        .await
        .unwrap();
    let after = get(&s, "api").await;
    assert_eq!(
        after.tokens,
        ConnectionTokens {
            version: v1 + 1,
            ..ConnectionTokens::new_empty()
        },
        "the old configuration's tokens are gone"
    );
    assert_eq!(after.spec, spec);
    assert_eq!(after.secrets_encrypted.as_deref(), Some(&b"v2"[..]));
    assert_eq!((after.created_at, after.updated_at), (10, 20));
    // A refresh that read the state before the update cannot save over it.
    assert_eq!(
        s.save_connection_tokens("api", v1, &full_tokens(2), 25)
            .await
            .unwrap(),
        None
    );
    assert_eq!(get(&s, "api").await.tokens, after.tokens);
}

pub async fn connection_token_save_writes_every_field(s: S) {
    let c = connection("api", Some(&awkward_bytes(9)), 10);
    s.create_connection(&c).await.unwrap();
    let tokens = full_tokens(1);
    let v = s
        .save_connection_tokens("api", 0, &tokens, 50)
        .await
        .unwrap();
    assert_eq!(v, Some(1));
    assert_eq!(
        get(&s, "api").await,
        ConnectionRecord {
            tokens: ConnectionTokens {
                version: 1,
                ..tokens
            },
            updated_at: 50,
            ..c.clone()
        }
    );
    // Every field can be cleared again (a failed refresh keeps no token).
    let failed = ConnectionTokens {
        access_token_encrypted: None,
        refresh_token_encrypted: None,
        token_type: None,
        scope: None,
        expires_at: None,
        obtained_at: None,
        status: "needs_authorization".into(),
        last_error: Some("invalid_grant: refresh token revoked".into()),
        version: 0,
    };
    assert_eq!(
        s.save_connection_tokens("api", 1, &failed, 60)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        get(&s, "api").await,
        ConnectionRecord {
            tokens: ConnectionTokens {
                version: 2,
                ..failed
            },
            updated_at: 60,
            ..c.clone()
        }
    );
    // Only that connection changed.
    s.create_connection(&connection("other", None, 10))
        .await
        .unwrap();
    s.save_connection_tokens("api", 2, &full_tokens(3), 70)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(&s, "other").await, connection("other", None, 10));
}

pub async fn connection_token_save_with_a_stale_version_changes_nothing(s: S) {
    s.create_connection(&connection("api", Some(b"k"), 10))
        .await
        .unwrap();
    assert_eq!(
        s.save_connection_tokens("api", 0, &full_tokens(1), 20)
            .await
            .unwrap(),
        Some(1)
    );
    let before = get(&s, "api").await;
    // The version it read (0) and one it never had (7).
    for stale in [0, 7, -1] {
        let r = s
            .save_connection_tokens("api", stale, &full_tokens(2), 30)
            .await
            .unwrap();
        assert_eq!(r, None, "expected version {stale}");
        assert_eq!(get(&s, "api").await, before);
    }
}

pub async fn connection_token_save_and_reset_of_a_missing_connection(s: S) {
    let r = s
        .save_connection_tokens("ghost", 0, &full_tokens(1), 10)
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(!s.reset_connection_tokens("ghost", 10).await.unwrap());
    assert_eq!(s.get_connection("ghost").await.unwrap(), None);
    // Nor after a delete.
    s.create_connection(&connection("gone", None, 1))
        .await
        .unwrap();
    assert!(s.delete_connection("gone").await.unwrap());
    let r = s
        .save_connection_tokens("gone", 0, &full_tokens(1), 10)
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(!s.reset_connection_tokens("gone", 10).await.unwrap());
    assert_eq!(s.list_connections().await.unwrap(), []);
}

/// Refreshes that read the same version race to save: exactly one wins,
/// and the row holds the winner's tokens.
pub async fn concurrent_connection_token_saves_have_one_winner(s: S) {
    s.create_connection(&connection("api", None, 10))
        .await
        .unwrap();
    let mut expected = 0;
    for round in 0..20u8 {
        let racers: Vec<_> = (0..6u8)
            .map(|i| {
                let s = Arc::clone(&s);
                let tokens = full_tokens(round.wrapping_mul(10).wrapping_add(i));
                tokio::spawn(async move {
                    let r = s
                        .save_connection_tokens("api", expected, &tokens, 100)
                        .await
                        .unwrap();
                    (r, tokens)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (r, tokens) = racer.await.unwrap();
            if let Some(v) = r {
                winners.push((v, tokens));
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (v, tokens) = winners.remove(0);
        assert_eq!(v, expected + 1);
        assert_eq!(
            get(&s, "api").await.tokens,
            ConnectionTokens {
                version: v,
                ..tokens
            }
        );
        expected = v;
    }
}

pub async fn connection_token_reset(s: S) {
    let c = connection("api", Some(&awkward_bytes(2)), 10);
    s.create_connection(&c).await.unwrap();
    s.save_connection_tokens("api", 0, &full_tokens(1), 20)
        .await
        .unwrap()
        .unwrap();
    assert!(s.reset_connection_tokens("api", 30).await.unwrap());
    assert_eq!(
        get(&s, "api").await,
        ConnectionRecord {
            tokens: ConnectionTokens {
                version: 2,
                ..ConnectionTokens::new_empty()
            },
            updated_at: 30,
            ..c.clone()
        }
    );
    // A refresh that read before the reset cannot save over it.
    assert_eq!(
        s.save_connection_tokens("api", 1, &full_tokens(3), 40)
            .await
            .unwrap(),
        None
    );
    assert_eq!(get(&s, "api").await.tokens.status, "new");
    // Resetting a connection in its initial state still moves the version.
    assert!(s.reset_connection_tokens("api", 50).await.unwrap());
    assert_eq!(get(&s, "api").await.tokens.version, 3);
    assert_eq!(ConnectionTokens::default(), ConnectionTokens::new_empty());
    assert_eq!(ConnectionTokens::new_empty().status, "new");
    assert_eq!(ConnectionTokens::new_empty().version, 0);
}

/// Debug output, of records built here and read back, names every
/// non-secret field and none of the sealed bytes.
pub async fn connection_debug_hides_secret_bytes(s: S) {
    let secret = b"client-secret-XYZZY".to_vec();
    let access = b"access-token-PLUGH".to_vec();
    let refresh = b"refresh-token-FROBOZZ".to_vec();
    let c = ConnectionRecord {
        tokens: ConnectionTokens {
            access_token_encrypted: Some(access.clone()),
            refresh_token_encrypted: Some(refresh.clone()),
            ..full_tokens(1)
        },
        ..connection("api", Some(&secret), 10)
    };
    s.create_connection(&c).await.unwrap();
    let read = get(&s, "api").await;
    assert_eq!(read, c);
    for shown in [
        format!("{c:?}"),
        format!("{c:#?}"),
        format!("{read:?}"),
        format!("{:?}", read.tokens),
        format!("{:?}", Some(&read)),
    ] {
        for bytes in [&secret, &access, &refresh] {
            let text = String::from_utf8_lossy(bytes);
            // Neither as text nor as the list of numbers `Vec<u8>` prints.
            let numbers = format!("{:?}", &bytes[..4]);
            let numbers = numbers.trim_matches(['[', ']']);
            assert!(!shown.contains(text.as_ref()), "{shown}");
            assert!(!shown.contains(numbers), "{shown}");
        }
        assert!(shown.contains("…"), "{shown}");
    }
    assert!(format!("{read:?}").contains("\"api\""));
    let shown = format!("{read:?}");
    for visible in ["Bearer", "read write:1", "previous failure 1", "\"ok\""] {
        assert!(shown.contains(visible), "{visible} missing: {shown}");
    }
    // Absent secrets show as absent, not as "…".
    let bare = format!("{:?}", connection("bare", None, 1));
    assert!(!bare.contains('…'), "{bare}");
}

/// Sealed bytes come back exactly: NULs, invalid UTF-8, every byte value,
/// an empty value (not NULL) and a large one; JSON stays the same value.
pub async fn connection_bytes_and_json_round_trip_exactly(s: S) {
    let large: Vec<u8> = (0..65_536u32).map(|i| (i * 7 % 256) as u8).collect();
    let spec = json!({
        "z": [1, -1, i64::MIN, i64::MAX, u64::MAX],
        "floats": [1.5, 1.0, 1e-7],
        "text": "Grüße 東京 🚀 \"q\" \\ \n </script>",
        "nested": {"a": [null, true, false, {}]},
    });
    let c = ConnectionRecord {
        spec: spec.clone(),
        secrets_encrypted: Some(large.clone()),
        tokens: ConnectionTokens {
            access_token_encrypted: Some(awkward_bytes(0)),
            refresh_token_encrypted: Some(Vec::new()),
            ..full_tokens(0)
        },
        ..connection("bytes", None, 1)
    };
    s.create_connection(&c).await.unwrap();
    let got = get(&s, "bytes").await;
    assert_eq!(got, c);
    assert_eq!(got.secrets_encrypted.as_deref(), Some(&large[..]));
    assert_eq!(got.tokens.refresh_token_encrypted, Some(Vec::new()));
    assert_eq!(got.spec["z"][4].as_u64(), Some(u64::MAX));
    assert!(got.spec["floats"][1].is_f64());
    assert_eq!(
        s.list_connections().await.unwrap(),
        std::slice::from_ref(&c)
    );

    // Through the other writes too.
    let awkward = awkward_bytes(0xAB);
    s.update_connection("bytes", &spec, Some(&awkward), None, 2)
        .await
        .unwrap();
    assert_eq!(
        get(&s, "bytes").await.secrets_encrypted.as_deref(),
        Some(&awkward[..])
    );
    s.update_connection("bytes", &spec, Some(&[]), None, 3)
        .await
        .unwrap();
    assert_eq!(get(&s, "bytes").await.secrets_encrypted, Some(Vec::new()));
    let tokens = ConnectionTokens {
        access_token_encrypted: Some(large.clone()),
        refresh_token_encrypted: Some(awkward.clone()),
        ..full_tokens(5)
    };
    // Created with `full_tokens`' version, 999; each update moved it.
    s.save_connection_tokens("bytes", 1001, &tokens, 4)
        .await
        .unwrap()
        .unwrap();
    let got = get(&s, "bytes").await.tokens;
    assert_eq!(got.access_token_encrypted.as_deref(), Some(&large[..]));
    assert_eq!(got.refresh_token_encrypted.as_deref(), Some(&awkward[..]));
}

/// Two stores on one database, as two processes (nodes, the CLI next to the
/// server) hold it: their refreshes race on the database itself, and each
/// round exactly one save lands.
async fn two_stores_race(a: S, b: S) {
    a.create_connection(&connection("shared", Some(b"k"), 1))
        .await
        .unwrap();
    // The other process sees what this one committed.
    assert_eq!(
        b.get_connection("shared").await.unwrap(),
        Some(connection("shared", Some(b"k"), 1))
    );
    let mut expected = 0;
    for round in 0..15u8 {
        let racers: Vec<_> = (0..4u8)
            .map(|i| {
                let s = Arc::clone(if i % 2 == 0 { &a } else { &b });
                let tokens = full_tokens(round.wrapping_mul(10).wrapping_add(i));
                tokio::spawn(async move {
                    s.save_connection_tokens("shared", expected, &tokens, 10)
                        .await
                        .unwrap()
                        .map(|v| (v, tokens))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            winners.extend(racer.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (v, tokens) = winners.remove(0);
        assert_eq!(v, expected + 1);
        let want = ConnectionTokens {
            version: v,
            ..tokens
        };
        assert_eq!(
            a.get_connection("shared").await.unwrap().unwrap().tokens,
            want
        );
        assert_eq!(
            b.get_connection("shared").await.unwrap().unwrap().tokens,
            want
        );
        expected = v;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connection_state_is_shared_by_two_stores_and_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("tollgate-conn-{}", unique()));
    let opts = StoreOptions::new(format!("sqlite:{}/store.db", dir.display()));
    let outcome = tokio::spawn({
        let opts = opts.clone();
        async move {
            let a = open(&opts).await.unwrap();
            let b = open(&opts).await.unwrap();
            two_stores_race(Arc::clone(&a), b).await;
            let written = a.get_connection("shared").await.unwrap().unwrap();
            drop(a);
            // Committed means on disk: a fresh open reads the same bytes.
            let reopened = open(&opts).await.unwrap();
            assert_eq!(
                reopened.get_connection("shared").await.unwrap(),
                Some(written)
            );
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_state_is_shared_by_two_stores() {
    let schema = format!("t_conn_{}", unique());
    let opts = StoreOptions {
        schema: Some(schema.clone()),
        max_connections: 6,
        ..StoreOptions::new(pg_url())
    };
    let outcome = tokio::spawn({
        let opts = opts.clone();
        async move {
            let a = open(&opts).await.unwrap();
            let b = open(&opts).await.unwrap();
            two_stores_race(a, b).await;
        }
    })
    .await;
    let mut conn = PgConnection::connect(&pg_url()).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
