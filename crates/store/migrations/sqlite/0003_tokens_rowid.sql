-- Tokens move from a WITHOUT ROWID table keyed by the random 32-byte hash to
-- a rowid table in insertion order with a unique index on the hash.
--
-- Why: with the hash as the clustering key every insert landed a whole
-- ~300-byte row on a random leaf page, and once the table outgrew the page
-- cache (about a million tokens) every commit read and rewrote one random
-- 4 KiB page per token, and the purge did the same per deleted token. In
-- insertion order new rows share the last page and expired rows (old ones)
-- are deleted from neighbouring pages; only the 32-byte hash index entries
-- stay random, and about a hundred of them fit in a page, so that index stays
-- cached. Lookups by hash go through the unique index (one more small b-tree
-- step), which the query-plan tests check.
CREATE TABLE tokens_by_rowid (
    id         INTEGER PRIMARY KEY,         -- insertion order
    hash       BLOB    NOT NULL,
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
);
INSERT INTO tokens_by_rowid (hash, kind, client_id, subject, scope, audience, token_type,
                             issued_at, expires_at, grant_id, revoked_at, metadata)
    SELECT hash, kind, client_id, subject, scope, audience, token_type,
           issued_at, expires_at, grant_id, revoked_at, metadata
    FROM tokens ORDER BY issued_at;
DROP TABLE tokens;
ALTER TABLE tokens_by_rowid RENAME TO tokens;
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);
CREATE INDEX tokens_grant_id   ON tokens (grant_id);
CREATE INDEX tokens_client_id  ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_revoked_access ON tokens (revoked_at)
    WHERE revoked_at IS NOT NULL AND kind <> 'refresh_token';
