-- Tollgate schema, SQLite flavour. Timestamps are unix seconds. Tokens, codes
-- and registration tokens are stored only as SHA-256 hashes of their values.
-- Hash-keyed tables are WITHOUT ROWID: the random 32-byte key is the row's
-- only access path, so a separate rowid b-tree would double every write.

CREATE TABLE clients (
    id         TEXT    NOT NULL PRIMARY KEY,
    doc        TEXT    NOT NULL,            -- the serialized tollgate_core::Client
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    subject    TEXT,
    scope      TEXT    NOT NULL,
    audience   TEXT    NOT NULL,            -- JSON array of strings
    token_type TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    grant_id   TEXT    NOT NULL,
    revoked_at INTEGER,
    metadata   TEXT    NOT NULL             -- JSON object of strings
) WITHOUT ROWID;
CREATE INDEX tokens_grant_id   ON tokens (grant_id);
CREATE INDEX tokens_client_id  ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- Partial: only revoked rows are indexed, so the hot insert path pays nothing.
CREATE INDEX tokens_revoked_at ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE codes (
    hash                  BLOB    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    redirect_uri          TEXT,
    scope                 TEXT    NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    grant_id              TEXT    NOT NULL,
    params                TEXT    NOT NULL, -- JSON object of strings
    used_at               INTEGER
) WITHOUT ROWID;
CREATE INDEX codes_client_id  ON codes (client_id);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_key BLOB    NOT NULL,           -- encrypted under the master key
    public_jwk  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'retired')),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);
-- At most one key signs: the database refuses a second active key even if a
-- caller forgets to retire the first.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE registration_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    hash        BLOB    NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so keyset paging is stable
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    client_id   TEXT,
    outcome     TEXT    NOT NULL,
    remote_addr TEXT,
    detail      TEXT    NOT NULL            -- JSON
);
CREATE INDEX audit_log_at        ON audit_log (at);
CREATE INDEX audit_log_client_id ON audit_log (client_id, id);
CREATE INDEX audit_log_event     ON audit_log (event, id);
