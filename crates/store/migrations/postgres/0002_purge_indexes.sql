-- Indexes for the background purge (crates/authz/src/purge.rs).
--
-- Revoked refresh tokens must stay until they expire (a rotated-out refresh
-- token presented again reveals a leak and ends the grant, RFC 9700 §4.14.2),
-- so the purge of revoked tokens skips them. Indexing only revoked tokens
-- that are not refresh tokens keeps that purge from walking over every
-- rotated-out refresh token on each batch; the expiry index takes those once
-- they expire. Insert cost is unchanged: fresh tokens are never revoked.
DROP INDEX tokens_revoked_at;
CREATE INDEX tokens_revoked_access ON tokens (revoked_at)
    WHERE revoked_at IS NOT NULL AND kind <> 'refresh_token';

-- Expired initial access tokens (RFC 7591 §3) are purged after the audit
-- retention period; only tokens with an expiry are ever candidates.
CREATE INDEX registration_tokens_expires_at ON registration_tokens (expires_at)
    WHERE expires_at IS NOT NULL;
