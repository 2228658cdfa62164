//! Signing keys as the server holds them: generated on first start, rotated
//! on demand (the previous key stays published), reloaded from the store so a
//! rotation made by the CLI or another node reaches every process.
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tollgate_jose::SigningKey;
use tollgate_store::{KeyStatus, SigningKeyRecord};

use crate::Error;
use crate::services::Services;

/// One consistent view: the key that signs and the JWK Set that verifies.
#[derive(Debug, Default)]
pub struct KeySet {
    pub active: Option<Arc<SigningKey>>,
    pub jwks: Value,
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
        let mut active = None;
        let mut keys = Vec::with_capacity(records.len());
        for r in &records {
            keys.push(r.public_jwk.clone());
            if r.status == KeyStatus::Active && active.is_none() {
                match SigningKey::unseal(&r.kid, &r.alg, &r.private_key_encrypted, &svc.master) {
                    Ok(k) => active = Some(Arc::new(k)),
                    Err(e) => {
                        tracing::error!(kid = %r.kid, error = %e, "cannot unseal the active signing key")
                    }
                }
            }
        }
        let set = Arc::new(KeySet {
            active,
            jwks: serde_json::json!({ "keys": keys }),
        });
        match self.0.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}

/// Generates a new ES256 key and makes it the active one; the previous active
/// key is retired but stays in the JWKS. Returns the new key id.
pub async fn rotate_key(svc: &Services) -> Result<String, Error> {
    let key = SigningKey::generate_es256().map_err(key_error)?;
    let record = SigningKeyRecord {
        kid: key.kid().to_owned(),
        alg: key.alg().to_owned(),
        private_key_encrypted: key.seal(&svc.master).map_err(key_error)?,
        public_jwk: key.public_jwk(),
        status: KeyStatus::Active,
        created_at: svc.now(),
        retired_at: None,
    };
    svc.store.insert_key(&record, svc.now()).await?;
    svc.audit(
        "key.rotated",
        None,
        "ok",
        None,
        serde_json::json!({"kid": record.kid}),
    );
    Ok(record.kid)
}

/// Makes sure an active key exists (first start).
pub async fn ensure_key(svc: &Services) -> Result<(), Error> {
    let keys = svc.store.list_keys().await?;
    if !keys.iter().any(|k| k.status == KeyStatus::Active) {
        let kid = rotate_key(svc).await?;
        tracing::info!(%kid, "generated the first ES256 signing key");
    }
    Ok(())
}

fn key_error(e: tollgate_jose::JoseError) -> Error {
    tracing::error!(error = %e, "signing key operation failed");
    Error::OAuth(tollgate_core::OAuthError::ServerError(
        "signing key operation failed".into(),
    ))
}
