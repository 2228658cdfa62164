//! Every store call answers within a bound.
//!
//! sqlx bounds the wait for a connection (`acquire_timeout`) but not a
//! statement on a connection it already has. A database that crashed resets
//! its connections, so callers fail at once; one behind a lost network path
//! (a partition, a dead load balancer, a frozen VM) leaves them open and
//! silent, and a query would wait until TCP gives up, minutes later, with the
//! request and its pooled connection stuck. This wrapper gives every call the
//! store's `write_limit` (acquire timeout plus query timeout) and turns an
//! overrun into `Unavailable`, a 503 the client retries.
//!
//! A write that overruns may still commit; the caller then reports a failure
//! for something that happened, which every networked client must already
//! tolerate, and never the reverse. The batching writer's calls
//! (`insert_tokens`, `append_audit`, `flush`) carry the same bound inside
//! `crate::batch` and pass straight through.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tollgate_core::{Client, TokenHash, TokenRecord, User};

use crate::{
    AuditEvent, AuditQuery, AuditRecord, AuditStore, AuthServerRecord, ClientStore, CodeRecord,
    CodeStore, ConnectionRecord, ConnectionStore, ConnectionTokens, ConsentRecord, ConsentStore,
    ConsumerRecord, GatewayStore, GrantStore, KeyStore, ProxyRecord, ProxyStore,
    RegistrationTokenRecord, RegistrationTokenStore, ReplayStore, Result, ServiceRecord,
    SessionRecord, SessionStore, SigningKeyRecord, Store, StoreError, TokenStore, UserGrantRecord,
    UserStore,
};

pub(crate) struct Bounded<S> {
    inner: Arc<S>,
    limit: Duration,
}

impl<S: Store + 'static> Bounded<S> {
    pub(crate) fn wrap(inner: Arc<S>, limit: Duration) -> Arc<dyn Store> {
        Arc::new(Self { inner, limit })
    }

    async fn run<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the database did not answer in time".into(),
                ))
            })
    }
}

