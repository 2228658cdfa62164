//! Tollgate's storage: small capability traits and two backends, SQLite (the
//! embedded default) and PostgreSQL (shared, multi-node). One contract test
//! suite (`tests/contract.rs`) runs against both.
//!
//! [`open`] picks the backend from the URL, runs its migrations and returns an
//! `Arc<dyn Store>`. Token inserts, audit events and the two conditional
//! writes of the token endpoint (`redeem_code`, `rotate_refresh`) go through a
//! batching writer (one transaction per batch, every caller answered only
//! after `COMMIT`), so durability does not cost one fsync per request.
//!
//! Secrets never reach this crate in clear: tokens, codes and registration
//! tokens arrive as SHA-256 hashes, client secrets as keyed or Argon2 hashes,
//! private keys encrypted.
#![forbid(unsafe_code)]

mod batch;
mod bounded;
mod common;
mod error;
mod model;
mod observe;
mod options;
mod postgres;
mod rows;
#[doc(hidden)]
pub mod sql;
mod sqlite;

pub use error::{Result, StoreError};
pub use model::{
    AuditEvent, AuditQuery, AuditRecord, AuthServerRecord, CodeRecord, ConnectionRecord,
    ConnectionTokens, ConsentRecord, ConsumerRecord, ConsumerStatus, KeyStatus, ProxyRecord,
    RegistrationTokenRecord, ServiceRecord, SessionRecord, SigningKeyRecord, UserGrantRecord,
};
pub use options::{SqliteSync, StoreOptions, open};

