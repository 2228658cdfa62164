//! Issued tokens: batched inserts, lookups, revocation, rotation, purging.

/// Rows per multi-row INSERT: 12 parameters each stays far below both
/// SQLite's 32766-variable and PostgreSQL's 65535-parameter limits.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// Implements [`crate::TokenStore`] for `$store` (database `$db`, connection
/// `$conn`), reading through `self.$read` and writing through `self.$write`.
///
/// Also defines, in the invoking module,
/// `async fn insert_tokens(conn: &mut $conn, tokens: &[&TokenRecord])`, which
/// inserts tokens on a connection that is already inside a transaction (the
/// batching writer's sink uses it too), and `write_batch`, the body of the
/// batching writer's sink (see [`crate::batch::BatchSink`]).
macro_rules! impl_token_store {
    (
        $store:ty,
        db = $db:ty,
        conn = $conn:ty,
        read = $read:ident,
        write = $write:ident $(,)?
    ) => {
        /// Inserts tokens on a connection that is already inside a transaction.
        async fn insert_tokens(
            conn: &mut $conn,
            tokens: &[&::tollgate_core::TokenRecord],
        ) -> $crate::Result<()> {
            for chunk in tokens.chunks($crate::common::tokens::ROWS_PER_INSERT) {
                let mut qb = ::sqlx::QueryBuilder::<$db>::new($crate::sql::INSERT_TOKENS);
                qb.push_values(chunk, |mut b, t| {
                    b.push_bind(&t.hash.0[..])
                        .push_bind(t.kind.as_str())
                        .push_bind(t.client_id.as_str())
                        .push_bind(t.subject.as_deref())
                        .push_bind(t.scope.to_string())
                        .push_bind(::sqlx::types::Json(&t.audience))
                        .push_bind(t.token_type.as_str())
                        .push_bind(t.issued_at)
                        .push_bind(t.expires_at)
                        .push_bind(t.grant_id.as_str())
                        .push_bind(t.revoked_at)
                        .push_bind(::sqlx::types::Json(&t.metadata));
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// One batch of the batching writer on a connection that is already
        /// inside a transaction: the guards first, in
        /// [`crate::batch::guard_order`], then the plain tokens together with
        /// the tokens of every guard that matched, then the events. Guarded
        /// tokens go in after all guards: a guard can never concern a token
        /// inserted in the same batch, since nobody learns a token's value
        /// before its commit. Returns whether each guard matched, in the
        /// order of `guarded`.
        async fn write_batch(
            conn: &mut $conn,
            tokens: &[&::tollgate_core::TokenRecord],
            events: &[&$crate::AuditEvent],
            guarded: &[$crate::batch::GuardedWrite<'_>],
        ) -> $crate::Result<Vec<bool>> {
            let mut matched = vec![false; guarded.len()];
            let mut all = tokens.to_vec();
            for i in $crate::batch::guard_order(guarded) {
                let (sql, hash, now, third) = guarded[i].guard.statement();
                let mut query = ::sqlx::query(sql).bind(&hash.0[..]).bind(now);
                if let Some(third) = third {
                    query = query.bind(third);
                }
                let hit = query.execute(&mut *conn).await?.rows_affected() > 0;
                if hit {
                    all.extend(guarded[i].tokens.iter());
                }
                matched[i] = hit;
            }
            insert_tokens(&mut *conn, &all).await?;
            insert_audit(&mut *conn, events).await?;
            Ok(matched)
        }

        #[::async_trait::async_trait]
        impl $crate::TokenStore for $store {
            async fn insert_tokens(
                &self,
                tokens: Vec<::tollgate_core::TokenRecord>,
            ) -> $crate::Result<()> {
                // Measured from the caller's side: queueing, batching and the
                // commit together are what a token request waits for.
                $crate::observe::observe(
                    Self::BACKEND,
                    "insert_tokens",
                    self.writer.insert_tokens(tokens),
                )
                .await
            }

            async fn find_token(
                &self,
                hash: &::tollgate_core::TokenHash,
            ) -> $crate::Result<Option<::tollgate_core::TokenRecord>> {
                $crate::observe::observe(Self::BACKEND, "find_token", async {
                    let row = ::sqlx::query($crate::sql::FIND_TOKEN)
                        .bind(&hash.0[..])
                        .fetch_optional(&self.$read)
                        .await?;
                    row.as_ref().map($crate::rows::token).transpose()
                })
                .await
            }

            async fn revoke_token(
                &self,
                hash: &::tollgate_core::TokenHash,
                now: i64,
            ) -> $crate::Result<bool> {
                $crate::observe::observe(Self::BACKEND, "revoke_token", async {
                    let done = ::sqlx::query($crate::sql::REVOKE_TOKEN)
                        .bind(&hash.0[..])
                        .bind(now)
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn revoke_grant(&self, grant_id: &str, now: i64) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "revoke_grant", async {
                    // Twice, as two statements: a refresh rotation committing
                    // while the first runs (PostgreSQL, READ COMMITTED) inserts
                    // its new pair after the first statement's snapshot, so the
                    // first misses it. The first statement had to wait for that
                    // rotation's row lock on the old refresh token, so by the
                    // time it returns the pair is committed and the second
                    // statement's fresh snapshot sees it. A rotation starting
                    // after the first statement finds its refresh token already
                    // revoked and inserts nothing.
                    let mut revoked = 0;
                    for _ in 0..2 {
                        revoked += ::sqlx::query($crate::sql::REVOKE_GRANT)
                            .bind(grant_id)
                            .bind(now)
                            .execute(&self.$write)
                            .await?
                            .rows_affected();
                    }
                    Ok(revoked)
                })
                .await
            }

            async fn revoke_client_tokens(&self, client_id: &str, now: i64) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "revoke_client_tokens", async {
                    let done = ::sqlx::query($crate::sql::REVOKE_CLIENT_TOKENS)
                        .bind(client_id)
                        .bind(now)
                        .execute(&self.$write)
                        .await?;
                    Ok(done.rows_affected())
                })
                .await
            }

            async fn rotate_refresh(
                &self,
                old: &::tollgate_core::TokenHash,
                now: i64,
                new: Vec<::tollgate_core::TokenRecord>,
            ) -> $crate::Result<bool> {
                // Through the batching writer: the revocation and the new
                // tokens commit together, sharing the commit with the batch.
                $crate::observe::observe(
                    Self::BACKEND,
                    "rotate_refresh",
                    self.writer
                        .guarded($crate::batch::Guard::RevokeRefresh { hash: *old, now }, new),
                )
                .await
            }

            async fn purge_tokens(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_tokens", async {
                    // Two statements, each its own short transaction: expired
                    // tokens of every kind first, then revoked ones that may go
                    // before they expire (see `PurgeSql::revoked_tokens`).
                    let expired = $crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.expired_tokens,
                        before,
                        i64::from(limit)
                    )?;
                    let left = u64::from(limit).saturating_sub(expired);
                    if left == 0 {
                        return Ok(expired);
                    }
                    let revoked = $crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.revoked_tokens,
                        before,
                        i64::try_from(left).unwrap_or(i64::MAX)
                    )?;
                    Ok(expired + revoked)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_token_store;
