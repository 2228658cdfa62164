//! SQL text shared by both backends. SQLite accepts PostgreSQL's `$n`
//! placeholders, `RETURNING` and `TRUE`/`FALSE`, so every statement that does
//! not touch a backend-specific feature is written once here; the backends
//! differ only in how they open a write transaction.
//!
//! Every statement reaches its rows through an index: the primary key, or one
//! of the secondary indexes named in the migrations. `tests/plans` checks
//! this against each backend's query planner; the module is public (hidden)
//! only so that test can read the statements.

pub const INSERT_TOKENS: &str = "INSERT INTO tokens (hash, kind, client_id, subject, \
     scope, audience, token_type, issued_at, expires_at, grant_id, revoked_at, metadata) ";
pub const FIND_TOKEN: &str = "SELECT hash, kind, client_id, subject, scope, audience, \
     token_type, issued_at, expires_at, grant_id, revoked_at, metadata \
     FROM tokens WHERE hash = $1";
/// `COALESCE` keeps the first revocation time (the answer to "since when").
pub const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE hash = $1";
pub const REVOKE_GRANT: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
pub const REVOKE_CLIENT_TOKENS: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL";
/// The compare-and-set at the heart of refresh rotation: only the statement
/// that flips `revoked_at` from NULL wins.
pub const REVOKE_ACTIVE_REFRESH: &str = "UPDATE tokens SET revoked_at = $2 \
     WHERE hash = $1 AND kind = 'refresh_token' AND revoked_at IS NULL AND expires_at > $2";
/// The purge statements, which differ per backend (see [`PURGE_SQLITE`] and
/// [`PURGE_POSTGRES`]). Each deletes at most `$2` rows matched by `$1`
/// through an index, oldest first, so a large backlog is worked off in short
/// write transactions instead of one long lock.
#[derive(Debug, Clone, Copy)]
pub struct PurgeSql {
    /// Tokens of any kind whose `expires_at < $1`.
    pub expired_tokens: &'static str,
    /// Revoked tokens other than refresh tokens, revoked before `$1`.
    ///
    /// A revoked refresh token stays until it expires: a rotated-out refresh
    /// token presented again is how reuse is detected (RFC 9700 §4.14.2,
    /// `grants/refresh_token.rs` revokes the whole grant), and a deleted one
    /// would just be "unknown". Once it has expired it is rejected as expired
    /// anyway, so [`Self::expired_tokens`] takes it. Revoked access tokens
    /// carry no such duty: introspection answers an unknown token exactly
    /// like a revoked one (`active: false`, RFC 7662 §2.2).
    pub revoked_tokens: &'static str,
    /// Codes (used or not) whose `expires_at < $1`.
    pub expired_codes: &'static str,
    /// Audit events with `at < $1`.
    pub old_audit: &'static str,
    /// Registration (initial access) tokens whose `expires_at < $1`.
    pub expired_registration_tokens: &'static str,
    /// Login sessions whose `expires_at < $1`.
    pub expired_sessions: &'static str,
    /// User grant records created before `$1` that have no token and no code
    /// left. The grant is what ties a token to its user (for "revoke this
    /// user's tokens" and the user's overview), so it must outlive them:
    /// grants whose tokens are still stored are skipped, and the purge of
    /// tokens and codes eventually frees them. Each batch re-reads the old
    /// grants that still have a live refresh token; there are few of those
    /// compared to tokens (one per grant, not one per refresh).
    pub old_grants: &'static str,
    /// Replay records of assertions that expired before `$1`.
    pub expired_jtis: &'static str,
}

