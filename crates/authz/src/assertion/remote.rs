//! Fetching a `jwks_uri` (a client's, RFC 7591 §2, or a trusted issuer's):
//! https only, with a timeout and a size limit, cached, fetched again at
//! once when a token names a `kid` the cached set lacks (a key rotation at
//! the other end) but never more often than `jwks_min_refetch_secs` per URL,
//! so unknown kids cannot make us hammer someone's server.
//!
//! Addresses are checked after resolution: a name that resolves to a
//! loopback, private or link-local address is refused unless
//! `registration.allow_private_jwks_uri` is set (a DNS answer can change
//! after registration checked the name).
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tollgate_jose::JwkSet;

use super::AssertionSettings;
use crate::registration::is_internal_ip;

#[derive(Clone)]
struct Fetched {
    set: Arc<JwkSet>,
    at: Instant,
}

pub struct RemoteKeys {
    http: reqwest::Client,
    cache: Cache<String, Fetched>,
    /// Clients' registered `jwks`, parsed once (keyed by the hash of the
    /// set's JSON, so a changed set is parsed afresh) instead of per request.
    parsed: Cache<tollgate_core::TokenHash, Arc<JwkSet>>,
    max_bytes: usize,
    min_refetch: Duration,
    allow_private: bool,
    allow_loopback_http: bool,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys").finish_non_exhaustive()
    }
}

/// Resolves names and drops internal addresses (unless allowed).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_internal_ip(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    format!("{host} resolves to no address this server may fetch from").into(),
                );
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for third-party servers: the system's CA certificates plus
/// `ca_file` (`assertions.jwks_ca_file`). A machine without system CA
/// certificates (a minimal container, no `ca-certificates` package) still starts:
/// the client then trusts `ca_file` alone, and says so once in the log, instead
/// of the whole server refusing to start over a fetch it may never make.
pub fn https_client(
    make: impl Fn() -> reqwest::ClientBuilder,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, String> {
    let extra = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("assertions.jwks_ca_file {}: {e}", path.display()))?;
            reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("assertions.jwks_ca_file: {e}"))?
        }
        None => Vec::new(),
    };
    match make().tls_certs_merge(extra.clone()).build() {
        Ok(client) => Ok(client),
        Err(e) => {
            tracing::warn!(
                error = %tollgate_core::error_chain(&e),
                "the system's CA certificates could not be loaded (install ca-certificates); \
                 https to third-party servers trusts only assertions.jwks_ca_file"
            );
            make()
                .tls_certs_only(extra)
                .build()
                .map_err(|e| format!("HTTP client: {}", tollgate_core::error_chain(&e)))
        }
    }
}

impl RemoteKeys {
    /// `allow_private` admits internal addresses; `allow_loopback_http` also admits
    /// plain `http://` to a loopback host (the gateway's operator-configured servers,
    /// like connections: a local test or sidecar issuer), never elsewhere.
    pub fn new(
        s: &AssertionSettings,
        allow_private: bool,
        allow_loopback_http: bool,
    ) -> Result<Self, String> {
        let make = || {
            reqwest::Client::builder()
                .timeout(Duration::from_millis(s.jwks_timeout_ms))
                .connect_timeout(Duration::from_millis(s.jwks_timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                .https_only(!allow_loopback_http)
                // A proxy from the environment would resolve names itself,
                // around the resolver that keeps fetches off internal addresses.
                .no_proxy()
                .user_agent("tollgate")
                .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        };
        let http = https_client(make, s.jwks_ca_file.as_deref())?;
        Ok(Self {
            http,
            cache: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(s.jwks_cache_secs.max(1)))
                .build(),
            parsed: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            max_bytes: s.jwks_max_bytes,
            min_refetch: Duration::from_secs(s.jwks_min_refetch_secs),
            allow_private,
            allow_loopback_http,
        })
    }

    /// The key set at `url`, from the cache or fetched (one fetch per URL
    /// at a time however many callers wait). With `want_kid`, a cached set
    /// that lacks it is fetched again if it is older than the refetch floor.
    pub async fn get(&self, url: &str, want_kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        if let Some(f) = self.cache.get(url).await {
            let stale_for_kid = want_kid.is_some_and(|k| !f.set.has_kid(k));
            if !stale_for_kid || f.at.elapsed() < self.min_refetch {
                return Ok(f.set);
            }
            // A kid the set lacks: fetch again, but keep the set we have
            // until a fetch succeeds, and count a failed attempt as one too,
            // so tokens naming made-up kids can neither empty the cache of
            // a client's good keys nor make us fetch more often than the
            // floor allows.
            return match self.fetch(url).await {
                Ok(fresh) => {
                    let set = fresh.set.clone();
                    self.cache.insert(url.to_owned(), fresh).await;
                    Ok(set)
                }
                Err(_) => {
                    let kept = Fetched {
                        set: f.set.clone(),
                        at: Instant::now(),
                    };
                    self.cache.insert(url.to_owned(), kept).await;
                    Ok(f.set)
                }
            };
        }
        let fetched = self
            .cache
            .try_get_with(url.to_owned(), self.fetch(url))
            .await
            .map_err(|e| (*e).clone())?;
        Ok(fetched.set)
    }

    /// A client's registered JWK Set, parsed.
    pub async fn registered(&self, jwks: &serde_json::Value) -> Result<Arc<JwkSet>, String> {
        let key = tollgate_jose::secrets::token_hash(&jwks.to_string());
        if let Some(set) = self.parsed.get(&key).await {
            return Ok(set);
        }
        let set = Arc::new(JwkSet::parse(jwks).map_err(|e| e.to_string())?);
        self.parsed.insert(key, set.clone()).await;
        Ok(set)
    }

    async fn fetch(&self, url: &str) -> Result<Fetched, String> {
        let parsed = url::Url::parse(url).map_err(|_| "the jwks_uri is not a URL".to_owned())?;
        let plain_ok =
            self.allow_loopback_http && tollgate_core::redirect::is_loopback_host(&parsed);
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && plain_ok) {
            return Err("the jwks_uri must use https".into());
        }
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = parsed.host() {
            let ip = parsed
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse().ok());
            if ip.is_some_and(is_internal_ip) && !self.allow_private {
                return Err("the jwks_uri names an internal address".into());
            }
        }
        let mut resp = self.http.get(url).send().await.map_err(|e| {
            let cause = tollgate_core::error_chain(&e);
            tracing::warn!(%url, error = %cause, "fetching a jwks_uri failed");
            format!("the jwks_uri could not be fetched: {cause}")
        })?;
        if !resp.status().is_success() {
            tracing::warn!(%url, status = %resp.status(), "a jwks_uri answered with an error");
            return Err(format!("the jwks_uri answered {}", resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|_| "reading the jwks_uri failed".to_owned())?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!(
                    "the jwks_uri document is larger than {} bytes",
                    self.max_bytes
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| "the jwks_uri document is not JSON".to_owned())?;
        let set = JwkSet::parse(&value).map_err(|e| format!("the jwks_uri document: {e}"))?;
        Ok(Fetched {
            set: Arc::new(set),
            at: Instant::now(),
        })
    }
}
