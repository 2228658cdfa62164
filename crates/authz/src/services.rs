//! What every entry point (HTTP, CLI, admin) shares: the store, the master key
//! and the clock, plus the caches that keep the hot paths off the database.
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tollgate_core::{Client, Clock, TokenHash, TokenRecord};
use tollgate_jose::MasterKey;
use tollgate_store::{AuditEvent, Store};

use crate::Error;
use crate::assertion::{RemoteKeys, Trust};
use crate::keys::KeyRing;
use crate::ratelimit::Limits;
use crate::settings::AuthzSettings;
use crate::users::{Authenticator, LocalUsers, LoginLimits};

pub struct Services {
    pub store: Arc<dyn Store>,
    pub master: Arc<MasterKey>,
    pub clock: Arc<dyn Clock>,
    pub settings: AuthzSettings,
    clients: Cache<String, Arc<Client>>,
    tokens: Cache<TokenHash, Arc<TokenRecord>>,
    /// Fingerprints (HMAC of client id and secret) of Argon2-hashed secrets
    /// that verified, so a person-chosen secret costs one Argon2 run per
    /// process, not one per request.
    pub(crate) verified_secrets: Cache<String, ()>,
    /// Failed-authentication throttles and per-client request rates.
    pub limits: Limits,
    /// Checks resource owners' passwords (the local user store by default).
    pub authenticator: Arc<dyn Authenticator>,
    /// Lockout after failed logins.
    pub login_limits: LoginLimits,
    /// The signing keys (and the JWKS) as last loaded from the store.
    pub keys: KeyRing,
    /// Trusted issuers of JWT and SAML bearer assertions.
    pub trust: Trust,
    /// Key sets fetched from `jwks_uri`s.
    pub remote_keys: RemoteKeys,
}

impl Services {
    /// Fails when the assertion trust configuration (`[jwt_bearer]`,
    /// `[saml_bearer]`, `[assertions]`) is invalid or names unreadable files.
    pub fn new(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        clock: Arc<dyn Clock>,
        settings: AuthzSettings,
    ) -> Result<Self, String> {
        let c = &settings.cache;
        let clients = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(c.client_ttl_secs))
            .build();
        let tokens = Cache::builder()
            .max_capacity(c.token_capacity)
            .time_to_live(Duration::from_secs(c.token_ttl_secs))
            .support_invalidation_closures()
            .build();
        let verified_secrets = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(c.client_ttl_secs.max(60)))
            .build();
        let limits = Limits::new(&settings.rate_limit, clock.clone());
        let login_limits = LoginLimits::new(
            &settings.login,
            clock.clone(),
            settings.rate_limit.tracked_keys,
        );
        let authenticator = Arc::new(LocalUsers::new(store.clone()));
        let trust = Trust::load(
            &settings.jwt_bearer,
            &settings.saml_bearer,
            &settings.endpoint("/oauth2/token"),
        )?;
        let remote_keys = RemoteKeys::new(
            &settings.assertions,
            settings.registration.allow_private_jwks_uri,
            false,
        )?;
        Ok(Self {
            store,
            master,
            clock,
            settings,
            clients,
            tokens,
            verified_secrets,
            limits,
            authenticator,
            login_limits,
            keys: KeyRing::default(),
            trust,
            remote_keys,
        })
    }

    /// Replaces the password checker (a directory instead of local users).
    pub fn with_authenticator(mut self, a: Arc<dyn Authenticator>) -> Self {
        self.authenticator = a;
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A client by id, from the cache or the store. Only found clients are cached.
    pub async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Error> {
        if let Some(c) = self.clients.get(id).await {
            return Ok(Some(c));
        }
        match self.store.get_client(id).await? {
            Some(c) => {
                let c = Arc::new(c);
                self.clients.insert(id.to_owned(), c.clone()).await;
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    /// Drops a changed or deleted client, and every cached token of it, from the caches.
    pub async fn forget_client(&self, id: &str) {
        self.clients.invalidate(id).await;
        let id = id.to_owned();
        let _ = self
            .tokens
            .invalidate_entries_if(move |_, t| t.client_id == id);
    }

    pub async fn remember_token(&self, t: TokenRecord) {
        self.tokens.insert(t.hash, Arc::new(t)).await;
    }

    /// A token by hash, from the cache or the store.
    pub async fn token(&self, hash: &TokenHash) -> Result<Option<Arc<TokenRecord>>, Error> {
        if let Some(t) = self.tokens.get(hash).await {
            return Ok(Some(t));
        }
        match self.store.find_token(hash).await? {
            Some(t) => {
                let t = Arc::new(t);
                self.tokens.insert(*hash, t.clone()).await;
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }

    pub async fn forget_token(&self, hash: &TokenHash) {
        self.tokens.invalidate(hash).await;
    }

    pub fn forget_grant(&self, grant_id: &str) {
        let g = grant_id.to_owned();
        let _ = self
            .tokens
            .invalidate_entries_if(move |_, t| t.grant_id == g);
    }

    /// Drops every cached token of a subject (a user disabled, deleted or
    /// whose grants were revoked).
    pub fn forget_subject(&self, subject: &str) {
        let s = subject.to_owned();
        let _ = self
            .tokens
            .invalidate_entries_if(move |_, t| t.subject.as_deref() == Some(s.as_str()));
    }

    pub fn audit(
        &self,
        event: &str,
        client_id: Option<&str>,
        outcome: &str,
        remote_addr: Option<String>,
        detail: serde_json::Value,
    ) {
        self.store.audit(AuditEvent {
            at: self.now(),
            event: event.to_owned(),
            client_id: client_id.map(str::to_owned),
            outcome: outcome.to_owned(),
            remote_addr,
            detail,
        });
    }
}