/// Expands to a [`PurgeSql`] whose outer `DELETE` takes the keys of the
/// inner, indexed, `LIMIT`ed select between `$open` and `$close` (SQLite
/// `IN (...)`, PostgreSQL `= ANY(ARRAY(...))`). `$fence` ends each
/// `NOT EXISTS` subquery of [`PurgeSql::old_grants`] (see [`PURGE_POSTGRES`]).
macro_rules! purge_sql {
    ($open:literal, $close:literal, $token_key:literal, $fence:literal) => {
        PurgeSql {
            expired_tokens: concat!(
                "DELETE FROM tokens WHERE ",
                $token_key,
                " ",
                $open,
                "SELECT ",
                $token_key,
                " FROM tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT $2",
                $close
            ),
            revoked_tokens: concat!(
                "DELETE FROM tokens WHERE ",
                $token_key,
                " ",
                $open,
                "SELECT ",
                $token_key,
                " FROM tokens WHERE revoked_at < $1 AND kind <> 'refresh_token' \
                 ORDER BY revoked_at LIMIT $2",
                $close
            ),
            expired_codes: concat!(
                "DELETE FROM codes WHERE hash ",
                $open,
                "SELECT hash FROM codes WHERE expires_at < $1 ORDER BY expires_at LIMIT $2",
                $close
            ),
            old_audit: concat!(
                "DELETE FROM audit_log WHERE id ",
                $open,
                "SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2",
                $close
            ),
            expired_registration_tokens: concat!(
                "DELETE FROM registration_tokens WHERE id ",
                $open,
                "SELECT id FROM registration_tokens WHERE expires_at < $1 \
                 ORDER BY expires_at LIMIT $2",
                $close
            ),
            expired_sessions: concat!(
                "DELETE FROM sessions WHERE hash ",
                $open,
                "SELECT hash FROM sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2",
                $close
            ),
            old_grants: concat!(
                "DELETE FROM user_grants WHERE grant_id ",
                $open,
                "SELECT grant_id FROM user_grants g WHERE created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = g.grant_id",
                $fence,
                ") AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = g.grant_id",
                $fence,
                ") ORDER BY created_at LIMIT $2",
                $close
            ),
            expired_jtis: concat!(
                "DELETE FROM assertion_jtis WHERE hash ",
                $open,
                "SELECT hash FROM assertion_jtis WHERE expires_at < $1 \
                 ORDER BY expires_at LIMIT $2",
                $close
            ),
        }
    };
}

/// SQLite runs the `IN (subquery)` once into a temporary list and deletes
/// each row by its rowid (tokens are a rowid table in insertion order, see
/// migration 0003; the rowid is in every index, so the subquery reads only
/// the expiry index).
///
/// Its `NOT EXISTS` checks are already correlated subqueries, one probe of
/// the `grant_id` indexes per candidate grant, so they need no fence (and
/// SQLite has no `OFFSET` without `LIMIT`).
pub const PURGE_SQLITE: PurgeSql = purge_sql!("IN (", ")", "id", "");

/// PostgreSQL would plan `IN (subquery)` as a semi-join, and with a generic
/// plan (unknown `$1`, `$2`, as sqlx's prepared statements get after five
/// runs) it may estimate thousands of keys and pick a hash join over a
/// sequential scan of the whole table. `= ANY(ARRAY(subquery))` makes the
/// keys one array parameter, which is always looked up through the primary
/// key. The `ORDER BY` in the inner select also keeps its plan on the index:
/// a sequential scan would have to sort every matching row first.
///
/// PostgreSQL also turns `NOT EXISTS` into an anti-join, and when a few
/// hundred old grants are candidates it prefers hashing the whole `tokens`
/// table to probing its index once per grant: a full read of the largest
/// table on every purge batch. `OFFSET 0` in the subquery is the planner's
/// documented optimization fence (it never pulls such a sublink up into a
/// join), so each check stays a per-grant probe of the `grant_id` index.
pub const PURGE_POSTGRES: PurgeSql = purge_sql!("= ANY(ARRAY(", "))", "hash", " OFFSET 0");

pub const INSERT_CODE: &str = "INSERT INTO codes (hash, client_id, subject, \
     redirect_uri, scope, code_challenge, code_challenge_method, issued_at, expires_at, \
     grant_id, params, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Reads `used_at` before marking, inside the same write transaction, so the
/// caller learns whether this was the first use (RFC 6749 §4.1.2).
pub const FIND_CODE: &str = "SELECT hash, client_id, subject, redirect_uri, scope, \
     code_challenge, code_challenge_method, issued_at, expires_at, grant_id, params, used_at \
     FROM codes WHERE hash = $1";
