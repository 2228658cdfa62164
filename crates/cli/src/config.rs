//! The configuration: one TOML file, every key overridable by an environment
//! variable `TOLLGATE_SECTION__KEY`, and sane defaults when there is neither.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tollgate_authz::assertion::AssertionSettings;
use tollgate_authz::assertion::trust::{JwtBearerSettings, SamlBearerSettings};
use tollgate_authz::client_addr::{ForwardedHeader, TrustedProxies};
use tollgate_authz::keys::KeySettings;
use tollgate_authz::{
    AuthorizeSettings, AuthzSettings, CacheSettings, LoginSettings, PurgeSettings,
    RateLimitSettings, RegistrationSettings, UiSettings,
};
use tollgate_core::TokenSettings;
use tollgate_gateway::GatewaySettings;

use crate::listeners::{ListenerConfig, Surface};
use tollgate_store::{SqliteSync, StoreOptions};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// Token defaults for every client (each client may override them).
    pub tokens: TokenSettings,
    pub registration: RegistrationSettings,
    pub cache: CacheSettings,
    /// Throttling of failed client authentication.
    pub rate_limit: RateLimitSettings,
    /// The background purge of expired tokens, codes and old audit events.
    pub purge: PurgeSettings,
    /// The authorization endpoint: PKCE policy, parameters stored with codes.
    pub authorize: AuthorizeSettings,
    /// Resource-owner login: session cookie and lockout.
    pub login: LoginSettings,
    /// Login and consent pages: templates, scope descriptions.
    pub ui: UiSettings,
    /// Signing keys: algorithm, rotation schedule, publish-before-sign.
    pub keys: KeySettings,
    /// JWT assertions (client authentication and the JWT bearer grant):
    /// clock skew, size and lifetime limits, jwks_uri fetching.
    pub assertions: AssertionSettings,
    /// The JWT bearer grant (RFC 7523 §2.1): audience and trusted issuers.
    pub jwt_bearer: JwtBearerSettings,
    /// The SAML 2.0 bearer grant (RFC 7522): audience, drift and trusted IdPs.
    pub saml_bearer: SamlBearerSettings,
    pub log: LogConfig,
    pub admin: AdminConfig,
    /// The gateway: path prefix, default validators, upstream pool.
    pub gateway: GatewaySettings,
    /// Listeners besides `server.listen` (and `admin.listen`): each plain
    /// HTTP or TLS, serving some of `oauth`, `gateway`, `admin`.
    pub listeners: Vec<ListenerConfig>,
}

