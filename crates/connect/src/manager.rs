//! The token manager every user of a connection goes through: a cached
//! token while it is fresh; past the refresh margin exactly one request to
//! the provider per connection in this process, however many callers wait;
//! the answer (with a rotated refresh token) written to the store by
//! compare-and-swap **before** anyone is handed the new access token, so a
//! crash never strands a connection and two processes never both win.
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tollgate_core::Clock;
use tollgate_jose::MasterKey;
use tollgate_store::{ConnectionRecord, ConnectionTokens, Store};

use crate::error::ConnectError;
use crate::provider::{self, Grant, Issued};
use crate::proxies::{ProxyRoute, alias_error};
use crate::spec::{ConnectionSecrets, ConnectionSpec};

/// Attempts per request to the provider when the failure is one a retry
/// can help (unreachable, 5xx, 429), with backoff 250 ms, 500 ms.
const ATTEMPTS: u32 = 3;

/// Status values of a connection's token state.
pub mod status {
    pub const NEW: &str = "new";
    pub const OK: &str = "ok";
    pub const NEEDS_AUTHORIZATION: &str = "needs_authorization";
    pub const ERROR: &str = "error";
}

/// An access token handed to a caller.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub value: String,
    pub token_type: String,
    pub expires_at: i64,
    pub scope: Option<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Sealing contexts: a sealed value only opens on its own connection and
/// field.
fn context(name: &str, field: &str) -> Vec<u8> {
    format!("tollgate/connection/{name}/{field}").into_bytes()
}

/// A token in memory, and until when it is handed out without asking.
#[derive(Clone)]
struct Cached {
    token: AccessToken,
    fresh_until: i64,
}

/// What this process keeps per connection.
#[derive(Default)]
struct Entry {
    /// Held while this process asks the provider for this connection.
    flight: tokio::sync::Mutex<()>,
    cached: Mutex<Option<Cached>>,
    /// Flights that ended, and the error of the last one if it failed: a
    /// caller that waited on a failed flight gets its answer instead of
    /// asking again.
    flights: AtomicU64,
    last_failure: Mutex<Option<(u64, ConnectError)>>,
    /// The HTTP client, built for the configuration last updated at and
    /// the proxy resolved then (an alias may change on its own).
    http: Mutex<Option<(i64, Option<ProxyRoute>, reqwest::Client)>>,
}

impl Entry {
    fn fresh(&self, now: i64) -> Option<AccessToken> {
        let c = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        c.as_ref()
            .filter(|c| c.fresh_until > now)
            .map(|c| c.token.clone())
    }

    fn set(&self, c: Option<Cached>) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = c;
    }

    /// Ends a flight with its outcome.
    fn ended(&self, failure: Option<&ConnectError>) {
        let n = self.flights.fetch_add(1, Ordering::AcqRel) + 1;
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = failure.map(|e| (n, e.replay()));
    }

    /// The failure of the last flight, if flights ended since `seen` and
    /// the last one failed.
    fn failed_since(&self, seen: u64) -> Option<ConnectError> {
        if self.flights.load(Ordering::Acquire) == seen {
            return None;
        }
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(_, e)| e.replay())
    }
}

/// The refresh margin for a token of `lifetime` seconds: the configured
/// one, but never more than half the lifetime (a margin at or above the
/// lifetime would refresh on every call).
fn margin(spec: &ConnectionSpec, lifetime: i64) -> i64 {
    i64::try_from(spec.refresh_margin_secs)
        .unwrap_or(i64::MAX)
        .min(lifetime.max(0) / 2)
}

/// How long a token that could not be refreshed (the provider is down) is
/// handed out before asking again.
const RETRY_AFTER_FAILURE: i64 = 5;