/// Records an accepted assertion identifier (`$1` = hash, `$2` = now, `$3` =
/// the last second the assertion is accepted). Changes a row only when the
/// identifier is new, or when its earlier record is past its last second and
/// awaits the purge: so it matches exactly when the assertion is not a
/// replay. At `now = expires_at` the assertion is still accepted, so the
/// record must still hold then (`<`, not `<=`).
pub const RECORD_JTI: &str = "INSERT INTO assertion_jtis (hash, expires_at) VALUES ($1, $3) \
     ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE assertion_jtis.expires_at < $2";
pub const MARK_CODE_USED: &str =
    "UPDATE codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL";

pub const INSERT_CLIENT: &str = "INSERT INTO clients (id, doc, enabled, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5)";
pub const GET_CLIENT: &str = "SELECT doc FROM clients WHERE id = $1";
pub const UPDATE_CLIENT: &str =
    "UPDATE clients SET doc = $2, enabled = $3, updated_at = $4 WHERE id = $1";
pub const DELETE_CLIENT: &str = "DELETE FROM clients WHERE id = $1";
pub const DELETE_CLIENT_TOKENS: &str = "DELETE FROM tokens WHERE client_id = $1";
pub const DELETE_CLIENT_CODES: &str = "DELETE FROM codes WHERE client_id = $1";
pub const DELETE_CLIENT_CONSENTS: &str = "DELETE FROM consents WHERE client_id = $1";
pub const DELETE_CLIENT_GRANTS: &str = "DELETE FROM user_grants WHERE client_id = $1";
pub const LIST_CLIENTS: &str = "SELECT doc FROM clients ORDER BY id LIMIT $1";
pub const LIST_CLIENTS_AFTER: &str = "SELECT doc FROM clients WHERE id > $1 ORDER BY id LIMIT $2";

pub const RETIRE_ACTIVE_KEYS: &str = "UPDATE signing_keys SET status = 'retired', \
     retired_at = $1 WHERE status = 'active'";
pub const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_key, \
     public_jwk, status, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const FIND_NEXT_KEY: &str = "SELECT kid FROM signing_keys WHERE kid = $1 AND status = 'next'";
/// Makes the `next` key `$1` the active one (after [`RETIRE_ACTIVE_KEYS`]).
pub const PROMOTE_KEY: &str = "UPDATE signing_keys SET status = 'active' \
     WHERE kid = $1 AND status = 'next'";
pub const LIST_KEYS: &str = "SELECT kid, alg, private_key, public_jwk, status, \
     created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC";

pub const INSERT_REGISTRATION_TOKEN: &str = "INSERT INTO registration_tokens (id, hash, \
     description, created_at, expires_at, max_uses, uses, revoked) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// One statement decides and counts, so concurrent registrations can never
/// spend more uses than `max_uses` (RFC 7591 §3 initial access tokens).
pub const USE_REGISTRATION_TOKEN: &str = "UPDATE registration_tokens \
     SET uses = uses + 1 \
     WHERE hash = $1 AND NOT revoked \
       AND (expires_at IS NULL OR expires_at > $2) \
       AND (max_uses IS NULL OR uses < max_uses) \
     RETURNING id, hash, description, created_at, expires_at, max_uses, uses, revoked";
pub const LIST_REGISTRATION_TOKENS: &str = "SELECT id, hash, description, created_at, \
     expires_at, max_uses, uses, revoked FROM registration_tokens \
     ORDER BY created_at DESC, id DESC";
pub const REVOKE_REGISTRATION_TOKEN: &str =
    "UPDATE registration_tokens SET revoked = TRUE WHERE id = $1";

pub const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (at, event, client_id, outcome, remote_addr, detail) ";
pub const SELECT_AUDIT: &str =
    "SELECT id, at, event, client_id, outcome, remote_addr, detail FROM audit_log WHERE TRUE";

pub const INSERT_USER: &str = "INSERT INTO users (id, username, doc, enabled, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const GET_USER: &str = "SELECT doc FROM users WHERE id = $1";
pub const FIND_USER_BY_NAME: &str = "SELECT doc FROM users WHERE username = $1";
pub const UPDATE_USER: &str = "UPDATE users SET username = $2, doc = $3, enabled = $4, \
     updated_at = $5 WHERE id = $1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
