-- Tollgate schema, PostgreSQL flavour. Timestamps are unix seconds (BIGINT).
-- Tokens, codes and registration tokens are stored only as SHA-256 hashes of
-- their values. Every integer column is BIGINT so one decoder (i64) serves
-- both backends.

CREATE TABLE clients (
    id         TEXT    NOT NULL PRIMARY KEY,
    doc        JSONB   NOT NULL,            -- the serialized tollgate_core::Client
    enabled    BOOLEAN NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE tokens (
    hash       BYTEA   NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    subject    TEXT,
    scope      TEXT    NOT NULL,
    audience   JSONB   NOT NULL,            -- array of strings
    token_type TEXT    NOT NULL,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    grant_id   TEXT    NOT NULL,
    revoked_at BIGINT,
    metadata   JSONB   NOT NULL             -- object of strings
);
CREATE INDEX tokens_grant_id   ON tokens (grant_id);
CREATE INDEX tokens_client_id  ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- Partial: only revoked rows are indexed, so the hot insert path pays nothing.
CREATE INDEX tokens_revoked_at ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE codes (
    hash                  BYTEA  NOT NULL PRIMARY KEY,
    client_id             TEXT   NOT NULL,
    subject               TEXT   NOT NULL,
    redirect_uri          TEXT,
    scope                 TEXT   NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    issued_at             BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    grant_id              TEXT   NOT NULL,
    params                JSONB  NOT NULL,
    used_at               BIGINT
);
CREATE INDEX codes_client_id  ON codes (client_id);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    alg         TEXT   NOT NULL,
    private_key BYTEA  NOT NULL,            -- encrypted under the master key
    public_jwk  JSONB  NOT NULL,
    status      TEXT   NOT NULL CHECK (status IN ('active', 'retired')),
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);
-- At most one key signs: the database refuses a second active key even if a
-- caller forgets to retire the first.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE registration_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    hash        BYTEA   NOT NULL UNIQUE,
    description TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT,
    max_uses    BIGINT,
    uses        BIGINT  NOT NULL DEFAULT 0,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    event       TEXT   NOT NULL,
    client_id   TEXT,
    outcome     TEXT   NOT NULL,
    remote_addr TEXT,
    detail      JSONB  NOT NULL
);
CREATE INDEX audit_log_at        ON audit_log (at);
CREATE INDEX audit_log_client_id ON audit_log (client_id, id);
CREATE INDEX audit_log_event     ON audit_log (event, id);