use async_trait::async_trait;
use tollgate_core::{Client, TokenHash, TokenRecord, User};

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Fails with `Conflict` when the id is taken.
    async fn create_client(&self, client: &Client) -> Result<()>;
    async fn get_client(&self, id: &str) -> Result<Option<Client>>;
    /// Replaces the stored client; `NotFound` when it does not exist.
    async fn update_client(&self, client: &Client) -> Result<()>;
    /// Deletes the client with its tokens, codes, users' consents to it,
    /// grant records and gateway consumer records in one transaction (moving
    /// [`GatewayStore::gateway_generation`] when it had consumers). Returns
    /// false when there was no such client.
    async fn delete_client(&self, id: &str) -> Result<bool>;
    /// Clients ordered by id, starting after `after` (keyset paging). A
    /// `limit` of 0 means the default page (100); pages are capped at 1000.
    async fn list_clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<Client>>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Commits all given tokens atomically (an access/refresh pair goes in
    /// together) and returns only once they are durable: a 200 from the token
    /// endpoint must never name a token that is not stored.
    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> Result<()>;
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>>;
    /// Marks one token revoked (keeps the first revocation time). Returns
    /// false when no such token exists.
    async fn revoke_token(&self, hash: &TokenHash, now: i64) -> Result<bool>;
    /// Revokes every token of one authorization grant (RFC 7009 §2.1: revoking
    /// a refresh token reaches the access tokens of the same grant).
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<u64>;
    /// Revokes every token issued to a client.
    async fn revoke_client_tokens(&self, client_id: &str, now: i64) -> Result<u64>;
    /// Refresh-token rotation in one transaction: revokes `old` if it is still
    /// active at `now` and inserts `new`. Returns false (and inserts nothing)
    /// when `old` was already revoked, expired or unknown, so two concurrent
    /// uses of one refresh token cannot both succeed.
    async fn rotate_refresh(
        &self,
        old: &TokenHash,
        now: i64,
        new: Vec<TokenRecord>,
    ) -> Result<bool>;
    /// Deletes up to `limit` tokens that expired before `before`, or were
    /// revoked before `before` and are not refresh tokens (a revoked refresh
    /// token stays until it expires so its reuse is still detected; see
    /// `sql::PurgeSql::revoked_tokens`). Oldest first, through indexes, in
    /// short transactions. Returns how many were deleted.
    async fn purge_tokens(&self, before: i64, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    async fn insert_code(&self, code: &CodeRecord) -> Result<()>;
    /// Records the user grant a code belongs to and inserts the code, in one
    /// transaction (no grant record without its code, or the reverse).
    async fn insert_code_with_grant(
        &self,
        grant: &UserGrantRecord,
        code: &CodeRecord,
    ) -> Result<()>;
    /// Marks the code used and returns it with `true` on its first use; on a
    /// later use returns it with `false` (RFC 6749 §4.1.2: the caller then
    /// revokes the grant). `None` when unknown.
    async fn consume_code(&self, hash: &TokenHash, now: i64) -> Result<Option<(CodeRecord, bool)>>;
    /// The code as stored (used or not), without changing it.
    async fn find_code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>>;
    /// Redeems a code in one transaction: marks it used if it is not yet
    /// and, only then, inserts `tokens`. Returns false (inserting nothing)
    /// when it was already used or does not exist. Tokens and the mark
    /// commit together, so a concurrent second use that finds the code
    /// used can revoke the grant and is sure to reach these tokens.
    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: i64,
        tokens: Vec<TokenRecord>,
    ) -> Result<bool>;
    /// Deletes up to `limit` codes that expired before `before` (used or not:
    /// an expired code can no longer be redeemed, so its replay check is moot).
    /// Returns how many were deleted.
    async fn purge_codes(&self, before: i64, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key. When it is `Active`, every other active key becomes
    /// `Retired` in the same transaction (retired keys stay in the JWKS so
    /// tokens they signed still verify).
    async fn insert_key(&self, key: &SigningKeyRecord, now: i64) -> Result<()>;
    /// All keys, newest first.
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Makes the `Next` key `kid` the active one, retiring the active key, in
    /// one transaction. False when `kid` is not the next key (another node
    /// promoted it first).
    async fn promote_key(&self, kid: &str, now: i64) -> Result<bool>;
}

/// Assertions seen (RFC 7523 §3 item 7, RFC 7522 §3 item 8): the identifier
/// of an accepted assertion is refused until the assertion has expired.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records the identifier `hash` (SHA-256 of issuer and `jti`, see the
    /// caller) of an assertion accepted up to and including the second
    /// `expires_at`. True when it was not seen before (or its record is past
    /// that second); false for a replay. Committed when it returns true.
    async fn record_jti(&self, hash: &TokenHash, expires_at: i64, now: i64) -> Result<bool>;
    /// Deletes up to `limit` records of assertions that expired before `before`.
    async fn purge_jtis(&self, before: i64, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait RegistrationTokenStore: Send + Sync {
    async fn insert_registration_token(&self, token: &RegistrationTokenRecord) -> Result<()>;
    /// Counts one use of an initial access token if it is valid at `now`
    /// (not revoked, not expired, uses left), atomically. Returns the record
    /// (after counting) when the use is granted, `None` otherwise.
    async fn use_registration_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<RegistrationTokenRecord>>;
    async fn list_registration_tokens(&self) -> Result<Vec<RegistrationTokenRecord>>;
    async fn revoke_registration_token(&self, id: &str) -> Result<bool>;
    /// Deletes up to `limit` registration tokens that expired before
    /// `before`. Returns how many were deleted.
    async fn purge_registration_tokens(&self, before: i64, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Queues an event for the background writer and returns at once: a
    /// failing request must not wait on the audit log, and a flood of them
    /// cannot grow memory without bound (events beyond the queue are counted
    /// and dropped).
    fn audit(&self, event: AuditEvent);
    /// Appends and waits for the commit.
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()>;
    /// Newest first, filtered, keyset-paged by `before_id`.
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Deletes up to `limit` events older than `before` (`at < before`),
    /// oldest first. Returns how many were deleted.
    async fn purge_audit(&self, before: i64, limit: u32) -> Result<u64>;
    /// How many events `audit` dropped because the queue was full, since open
    /// (for metrics: a rising count means the database cannot keep up).
    fn dropped_audit_events(&self) -> u64;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Conflict` when the id or the username is taken.
    async fn create_user(&self, user: &User) -> Result<()>;
    async fn get_user(&self, id: &str) -> Result<Option<User>>;
    async fn find_user_by_name(&self, username: &str) -> Result<Option<User>>;
    /// Replaces the stored user; `NotFound` when it does not exist, `Conflict`
    /// when a rename takes a name in use.
    async fn update_user(&self, user: &User) -> Result<()>;
    /// Deletes the user with their sessions, consents and grant records, and
    /// revokes the tokens of those grants, in one transaction. Returns false
    /// when there was no such user.
    async fn delete_user(&self, id: &str, now: i64) -> Result<bool>;
    /// Users ordered by username, starting after `after` (keyset paging). A
    /// `limit` of 0 means the default page (100); pages are capped at 1000.
    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()>;
    /// The session if it exists and has not expired at `now`.
    async fn find_session(&self, hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, hash: &TokenHash) -> Result<bool>;
    /// Ends every session of a user (password change, disable). Returns how many.
    async fn delete_user_sessions(&self, subject: &str) -> Result<u64>;
    /// Deletes up to `limit` sessions that expired before `before`.
    async fn purge_sessions(&self, before: i64, limit: u32) -> Result<u64>;
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Inserts or replaces the consent of (`subject`, `client_id`).
    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()>;
    async fn get_consent(&self, subject: &str, client_id: &str) -> Result<Option<ConsentRecord>>;
    /// A user's consents, ordered by client id.
    async fn list_consents(&self, subject: &str) -> Result<Vec<ConsentRecord>>;
    /// Withdraws a consent: deletes it and revokes every token of the user's
    /// grants to that client, in one transaction (a withdrawn consent leaves
    /// no token working, and no pending code to mint one: those are deleted).
    /// Returns false when there was no consent and no grant.
    async fn revoke_consent(&self, subject: &str, client_id: &str, now: i64) -> Result<bool>;
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Records a user grant before its code or tokens are stored.
    async fn record_grant(&self, grant: &UserGrantRecord) -> Result<()>;
    /// A user's grants, newest first.
    async fn list_user_grants(&self, subject: &str) -> Result<Vec<UserGrantRecord>>;
    /// The tokens of a user's grants (active or not, not yet purged), newest first.
    async fn list_user_tokens(&self, subject: &str) -> Result<Vec<TokenRecord>>;
    /// Revokes every token of the user's grants (to one client when
    /// `client_id` is given), and deletes their pending codes in the same
    /// transaction so none can mint a new token afterwards. Returns how many
    /// tokens were revoked.
    async fn revoke_user_tokens(
        &self,
        subject: &str,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<u64>;
    /// Deletes up to `limit` grant records created before `before` that no
    /// longer have a token or code. Returns how many were deleted.
    async fn purge_grants(&self, before: i64, limit: u32) -> Result<u64>;
}

/// The gateway's configuration: virtual services, their consumers and the
/// third-party authorization servers. Rare administrative writes; the
/// gateway holds all of it in memory and reloads when
/// [`GatewayStore::gateway_generation`] moves, so a change made by the CLI
/// (another process) or another node takes effect without a restart.
#[async_trait]
pub trait GatewayStore: Send + Sync {
    /// A counter that every write below increments in its own transaction.
    /// A call that changes nothing (it fails, or deletes what does not
    /// exist) leaves it as it was; [`ClientStore::delete_client`] moves it
    /// when it removes consumers.
    async fn gateway_generation(&self) -> Result<i64>;

    /// `Conflict` when the name or the alias is taken.
    async fn create_service(&self, service: &ServiceRecord) -> Result<()>;
    /// Replaces alias, spec and `updated_at` of the service with that name;
    /// `NotFound` when there is none, `Conflict` when the new alias is taken.
    async fn update_service(&self, service: &ServiceRecord) -> Result<()>;
    async fn get_service(&self, name: &str) -> Result<Option<ServiceRecord>>;
    /// Every service, ordered by name.
    async fn list_services(&self) -> Result<Vec<ServiceRecord>>;
    /// Deletes the service and its consumers in one transaction. False when
    /// there was no such service.
    async fn delete_service(&self, name: &str) -> Result<bool>;

    /// Inserts the consumer, or replaces application, status, settings and
    /// `updated_at` of the existing (service, client) pair (`created_at`
    /// is kept). `NotFound` when the service or the client does not exist.
    async fn put_consumer(&self, consumer: &ConsumerRecord) -> Result<()>;
    async fn get_consumer(&self, service: &str, client_id: &str) -> Result<Option<ConsumerRecord>>;
    /// The consumers of one service (or of all), ordered by service, client id.
    async fn list_consumers(&self, service: Option<&str>) -> Result<Vec<ConsumerRecord>>;
    async fn delete_consumer(&self, service: &str, client_id: &str) -> Result<bool>;

    /// `Conflict` when the name is taken.
    async fn create_auth_server(&self, server: &AuthServerRecord) -> Result<()>;
    /// Replaces spec, secret and `updated_at`; `NotFound` when there is none.
    async fn update_auth_server(&self, server: &AuthServerRecord) -> Result<()>;
    async fn get_auth_server(&self, name: &str) -> Result<Option<AuthServerRecord>>;
    /// Every server, ordered by name.
    async fn list_auth_servers(&self) -> Result<Vec<AuthServerRecord>>;
    async fn delete_auth_server(&self, name: &str) -> Result<bool>;
}

/// Connections: the outbound OAuth client configurations with which Tollgate
/// obtains and refreshes tokens from other providers, and their token state.
/// Secrets (the secret configuration, both tokens) arrive sealed by the
/// caller under the master key; the store keeps the bytes and interprets
/// neither them nor `spec`.
///
/// The token state carries a version that every save and reset moves:
/// a refresh reads the state, asks the provider, and saves with the version
/// it read. A rotated refresh token is thereby persisted before anyone uses
/// the new access token, and of two processes (nodes, the CLI) that refresh
/// at once only one save lands; the other learns it lost and re-reads.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Inserts the connection with the given token state (version
    /// included). `Conflict` when the name is taken, `Reference` when its
    /// proxy alias names no proxy.
    async fn create_connection(&self, connection: &ConnectionRecord) -> Result<()>;
    /// Replaces the configuration (`spec`, `secrets_encrypted`) and
    /// `updated_at`, and in the same statement clears the token state and
    /// moves its version: tokens obtained under the old configuration may
    /// belong to another provider, client or scope, and a refresh that read
    /// the old state cannot save over the new one. `NotFound` when there is
    /// no such connection, `Reference` when `proxy_alias` names no proxy.
    async fn update_connection(
        &self,
        name: &str,
        spec: &serde_json::Value,
        secrets_encrypted: Option<&[u8]>,
        proxy_alias: Option<&str>,
        updated_at: i64,
    ) -> Result<()>;
    async fn get_connection(&self, name: &str) -> Result<Option<ConnectionRecord>>;
    /// Every connection, ordered by name.
    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>>;
    /// False when there was no such connection.
    async fn delete_connection(&self, name: &str) -> Result<bool>;
    /// Compare-and-set of the token state, in one statement: when the stored
    /// version is still `expected_version`, writes every field of `tokens`
    /// (its `version` is ignored), moves the version by one and sets
    /// `updated_at` to `now`, and returns the new version. `None` when the
    /// version moved (another process saved or reset first; nothing is
    /// written), `NotFound` when there is no such connection.
    async fn save_connection_tokens(
        &self,
        name: &str,
        expected_version: i64,
        tokens: &ConnectionTokens,
        now: i64,
    ) -> Result<Option<i64>>;
    /// Clears the token state (status `new`, no tokens, no error), moves the
    /// version (so a refresh under way cannot save over the reset) and sets
    /// `updated_at`. False when there is no such connection.
    async fn reset_connection_tokens(&self, name: &str, now: i64) -> Result<bool>;
}

/// Proxy aliases (seed 003's "proxy server alias"): named forward proxies
/// that connections reference by name ([`ConnectionRecord::proxy_alias`]).
/// The password arrives sealed by the caller under the master key.
#[async_trait]
pub trait ProxyStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn create_proxy(&self, proxy: &ProxyRecord) -> Result<()>;
    /// Replaces url, username, password and `updated_at` (`created_at` is
    /// kept); `NotFound` when there is none.
    async fn update_proxy(&self, proxy: &ProxyRecord) -> Result<()>;
    async fn get_proxy(&self, name: &str) -> Result<Option<ProxyRecord>>;
    /// Every alias, ordered by name.
    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>>;
    /// False when there was no such alias; `Reference` (nothing deleted)
    /// while a connection goes through it.
    async fn delete_proxy(&self, name: &str) -> Result<bool>;
    /// The connections that go through the alias, ordered by name.
    async fn proxy_users(&self, name: &str) -> Result<Vec<String>>;
}

/// The whole store, as the server holds it (`Arc<dyn Store>`).
#[async_trait]
pub trait Store:
    ClientStore
    + TokenStore
    + CodeStore
    + KeyStore
    + RegistrationTokenStore
    + AuditStore
    + UserStore
    + SessionStore
    + ConsentStore
    + GrantStore
    + ReplayStore
    + GatewayStore
    + ConnectionStore
    + ProxyStore
{
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Waits until queued writes (audit events) are committed; used on shutdown.
    async fn flush(&self) -> Result<()>;
}