/// The admin REST API and `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve `/admin/v1`, `/admin/openapi.json` and `/metrics` at all.
    pub enabled: bool,
    /// A separate address for them (e.g. an internal interface); when unset
    /// they share `server.listen`. Same plain-HTTP rule as `server.listen`.
    pub listen: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// Public base URL; defaults to `http://<listen>`.
    pub issuer: Option<String>,
    pub data_dir: PathBuf,
    /// Plain HTTP is served only on loopback unless this is set (for a
    /// deployment behind a TLS-terminating proxy).
    pub allow_plain_http: bool,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// What `server.listen` serves (`admin` moves to `admin.listen` when
    /// that is set).
    pub serves: Vec<Surface>,
    /// Serve `server.listen` over TLS with this PEM certificate chain and key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Source ranges `server.listen` admits (empty: all) and refuses.
    pub allow: Vec<ipnet::IpNet>,
    pub deny: Vec<ipnet::IpNet>,
    /// Connections each listener holds open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Reverse proxies (CIDR ranges or addresses) whose forwarding header
    /// names the client: a request from one of them is the right-most
    /// address of that header not itself in these ranges. From any other
    /// peer the header is ignored. Used by the throttles, the audit log,
    /// the listeners' allow/deny rules and the gateway's `X-Forwarded-For`.
    #[serde(deserialize_with = "tollgate_authz::client_addr::deserialize_nets")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies write: `x-forwarded-for` or `forwarded`
    /// (RFC 7239). Only that one is read.
    pub forwarded_header: ForwardedHeader,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: None,
            data_dir: PathBuf::from("./tollgate-data"),
            allow_plain_http: false,
            shutdown_grace_secs: 20,
            serves: vec![Surface::Oauth, Surface::Gateway, Surface::Admin],
            tls_cert: None,
            tls_key: None,
            allow: Vec::new(),
            deny: Vec::new(),
            max_connections: 10_000,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://…`; defaults to `<data_dir>/tollgate.db`.
    pub url: Option<String>,
    /// PostgreSQL schema to use (created if missing).
    pub schema: Option<String>,
    pub max_connections: u32,
    /// SQLite `synchronous`: `full` (default) or `normal`.
    pub sqlite_synchronous: String,
    /// How long a request waits for a database connection (while the
    /// database is down or restarting) before it is answered 503.
    pub acquire_timeout_secs: u64,
    /// How long a request waits for a connected database to answer before
    /// it is answered 503 (a database behind a lost network path).
    pub query_timeout_secs: u64,
    /// SQLite: the writer's page cache in MiB.
    pub sqlite_cache_mib: u32,
    /// SQLite: checkpoint the WAL in the background rather than inside a
    /// commit (more throughput, worse p99; see `StoreOptions`).
    pub sqlite_background_checkpoint: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            schema: None,
            max_connections: 8,
            sqlite_synchronous: "full".into(),
            acquire_timeout_secs: 5,
            query_timeout_secs: 10,
            sqlite_cache_mib: 64,
            sqlite_background_checkpoint: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `tollgate=debug,info`, …); `RUST_LOG` wins.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if given), then `TOLLGATE_SECTION__KEY`
    /// variables. Unknown keys anywhere are an error, so typos fail loudly.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        // Only SECTION__KEY variables are configuration; TOLLGATE_MASTER_KEY
        // and other single-level variables are read elsewhere.
        fig = fig.merge(
            Env::prefixed("TOLLGATE_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.tokens
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: tokens.{e}"))?;
        cfg.rate_limit
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: rate_limit.{e}"))?;
        cfg.purge
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: purge.{e}"))?;
        cfg.login
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: login.{e}"))?;
        cfg.keys
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: keys.{e}"))?;
        cfg.assertions
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: assertions.{e}"))?;
        cfg.gateway
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(cfg)
    }

    pub fn store_options(&self) -> anyhow::Result<StoreOptions> {
        let url = match &self.database.url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}",
                self.server.data_dir.join("tollgate.db").display()
            ),
        };
        let mut o = StoreOptions::new(url);
        o.schema = self.database.schema.clone();
        o.max_connections = self.database.max_connections.max(1);
        o.acquire_timeout = Duration::from_secs(self.database.acquire_timeout_secs.max(1));
        o.query_timeout = Duration::from_secs(self.database.query_timeout_secs.max(1));
        o.sqlite_cache_mib = self.database.sqlite_cache_mib.max(1);
        o.sqlite_background_checkpoint = self.database.sqlite_background_checkpoint;
        o.sqlite_synchronous = match self
            .database
            .sqlite_synchronous
            .to_ascii_lowercase()
            .as_str()
        {
            "full" => SqliteSync::Full,
            "normal" => SqliteSync::Normal,
            other => bail!("database.sqlite_synchronous must be 'full' or 'normal', not '{other}'"),
        };
        Ok(o)
    }

    /// The issuer for a server bound to `bound` (so port 0 resolves).
    pub fn issuer(&self, bound: Option<SocketAddr>) -> String {
        match &self.server.issuer {
            Some(i) => i.trim_end_matches('/').to_owned(),
            None => format!(
                "{}://{}",
                if self.server.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                },
                bound.map_or(self.server.listen.clone(), |a| a.to_string())
            ),
        }
    }

    /// Every listener: `server.listen` first, then `admin.listen`, then
    /// `[[listeners]]`; surfaces that are switched off are left out.
    pub fn listener_configs(&self) -> Vec<ListenerConfig> {
        let mut primary_serves = self.server.serves.clone();
        if self.admin.listen.is_some() {
            primary_serves.retain(|s| *s != Surface::Admin);
        }
        let mut all = vec![ListenerConfig {
            listen: self.server.listen.clone(),
            serves: primary_serves,
            tls_cert: self.server.tls_cert.clone(),
            tls_key: self.server.tls_key.clone(),
            allow: self.server.allow.clone(),
            deny: self.server.deny.clone(),
        }];
        if let Some(a) = self.admin.listen.as_ref().filter(|_| self.admin.enabled) {
            all.push(ListenerConfig {
                listen: a.clone(),
                serves: vec![Surface::Admin],
                tls_cert: None,
                tls_key: None,
                allow: Vec::new(),
                deny: Vec::new(),
            });
        }
        all.extend(self.listeners.iter().cloned());
        for l in &mut all {
            l.serves.retain(|s| match s {
                Surface::Admin => self.admin.enabled,
                Surface::Gateway => self.gateway.enabled,
                Surface::Oauth => true,
            });
        }
        all
    }

    /// The proxies whose forwarding headers name the client.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(
            self.server.trusted_proxies.clone(),
            self.server.forwarded_header,
        )
    }

    pub fn authz_settings(&self, issuer: &str) -> AuthzSettings {
        let mut s = AuthzSettings::new(issuer);
        s.tokens = self.tokens.clone();
        s.registration = self.registration.clone();
        s.cache = self.cache.clone();
        s.rate_limit = self.rate_limit.clone();
        s.authorize = self.authorize.clone();
        s.login = self.login.clone();
        s.ui = self.ui.clone();
        s.keys = self.keys.clone();
        s.assertions = self.assertions.clone();
        s.jwt_bearer = self.jwt_bearer.clone();
        s.saml_bearer = self.saml_bearer.clone();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(name: &str, text: &str) -> anyhow::Result<Config> {
        let path = std::env::temp_dir().join(format!(
            "tollgate-config-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text)?;
        let cfg = Config::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        cfg
    }

    #[test]
    fn rate_limit_section_maps_to_the_authz_settings() {
        let cfg = load_toml(
            "ok",
            "[rate_limit]\nfailed_auth_per_client = 3\nfailed_auth_per_address = 0\n\
             failed_auth_window_secs = 5\n",
        )
        .unwrap();
        let s = cfg.authz_settings("http://x").rate_limit;
        assert_eq!(
            (
                s.failed_auth_per_client,
                s.failed_auth_per_address,
                s.failed_auth_window_secs,
                s.tracked_keys
            ),
            (3, 0, 5, 100_000),
            "given keys override, the rest keep their defaults"
        );
        let d = Config::default().rate_limit;
        assert_eq!(
            (d.failed_auth_per_client, d.failed_auth_window_secs),
            (10, 60)
        );
    }

    #[test]
    fn trusted_proxies_from_the_file() {
        let cfg = load_toml(
            "proxies",
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\n\
             forwarded_header = \"forwarded\"\n",
        )
        .unwrap();
        assert_eq!(cfg.server.trusted_proxies.len(), 2);
        assert_eq!(cfg.server.forwarded_header, ForwardedHeader::Forwarded);
        let p = cfg.trusted_proxies();
        assert!(p.contains("10.1.2.3".parse().unwrap()));
        assert!(p.contains("::ffff:192.0.2.7".parse().unwrap()));
        assert!(!p.contains("192.0.2.8".parse().unwrap()));
        assert!(Config::default().server.trusted_proxies.is_empty());
        let bad = load_toml(
            "badproxy",
            "[server]\ntrusted_proxies = [\"10.0.0.0/40\"]\n",
        );
        assert!(format!("{:#}", bad.unwrap_err()).contains("10.0.0.0/40"));
        let bad = load_toml("badheader", "[server]\nforwarded_header = \"x-real-ip\"\n");
        assert!(bad.is_err());
    }

    #[test]
    fn rate_limit_typos_and_bad_windows_fail_loudly() {
        let typo = load_toml("typo", "[rate_limit]\nfailed_auth_per_clent = 3\n");
        assert!(typo.is_err());
        for (name, text) in [
            ("zero", "[rate_limit]\nfailed_auth_window_secs = 0\n"),
            ("long", "[rate_limit]\nfailed_auth_window_secs = 86401\n"),
            ("keys", "[rate_limit]\ntracked_keys = 0\n"),
            ("neg", "[rate_limit]\nfailed_auth_per_client = -1\n"),
        ] {
            let e = load_toml(name, text).unwrap_err();
            assert!(
                format!("{e:#}").contains("rate_limit") || name == "neg",
                "{name}: {e:#}"
            );
        }
    }
}
