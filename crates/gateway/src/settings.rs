//! `[gateway]` in the config file.
use serde::{Deserialize, Serialize};

use crate::spec::{LOCAL, valid_alias};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Serve `/gateway/…` at all.
    pub enabled: bool,
    /// The path under which services are published (DESIGN.md: `/gateway`).
    pub prefix: String,
    /// `realm` of the `WWW-Authenticate` challenge (RFC 6750 §3).
    pub realm: String,
    /// Validators of services that name none: `local` and/or names of
    /// registered authorization servers (the seed's global "Authorization
    /// Server" setting).
    pub default_validators: Vec<String>,
    /// How often the store is asked whether services changed elsewhere
    /// (the CLI, another node). Changes through this node's admin API take
    /// effect at once.
    pub reload_interval_ms: u64,
    /// Connecting to an upstream (502 after).
    pub connect_timeout_ms: u64,
    /// Idle pooled connections kept per upstream host.
    pub max_idle_per_host: usize,
    /// Answers of third-party servers remembered (keyed by token hash).
    pub validation_cache_capacity: u64,
    /// Consumers whose rate and quota are tracked at once.
    pub budget_capacity: u64,
    /// Largest form body read to find an `access_token` in it (RFC 6750
    /// §2.2, only on services that allow it).
    pub form_body_limit: usize,
    /// Keep a caller's `X-Forwarded-For` and append to it (only when every
    /// caller comes through a proxy you trust); by default it is replaced
    /// by the caller's address.
    pub trust_forwarded_for: bool,
    /// Extra CA certificates (PEM) for https upstreams behind a private CA,
    /// besides the system's.
    pub upstream_ca_file: Option<std::path::PathBuf>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: "/gateway".into(),
            realm: "tollgate".into(),
            default_validators: vec![LOCAL.into()],
            reload_interval_ms: 1_000,
            connect_timeout_ms: 5_000,
            max_idle_per_host: 256,
            validation_cache_capacity: 100_000,
            budget_capacity: 100_000,
            form_body_limit: 64 * 1024,
            trust_forwarded_for: false,
            upstream_ca_file: None,
        }
    }
}

impl GatewaySettings {
    pub fn validate(&self) -> Result<(), String> {
        let p = self.prefix.strip_prefix('/').unwrap_or("");
        if p.is_empty() || !p.split('/').all(valid_alias) {
            return Err(format!(
                "gateway.prefix must be an absolute path of plain segments like '/gateway', not '{}'",
                self.prefix
            ));
        }
        // Not over another surface's paths (axum would refuse the duplicate
        // route at start, or the gateway would shadow them).
        let first = p.split('/').next().unwrap_or("");
        if [
            "oauth2",
            "admin",
            "metrics",
            ".well-known",
            "rest",
            "healthz",
            "readyz",
        ]
        .contains(&first)
        {
            return Err(format!(
                "gateway.prefix '{}' overlaps another endpoint's paths",
                self.prefix
            ));
        }
        if self.realm.contains(['"', '\\']) || !self.realm.is_ascii() {
            return Err("gateway.realm must be printable ASCII without quotes".into());
        }
        if self.default_validators.iter().any(|v| !valid_alias(v)) {
            return Err("gateway.default_validators holds an invalid name".into());
        }
        if self.reload_interval_ms < 100 || self.connect_timeout_ms == 0 {
            return Err(
                "gateway.reload_interval_ms must be at least 100 and connect_timeout_ms above 0"
                    .into(),
            );
        }
        Ok(())
    }
}
