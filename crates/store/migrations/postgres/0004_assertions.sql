-- Assertion grants and key rotation with publish-before-sign.
--
-- assertion_jtis remembers every JWT `jti` (and SAML assertion ID) that was
-- accepted, keyed by SHA-256 of issuer and identifier, until the assertion
-- itself expires: a replayed assertion is refused (RFC 7523 §3 item 7).
CREATE TABLE assertion_jtis (
    hash       BYTEA  NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX assertion_jtis_expires_at ON assertion_jtis (expires_at);

-- A third key status, 'next': published in the JWKS, not yet signing.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_status_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_status_check
    CHECK (status IN ('next', 'active', 'retired'));
-- At most one key waits to sign.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (status) WHERE status = 'next';
