-- Local users, their login sessions, remembered consents and the record of
-- every grant a user gave a client (which ties tokens to their user).
--
-- Users are stored like clients: one JSON document (the serialized
-- tollgate_core::User, Argon2id password hash included) plus the columns that
-- are looked up. Sessions are hash-keyed like codes: the cookie carries the
-- value, the store only its SHA-256 hash.

CREATE TABLE users (
    id         TEXT    NOT NULL PRIMARY KEY, -- the token subject, immutable
    username   TEXT    NOT NULL,             -- lower case (tollgate_core::Username)
    doc        TEXT    NOT NULL,             -- the serialized tollgate_core::User
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Named (not an inline UNIQUE) so query plans can be checked against it.
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE sessions (
    hash       BLOB    NOT NULL PRIMARY KEY,
    subject    TEXT    NOT NULL,             -- users.id
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_subject    ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
) WITHOUT ROWID;
CREATE INDEX consents_client_id ON consents (client_id);

-- Grant ids are time-ordered, so the key grows at the end like a rowid.
CREATE TABLE user_grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    grant_type TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX user_grants_subject    ON user_grants (subject, client_id);
CREATE INDEX user_grants_created_at ON user_grants (created_at);
CREATE INDEX user_grants_client_id  ON user_grants (client_id);

-- A user's codes are found through their grants (revocation, user deletion),
-- and the grant purge keeps grants that still have a code.
CREATE INDEX codes_grant_id ON codes (grant_id);
