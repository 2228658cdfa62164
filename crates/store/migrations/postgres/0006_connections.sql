-- Connections: outbound OAuth client configurations with which Tollgate
-- obtains and refreshes tokens from other providers.
--
-- The configuration is an opaque JSON document (typed by the connect crate);
-- its secret half (client secret, private key, proxy password) and the
-- tokens are sealed by the caller under the master key, so the store only
-- ever holds ciphertext. token_version is the compare-and-set counter of
-- the token state: every save and reset moves it, so two processes that
-- refresh at once cannot both overwrite (the second sees the version moved
-- and re-reads what the first saved).

CREATE TABLE connections (
    -- Byte order ("C") whatever the database's collation, so connections
    -- list in the same order as on SQLite.
    name                    TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    spec                    JSONB   NOT NULL,
    secrets_encrypted       BYTEA,                -- sealed under the master key
    access_token_encrypted  BYTEA,                -- sealed under the master key
    refresh_token_encrypted BYTEA,                -- sealed under the master key
    token_type              TEXT,
    scope                   TEXT,
    expires_at              BIGINT,               -- unix seconds
    obtained_at             BIGINT,               -- unix seconds
    status                  TEXT    NOT NULL DEFAULT 'new',
    last_error              TEXT,
    token_version           BIGINT  NOT NULL DEFAULT 0,
    created_at              BIGINT  NOT NULL,
    updated_at              BIGINT  NOT NULL
);
