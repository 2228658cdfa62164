//! Harness and fixtures for the contract suite (a module of the one test
//! binary, not a binary of its own).
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tollgate_core::{Client, ClientId, ScopeSet, TokenHash, TokenKind, TokenRecord};
use tollgate_store::{AuditEvent, CodeRecord, Store, StoreOptions, open};

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