pub const LIST_USERS: &str = "SELECT doc FROM users ORDER BY username LIMIT $1";
pub const LIST_USERS_AFTER: &str =
    "SELECT doc FROM users WHERE username > $1 ORDER BY username LIMIT $2";

pub const INSERT_SESSION: &str = "INSERT INTO sessions (hash, subject, auth_time, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
/// Expiry is checked in the statement, so an expired session that the purge
/// has not reached yet can never log anyone in.
pub const FIND_SESSION: &str = "SELECT hash, subject, auth_time, created_at, expires_at \
     FROM sessions WHERE hash = $1 AND expires_at > $2";
pub const DELETE_SESSION: &str = "DELETE FROM sessions WHERE hash = $1";
pub const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE subject = $1";

/// Replaces every column, `granted_at` included: the caller decides what the
/// record says (it merges scopes and keeps the first grant time itself).
pub const SAVE_CONSENT: &str = "INSERT INTO consents (subject, client_id, scope, \
     granted_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (subject, client_id) DO UPDATE SET scope = excluded.scope, \
     granted_at = excluded.granted_at, updated_at = excluded.updated_at";
pub const GET_CONSENT: &str = "SELECT subject, client_id, scope, granted_at, updated_at \
     FROM consents WHERE subject = $1 AND client_id = $2";
pub const LIST_CONSENTS: &str = "SELECT subject, client_id, scope, granted_at, updated_at \
     FROM consents WHERE subject = $1 ORDER BY client_id";
pub const DELETE_CONSENT: &str = "DELETE FROM consents WHERE subject = $1 AND client_id = $2";
pub const DELETE_USER_CONSENTS: &str = "DELETE FROM consents WHERE subject = $1";

pub const INSERT_GRANT: &str = "INSERT INTO user_grants (grant_id, subject, client_id, \
     grant_type, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const LIST_USER_GRANTS: &str = "SELECT grant_id, subject, client_id, grant_type, scope, \
     created_at FROM user_grants WHERE subject = $1 ORDER BY created_at DESC, grant_id DESC";
pub const USER_CLIENT_HAS_GRANT: &str =
    "SELECT 1 FROM user_grants WHERE subject = $1 AND client_id = $2 LIMIT 1";
pub const DELETE_USER_GRANTS: &str = "DELETE FROM user_grants WHERE subject = $1";
/// Tokens reach their user only through the grant record (a token's own
/// `subject` is the client for client credentials, and tokens carry no user
/// column to index).
pub const LIST_USER_TOKENS: &str = "SELECT t.hash, t.kind, t.client_id, t.subject, t.scope, \
     t.audience, t.token_type, t.issued_at, t.expires_at, t.grant_id, t.revoked_at, t.metadata \
     FROM user_grants g JOIN tokens t ON t.grant_id = g.grant_id \
     WHERE g.subject = $1 ORDER BY t.issued_at DESC, t.hash";
/// Revocation of a user's tokens, all of them (`$2` = now) or those to one
/// client (`$2` = client id, `$3` = now). They run before the grant records
/// they go through are deleted, in the same transaction.
pub const REVOKE_USER_TOKENS: &str = "UPDATE tokens SET revoked_at = $2 \
     WHERE revoked_at IS NULL AND grant_id IN \
     (SELECT grant_id FROM user_grants WHERE subject = $1)";
pub const REVOKE_USER_CLIENT_TOKENS: &str = "UPDATE tokens SET revoked_at = $3 \
     WHERE revoked_at IS NULL AND grant_id IN \
     (SELECT grant_id FROM user_grants WHERE subject = $1 AND client_id = $2)";
/// Codes are tokens in waiting: one issued a moment before a revocation would
/// otherwise mint a fresh, working token after it. Deleting them makes a
/// later redemption an unknown code (`invalid_grant`, RFC 6749 §5.2); the
/// replay check they carry is moot once every token of the grant is revoked.
pub const DELETE_USER_CODES: &str = "DELETE FROM codes WHERE grant_id IN \
     (SELECT grant_id FROM user_grants WHERE subject = $1)";
pub const DELETE_USER_CLIENT_CODES: &str = "DELETE FROM codes WHERE grant_id IN \
     (SELECT grant_id FROM user_grants WHERE subject = $1 AND client_id = $2)";

