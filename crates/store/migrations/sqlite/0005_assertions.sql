-- Assertion grants and key rotation with publish-before-sign.
--
-- assertion_jtis remembers every JWT `jti` (and SAML assertion ID) that was
-- accepted, keyed by SHA-256 of issuer and identifier, until the assertion
-- itself expires: a replayed assertion is refused (RFC 7523 §3 item 7).
CREATE TABLE assertion_jtis (
    hash       BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX assertion_jtis_expires_at ON assertion_jtis (expires_at);

-- A third key status, 'next': published in the JWKS, not yet signing. SQLite
-- cannot change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE signing_keys_new (
    kid         TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_key BLOB    NOT NULL,           -- encrypted under the master key
    public_jwk  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('next', 'active', 'retired')),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) WITHOUT ROWID;
INSERT INTO signing_keys_new SELECT kid, alg, private_key, public_jwk, status, created_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';
-- At most one key waits to sign.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (status) WHERE status = 'next';
