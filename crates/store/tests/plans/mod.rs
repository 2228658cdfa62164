//! Every lookup, update and purge reaches its rows through an index, checked
//! against each backend's own planner (a module of the contract binary).
//!
//! SQLite: `EXPLAIN QUERY PLAN` must show no `SCAN` (a full pass over a table
//! or over a whole index) and must name the expected index. SQLite plans
//! without statistics (Tollgate never runs `ANALYZE`), so the plan it shows is
//! the one production gets.
//!
//! PostgreSQL plans by cost, and on an empty table a sequential scan *is* the
//! cheapest plan, so a plan on a toy table proves nothing, and
//! `enable_seqscan = off` only proves that an index *can* be used. Instead the
//! tables are filled with tens of thousands of rows shaped like production
//! (few expired, few revoked), `ANALYZE`d, and each statement is prepared and
//! explained twice: with the custom plan for realistic values, and with the
//! generic plan (unknown parameters) that sqlx's cached prepared statements
//! switch to after five executions. Neither may contain a `Seq Scan`, and
//! each must name the expected index.
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tollgate_store::sql::{self, PURGE_POSTGRES, PURGE_SQLITE};
use tollgate_store::{StoreOptions, open};

use crate::common::{pg_url, unique};

/// (statement, indexes its plan must name, joined by ` + ` when the statement
/// reads several tables). `PRIMARY KEY` stands for the table's key index,
/// named differently per backend; `TOKEN HASH` for the token-by-hash index
/// (SQLite: the unique index of the rowid table; PostgreSQL: the primary key).
fn statements(purge: &sql::PurgeSql) -> Vec<(String, &'static str)> {
    let audit = |filter: &str| format!("{}{filter} ORDER BY id DESC LIMIT $2", sql::SELECT_AUDIT);
    vec![
        (sql::FIND_TOKEN.into(), "TOKEN HASH"),
        (sql::REVOKE_TOKEN.into(), "TOKEN HASH"),
        (sql::REVOKE_ACTIVE_REFRESH.into(), "TOKEN HASH"),
        (sql::REVOKE_GRANT.into(), "tokens_grant_id"),
        (sql::REVOKE_CLIENT_TOKENS.into(), "tokens_client_id"),
        (sql::DELETE_CLIENT_TOKENS.into(), "tokens_client_id"),
        (purge.expired_tokens.into(), "tokens_expires_at"),
        (purge.revoked_tokens.into(), "tokens_revoked_access"),
        (sql::FIND_CODE.into(), "PRIMARY KEY"),
        (sql::MARK_CODE_USED.into(), "PRIMARY KEY"),
        (sql::DELETE_CLIENT_CODES.into(), "codes_client_id"),
        (purge.expired_codes.into(), "codes_expires_at"),
        (sql::GET_CLIENT.into(), "PRIMARY KEY"),
        (sql::UPDATE_CLIENT.into(), "PRIMARY KEY"),
        (sql::DELETE_CLIENT.into(), "PRIMARY KEY"),
        (sql::LIST_CLIENTS_AFTER.into(), "PRIMARY KEY"),
        (sql::USE_REGISTRATION_TOKEN.into(), "hash"),
        (sql::REVOKE_REGISTRATION_TOKEN.into(), "PRIMARY KEY"),
        (
            purge.expired_registration_tokens.into(),
            "registration_tokens_expires_at",
        ),
        (sql::RETIRE_ACTIVE_KEYS.into(), "signing_keys_one_active"),
        (sql::FIND_NEXT_KEY.into(), "PRIMARY KEY"),
        (sql::PROMOTE_KEY.into(), "PRIMARY KEY"),
        (purge.expired_jtis.into(), "assertion_jtis_expires_at"),
        (purge.old_audit.into(), "audit_log_at"),
        (audit(" AND client_id = $1"), "audit_log_client_id"),
        (audit(" AND event = $1"), "audit_log_event"),
        (sql::DELETE_CLIENT_CONSENTS.into(), "consents_client_id"),
        (sql::DELETE_CLIENT_GRANTS.into(), "user_grants_client_id"),
        (sql::GET_USER.into(), "PRIMARY KEY"),
        (sql::FIND_USER_BY_NAME.into(), "users_username"),
        (sql::UPDATE_USER.into(), "PRIMARY KEY"),
        (sql::DELETE_USER.into(), "PRIMARY KEY"),
        (sql::LIST_USERS_AFTER.into(), "users_username"),
        (sql::FIND_SESSION.into(), "PRIMARY KEY"),
        (sql::DELETE_SESSION.into(), "PRIMARY KEY"),
        (sql::DELETE_USER_SESSIONS.into(), "sessions_subject"),
        (purge.expired_sessions.into(), "sessions_expires_at"),
        (sql::GET_CONSENT.into(), "PRIMARY KEY"),
        (sql::LIST_CONSENTS.into(), "PRIMARY KEY"),
        (sql::DELETE_CONSENT.into(), "PRIMARY KEY"),
        (sql::DELETE_USER_CONSENTS.into(), "PRIMARY KEY"),
        (sql::LIST_USER_GRANTS.into(), "user_grants_subject"),
        (sql::USER_CLIENT_HAS_GRANT.into(), "user_grants_subject"),
        (sql::DELETE_USER_GRANTS.into(), "user_grants_subject"),
        (
            sql::LIST_USER_TOKENS.into(),
            "user_grants_subject + tokens_grant_id",
        ),
        (
            sql::REVOKE_USER_TOKENS.into(),
            "user_grants_subject + tokens_grant_id",
        ),
        (
            sql::REVOKE_USER_CLIENT_TOKENS.into(),
            "user_grants_subject + tokens_grant_id",
        ),
        (
            sql::DELETE_USER_CODES.into(),
            "user_grants_subject + codes_grant_id",
        ),
        (
            sql::DELETE_USER_CLIENT_CODES.into(),
            "user_grants_subject + codes_grant_id",
        ),
        (
            purge.old_grants.into(),
            "user_grants_created_at + tokens_grant_id + codes_grant_id",
        ),
        (sql::GATEWAY_GENERATION.into(), "PRIMARY KEY"),
        (sql::BUMP_GATEWAY_GENERATION.into(), "PRIMARY KEY"),
        (sql::UPDATE_SERVICE.into(), "PRIMARY KEY"),
        (sql::GET_SERVICE.into(), "PRIMARY KEY"),
        (sql::SERVICE_EXISTS.into(), "PRIMARY KEY"),
        (sql::DELETE_SERVICE.into(), "PRIMARY KEY"),
        (sql::DELETE_SERVICE_CONSUMERS.into(), "PRIMARY KEY"),
        (sql::CONSUMER_CLIENT_EXISTS.into(), "PRIMARY KEY"),
        (sql::GET_CONSUMER.into(), "PRIMARY KEY"),
        (sql::LIST_SERVICE_CONSUMERS.into(), "PRIMARY KEY"),
        (sql::DELETE_CONSUMER.into(), "PRIMARY KEY"),
        (
            sql::CLIENT_HAS_CONSUMERS.into(),
            "gateway_consumers_client_id",
        ),
        (
            sql::DELETE_CLIENT_CONSUMERS.into(),
            "gateway_consumers_client_id",
        ),
        (sql::UPDATE_AUTH_SERVER.into(), "PRIMARY KEY"),
        (sql::GET_AUTH_SERVER.into(), "PRIMARY KEY"),
        (sql::DELETE_AUTH_SERVER.into(), "PRIMARY KEY"),
        (sql::GET_CONNECTION.into(), "PRIMARY KEY"),
        (sql::CONNECTION_EXISTS.into(), "PRIMARY KEY"),
        (sql::UPDATE_CONNECTION.into(), "PRIMARY KEY"),
        (sql::SAVE_CONNECTION_TOKENS.into(), "PRIMARY KEY"),
        (sql::RESET_CONNECTION_TOKENS.into(), "PRIMARY KEY"),
        (sql::DELETE_CONNECTION.into(), "PRIMARY KEY"),
    ]
}