/// The gateway configuration's generation (one row, `id = 1`).
pub const GATEWAY_GENERATION: &str = "SELECT generation FROM gateway_meta WHERE id = 1";
/// Run in every transaction that changes the gateway's configuration. On
/// PostgreSQL its row lock also serializes those transactions, so a check
/// made after it (does the service exist?) still holds at `COMMIT`.
pub const BUMP_GATEWAY_GENERATION: &str =
    "UPDATE gateway_meta SET generation = generation + 1 WHERE id = 1";

pub const INSERT_SERVICE: &str = "INSERT INTO gateway_services (name, alias, spec, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5)";
pub const UPDATE_SERVICE: &str = "UPDATE gateway_services SET alias = $2, spec = $3, \
     updated_at = $4 WHERE name = $1";
pub const GET_SERVICE: &str = "SELECT name, alias, spec, created_at, updated_at \
     FROM gateway_services WHERE name = $1";
pub const SERVICE_EXISTS: &str = "SELECT 1 FROM gateway_services WHERE name = $1";
/// The whole table in key order (the gateway loads all of it).
pub const LIST_SERVICES: &str = "SELECT name, alias, spec, created_at, updated_at \
     FROM gateway_services ORDER BY name";
pub const DELETE_SERVICE: &str = "DELETE FROM gateway_services WHERE name = $1";
pub const DELETE_SERVICE_CONSUMERS: &str = "DELETE FROM gateway_consumers WHERE service = $1";

/// Does the consumer's client exist (SQLite: `BEGIN IMMEDIATE` already keeps
/// a concurrent `delete_client` out until `COMMIT`)?
pub const CONSUMER_CLIENT_EXISTS: &str = "SELECT 1 FROM clients WHERE id = $1";
/// The same on PostgreSQL, where the key-share lock makes a concurrent
/// `delete_client` wait for this transaction (and then delete the consumer it
/// wrote) instead of leaving a consumer of a deleted client behind; a client
/// already deleted is not found. `update_client` does not conflict with it.
pub const CONSUMER_CLIENT_EXISTS_LOCKED: &str = "SELECT 1 FROM clients WHERE id = $1 FOR KEY SHARE";
/// Inserts or replaces a consumer; `created_at` stays the first one.
pub const PUT_CONSUMER: &str = "INSERT INTO gateway_consumers (service, client_id, \
     application, status, settings, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (service, client_id) DO UPDATE SET application = excluded.application, \
     status = excluded.status, settings = excluded.settings, updated_at = excluded.updated_at";
pub const GET_CONSUMER: &str = "SELECT service, client_id, application, status, settings, \
     created_at, updated_at FROM gateway_consumers WHERE service = $1 AND client_id = $2";
pub const LIST_SERVICE_CONSUMERS: &str = "SELECT service, client_id, application, status, \
     settings, created_at, updated_at FROM gateway_consumers WHERE service = $1 \
     ORDER BY service, client_id";
/// The whole table in key order (the gateway loads all of it).
pub const LIST_CONSUMERS: &str = "SELECT service, client_id, application, status, settings, \
     created_at, updated_at FROM gateway_consumers ORDER BY service, client_id";
pub const DELETE_CONSUMER: &str =
    "DELETE FROM gateway_consumers WHERE service = $1 AND client_id = $2";
/// Whether deleting a client changes the gateway's configuration (and must
/// move its generation).
pub const CLIENT_HAS_CONSUMERS: &str =
    "SELECT 1 FROM gateway_consumers WHERE client_id = $1 LIMIT 1";
pub const DELETE_CLIENT_CONSUMERS: &str = "DELETE FROM gateway_consumers WHERE client_id = $1";

pub const INSERT_AUTH_SERVER: &str = "INSERT INTO gateway_auth_servers (name, spec, \
     secret_encrypted, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)";
pub const UPDATE_AUTH_SERVER: &str = "UPDATE gateway_auth_servers SET spec = $2, \
     secret_encrypted = $3, updated_at = $4 WHERE name = $1";
pub const GET_AUTH_SERVER: &str = "SELECT name, spec, secret_encrypted, created_at, \
     updated_at FROM gateway_auth_servers WHERE name = $1";
