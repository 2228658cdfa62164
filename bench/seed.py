#!/usr/bin/env python3
"""Seeds a Tollgate store with many tokens straight through SQL, for the
large-store benchmark scenarios (issuing a million tokens over HTTP would take
longer than the benchmark itself).

usage: seed.py sqlite PATH PREFIX COUNT EXPIRES_IN
       seed.py postgres SCHEMA PREFIX COUNT EXPIRES_IN   (uses $BENCH_PSQL)

Inserts COUNT access tokens whose values are PREFIX0 .. PREFIX<COUNT-1> (so a
load generator can present them: the stored hash is SHA-256 of the value,
exactly as Tollgate hashes a presented token), spread over 50 clients, each
with its own random grant id, valid JSON in `audience` and `metadata`, issued
a minute ago and expiring EXPIRES_IN seconds from now (negative: already
expired). Rows match crates/store/migrations/*/0001_init.sql.
"""
import hashlib
import os
import shlex
import sqlite3
import subprocess
import sys
import time


def rows(prefix, count, now, expires_at):
    for i in range(count):
        value = f"{prefix}{i}".encode()
        h = hashlib.sha256(value).digest()
        client = f"seed-{i % 50}"
        yield (
            h,
            "access_token",
            client,
            client,
            "read",
            '["api"]',
            "Bearer",
            now - 60,
            expires_at,
            # Shaped like issue::new_grant_id: creation time in ms
            # (fixed-width hex) then random characters, older than any grant
            # the server makes during the run.
            f"{(now - 60) * 1000 + i % 1000:012x}"
            + hashlib.sha256(b"grant" + value).hexdigest()[:16],
            None,
            '{"tier":"seed"}',
        )


def seed_sqlite(path, prefix, count, expires_in):
    now = int(time.time())
    con = sqlite3.connect(path, timeout=120, isolation_level=None)
    # Only this seeding connection: a large page cache so a million random
    # B-tree inserts do not thrash, one transaction for all of them.
    con.execute("PRAGMA cache_size = -1048576")
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO tokens (hash, kind, client_id, subject, scope, audience, "
        "token_type, issued_at, expires_at, grant_id, revoked_at, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(prefix, count, now, now + expires_in),
    )
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def seed_postgres(schema, prefix, count, expires_in):
    psql = shlex.split(os.environ.get("BENCH_PSQL", "psql -h 127.0.0.1 -U postgres -d test"))
    # Generated inside PostgreSQL: sha256() of the same value strings.
    sql = f"""
SET search_path = "{schema}";
INSERT INTO tokens (hash, kind, client_id, subject, scope, audience, token_type,
                    issued_at, expires_at, grant_id, revoked_at, metadata)
SELECT sha256(convert_to('{prefix}' || i, 'UTF8')), 'access_token',
       'seed-' || (i % 50), 'seed-' || (i % 50), 'read', '["api"]', 'Bearer',
       extract(epoch FROM now())::bigint - 60,
       extract(epoch FROM now())::bigint + ({expires_in}),
       lpad(to_hex((extract(epoch FROM now())::bigint - 60) * 1000 + i % 1000), 12, '0')
         || left(encode(sha256(convert_to('grant{prefix}' || i, 'UTF8')), 'hex'), 16),
       NULL, '{{"tier":"seed"}}'
FROM generate_series(0, {count} - 1) AS i;
VACUUM ANALYZE tokens;
"""
    subprocess.run(psql + ["-q", "-v", "ON_ERROR_STOP=1"], input=sql.encode(), check=True)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    backend, target, prefix, count, expires_in = sys.argv[1:]
    count, expires_in = int(count), int(expires_in)
    start = time.time()
    if backend == "sqlite":
        seed_sqlite(target, prefix, count, expires_in)
    elif backend == "postgres":
        seed_postgres(target, prefix, count, expires_in)
    else:
        sys.exit(f"unknown backend {backend}")
    print(f"[seed] {backend}: {count} tokens '{prefix}N' in {time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