#[async_trait]
impl<S: Store + 'static> ClientStore for Bounded<S> {
    async fn create_client(&self, client: &Client) -> Result<()> {
        self.run(self.inner.create_client(client)).await
    }
    async fn get_client(&self, id: &str) -> Result<Option<Client>> {
        self.run(self.inner.get_client(id)).await
    }
    async fn update_client(&self, client: &Client) -> Result<()> {
        self.run(self.inner.update_client(client)).await
    }
    async fn delete_client(&self, id: &str) -> Result<bool> {
        self.run(self.inner.delete_client(id)).await
    }
    async fn list_clients(&self, after: Option<&str>, limit: u32) -> Result<Vec<Client>> {
        self.run(self.inner.list_clients(after, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> TokenStore for Bounded<S> {
    async fn insert_tokens(&self, tokens: Vec<TokenRecord>) -> Result<()> {
        self.inner.insert_tokens(tokens).await
    }
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        self.run(self.inner.find_token(hash)).await
    }
    async fn revoke_token(&self, hash: &TokenHash, now: i64) -> Result<bool> {
        self.run(self.inner.revoke_token(hash, now)).await
    }
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<u64> {
        self.run(self.inner.revoke_grant(grant_id, now)).await
    }
    async fn revoke_client_tokens(&self, client_id: &str, now: i64) -> Result<u64> {
        self.run(self.inner.revoke_client_tokens(client_id, now))
            .await
    }
    async fn rotate_refresh(
        &self,
        old: &TokenHash,
        now: i64,
        new: Vec<TokenRecord>,
    ) -> Result<bool> {
        self.run(self.inner.rotate_refresh(old, now, new)).await
    }
    async fn purge_tokens(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_tokens(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> CodeStore for Bounded<S> {
    async fn insert_code(&self, code: &CodeRecord) -> Result<()> {
        self.run(self.inner.insert_code(code)).await
    }
    async fn consume_code(&self, hash: &TokenHash, now: i64) -> Result<Option<(CodeRecord, bool)>> {
        self.run(self.inner.consume_code(hash, now)).await
    }
    async fn insert_code_with_grant(
        &self,
        grant: &UserGrantRecord,
        code: &CodeRecord,
    ) -> Result<()> {
        self.run(self.inner.insert_code_with_grant(grant, code))
            .await
    }
    async fn find_code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>> {
        self.run(self.inner.find_code(hash)).await
    }
    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: i64,
        tokens: Vec<TokenRecord>,
    ) -> Result<bool> {
        self.run(self.inner.redeem_code(hash, now, tokens)).await
    }
    async fn purge_codes(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_codes(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> KeyStore for Bounded<S> {
    async fn insert_key(&self, key: &SigningKeyRecord, now: i64) -> Result<()> {
        self.run(self.inner.insert_key(key, now)).await
    }
    async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.run(self.inner.list_keys()).await
    }
    async fn promote_key(&self, kid: &str, now: i64) -> Result<bool> {
        self.run(self.inner.promote_key(kid, now)).await
    }
}

#[async_trait]
impl<S: Store + 'static> ReplayStore for Bounded<S> {
    async fn record_jti(&self, hash: &TokenHash, expires_at: i64, now: i64) -> Result<bool> {
        self.run(self.inner.record_jti(hash, expires_at, now)).await
    }
    async fn purge_jtis(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_jtis(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> RegistrationTokenStore for Bounded<S> {
    async fn insert_registration_token(&self, token: &RegistrationTokenRecord) -> Result<()> {
        self.run(self.inner.insert_registration_token(token)).await
    }
    async fn use_registration_token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> Result<Option<RegistrationTokenRecord>> {
        self.run(self.inner.use_registration_token(hash, now)).await
    }
    async fn list_registration_tokens(&self) -> Result<Vec<RegistrationTokenRecord>> {
        self.run(self.inner.list_registration_tokens()).await
    }
    async fn revoke_registration_token(&self, id: &str) -> Result<bool> {
        self.run(self.inner.revoke_registration_token(id)).await
    }
    async fn purge_registration_tokens(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_registration_tokens(before, limit))
            .await
    }
}

#[async_trait]
impl<S: Store + 'static> AuditStore for Bounded<S> {
    fn audit(&self, event: AuditEvent) {
        self.inner.audit(event);
    }
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        self.inner.append_audit(events).await
    }
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.run(self.inner.query_audit(query)).await
    }
    fn dropped_audit_events(&self) -> u64 {
        self.inner.dropped_audit_events()
    }
    async fn purge_audit(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_audit(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> UserStore for Bounded<S> {
    async fn create_user(&self, user: &User) -> Result<()> {
        self.run(self.inner.create_user(user)).await
    }
    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        self.run(self.inner.get_user(id)).await
    }
    async fn find_user_by_name(&self, username: &str) -> Result<Option<User>> {
        self.run(self.inner.find_user_by_name(username)).await
    }
    async fn update_user(&self, user: &User) -> Result<()> {
        self.run(self.inner.update_user(user)).await
    }
    async fn delete_user(&self, id: &str, now: i64) -> Result<bool> {
        self.run(self.inner.delete_user(id, now)).await
    }
    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>> {
        self.run(self.inner.list_users(after, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> SessionStore for Bounded<S> {
    async fn insert_session(&self, session: &SessionRecord) -> Result<()> {
        self.run(self.inner.insert_session(session)).await
    }
    async fn find_session(&self, hash: &TokenHash, now: i64) -> Result<Option<SessionRecord>> {
        self.run(self.inner.find_session(hash, now)).await
    }
    async fn delete_session(&self, hash: &TokenHash) -> Result<bool> {
        self.run(self.inner.delete_session(hash)).await
    }
    async fn delete_user_sessions(&self, subject: &str) -> Result<u64> {
        self.run(self.inner.delete_user_sessions(subject)).await
    }
    async fn purge_sessions(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_sessions(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> ConsentStore for Bounded<S> {
    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()> {
        self.run(self.inner.save_consent(consent)).await
    }
    async fn get_consent(&self, subject: &str, client_id: &str) -> Result<Option<ConsentRecord>> {
        self.run(self.inner.get_consent(subject, client_id)).await
    }
    async fn list_consents(&self, subject: &str) -> Result<Vec<ConsentRecord>> {
        self.run(self.inner.list_consents(subject)).await
    }
    async fn revoke_consent(&self, subject: &str, client_id: &str, now: i64) -> Result<bool> {
        self.run(self.inner.revoke_consent(subject, client_id, now))
            .await
    }
}

#[async_trait]
impl<S: Store + 'static> GrantStore for Bounded<S> {
    async fn record_grant(&self, grant: &UserGrantRecord) -> Result<()> {
        self.run(self.inner.record_grant(grant)).await
    }
    async fn list_user_grants(&self, subject: &str) -> Result<Vec<UserGrantRecord>> {
        self.run(self.inner.list_user_grants(subject)).await
    }
    async fn list_user_tokens(&self, subject: &str) -> Result<Vec<TokenRecord>> {
        self.run(self.inner.list_user_tokens(subject)).await
    }
    async fn revoke_user_tokens(
        &self,
        subject: &str,
        client_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        self.run(self.inner.revoke_user_tokens(subject, client_id, now))
            .await
    }
    async fn purge_grants(&self, before: i64, limit: u32) -> Result<u64> {
        self.run(self.inner.purge_grants(before, limit)).await
    }
}

#[async_trait]
impl<S: Store + 'static> GatewayStore for Bounded<S> {
    async fn gateway_generation(&self) -> Result<i64> {
        self.run(self.inner.gateway_generation()).await
    }
    async fn create_service(&self, service: &ServiceRecord) -> Result<()> {
        self.run(self.inner.create_service(service)).await
    }
    async fn update_service(&self, service: &ServiceRecord) -> Result<()> {
        self.run(self.inner.update_service(service)).await
    }
    async fn get_service(&self, name: &str) -> Result<Option<ServiceRecord>> {
        self.run(self.inner.get_service(name)).await
    }
    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        self.run(self.inner.list_services()).await
    }
    async fn delete_service(&self, name: &str) -> Result<bool> {
        self.run(self.inner.delete_service(name)).await
    }
    async fn put_consumer(&self, consumer: &ConsumerRecord) -> Result<()> {
        self.run(self.inner.put_consumer(consumer)).await
    }
    async fn get_consumer(&self, service: &str, client_id: &str) -> Result<Option<ConsumerRecord>> {
        self.run(self.inner.get_consumer(service, client_id)).await
    }
    async fn list_consumers(&self, service: Option<&str>) -> Result<Vec<ConsumerRecord>> {
        self.run(self.inner.list_consumers(service)).await
    }
    async fn delete_consumer(&self, service: &str, client_id: &str) -> Result<bool> {
        self.run(self.inner.delete_consumer(service, client_id))
            .await
    }
    async fn create_auth_server(&self, server: &AuthServerRecord) -> Result<()> {
        self.run(self.inner.create_auth_server(server)).await
    }
    async fn update_auth_server(&self, server: &AuthServerRecord) -> Result<()> {
        self.run(self.inner.update_auth_server(server)).await
    }
    async fn get_auth_server(&self, name: &str) -> Result<Option<AuthServerRecord>> {
        self.run(self.inner.get_auth_server(name)).await
    }
    async fn list_auth_servers(&self) -> Result<Vec<AuthServerRecord>> {
        self.run(self.inner.list_auth_servers()).await
    }
    async fn delete_auth_server(&self, name: &str) -> Result<bool> {
        self.run(self.inner.delete_auth_server(name)).await
    }
}

/// A save that overruns may still have committed (see the module docs): the
/// caller then re-reads the connection, finds the version moved and the
/// tokens it obtained stored, which is the safe side of the race.
#[async_trait]
impl<S: Store + 'static> ConnectionStore for Bounded<S> {
    async fn create_connection(&self, connection: &ConnectionRecord) -> Result<()> {
        self.run(self.inner.create_connection(connection)).await
    }
    async fn update_connection(
        &self,
        name: &str,
        spec: &serde_json::Value,
        secrets_encrypted: Option<&[u8]>,
        proxy_alias: Option<&str>,
        updated_at: i64,
    ) -> Result<()> {
        self.run(self.inner.update_connection(
            name,
            spec,
            secrets_encrypted,
            proxy_alias,
            updated_at,
        ))
        .await
    }
    async fn get_connection(&self, name: &str) -> Result<Option<ConnectionRecord>> {
        self.run(self.inner.get_connection(name)).await
    }
    async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        self.run(self.inner.list_connections()).await
    }
    async fn delete_connection(&self, name: &str) -> Result<bool> {
        self.run(self.inner.delete_connection(name)).await
    }
    async fn save_connection_tokens(
        &self,
        name: &str,
        expected_version: i64,
        tokens: &ConnectionTokens,
        now: i64,
    ) -> Result<Option<i64>> {
        self.run(
            self.inner
                .save_connection_tokens(name, expected_version, tokens, now),
        )
        .await
    }
    async fn reset_connection_tokens(&self, name: &str, now: i64) -> Result<bool> {
        self.run(self.inner.reset_connection_tokens(name, now))
            .await
    }
}

#[async_trait]
impl<S: Store + 'static> ProxyStore for Bounded<S> {
    async fn create_proxy(&self, proxy: &ProxyRecord) -> Result<()> {
        self.run(self.inner.create_proxy(proxy)).await
    }
    async fn update_proxy(&self, proxy: &ProxyRecord) -> Result<()> {
        self.run(self.inner.update_proxy(proxy)).await
    }
    async fn get_proxy(&self, name: &str) -> Result<Option<ProxyRecord>> {
        self.run(self.inner.get_proxy(name)).await
    }
    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>> {
        self.run(self.inner.list_proxies()).await
    }
    async fn delete_proxy(&self, name: &str) -> Result<bool> {
        self.run(self.inner.delete_proxy(name)).await
    }
    async fn proxy_users(&self, name: &str) -> Result<Vec<String>> {
        self.run(self.inner.proxy_users(name)).await
    }
}

#[async_trait]
impl<S: Store + 'static> Store for Bounded<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }
}