/// The whole table in key order (the gateway loads all of it).
pub const LIST_AUTH_SERVERS: &str = "SELECT name, spec, secret_encrypted, created_at, \
     updated_at FROM gateway_auth_servers ORDER BY name";
pub const DELETE_AUTH_SERVER: &str = "DELETE FROM gateway_auth_servers WHERE name = $1";

/// The columns a [`crate::ConnectionRecord`] is decoded from.
macro_rules! connection_columns {
    () => {
        "name, spec, secrets_encrypted, access_token_encrypted, refresh_token_encrypted, \
         token_type, scope, expires_at, obtained_at, status, last_error, token_version, \
         created_at, updated_at, proxy_alias"
    };
}

pub const INSERT_CONNECTION: &str = concat!(
    "INSERT INTO connections (",
    connection_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
);
/// Configuration only: the token state (and its version) is left as it is.
/// A new configuration drops the token state of the old one and moves its
/// version, in the same statement.
pub const UPDATE_CONNECTION: &str = "UPDATE connections SET spec = $2, \
     secrets_encrypted = $3, updated_at = $4, proxy_alias = $5, \
     access_token_encrypted = NULL, refresh_token_encrypted = NULL, token_type = NULL, \
     scope = NULL, expires_at = NULL, obtained_at = NULL, status = 'new', last_error = NULL, \
     token_version = token_version + 1 WHERE name = $1";
pub const GET_CONNECTION: &str = concat!(
    "SELECT ",
    connection_columns!(),
    " FROM connections WHERE name = $1"
);
pub const CONNECTION_EXISTS: &str = "SELECT 1 FROM connections WHERE name = $1";
/// The whole table in key order.
pub const LIST_CONNECTIONS: &str = concat!(
    "SELECT ",
    connection_columns!(),
    " FROM connections ORDER BY name"
);
pub const DELETE_CONNECTION: &str = "DELETE FROM connections WHERE name = $1";
/// The compare-and-set of a connection's token state (`$2` = the version the
/// caller read): one statement decides and writes, so of two processes that
/// refreshed from the same state only the first one's tokens are stored.
/// PostgreSQL re-checks the `WHERE` after waiting on a concurrent writer's
/// row lock, so READ COMMITTED is enough; SQLite has one writer anyway.
pub const SAVE_CONNECTION_TOKENS: &str = "UPDATE connections SET \
     access_token_encrypted = $3, refresh_token_encrypted = $4, token_type = $5, scope = $6, \
     expires_at = $7, obtained_at = $8, status = $9, last_error = $10, \
     token_version = token_version + 1, updated_at = $11 \
     WHERE name = $1 AND token_version = $2 RETURNING token_version";
/// Back to the state of a connection that never obtained a token; the
/// version still moves, so a refresh under way cannot save over the reset.
pub const RESET_CONNECTION_TOKENS: &str = "UPDATE connections SET \
     access_token_encrypted = NULL, refresh_token_encrypted = NULL, token_type = NULL, \
     scope = NULL, expires_at = NULL, obtained_at = NULL, status = 'new', last_error = NULL, \
     token_version = token_version + 1, updated_at = $2 WHERE name = $1";

/// The columns a [`crate::ProxyRecord`] is decoded from.
macro_rules! proxy_columns {
    () => {
        "name, url, username, password_encrypted, created_at, updated_at"
    };
}

pub const INSERT_PROXY: &str = concat!(
    "INSERT INTO proxies (",
    proxy_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)"
);
pub const UPDATE_PROXY: &str = "UPDATE proxies SET url = $2, username = $3, \
     password_encrypted = $4, updated_at = $5 WHERE name = $1";
pub const GET_PROXY: &str = concat!("SELECT ", proxy_columns!(), " FROM proxies WHERE name = $1");
/// The whole table in key order.
pub const LIST_PROXIES: &str = concat!("SELECT ", proxy_columns!(), " FROM proxies ORDER BY name");
/// Refused by the connections' reference while one uses the alias.
pub const DELETE_PROXY: &str = "DELETE FROM proxies WHERE name = $1";
pub const PROXY_USERS: &str = "SELECT name FROM connections WHERE proxy_alias = $1 ORDER BY name";