/// Statements that read a whole table by contract (the gateway loads its
/// entire configuration), with the index whose order they must follow: on
/// SQLite they walk that index and never sort (no temporary b-tree). On
/// PostgreSQL a whole-table read is rightly a sequential scan (and a sort of
/// a few hundred rows), so only SQLite checks them.
fn listings() -> Vec<(&'static str, &'static str)> {
    vec![
        (sql::LIST_SERVICES, "gateway_services"),
        (sql::LIST_CONSUMERS, "gateway_consumers"),
        (sql::LIST_AUTH_SERVERS, "gateway_auth_servers"),
        (sql::LIST_CONNECTIONS, "connections"),
    ]
}

/// Statements only PostgreSQL runs (their SQLite twin is in [`statements`]).
fn pg_only() -> Vec<(String, &'static str)> {
    vec![(sql::CONSUMER_CLIENT_EXISTS_LOCKED.into(), "PRIMARY KEY")]
}

fn params(stmt: &str) -> usize {
    (1..=12)
        .rev()
        .find(|n| stmt.contains(&format!("${n}")))
        .unwrap_or(0)
}

#[tokio::test]
async fn sqlite_statements_use_indexes() {
    let dir = std::env::temp_dir().join(format!("tollgate-plans-{}", unique()));
    let path = dir.join("plans.db");
    let store = open(&StoreOptions::new(format!("sqlite://{}", path.display())))
        .await
        .unwrap();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut failures = Vec::new();
    for (stmt, index) in statements(&PURGE_SQLITE) {
        let mut q = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {stmt}")));
        for _ in 0..params(&stmt) {
            q = q.bind(0_i64);
        }
        let plan: Vec<String> = q
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        let text = plan.join(" / ");
        let expected = |index| match index {
            "PRIMARY KEY" => "PRIMARY KEY",
            "TOKEN HASH" => "tokens_hash",
            // The UNIQUE column's automatic index.
            "hash" => "sqlite_autoindex_registration_tokens_2",
            named => named,
        };
        if plan.iter().any(|l| l.starts_with("SCAN "))
            || !index.split(" + ").all(|i| text.contains(expected(i)))
        {
            failures.push(format!("{stmt}\n    plan: {text}"));
        }
    }
    for (stmt, table) in listings() {
        let plan: Vec<String> = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {stmt}")))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        // A WITHOUT ROWID table is its primary key's b-tree: `SCAN table`
        // walks it in key order.
        if plan != [format!("SCAN {table}")] {
            failures.push(format!("{stmt}\n    plan: {}", plan.join(" / ")));
        }
    }
    pool.close().await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "statements without an index path on SQLite:\n{}",
        failures.join("\n")
    );
}

