//! SQL text shared by both backends. SQLite accepts PostgreSQL's `$n`
//! placeholders, `RETURNING` and `TRUE`/`FALSE`, so every statement that does
//! not touch a backend-specific feature is written once here; the backends
//! differ only in how they open a write transaction.
//!
//! Every statement reaches its rows through an index: the primary key, or one
//! of the secondary indexes named in the migrations.

pub(crate) const INSERT_TOKENS: &str = "INSERT INTO tokens (hash, kind, client_id, subject, \
     scope, audience, token_type, issued_at, expires_at, grant_id, revoked_at, metadata) ";
pub(crate) const FIND_TOKEN: &str = "SELECT hash, kind, client_id, subject, scope, audience, \
     token_type, issued_at, expires_at, grant_id, revoked_at, metadata \
     FROM tokens WHERE hash = $1";
/// `COALESCE` keeps the first revocation time (the answer to "since when").
pub(crate) const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE hash = $1";
pub(crate) const REVOKE_GRANT: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
pub(crate) const REVOKE_CLIENT_TOKENS: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL";
/// The compare-and-set at the heart of refresh rotation: only the statement
/// that flips `revoked_at` from NULL wins.
pub(crate) const REVOKE_ACTIVE_REFRESH: &str = "UPDATE tokens SET revoked_at = $2 \
     WHERE hash = $1 AND kind = 'refresh_token' AND revoked_at IS NULL AND expires_at > $2";
/// Purges go in bounded batches through the expiry / revocation indexes so a
/// large backlog never holds a long write lock.
pub(crate) const PURGE_EXPIRED_TOKENS: &str = "DELETE FROM tokens WHERE hash IN \
     (SELECT hash FROM tokens WHERE expires_at < $1 LIMIT $2)";
pub(crate) const PURGE_REVOKED_TOKENS: &str = "DELETE FROM tokens WHERE hash IN \
     (SELECT hash FROM tokens WHERE revoked_at < $1 LIMIT $2)";
pub(crate) const PURGE_EXPIRED_CODES: &str = "DELETE FROM codes WHERE hash IN \
     (SELECT hash FROM codes WHERE expires_at < $1 LIMIT $2)";

pub(crate) const INSERT_CODE: &str = "INSERT INTO codes (hash, client_id, subject, \
     redirect_uri, scope, code_challenge, code_challenge_method, issued_at, expires_at, \
     grant_id, params, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Reads `used_at` before marking, inside the same write transaction, so the
/// caller learns whether this was the first use (RFC 6749 §4.1.2).
pub(crate) const FIND_CODE: &str = "SELECT hash, client_id, subject, redirect_uri, scope, \
     code_challenge, code_challenge_method, issued_at, expires_at, grant_id, params, used_at \
     FROM codes WHERE hash = $1";
pub(crate) const MARK_CODE_USED: &str =
    "UPDATE codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL";

pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients (id, doc, enabled, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const GET_CLIENT: &str = "SELECT doc FROM clients WHERE id = $1";
pub(crate) const UPDATE_CLIENT: &str =
    "UPDATE clients SET doc = $2, enabled = $3, updated_at = $4 WHERE id = $1";
pub(crate) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE id = $1";
pub(crate) const DELETE_CLIENT_TOKENS: &str = "DELETE FROM tokens WHERE client_id = $1";
pub(crate) const DELETE_CLIENT_CODES: &str = "DELETE FROM codes WHERE client_id = $1";
pub(crate) const LIST_CLIENTS: &str = "SELECT doc FROM clients ORDER BY id LIMIT $1";
pub(crate) const LIST_CLIENTS_AFTER: &str =
    "SELECT doc FROM clients WHERE id > $1 ORDER BY id LIMIT $2";

pub(crate) const RETIRE_ACTIVE_KEYS: &str = "UPDATE signing_keys SET status = 'retired', \
     retired_at = $1 WHERE status = 'active'";
pub(crate) const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_key, \
     public_jwk, status, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const LIST_KEYS: &str = "SELECT kid, alg, private_key, public_jwk, status, \
     created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC";

pub(crate) const INSERT_REGISTRATION_TOKEN: &str = "INSERT INTO registration_tokens (id, hash, \
     description, created_at, expires_at, max_uses, uses, revoked) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// One statement decides and counts, so concurrent registrations can never
/// spend more uses than `max_uses` (RFC 7591 §3 initial access tokens).
pub(crate) const USE_REGISTRATION_TOKEN: &str = "UPDATE registration_tokens \
     SET uses = uses + 1 \
     WHERE hash = $1 AND NOT revoked \
       AND (expires_at IS NULL OR expires_at > $2) \
       AND (max_uses IS NULL OR uses < max_uses) \
     RETURNING id, hash, description, created_at, expires_at, max_uses, uses, revoked";
pub(crate) const LIST_REGISTRATION_TOKENS: &str = "SELECT id, hash, description, created_at, \
     expires_at, max_uses, uses, revoked FROM registration_tokens \
     ORDER BY created_at DESC, id DESC";
pub(crate) const REVOKE_REGISTRATION_TOKEN: &str =
    "UPDATE registration_tokens SET revoked = TRUE WHERE id = $1";

pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (at, event, client_id, outcome, remote_addr, detail) ";
pub(crate) const SELECT_AUDIT: &str =
    "SELECT id, at, event, client_id, outcome, remote_addr, detail FROM audit_log WHERE TRUE";
