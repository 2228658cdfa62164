//! Harness and fixtures for the contract suite (a module of the one test
//! binary, not a binary of its own).
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tollgate_core::{
    Client, ClientId, ScopeSet, TokenHash, TokenKind, TokenRecord, User, Username,
};
use tollgate_store::{
    AuditEvent, CodeRecord, ConsentRecord, SessionRecord, Store, StoreOptions, UserGrantRecord,
    open,
};

pub fn pg_url() -> String {
    std::env::var("TOLLGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Unique across the parallel test processes nextest starts.
pub fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs the test body on its own task so a panic still lets us clean up,
/// then re-raises it.
async fn run_isolated<F, Fut>(store: Arc<dyn Store>, test: F) -> std::thread::Result<()>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(test(store)).await.map_err(|e| e.into_panic())
}

pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!("tollgate-store-{}", unique()));
    // A nested path also checks that open() creates missing directories.
    let url = format!("sqlite://{}/data/store.db", dir.display());
    let store = open(&StoreOptions::new(url)).await.expect("open sqlite");
    assert_eq!(store.backend(), "sqlite");
    let outcome = run_isolated(store, test).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schema = format!("t_{}", unique());
    let opts = StoreOptions {
        schema: Some(schema.clone()),
        max_connections: 6,
        ..StoreOptions::new(pg_url())
    };
    let store = open(&opts)
        .await
        .expect("PostgreSQL must be reachable for the contract tests (TOLLGATE_TEST_PG_URL)");
    assert_eq!(store.backend(), "postgres");
    let outcome = run_isolated(store, test).await;
    let mut conn = PgConnection::connect(&pg_url()).await.expect("connect");
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut conn)
        .await
        .expect("drop schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A distinct hash per number.
pub fn h(n: u64) -> TokenHash {
    let mut b = [0xA5; 32];
    b[..8].copy_from_slice(&n.to_be_bytes());
    TokenHash(b)
}

pub fn client(id: &str) -> Client {
    Client::new(ClientId::try_from(id).unwrap(), format!("Client {id}"), 10)
}

pub fn token(n: u64, client_id: &str, grant_id: &str) -> TokenRecord {
    TokenRecord {
        hash: h(n),
        kind: TokenKind::Access,
        client_id: client_id.into(),
        subject: Some(client_id.into()),
        scope: ScopeSet::parse("read").unwrap(),
        audience: vec!["api".into()],
        token_type: "Bearer".into(),
        issued_at: 10,
        expires_at: 3_610,
        grant_id: grant_id.into(),
        revoked_at: None,
        metadata: BTreeMap::from([("k".into(), "v".into())]),
    }
}

pub fn code(n: u64, client_id: &str) -> CodeRecord {
    CodeRecord {
        hash: h(n),
        client_id: client_id.into(),
        subject: "alice".into(),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: ScopeSet::parse("openid read").unwrap(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        issued_at: 10,
        expires_at: 610,
        grant_id: format!("grant-{n}"),
        params: BTreeMap::from([("resource".into(), "orders".into())]),
        used_at: None,
    }
}

pub fn event(at: i64, name: &str, client_id: Option<&str>) -> AuditEvent {
    AuditEvent {
        at,
        event: name.into(),
        client_id: client_id.map(Into::into),
        outcome: "ok".into(),
        remote_addr: Some("127.0.0.1".into()),
        detail: serde_json::json!({"n": at, "nested": {"list": [1, 2]}}),
    }
}

pub fn user(id: &str, username: &str) -> User {
    User {
        id: id.into(),
        username: Username::try_from(username).unwrap(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        enabled: true,
        attributes: BTreeMap::from([("dept".into(), "sales".into())]),
        created_at: 10,
        updated_at: 10,
    }
}

pub fn session(n: u64, subject: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        hash: h(n),
        subject: subject.into(),
        auth_time: 5,
        created_at: 6,
        expires_at,
    }
}

pub fn consent(subject: &str, client_id: &str, scope: &str, at: i64) -> ConsentRecord {
    ConsentRecord {
        subject: subject.into(),
        client_id: client_id.into(),
        scope: ScopeSet::parse(scope).unwrap(),
        granted_at: at,
        updated_at: at,
    }
}

pub fn grant(grant_id: &str, subject: &str, client_id: &str, created_at: i64) -> UserGrantRecord {
    UserGrantRecord {
        grant_id: grant_id.into(),
        subject: subject.into(),
        client_id: client_id.into(),
        grant_type: "authorization_code".into(),
        scope: ScopeSet::parse("openid read").unwrap(),
        created_at,
    }
}

/// A token of a user's grant: the subject is the user, not the client.
pub fn user_token(n: u64, client_id: &str, grant_id: &str, subject: &str) -> TokenRecord {
    TokenRecord {
        subject: Some(subject.into()),
        ..token(n, client_id, grant_id)
    }
}

/// A code of a user's grant (`code` gives every code its own grant).
pub fn user_code(n: u64, client_id: &str, grant_id: &str, subject: &str) -> CodeRecord {
    CodeRecord {
        subject: subject.into(),
        grant_id: grant_id.into(),
        ..code(n, client_id)
    }
}

/// The revocation time of a token that must still be stored.
pub async fn revoked_at(s: &Arc<dyn Store>, n: u64) -> Option<i64> {
    s.find_token(&h(n))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("token {n} is gone"))
        .revoked_at
}

/// Two users with grants, tokens, a code, sessions and consents each.
pub async fn two_users(s: &Arc<dyn Store>) {
    s.create_user(&user("u1", "alice")).await.unwrap();
    s.create_user(&user("u2", "bob")).await.unwrap();
    for g in [
        grant("g1", "u1", "app", 10),
        grant("g2", "u1", "other", 20),
        grant("g3", "u2", "app", 30),
    ] {
        s.record_grant(&g).await.unwrap();
    }
    let mut old = user_token(5, "app", "g1", "u1");
    old.revoked_at = Some(7);
    s.insert_tokens(vec![
        user_token(1, "app", "g1", "u1"),
        user_token(2, "app", "g1", "u1"),
        old,
    ])
    .await
    .unwrap();
    s.insert_tokens(vec![user_token(3, "other", "g2", "u1")])
        .await
        .unwrap();
    s.insert_tokens(vec![user_token(4, "app", "g3", "u2")])
        .await
        .unwrap();
    s.insert_code(&user_code(6, "app", "g1", "u1"))
        .await
        .unwrap();
    s.insert_code(&user_code(7, "other", "g2", "u1"))
        .await
        .unwrap();
    s.insert_code(&user_code(8, "app", "g3", "u2"))
        .await
        .unwrap();
    for (n, subject) in [(10, "u1"), (11, "u1"), (12, "u2")] {
        s.insert_session(&session(n, subject, 9_000)).await.unwrap();
    }
    for (subject, client_id) in [("u1", "app"), ("u1", "other"), ("u2", "app")] {
        s.save_consent(&consent(subject, client_id, "read", 10))
            .await
            .unwrap();
    }
}