/// Production-shaped data: 50,000 tokens of 50 clients, 1% expired, 1%
/// revoked access tokens, 1% revoked refresh tokens; 20,000 codes, 50,000
/// audit events, 5,000 clients, 2,000 registration tokens; 5,000 users with
/// 20,000 sessions (1% expired), 4 consents each and 60,000 grants (1% old,
/// the tokens' and codes' grants among them); 20,000 assertion ids (1% expired);
/// 2,000 gateway services with 10 consumers each (clients of the 5,000) and
/// 500 authorization servers; 2,000 connections, far more than production has, so a plan that
/// uses the index on them is the planner's choice, not a toy table's.
const PG_SEED: &[&str] = &[
    "INSERT INTO tokens SELECT sha256(int8send(i)), \
       CASE WHEN i % 10 = 0 THEN 'refresh_token' ELSE 'access_token' END, \
       'c' || (i % 50), 'c' || (i % 50), 'read', '[]', 'Bearer', 1, \
       CASE WHEN i % 100 = 2 THEN 100 ELSE 1000000000 END, 'g' || i, \
       CASE WHEN i % 100 IN (0, 1) THEN 1000 END, '{}' \
     FROM generate_series(1, 50000) AS i",
    "INSERT INTO codes SELECT sha256(int8send(i)), 'c' || (i % 50), 'alice', NULL, 'read', \
       NULL, NULL, 1, CASE WHEN i % 100 = 2 THEN 100 ELSE 1000000000 END, 'g' || i, '{}', NULL \
     FROM generate_series(1, 20000) AS i",
    "INSERT INTO audit_log (at, event, client_id, outcome, remote_addr, detail) \
     SELECT i, 'e' || (i % 20), 'c' || (i % 50), 'ok', NULL, '{}' \
     FROM generate_series(1, 50000) AS i",
    "INSERT INTO clients SELECT 'c' || i, '{}', TRUE, 1, 1 FROM generate_series(1, 5000) AS i",
    "INSERT INTO registration_tokens SELECT 'r' || i, sha256(int8send(i)), 'x', 1, \
       CASE WHEN i % 100 = 2 THEN 100 WHEN i % 2 = 0 THEN 1000000000 END, NULL, 0, FALSE \
     FROM generate_series(1, 2000) AS i",
    "INSERT INTO users SELECT 'u' || i, 'name' || i, '{}', TRUE, 1, 1 \
     FROM generate_series(1, 5000) AS i",
    "INSERT INTO sessions SELECT sha256(int8send(i)), 'u' || (i % 5000), 1, 1, \
       CASE WHEN i % 100 = 2 THEN 100 ELSE 1000000000 END \
     FROM generate_series(1, 20000) AS i",
    "INSERT INTO consents SELECT 'u' || u, 'c' || ((u + c * 13) % 50), 'read', 1, 1 \
     FROM generate_series(1, 5000) AS u, generate_series(1, 4) AS c",
    "INSERT INTO user_grants SELECT 'g' || i, 'u' || (i % 5000), 'c' || (i % 50), \
       'authorization_code', 'read', CASE WHEN i % 100 = 2 THEN 100 ELSE 1000000 END \
     FROM generate_series(1, 60000) AS i",
    "INSERT INTO assertion_jtis SELECT sha256(int8send(i)), \
       CASE WHEN i % 100 = 2 THEN 100 ELSE 1000000000 END \
     FROM generate_series(1, 20000) AS i",
    "INSERT INTO gateway_services SELECT 's' || i, 'a' || i, '{\"upstream\": \"x\"}', 1, 1 \
     FROM generate_series(1, 2000) AS i",
    "INSERT INTO gateway_consumers SELECT 's' || s, 'c' || ((s * 7 + k) % 5000), 'app', \
       'approved', '{}', 1, 1 \
     FROM generate_series(1, 2000) AS s, generate_series(1, 10) AS k",
    "INSERT INTO gateway_auth_servers SELECT 'as' || i, '{}', NULL, 1, 1 \
     FROM generate_series(1, 500) AS i",
    "INSERT INTO connections (name, spec, created_at, updated_at) \
     SELECT 'n' || i, '{\"flow\": \"x\"}', 1, 1 FROM generate_series(1, 2000) AS i",
    "ANALYZE",
];

