//! Signing keys as the server holds them: generated on first start, rotated
//! on demand or on a schedule, reloaded from the store so a rotation made by
//! the CLI or another node reaches every process.
//!
//! A scheduled rotation publishes first and signs later: the new key enters
//! the JWKS as `next` [`KeySettings::publish_ahead_secs`] before it is
//! promoted to `active`, so a resource server that caches the JWKS already
//! knows it when the first token it signs arrives. The retired key stays
//! published for [`KeySettings::keep_retired_secs`], so tokens signed before a
//! rotation keep verifying until they expire.
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_jose::{Alg, JwkSet, PublicKey, SigningKey};
use tollgate_store::{KeyStatus, SigningKeyRecord, StoreError};

use crate::Error;
use crate::services::Services;

/// The `[keys]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Algorithm of newly generated keys: ES256, EdDSA, RS256 or PS256.
    pub algorithm: Alg,
    /// A new key is made every this many days (0: only `tollgate keys
    /// rotate` rotates).
    pub rotate_after_days: u32,
    /// How long a scheduled key is published before it signs.
    pub publish_ahead_secs: u64,
    /// How long a retired key stays in the JWKS. Keep it above the longest
    /// access-token lifetime: a JWT whose key left the JWKS no longer
    /// verifies anywhere (introspection included).
    pub keep_retired_secs: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            algorithm: Alg::ES256,
            rotate_after_days: 30,
            publish_ahead_secs: 86_400,
            keep_retired_secs: 7 * 86_400,
        }
    }
}

impl KeySettings {
    pub fn validate(&self) -> Result<(), String> {
        if !Alg::SIGNING.contains(&self.algorithm) {
            return Err(format!(
                "algorithm must be one of {}",
                Alg::SIGNING.map(Alg::as_str).join(", ")
            ));
        }
        let rotate_secs = u64::from(self.rotate_after_days) * 86_400;
        if rotate_secs > 0 && self.publish_ahead_secs >= rotate_secs {
            return Err("publish_ahead_secs must be shorter than rotate_after_days".into());
        }
        Ok(())
    }
}

/// One consistent view: the key that signs, the JWK Set that is published,
/// and the same set parsed, to verify our own JWT access tokens.
#[derive(Debug, Default)]
pub struct KeySet {
    pub active: Option<Arc<SigningKey>>,
    pub jwks: Value,
    pub verify: Option<JwkSet>,
}

#[derive(Debug, Default)]
pub struct KeyRing(RwLock<Arc<KeySet>>);

impl KeyRing {
    pub fn current(&self) -> Arc<KeySet> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the view from the store.
    pub async fn reload(&self, svc: &Services) -> Result<(), Error> {
        let records = svc.store.list_keys().await?;
        let now = svc.now();
        let keep = i64::try_from(svc.settings.keys.keep_retired_secs).unwrap_or(i64::MAX);
        let mut active = None;
        let mut published = Vec::with_capacity(records.len());
        for r in &records {
            let shown = match r.status {
                KeyStatus::Next | KeyStatus::Active => true,
                KeyStatus::Retired => r.retired_at.is_none_or(|t| now < t.saturating_add(keep)),
            };
            if shown {
                published.push(r.public_jwk.clone());
            }
            if r.status == KeyStatus::Active && active.is_none() {
                match SigningKey::unseal(&r.kid, &r.alg, &r.private_key_encrypted, &svc.master) {
                    Ok(k) => active = Some(Arc::new(k)),
                    Err(e) => {
                        tracing::error!(kid = %r.kid, error = %e, "cannot unseal the active signing key")
                    }
                }
            }
        }
        let verify = published
            .iter()
            .filter_map(|jwk| match PublicKey::from_jwk(jwk) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::error!(error = %e, "a stored public key does not parse");
                    None
                }
            })
            .collect::<Vec<_>>();
        let set = Arc::new(KeySet {
            active,
            jwks: serde_json::json!({ "keys": published }),
            verify: (!verify.is_empty()).then(|| JwkSet::from_keys(verify)),
        });
        match self.0.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}

