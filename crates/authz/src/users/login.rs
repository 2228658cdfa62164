//! Signing a resource owner in: the authenticator behind the login page and
//! the password grant, and the lockout after repeated failures.
//!
//! The authenticator is a trait so a directory (LDAP / Active Directory, the
//! seed's "Simple Active Directory Repository") can take the local store's
//! place without touching the login page or the grants.
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tollgate_core::{Clock, OAuthError, User, Username};
use tollgate_jose::secrets::{argon2_hash, argon2_verify, random_token};
use tollgate_store::Store;

use crate::Error;
use crate::ratelimit::{FailureCounter, address_key};
use crate::services::Services;
use crate::settings::LoginSettings;

/// Checks a username and password; `Ok(None)` for a wrong pair (unknown
/// user or wrong password alike).
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, Error>;
}

/// The local user store, with Argon2id password hashes.
pub struct LocalUsers {
    store: Arc<dyn Store>,
}

impl LocalUsers {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// A valid Argon2id hash of nothing anyone knows, verified when the username
/// does not exist so that the answer takes as long as for a wrong password
/// (no user enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let pick = random_token(32).unwrap_or_else(|_| "tollgate-decoy-password".into());
        argon2_hash(&pick).unwrap_or_default()
    })
}

/// Argon2 off the async runtime's worker threads.
async fn verify_password(password: &str, phc: &str) -> bool {
    let (p, h) = (password.to_owned(), phc.to_owned());
    tokio::task::spawn_blocking(move || argon2_verify(&p, &h))
        .await
        .unwrap_or(false)
}

#[async_trait]
impl Authenticator for LocalUsers {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>, Error> {
        if password.len() > 1024 {
            return Ok(None);
        }
        let user = match Username::try_from(username) {
            Ok(name) => self.store.find_user_by_name(name.as_str()).await?,
            Err(_) => None,
        };
        let hash = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = verify_password(password, &hash).await;
        Ok(user.filter(|_| ok))
    }
}

/// Lockout after failed logins: per username and per source address, in a
/// window opened by the first failure. Checked before the password is
/// looked at, so a guess made while locked learns nothing.
pub struct LoginLimits {
    by_user: FailureCounter<String>,
    by_address: FailureCounter<IpAddr>,
}

impl LoginLimits {
    pub fn new(s: &LoginSettings, clock: Arc<dyn Clock>, capacity: u64) -> Self {
        Self {
            by_user: FailureCounter::new(
                clock.clone(),
                s.max_failures_per_user,
                s.lockout_window_secs,
                capacity,
            ),
            by_address: FailureCounter::new(
                clock,
                s.max_failures_per_address,
                s.lockout_window_secs,
                capacity,
            ),
        }
    }
}

/// Why a login failed, in words the page and the password grant can show.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong username or password (never says which).
    Invalid,
    /// The account is disabled. Only said after the right password.
    Disabled,
    /// Too many failures; seconds until the next attempt.
    Locked(u64),
    /// The store failed.
    Failed(Error),
}

impl LoginError {
    /// The message for a person at the login page.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid => "Wrong username or password.".into(),
            Self::Disabled => "This account is disabled.".into(),
            Self::Locked(secs) => format!(
                "Too many failed sign-in attempts. Try again in {} minute(s).",
                secs.div_ceil(60).max(1)
            ),
            Self::Failed(_) => "Sign-in is unavailable right now; try again shortly.".into(),
        }
    }

    /// The OAuth error for the password grant (RFC 6749 §5.2: a bad
    /// resource-owner credential is `invalid_grant`).
    pub fn into_oauth(self) -> Error {
        match self {
            Self::Invalid => OAuthError::invalid_grant("wrong username or password").into(),
            Self::Disabled => OAuthError::invalid_grant("the user account is disabled").into(),
            Self::Locked(retry_after) => OAuthError::TooManyRequests {
                description: "too many failed logins for this user or address; retry later".into(),
                retry_after,
            }
            .into(),
            Self::Failed(e) => e,
        }
    }
}

/// One login attempt: lockout check, password check, failure counting and
/// the audit record. `via` names the path (`page`, `password_grant`).
pub async fn login(
    svc: &Services,
    username: &str,
    password: &str,
    ip: Option<IpAddr>,
    via: &str,
) -> Result<User, LoginError> {
    let limits = &svc.login_limits;
    let name = username.to_ascii_lowercase();
    let addr = ip.map(address_key);
    let locked = match addr {
        Some(a) => limits.by_address.blocked(&a).await,
        None => None,
    }
    .or(limits.by_user.blocked(name.as_str()).await);
    let audit = |outcome: &str, reason: &str| {
        svc.audit(
            "user.login",
            None,
            outcome,
            ip.map(|i| i.to_string()),
            serde_json::json!({"username": name.chars().take(128).collect::<String>(), "via": via, "reason": reason}),
        );
    };
    if let Some(secs) = locked {
        audit("too_many_requests", "locked out after repeated failures");
        return Err(LoginError::Locked(secs));
    }
    // Argon2 (or a directory bind) waits its turn among the address's
    // checks, so one address cannot occupy every blocking thread. The check
    // runs in its own task that holds the turn to the end, so a caller that
    // hangs up does not free its turn while the check still runs.
    let turn = svc.limits.address.verification_slot(ip).await;
    let (authenticator, who, pw) = (svc.authenticator.clone(), name.clone(), password.to_owned());
    let user = tokio::spawn(async move {
        let _turn = turn;
        authenticator.authenticate(&who, &pw).await
    })
    .await
    .map_err(|e| LoginError::Failed(crate::clients::internal(e)))?
    .map_err(LoginError::Failed)?;
    let Some(user) = user else {
        if limits.by_user.enabled() && Username::try_from(name.as_str()).is_ok() {
            limits.by_user.record(name.as_str()).await;
        }
        if let Some(a) = addr {
            limits.by_address.record(&a).await;
        }
        audit("access_denied", "wrong username or password");
        return Err(LoginError::Invalid);
    };
    if !user.enabled {
        audit("access_denied", "account disabled");
        return Err(LoginError::Disabled);
    }
    audit("ok", "");
    Ok(user)
}