/// Realistic values for the custom plan: a key that exists, one client of 50,
/// cut-offs that select about 1% of the rows.
fn pg_args(stmt: &str) -> String {
    let hash = "sha256(int8send(7))";
    let t = |s: &str| s.to_owned();
    match params(stmt) {
        0 => String::new(),
        _ if stmt.starts_with("UPDATE connections SET spec") => t("'n7', '{}', NULL, 5, NULL"),
        _ if stmt.contains("token_version = $2") => {
            t("'n7', 0, NULL, NULL, 'Bearer', 'read', 5, 5, 'ok', NULL, 5")
        }
        _ if stmt.contains("FROM connections") || stmt.contains("UPDATE connections") => {
            if stmt.contains("$2") {
                t("'n7', 5")
            } else {
                t("'n7'")
            }
        }
        _ if stmt.starts_with("UPDATE gateway_services") => t("'s7', 'a7x', '{}', 5"),
        _ if stmt.starts_with("UPDATE gateway_auth_servers") => t("'as7', '{}', NULL, 5"),
        _ if stmt.contains("gateway_auth_servers") => t("'as7'"),
        _ if stmt.contains("service = $1 AND client_id = $2") => t("'s7', 'c50'"),
        _ if stmt.contains("gateway_services") || stmt.contains("service = $1") => t("'s7'"),
        _ if stmt.contains("LIMIT $2") && stmt.starts_with("DELETE") => t("2000, 1000"),
        _ if stmt.starts_with("UPDATE users") => t("'u7', 'name7', '{}', TRUE, 5"),
        _ if stmt.contains("username > $1") => t("'name2500', 100"),
        _ if stmt.contains("username = $1") => t("'name7'"),
        _ if stmt.contains("users WHERE id = $1") => t("'u7'"),
        3 if stmt.contains("subject = $1 AND client_id = $2") => t("'u7', 'c7', 5000"),
        _ if stmt.contains("subject = $1 AND client_id = $2") => t("'u7', 'c7'"),
        2 if stmt.contains("subject = $1") => t("'u7', 5000"),
        _ if stmt.contains("subject = $1") => t("'u7'"),
        _ if stmt.contains("event = $1") => t("'e7', 100"),
        _ if stmt.contains("ORDER BY id DESC LIMIT $2") => t("'c7', 100"),
        _ if stmt.contains("retired_at = $1") => t("5"),
        _ if stmt.contains("hash = $1") && stmt.contains("$2") => format!("{hash}, 5000"),
        _ if stmt.contains("hash = $1") => hash.into(),
        _ if stmt.contains("id > $1") => t("'c2500', 100"),
        _ if stmt.contains("id = $1") && stmt.contains("$4") => t("'c7', '{}', TRUE, 5"),
        _ if stmt.contains("$2") => t("'c7', 5000"),
        _ => t("'c7'"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_use_indexes_at_scale() {
    let schema = format!("plans_{}", unique());
    let store = open(&StoreOptions {
        schema: Some(schema.clone()),
        ..StoreOptions::new(pg_url())
    })
    .await
    .unwrap();
    drop(store);
    let mut conn = PgConnection::connect(&pg_url()).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("SET search_path = \"{schema}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    for seed in PG_SEED {
        sqlx::raw_sql(AssertSqlSafe(*seed))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut failures = Vec::new();
    // `signing_keys` holds one row per key rotation (tens in a lifetime):
    // there a sequential scan is the cheapest plan and the right one, so only
    // SQLite's check covers it.
    // Nor `gateway_meta`, which holds exactly one row.
    let statements = statements(&PURGE_POSTGRES)
        .into_iter()
        .chain(pg_only())
        .filter(|(stmt, _)| !stmt.contains("signing_keys") && !stmt.contains("gateway_meta"));
    for (stmt, index) in statements {
        sqlx::raw_sql(AssertSqlSafe(format!("PREPARE p AS {stmt}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let args = pg_args(&stmt);
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({args})")
        };
        for mode in ["force_custom_plan", "force_generic_plan"] {
            sqlx::raw_sql(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let plan: Vec<String> =
                sqlx::raw_sql(AssertSqlSafe(format!("EXPLAIN EXECUTE p{args}")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>(0))
                    .collect();
            let text = plan.join("\n");
            let table = stmt
                .split_whitespace()
                .skip_while(|w| !matches!(*w, "FROM" | "UPDATE"))
                .nth(1)
                .unwrap_or_default();
            let expected = |index| match index {
                "PRIMARY KEY" | "TOKEN HASH" => format!("{table}_pkey"),
                "hash" => format!("{table}_hash_key"),
                named => named.to_owned(),
            };
            if text.contains("Seq Scan") || !index.split(" + ").all(|i| text.contains(&expected(i)))
            {
                failures.push(format!("[{mode}] {stmt}\n{text}"));
            }
        }
        sqlx::raw_sql("DEALLOCATE p")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        failures.is_empty(),
        "statements without an index path on PostgreSQL:\n{}",
        failures.join("\n\n")
    );
}