pub struct Connections {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

/// A connection opened: its spec and secrets.
pub struct Opened {
    pub record: ConnectionRecord,
    pub spec: ConnectionSpec,
    pub secrets: ConnectionSecrets,
}

impl Connections {
    pub fn new(store: Arc<dyn Store>, master: Arc<MasterKey>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            master,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    fn entry(&self, name: &str) -> Arc<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets what this process cached of the connection (after it was
    /// changed or deleted).
    pub fn forget(&self, name: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Seals the secrets of `name` for the store.
    pub fn seal_secrets(
        &self,
        name: &str,
        secrets: &ConnectionSecrets,
    ) -> Result<Option<Vec<u8>>, ConnectError> {
        if secrets == &ConnectionSecrets::default() {
            return Ok(None);
        }
        let json = serde_json::to_vec(secrets)
            .map_err(|e| ConnectError::Secrets(format!("encoding: {e}")))?;
        self.master
            .seal(&context(name, "secrets"), &json)
            .map(Some)
            .map_err(|e| ConnectError::Secrets(e.to_string()))
    }

    fn open_value(&self, name: &str, field: &str, sealed: &[u8]) -> Result<String, ConnectError> {
        let plain = self
            .master
            .open(&context(name, field), sealed)
            .map_err(|e| ConnectError::Secrets(format!("{field} of '{name}': {e}")))?;
        String::from_utf8(plain)
            .map_err(|_| ConnectError::Secrets(format!("{field} of '{name}' is not text")))
    }

    fn seal_value(&self, name: &str, field: &str, value: &str) -> Result<Vec<u8>, ConnectError> {
        self.master
            .seal(&context(name, field), value.as_bytes())
            .map_err(|e| ConnectError::Secrets(e.to_string()))
    }

    /// Adds a connection (validated; secrets sealed). `Conflict` from the
    /// store when the name is taken.
    pub async fn create(
        &self,
        name: &str,
        spec: &ConnectionSpec,
        secrets: &ConnectionSecrets,
    ) -> Result<ConnectionRecord, ConnectError> {
        crate::spec::valid_name(name).map_err(ConnectError::Config)?;
        spec.validate(secrets).map_err(ConnectError::Config)?;
        // Fail now, not at the first token request, on a key or a client
        // certificate that cannot be used.
        provider::signing_key(spec, secrets)?;
        let route = self.route(spec, secrets).await?;
        provider::http_client(spec, secrets, route.as_ref())?;
        let now = self.clock.now();
        let record = ConnectionRecord {
            name: name.to_owned(),
            spec: serde_json::to_value(spec)
                .map_err(|e| ConnectError::Config(format!("encoding the spec: {e}")))?,
            secrets_encrypted: self.seal_secrets(name, secrets)?,
            proxy_alias: spec.proxy_alias.clone(),
            tokens: ConnectionTokens {
                status: status::NEW.to_owned(),
                ..ConnectionTokens::default()
            },
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_connection(&record)
            .await
            .map_err(|e| match e {
                tollgate_store::StoreError::Conflict => {
                    ConnectError::Conflict(format!("a connection named '{name}' already exists"))
                }
                e => alias_error(spec, e),
            })?;
        self.forget(name);
        Ok(record)
    }

    /// Replaces the configuration; the store drops the tokens obtained under
    /// the old one in the same write (they may belong to another client,
    /// scope or provider).
    pub async fn update(
        &self,
        name: &str,
        spec: &ConnectionSpec,
        secrets: &ConnectionSecrets,
    ) -> Result<(), ConnectError> {
        spec.validate(secrets).map_err(ConnectError::Config)?;
        provider::signing_key(spec, secrets)?;
        let route = self.route(spec, secrets).await?;
        provider::http_client(spec, secrets, route.as_ref())?;
        let e = self.entry(name);
        let _flight = e.flight.lock().await;
        let now = self.clock.now();
        let json = serde_json::to_value(spec)
            .map_err(|e| ConnectError::Config(format!("encoding the spec: {e}")))?;
        let sealed = self.seal_secrets(name, secrets)?;
        self.store
            .update_connection(
                name,
                &json,
                sealed.as_deref(),
                spec.proxy_alias.as_deref(),
                now,
            )
            .await
            .map_err(|e| match e {
                tollgate_store::StoreError::NotFound => ConnectError::NotFound(name.to_owned()),
                e => alias_error(spec, e),
            })?;
        e.set(None);
        Ok(())
    }

    /// Deletes the connection and what this process cached of it.
    pub async fn delete(&self, name: &str) -> Result<bool, ConnectError> {
        let e = self.entry(name);
        let _flight = e.flight.lock().await;
        let gone = self.store.delete_connection(name).await?;
        drop(_flight);
        self.forget(name);
        Ok(gone)
    }

    /// Every connection, opened (spec and secrets).
    pub async fn list(&self) -> Result<Vec<Opened>, ConnectError> {
        self.store
            .list_connections()
            .await?
            .into_iter()
            .map(|r| self.opened(r))
            .collect()
    }

    /// Reads a connection and opens its spec and secrets.
    pub async fn open(&self, name: &str) -> Result<Opened, ConnectError> {
        let record = self
            .store
            .get_connection(name)
            .await?
            .ok_or_else(|| ConnectError::NotFound(name.to_owned()))?;
        self.opened(record)
    }

    fn opened(&self, record: ConnectionRecord) -> Result<Opened, ConnectError> {
        let spec: ConnectionSpec = serde_json::from_value(record.spec.clone()).map_err(|e| {
            ConnectError::Config(format!("the stored spec of '{}': {e}", record.name))
        })?;
        let secrets = match &record.secrets_encrypted {
            None => ConnectionSecrets::default(),
            Some(sealed) => {
                let json = self.open_value(&record.name, "secrets", sealed)?;
                serde_json::from_str(&json).map_err(|e| {
                    ConnectError::Secrets(format!("the secrets of '{}': {e}", record.name))
                })?
            }
        };
        Ok(Opened {
            record,
            spec,
            secrets,
        })
    }

    /// The stored access token of `o` if it is fresh beyond its margin.
    fn stored_fresh(&self, o: &Opened, now: i64) -> Result<Option<Cached>, ConnectError> {
        let t = &o.record.tokens;
        let (Some(sealed), Some(exp)) = (&t.access_token_encrypted, t.expires_at) else {
            return Ok(None);
        };
        let lifetime = t.obtained_at.map_or(
            i64::try_from(o.spec.default_lifetime_secs).unwrap_or(i64::MAX),
            |at| exp - at,
        );
        let fresh_until = exp - margin(&o.spec, lifetime);
        if fresh_until <= now {
            return Ok(None);
        }
        Ok(Some(Cached {
            token: self.stored_token(o, sealed, exp)?,
            fresh_until,
        }))
    }

    fn stored_token(
        &self,
        o: &Opened,
        sealed: &[u8],
        exp: i64,
    ) -> Result<AccessToken, ConnectError> {
        let t = &o.record.tokens;
        Ok(AccessToken {
            value: self.open_value(&o.record.name, "access_token", sealed)?,
            token_type: t.token_type.clone().unwrap_or_else(|| "Bearer".into()),
            expires_at: exp,
            scope: t.scope.clone(),
        })
    }

    /// A valid access token of `name`, refreshed (or newly obtained) first
    /// when it is within the refresh margin of its expiry. Callers that
    /// wait while another asks the provider get that answer, success or
    /// failure.
    pub async fn token(&self, name: &str) -> Result<AccessToken, ConnectError> {
        let e = self.entry(name);
        if let Some(t) = e.fresh(self.clock.now()) {
            return Ok(t);
        }
        let seen = e.flights.load(Ordering::Acquire);
        let _flight = e.flight.lock().await;
        if let Some(t) = e.fresh(self.clock.now()) {
            return Ok(t);
        }
        if let Some(err) = e.failed_since(seen) {
            return Err(err);
        }
        let o = match self.open(name).await {
            Err(ConnectError::NotFound(n)) => {
                drop(_flight);
                self.forget(name);
                return Err(ConnectError::NotFound(n));
            }
            other => other?,
        };
        // Another process may have refreshed.
        if let Some(c) = self.stored_fresh(&o, self.clock.now())? {
            e.set(Some(c.clone()));
            return Ok(c.token);
        }
        let out = self.obtain(&e, o, false).await;
        e.ended(out.as_ref().err());
        out
    }

    /// A new access token now, whatever the cached one's age (`connection
    /// token --refresh`, `connection test`).
    pub async fn refresh(&self, name: &str) -> Result<AccessToken, ConnectError> {
        let e = self.entry(name);
        let _flight = e.flight.lock().await;
        let o = self.open(name).await?;
        let out = self.obtain(&e, o, true).await;
        e.ended(out.as_ref().err());
        out
    }

    /// Asks the provider (refresh token first, else the flow's own grant),
    /// persists, then hands out. Runs under the connection's flight lock.
    /// Unless `forced` (the caller asked for a new token), a failure hands
    /// out the current token while it has not expired.
    async fn obtain(
        &self,
        e: &Entry,
        o: Opened,
        forced: bool,
    ) -> Result<AccessToken, ConnectError> {
        let name = o.record.name.clone();
        let unattended = o.spec.flow.is_unattended();
        let refresh = o
            .record
            .tokens
            .refresh_token_encrypted
            .as_deref()
            .map(|s| self.open_value(&name, "refresh_token", s))
            .transpose()?;
        // Which refresh token the answer leaves us (when the provider sends
        // no new one): the one it was asked with, or none after a new grant.
        let (answer, kept) = match &refresh {
            Some(rt) => match self.call(e, &o, &Grant::Refresh(rt)).await {
                Err(err) if err.is_dead_grant() && unattended => {
                    tracing::info!(connection = %name, "the refresh token was refused; asking for a new grant");
                    (self.call(e, &o, &Grant::Unattended).await, None)
                }
                other => (other, refresh.clone()),
            },
            None => (self.call(e, &o, &Grant::Unattended).await, None),
        };
        let err = match answer {
            Ok(issued) => return self.store_issued(e, &o, issued, kept).await,
            Err(err) => err,
        };
        // A refresh token the provider refused is of no more use; a person
        // must authorize again.
        let dead = !unattended
            && (err.is_dead_grant() || matches!(err, ConnectError::NeedsAuthorization(_)));
        self.record_failure(&o, &err, dead).await;
        // The current token, while it has not expired, still works.
        let t = &o.record.tokens;
        let now = self.clock.now();
        if let (false, Some(sealed), Some(exp)) = (forced, &t.access_token_encrypted, t.expires_at)
            && exp > now
        {
            tracing::warn!(connection = %name, error = %err, "getting a new token failed; the current one is used until it expires");
            let token = self.stored_token(&o, sealed, exp)?;
            e.set(Some(Cached {
                token: token.clone(),
                fresh_until: exp.min(now + RETRY_AFTER_FAILURE),
            }));
            return Ok(token);
        }
        e.set(None);
        if err.is_dead_grant() && !unattended {
            return Err(ConnectError::NeedsAuthorization(format!(
                "the provider refused the refresh token ({err}); run tollgate connection authorize {name}"
            )));
        }
        Err(err)
    }

    /// Writes the failure into the connection's state: `needs_authorization`
    /// with the refresh token dropped when `dead`, else `error`. The access
    /// token stays while it is valid.
    async fn record_failure(&self, o: &Opened, err: &ConnectError, dead: bool) {
        let mut tokens = o.record.tokens.clone();
        tokens.status = if dead {
            status::NEEDS_AUTHORIZATION
        } else {
            status::ERROR
        }
        .to_owned();
        tokens.last_error = Some(err.to_string());
        if dead {
            tokens.refresh_token_encrypted = None;
        }
        // Recording the failure may lose a race with a process that
        // succeeded: then its state is the better one.
        if let Err(store_err) = self
            .store
            .save_connection_tokens(
                &o.record.name,
                o.record.tokens.version,
                &tokens,
                self.clock.now(),
            )
            .await
        {
            tracing::warn!(connection = %o.record.name, error = %store_err, "recording the connection's failure failed");
        }
    }

    /// The connection's HTTP client, built once per configuration and
    /// proxy. The proxy alias is read on every request to the provider
    /// (rare: once per token), so a changed alias gets a new client at once
    /// and a client is never kept for a proxy that is gone.
    async fn http(&self, e: &Entry, o: &Opened) -> Result<reqwest::Client, ConnectError> {
        let route = self.route(&o.spec, &o.secrets).await?;
        let mut slot = e.http.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, built_for, client)) = slot.as_ref()
            && *at == o.record.updated_at
            && *built_for == route
        {
            return Ok(client.clone());
        }
        let client = provider::http_client(&o.spec, &o.secrets, route.as_ref())?;
        *slot = Some((o.record.updated_at, route, client.clone()));
        Ok(client)
    }

    /// One token request. It is sent again (with backoff) only when that
    /// cannot spend a one-time value twice (see `ConnectError::may_resend`).
    async fn call(&self, e: &Entry, o: &Opened, grant: &Grant<'_>) -> Result<Issued, ConnectError> {
        let http = self.http(e, o).await?;
        let key = provider::signing_key(&o.spec, &o.secrets)?;
        let spends = !matches!(grant, Grant::Unattended);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A fresh assertion (new jti, iat) for every attempt.
            let req = provider::token_request(
                &o.spec,
                &o.secrets,
                key.as_ref(),
                grant,
                self.clock.now(),
            )?;
            match provider::request_token(&http, &o.spec, &req.form, req.authorization.as_deref())
                .await
            {
                Err(err) if err.may_resend(spends) && attempt < ATTEMPTS => {
                    let wait = Duration::from_millis(250 << (attempt - 1));
                    tracing::warn!(connection = %o.record.name, attempt, error = %err, "token request failed; trying again");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// Persists an answer by compare-and-swap on the version read before
    /// the request, then caches and returns it. `kept`: the refresh token
    /// to keep when the answer has none (RFC 6749 §6).
    async fn store_issued(
        &self,
        e: &Entry,
        o: &Opened,
        issued: Issued,
        kept: Option<String>,
    ) -> Result<AccessToken, ConnectError> {
        let name = &o.record.name;
        let now = self.clock.now();
        let lifetime = i64::try_from(issued.expires_in.unwrap_or(o.spec.default_lifetime_secs))
            .unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(lifetime);
        let refresh = issued.refresh_token.clone().or(kept);
        let mut tokens = ConnectionTokens {
            access_token_encrypted: Some(self.seal_value(
                name,
                "access_token",
                &issued.access_token,
            )?),
            refresh_token_encrypted: refresh
                .as_deref()
                .map(|r| self.seal_value(name, "refresh_token", r))
                .transpose()?,
            token_type: Some(issued.token_type.clone()),
            scope: issued.scope.clone(),
            expires_at: Some(expires_at),
            obtained_at: Some(now),
            status: status::OK.to_owned(),
            last_error: None,
            version: o.record.tokens.version,
        };
        let token = AccessToken {
            value: issued.access_token,
            token_type: issued.token_type,
            expires_at,
            scope: issued.scope,
        };
        let cached = Cached {
            token: token.clone(),
            fresh_until: expires_at - margin(&o.spec, lifetime),
        };
        // Our answer is the newest unless another process stored a good
        // one meanwhile; a failure it recorded, or nothing, loses to ours.
        for _ in 0..3 {
            if self
                .store
                .save_connection_tokens(name, tokens.version, &tokens, now)
                .await?
                .is_some()
            {
                e.set(Some(cached));
                return Ok(token);
            }
            let again = self.open(name).await?;
            let t = &again.record.tokens;
            if again.record.updated_at != o.record.updated_at || t.status == status::NEW {
                return Err(ConnectError::Conflict(format!(
                    "connection '{name}' was changed while a token was being obtained; ask again"
                )));
            }
            if t.status == status::OK
                && let Some(c) = self.stored_fresh(&again, self.clock.now())?
            {
                e.set(Some(c.clone()));
                return Ok(c.token);
            }
            tokens.version = t.version;
        }
        Err(ConnectError::Conflict(format!(
            "connection '{name}' keeps changing while a token is being stored; ask again"
        )))
    }

    /// Stores the answer to an authorization code (the code flow's end).
    pub async fn complete_authorization(
        &self,
        name: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<AccessToken, ConnectError> {
        let e = self.entry(name);
        let _flight = e.flight.lock().await;
        let o = self.open(name).await?;
        let out = match self
            .call(
                &e,
                &o,
                &Grant::Code {
                    code,
                    verifier,
                    redirect_uri,
                },
            )
            .await
        {
            Ok(issued) => self.store_issued(&e, &o, issued, None).await,
            Err(err) => Err(err),
        };
        e.ended(out.as_ref().err());
        out
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections").finish_non_exhaustive()
    }
}

/// What `connection show` and the admin API show of a connection: the
/// configuration, which secrets are set (never their values) and the state
/// of its token (never the token).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionView {
    pub name: String,
    pub spec: ConnectionSpec,
    /// Names of the secrets that are set (`client_secret`, `signing_key`,
    /// `client_key`, `proxy_password`).
    pub secrets: Vec<&'static str>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obtained_at: Option<i64>,
    pub has_refresh_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Opened> for ConnectionView {
    fn from(o: &Opened) -> Self {
        let s = &o.secrets;
        let secrets = [
            ("client_secret", s.client_secret.is_some()),
            ("signing_key", s.signing_key_pem.is_some()),
            ("client_key", s.client_key_pem.is_some()),
            ("proxy_password", s.proxy_password.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect();
        let t = &o.record.tokens;
        Self {
            name: o.record.name.clone(),
            spec: o.spec.clone(),
            secrets,
            status: t.status.clone(),
            token_type: t.token_type.clone(),
            scope: t.scope.clone(),
            expires_at: t.expires_at,
            obtained_at: t.obtained_at,
            has_refresh_token: t.refresh_token_encrypted.is_some(),
            last_error: t.last_error.clone(),
            created_at: o.record.created_at,
            updated_at: o.record.updated_at,
        }
    }
}
