-- The gateway's configuration: virtual services, the applications (OAuth
-- clients) consuming them, and third-party authorization servers.
--
-- Policies are opaque JSON documents (typed by the gateway crate) so a new
-- policy field needs no migration; only what is unique or looked up is a
-- column. The gateway keeps all of it in memory and reloads when
-- gateway_meta.generation moves: every write bumps it in its own
-- transaction, so another process (the CLI) or node is noticed.

CREATE TABLE gateway_services (
    name       TEXT    NOT NULL PRIMARY KEY,
    alias      TEXT    NOT NULL,             -- /gateway/{alias}/...
    spec       TEXT    NOT NULL,             -- JSON
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Named (not an inline UNIQUE) so query plans can be checked against it.
CREATE UNIQUE INDEX gateway_services_alias ON gateway_services (alias);

-- No foreign keys, like the rest of the schema: the store deletes a
-- service's consumers with the service and a client's with the client.
CREATE TABLE gateway_consumers (
    service     TEXT    NOT NULL,            -- gateway_services.name
    client_id   TEXT    NOT NULL,            -- clients.id
    application TEXT    NOT NULL,
    status      TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'revoked')),
    settings    TEXT    NOT NULL,            -- JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (service, client_id)
) WITHOUT ROWID;
CREATE INDEX gateway_consumers_client_id ON gateway_consumers (client_id);

CREATE TABLE gateway_auth_servers (
    name             TEXT    NOT NULL PRIMARY KEY,
    spec             TEXT    NOT NULL,       -- JSON
    secret_encrypted BLOB,                   -- encrypted under the master key
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- One row: the configuration's generation.
CREATE TABLE gateway_meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO gateway_meta (id, generation) VALUES (1, 0);
