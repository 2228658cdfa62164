//! The gateway's configuration in memory: services by alias, consumers by
//! (service, client), third-party servers by name. One immutable snapshot,
//! swapped whole when the store's generation moves, so a request sees one
//! consistent configuration and takes no lock while it runs.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tollgate_jose::MasterKey;
use tollgate_store::{ConsumerStatus, Store};

use crate::spec::{AuthServerSpec, ConsumerSettings, Limits, ServiceSpec};

/// The master-key context of a third-party server's client secret.
pub const SECRET_CONTEXT: &[u8] = b"tollgate/gateway/auth-server-secret";

pub struct Service {
    pub name: Arc<str>,
    pub alias: String,
    pub spec: ServiceSpec,
    /// `spec.required_scopes(name)`, computed once.
    pub required: Vec<String>,
    /// The upstream path without its trailing slash ("" for the root).
    pub upstream_base: String,
    /// `scheme://authority` of the upstream.
    pub upstream_origin: String,
}

pub struct Consumer {
    pub application: String,
    pub status: ConsumerStatus,
    pub settings: ConsumerSettings,
}

pub struct AuthServer {
    pub name: Arc<str>,
    pub spec: AuthServerSpec,
    pub secret: Option<String>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Snapshot {
    pub generation: i64,
    by_alias: HashMap<String, Arc<Service>>,
    /// Lower-cased aliases of the services that match ignoring case.
    by_folded_alias: HashMap<String, Arc<Service>>,
    consumers: HashMap<(Arc<str>, String), Arc<Consumer>>,
    pub auth_servers: HashMap<String, Arc<AuthServer>>,
}

impl Snapshot {
    pub fn service(&self, alias: &str) -> Option<&Arc<Service>> {
        self.by_alias
            .get(alias)
            .or_else(|| self.by_folded_alias.get(&alias.to_ascii_lowercase()))
    }

    pub fn consumer(&self, service: &Arc<str>, client_id: &str) -> Option<&Arc<Consumer>> {
        self.consumers.get(&(service.clone(), client_id.to_owned()))
    }

    pub fn service_count(&self) -> usize {
        self.by_alias.len()
    }
}

impl Consumer {
    /// The consumer's token lifetime, or the service's.
    pub fn token_lifetime(&self, service: &ServiceSpec) -> Option<u64> {
        self.settings
            .token_lifetime_secs
            .or(service.token_lifetime_secs)
    }
    pub fn limits<'a>(&'a self, service: &'a ServiceSpec) -> &'a Limits {
        self.settings.limits.as_ref().unwrap_or(&service.limits)
    }
}

/// Reads everything from the store. A record that no longer parses (a
/// newer version wrote it, or someone edited the database) is skipped with
/// a warning rather than taking the whole gateway down.
pub async fn load(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<Snapshot, tollgate_store::StoreError> {
    let generation = store.gateway_generation().await?;
    let mut snap = Snapshot {
        generation,
        ..Snapshot::default()
    };
    for rec in store.list_services().await? {
        let mut spec: ServiceSpec = match serde_json::from_value(rec.spec) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(service = %rec.name, error = %e, "skipping a service whose stored policy does not parse");
                continue;
            }
        };
        if let Err(e) = spec.validate() {
            tracing::warn!(service = %rec.name, error = %e, "skipping an invalid service");
            continue;
        }
        let service = Arc::new(build_service(&rec.name, &rec.alias, spec));
        if service.spec.case_insensitive {
            snap.by_folded_alias
                .insert(rec.alias.to_ascii_lowercase(), service.clone());
        }
        snap.by_alias.insert(rec.alias, service);
    }
    let names: HashMap<String, Arc<str>> = snap
        .by_alias
        .values()
        .map(|s| (s.name.to_string(), s.name.clone()))
        .collect();
    for rec in store.list_consumers(None).await? {
        let Some(service) = names.get(&rec.service) else {
            continue;
        };
        let settings: ConsumerSettings = serde_json::from_value(rec.settings).unwrap_or_else(|e| {
            tracing::warn!(service = %rec.service, client = %rec.client_id, error = %e, "a consumer's stored settings do not parse; using the service's");
            ConsumerSettings::default()
        });
        snap.consumers.insert(
            (service.clone(), rec.client_id),
            Arc::new(Consumer {
                application: rec.application,
                status: rec.status,
                settings,
            }),
        );
    }
    for rec in store.list_auth_servers().await? {
        let spec: AuthServerSpec = match serde_json::from_value(rec.spec) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(server = %rec.name, error = %e, "skipping an authorization server whose stored settings do not parse");
                continue;
            }
        };
        let secret = match &rec.secret_encrypted {
            None => None,
            Some(sealed) => match master
                .open(SECRET_CONTEXT, sealed)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(s) => Some(s),
                None => {
                    tracing::warn!(server = %rec.name, "the client secret does not decrypt under this master key; skipping the server");
                    continue;
                }
            },
        };
        snap.auth_servers.insert(
            rec.name.clone(),
            Arc::new(AuthServer {
                name: Arc::from(rec.name.as_str()),
                spec,
                secret,
            }),
        );
    }
    Ok(snap)
}

pub fn build_service(name: &str, alias: &str, spec: ServiceSpec) -> Service {
    let u = &spec.upstream;
    let upstream_origin = format!(
        "{}://{}",
        u.scheme(),
        &u[url::Position::BeforeHost..url::Position::AfterPort]
    );
    let upstream_base = u.path().trim_end_matches('/').to_owned();
    Service {
        name: Arc::from(name),
        alias: alias.to_owned(),
        required: spec.required_scopes(name),
        spec,
        upstream_base,
        upstream_origin,
    }
}

/// The current snapshot behind a lock held only to clone an `Arc`.
#[derive(Default)]
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
}

impl Registry {
    pub fn get(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    pub fn set(&self, snap: Snapshot) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(snap);
    }
}