/// Generates a key. `Active` makes it sign at once (the previous active key
/// is retired but stays in the JWKS); `Next` only publishes it, for
/// [`maintain`] to promote later. Returns the new key id.
pub async fn rotate_key(svc: &Services, alg: Alg, status: KeyStatus) -> Result<String, Error> {
    match insert_new_key(svc, alg, status).await? {
        Ok(kid) => Ok(kid),
        Err(StoreError::Conflict) if status == KeyStatus::Next => Err(Error::Conflict(
            "a staged key already waits to sign; it signs after keys.publish_ahead_secs".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Generates and stores a key; the store's answer is kept apart so a
/// caller can tell a lost race (`Conflict`) from a failure.
async fn insert_new_key(
    svc: &Services,
    alg: Alg,
    status: KeyStatus,
) -> Result<Result<String, StoreError>, Error> {
    let key = SigningKey::generate(alg).map_err(key_error)?;
    let record = SigningKeyRecord {
        kid: key.kid().to_owned(),
        alg: key.alg().to_owned(),
        private_key_encrypted: key.seal(&svc.master).map_err(key_error)?,
        public_jwk: key.public_jwk(),
        status,
        created_at: svc.now(),
        retired_at: None,
    };
    if let Err(e) = svc.store.insert_key(&record, svc.now()).await {
        return Ok(Err(e));
    }
    let event = match status {
        KeyStatus::Next => "key.published",
        _ => "key.rotated",
    };
    svc.audit(
        event,
        None,
        "ok",
        None,
        serde_json::json!({"kid": record.kid, "alg": record.alg}),
    );
    Ok(Ok(record.kid))
}

/// Makes sure an active key exists (first start).
pub async fn ensure_key(svc: &Services) -> Result<(), Error> {
    let keys = svc.store.list_keys().await?;
    if !keys.iter().any(|k| k.status == KeyStatus::Active) {
        let alg = svc.settings.keys.algorithm;
        let kid = rotate_key(svc, alg, KeyStatus::Active).await?;
        tracing::info!(%kid, %alg, "generated the first signing key");
    }
    Ok(())
}

/// One step of the rotation schedule: promotes the next key once it has
/// been published long enough, or publishes a next key once the active one
/// is due. Safe to run on every node at once: the store lets one node win
/// each step. Returns whether anything changed.
pub async fn maintain(svc: &Services) -> Result<bool, Error> {
    let s = &svc.settings.keys;
    let now = svc.now();
    let ahead = i64::try_from(s.publish_ahead_secs).unwrap_or(i64::MAX);
    let keys = svc.store.list_keys().await?;
    if let Some(next) = keys.iter().find(|k| k.status == KeyStatus::Next) {
        if now >= next.created_at.saturating_add(ahead)
            && svc.store.promote_key(&next.kid, now).await?
        {
            tracing::info!(kid = %next.kid, "the next signing key now signs");
            svc.audit(
                "key.rotated",
                None,
                "ok",
                None,
                serde_json::json!({"kid": next.kid, "alg": next.alg, "scheduled": true}),
            );
            return Ok(true);
        }
        return Ok(false);
    }
    if s.rotate_after_days == 0 {
        return Ok(false);
    }
    let every = i64::from(s.rotate_after_days).saturating_mul(86_400);
    let Some(active) = keys.iter().find(|k| k.status == KeyStatus::Active) else {
        return Ok(false);
    };
    // When the active key began to sign: its promotion retired the key
    // before it, so the latest retirement (a staged key was created
    // `publish_ahead` before it signed, so its `created_at` is too early).
    let signing_since = keys
        .iter()
        .filter_map(|k| k.retired_at)
        .max()
        .map_or(active.created_at, |t| t.max(active.created_at));
    if now < signing_since.saturating_add(every).saturating_sub(ahead) {
        return Ok(false);
    }
    match insert_new_key(svc, s.algorithm, KeyStatus::Next).await? {
        Ok(kid) => {
            tracing::info!(%kid, "published the next signing key");
            Ok(true)
        }
        // Another node published one first.
        Err(StoreError::Conflict) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn key_error(e: tollgate_jose::JoseError) -> Error {
    tracing::error!(error = %e, "signing key operation failed");
    Error::OAuth(tollgate_core::OAuthError::ServerError(
        "signing key operation failed".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tollgate_core::ManualClock;
    use tollgate_jose::MasterKey;
    use tollgate_store::StoreOptions;

    use super::*;
    use crate::AuthzSettings;

    const T0: i64 = 1_800_000_000;

    async fn services(name: &str, clock: ManualClock, keys: KeySettings) -> (Services, String) {
        let dir = std::env::temp_dir().join(format!("tollgate-keys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/store.db", dir.display());
        let store = tollgate_store::open(&StoreOptions::new(url)).await.unwrap();
        let mut settings = AuthzSettings::new("https://as.example");
        settings.keys = keys;
        let svc = Services::new(
            store,
            Arc::new(MasterKey::from_bytes(&[7; 32]).unwrap()),
            Arc::new(clock),
            settings,
        )
        .unwrap();
        (svc, dir.display().to_string())
    }

    fn kids(set: &KeySet) -> Vec<String> {
        set.jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The schedule publishes a key a day ahead, promotes it when due,
    /// keeps the retired key published for its window, then drops it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scheduled_rotation_publishes_before_it_signs() {
        let clock = ManualClock::new(T0);
        let settings = KeySettings {
            algorithm: Alg::EdDSA,
            rotate_after_days: 10,
            publish_ahead_secs: 86_400,
            keep_retired_secs: 2 * 86_400,
        };
        let (svc, dir) = services("schedule", clock.clone(), settings).await;
        ensure_key(&svc).await.unwrap();
        svc.keys.reload(&svc).await.unwrap();
        let first = svc.keys.current().active.clone().unwrap();
        assert_eq!(first.alg(), "EdDSA");
        assert!(!maintain(&svc).await.unwrap(), "nothing is due yet");

        // Nine days on, the next key is published but does not sign.
        clock.advance(9 * 86_400);
        assert!(maintain(&svc).await.unwrap());
        assert!(!maintain(&svc).await.unwrap(), "one next key at a time");
        svc.keys.reload(&svc).await.unwrap();
        let set = svc.keys.current();
        assert_eq!(set.active.as_ref().unwrap().kid(), first.kid());
        let published = kids(&set);
        assert_eq!(published.len(), 2, "the next key is in the JWKS");
        let next = published
            .iter()
            .find(|k| *k != first.kid())
            .unwrap()
            .clone();
        assert_eq!(set.verify.as_ref().unwrap().keys().len(), 2);

        // A day later it signs; the old key stays published.
        clock.advance(86_400 - 1);
        assert!(!maintain(&svc).await.unwrap(), "not a second early");
        clock.advance(1);
        assert!(maintain(&svc).await.unwrap());
        svc.keys.reload(&svc).await.unwrap();
        let set = svc.keys.current();
        assert_eq!(set.active.as_ref().unwrap().kid(), next);
        assert!(kids(&set).contains(&first.kid().to_owned()));

        // Past keep_retired_secs the retired key leaves the JWKS.
        clock.advance(2 * 86_400);
        svc.keys.reload(&svc).await.unwrap();
        assert_eq!(kids(&svc.keys.current()), vec![next.clone()]);

        // The next cycle counts from when the key began to sign (day 10),
        // not from when it was published (day 9): the following key is
        // published on day 19.
        clock.set(T0 + 19 * 86_400 - 1);
        assert!(
            !maintain(&svc).await.unwrap(),
            "a day early would be day 18"
        );
        clock.advance(1);
        assert!(maintain(&svc).await.unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn settings_are_checked() {
        let mut s = KeySettings::default();
        assert!(s.validate().is_ok());
        s.algorithm = Alg::HS256;
        assert!(s.validate().is_err());
        s = KeySettings {
            rotate_after_days: 1,
            publish_ahead_secs: 86_400,
            ..KeySettings::default()
        };
        assert!(s.validate().is_err());
    }
}
