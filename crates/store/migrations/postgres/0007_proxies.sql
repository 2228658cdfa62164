-- Proxy aliases (seed 003's "proxy server alias"): named forward proxies
-- that connections reference by name instead of carrying a proxy URL each.
-- The password is sealed by the caller under the master key, so the store
-- only ever holds ciphertext.
CREATE TABLE proxies (
    -- Byte order ("C") whatever the database's collation, so aliases list
    -- in the same order as on SQLite.
    name               TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    url                TEXT    NOT NULL,
    username           TEXT,
    password_encrypted BYTEA,                -- sealed under the master key
    created_at         BIGINT  NOT NULL,     -- unix seconds
    updated_at         BIGINT  NOT NULL      -- unix seconds
);

-- The alias a connection goes through. The reference refuses a connection
-- naming an alias that does not exist and the deletion of an alias still in
-- use, whichever process or node writes.
ALTER TABLE connections ADD COLUMN proxy_alias TEXT COLLATE "C" REFERENCES proxies (name);
CREATE INDEX connections_proxy_alias ON connections (proxy_alias)
    WHERE proxy_alias IS NOT NULL;
