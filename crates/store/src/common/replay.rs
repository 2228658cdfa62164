//! Replay protection for assertions: every accepted JWT `jti` or SAML
//! assertion ID is remembered until the assertion expires.

/// Implements [`crate::ReplayStore`] for `$store`: records go through the
/// batching writer as guarded writes (so a burst of assertion-authenticated
/// requests shares commits), purges straight to `self.$write`.
macro_rules! impl_replay_store {
    ($store:ty, write = $write:ident $(,)?) => {
        #[::async_trait::async_trait]
        impl $crate::ReplayStore for $store {
            async fn record_jti(
                &self,
                hash: &::tollgate_core::TokenHash,
                expires_at: i64,
                now: i64,
            ) -> $crate::Result<bool> {
                $crate::observe::observe(
                    Self::BACKEND,
                    "record_jti",
                    self.writer.guarded(
                        $crate::batch::Guard::FreshJti {
                            hash: *hash,
                            now,
                            expires_at,
                        },
                        Vec::new(),
                    ),
                )
                .await
            }

            async fn purge_jtis(&self, before: i64, limit: u32) -> $crate::Result<u64> {
                $crate::observe::observe(Self::BACKEND, "purge_jtis", async {
                    Ok($crate::common::purge_batch!(
                        &self.$write,
                        Self::PURGE.expired_jtis,
                        before,
                        i64::from(limit)
                    )?)
                })
                .await
            }
        }
    };
}
pub(crate) use impl_replay_store;
