//! The policy documents the store keeps as JSON: a virtual service's
//! settings, a consumer's overrides and a third-party authorization server.
//! Parsed and validated here, so an invalid one cannot reach the gateway.
use serde::{Deserialize, Serialize};
use tollgate_core::{RateLimit, ScopeMatching, scope::is_scope_token};
use url::Url;

/// The validator name that means "tokens issued by this Tollgate".
pub const LOCAL: &str = "local";

/// How callers consume a service (the seed's consumption mechanism).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Consumption {
    /// A bearer token with the service's scope is required.
    #[default]
    Oauth2,
    /// No token is needed (the seed's `allow-anon="true"`); only when the
    /// operator chose it explicitly.
    Anonymous,
}

/// A per-consumer (or per-service default) request budget: a rate with a
/// burst, and a quota per UTC day. Either may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimit>,
    /// Requests per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
}

impl Limits {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(r) = &self.rate {
            r.validate().map_err(|e| e.description().to_owned())?;
        }
        if self.per_day == Some(0) {
            return Err("per_day must be at least 1".into());
        }
        Ok(())
    }
    pub fn is_empty(&self) -> bool {
        self.rate.is_none() && self.per_day.is_none()
    }
}

/// A virtual service's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceSpec {
    /// The native endpoint: `http(s)://host:port/base`. The rest of the
    /// request path is appended to its path.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub upstream: Url,
    /// Allowed methods (upper case); empty allows every method.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub consumption: Consumption,
    /// Scopes a token must carry; empty means the service's name (as in
    /// the seed, where the scope is the virtual service's name).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `all` (default): the token needs every scope; `any`: one suffices.
    #[serde(default = "all")]
    pub scope_matching: ScopeMatching,
    /// Who validates tokens: `local` (this Tollgate) and/or names of
    /// registered authorization servers, tried in this order. Empty means
    /// the gateway's default (`[gateway] default_validators`).
    #[serde(default)]
    pub validators: Vec<String>,
    /// When set, a token must name this audience (`aud`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Pass the caller's `Authorization` header upstream (default: no; the
    /// upstream gets the identity headers instead).
    #[serde(default)]
    pub pass_authorization: bool,
    /// Accept the token in a form-encoded body too (RFC 6750 §2.2).
    #[serde(default)]
    pub body_token: bool,
    /// Match the alias and the path ignoring letter case; the upstream then
    /// receives the path in lower case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// New consumers stay `pending` until an administrator approves them.
    #[serde(default)]
    pub require_approval: bool,
    /// The access-token lifetime given to consumers' new clients, and the
    /// oldest token (seconds since issue) the gateway accepts from a
    /// consumer (the seed's "Refresh Token After"). Consumers may override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<u64>,
    /// Default budget of each consumer (each may override it).
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// How long the upstream may take to start answering (504 after).
    #[serde(default = "response_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The upstream's own OAuth: the gateway calls it with an access token
    /// of this connection (`tollgate connection`), refreshed as needed, in
    /// the upstream request's `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_auth: Option<UpstreamAuth>,
}

/// How the gateway authenticates to a service's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpstreamAuth {
    /// The connection whose token the upstream gets.
    pub connection: String,
}

fn all() -> ScopeMatching {
    ScopeMatching::All
}
fn response_timeout() -> u64 {
    30_000
}
fn yes() -> bool {
    true
}

pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// An alias is one path segment of unreserved characters, so it needs no
/// escaping and normalisation leaves it as it is.
pub fn valid_alias(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 64
        && a != "."
        && a != ".."
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A service name doubles as its default scope and an alias.
pub fn valid_name(n: &str) -> bool {
    valid_alias(n) && is_scope_token(n)
}

impl ServiceSpec {
    pub fn new(upstream: Url) -> Self {
        Self {
            upstream,
            methods: Vec::new(),
            consumption: Consumption::Oauth2,
            scopes: Vec::new(),
            scope_matching: ScopeMatching::All,
            validators: Vec::new(),
            audience: None,
            pass_authorization: false,
            body_token: false,
            case_insensitive: false,
            require_approval: false,
            token_lifetime_secs: None,
            limits: Limits::default(),
            timeout_ms: response_timeout(),
            enabled: true,
            upstream_auth: None,
        }
    }

    /// Checks what the type cannot; normalises method names to upper case.
    pub fn validate(&mut self) -> Result<(), String> {
        match self.upstream.scheme() {
            "http" | "https" => {}
            s => return Err(format!("upstream must be an http or https URL, not '{s}:'")),
        }
        if self.upstream.host_str().is_none() {
            return Err("upstream has no host".into());
        }
        if self.upstream.query().is_some() || self.upstream.fragment().is_some() {
            return Err("upstream must not have a query or a fragment".into());
        }
        if !self.upstream.username().is_empty() || self.upstream.password().is_some() {
            return Err(
                "upstream must not carry credentials (use a connection for upstream auth)".into(),
            );
        }
        for m in &mut self.methods {
            m.make_ascii_uppercase();
            if !METHODS.contains(&m.as_str()) {
                return Err(format!("unknown method '{m}'"));
            }
        }
        self.methods.sort();
        self.methods.dedup();
        for s in &self.scopes {
            if !is_scope_token(s) {
                return Err(format!("'{s}' is not a valid scope"));
            }
        }
        for v in &self.validators {
            if !valid_alias(v) {
                return Err(format!("'{v}' is not a validator name"));
            }
        }
        if self.token_lifetime_secs == Some(0) {
            return Err("token_lifetime_secs must be at least 1".into());
        }
        if let Some(a) = &self.upstream_auth {
            tollgate_connect::spec::valid_name(&a.connection)
                .map_err(|e| format!("upstream_auth: {e}"))?;
            if self.pass_authorization {
                return Err("pass_authorization and upstream_auth both set the upstream's Authorization header; choose one".into());
            }
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return Err("timeout_ms must be between 1 ms and 600 s".into());
        }
        self.limits.validate()
    }

    /// The scopes a token must carry: the configured ones, or the name.
    pub fn required_scopes(&self, name: &str) -> Vec<String> {
        if self.scopes.is_empty() {
            vec![name.to_owned()]
        } else {
            self.scopes.clone()
        }
    }
}

/// A consumer's overrides of the service's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Why the application asked (the seed's "reason for request").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ConsumerSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.token_lifetime_secs == Some(0) {
            return Err("token_lifetime_secs must be at least 1".into());
        }
        if let Some(l) = &self.limits {
            l.validate()?;
        }
        if self.reason.as_ref().is_some_and(|r| r.len() > 1000) {
            return Err("reason is longer than 1000 characters".into());
        }
        Ok(())
    }
}

/// How a third-party authorization server's tokens are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthServerSpec {
    /// RFC 7662 endpoint; the gateway authenticates with `client_id` and the
    /// (encrypted) secret over HTTP Basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub introspection_url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// JWT access tokens (RFC 9068) verified locally against this key set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub jwks_uri: Option<Url>,
    /// The server's `iss`: required for JWTs, checked in introspection
    /// answers that carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Longest time an introspection answer is reused (never past `exp`).
    #[serde(default = "cache_ttl")]
    pub cache_ttl_secs: u64,
    /// How long an inactive answer is remembered (bounded and short, so a
    /// token activated later is not refused for long).
    #[serde(default = "negative_ttl")]
    pub negative_ttl_secs: u64,
    #[serde(default = "call_timeout")]
    pub timeout_ms: u64,
}

fn cache_ttl() -> u64 {
    60
}
fn negative_ttl() -> u64 {
    5
}
fn call_timeout() -> u64 {
    3_000
}

impl AuthServerSpec {
    pub fn validate(&self, has_secret: bool) -> Result<(), String> {
        match (&self.introspection_url, &self.jwks_uri) {
            (None, None) => {
                return Err("give an introspection_url or a jwks_uri".into());
            }
            (Some(_), Some(_)) => {
                return Err("give an introspection_url or a jwks_uri, not both".into());
            }
            _ => {}
        }
        for u in [&self.introspection_url, &self.jwks_uri]
            .into_iter()
            .flatten()
        {
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(format!("'{u}' is not an http(s) URL"));
            }
            // Credentials and keys travel over TLS; plain http only to this host
            // (a local issuer or sidecar), the same rule as connections'.
            if u.scheme() == "http" && !tollgate_core::redirect::is_loopback_host(u) {
                return Err(format!(
                    "'{u}' must be an https URL (plain http is allowed only to a loopback address)"
                ));
            }
        }
        if self.introspection_url.is_some() && (self.client_id.is_none() || !has_secret) {
            return Err("introspection needs a client_id and a client_secret".into());
        }
        if self.jwks_uri.is_some() && self.issuer.is_none() {
            return Err("a jwks_uri server needs its issuer".into());
        }
        if self.cache_ttl_secs > 86_400 || self.negative_ttl_secs > 300 {
            return Err("cache_ttl_secs is at most 86400 and negative_ttl_secs 300".into());
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err("timeout_ms must be between 1 and 60000".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let mut s: ServiceSpec =
            serde_json::from_value(serde_json::json!({"upstream": "http://127.0.0.1:9/api"}))
                .unwrap();
        s.validate().unwrap();
        assert_eq!(s.required_scopes("orders"), vec!["orders"]);
        assert_eq!(s.consumption, Consumption::Oauth2);
        assert_eq!(s.timeout_ms, 30_000);
        s.methods = vec!["get".into(), "GET".into()];
        s.validate().unwrap();
        assert_eq!(s.methods, vec!["GET"]);
        s.methods = vec!["FETCH".into()];
        assert!(s.validate().is_err());
        let mut s = ServiceSpec::new(Url::parse("ftp://x/").unwrap());
        assert!(s.validate().is_err());
        let mut s = ServiceSpec::new(Url::parse("http://u:p@x/").unwrap());
        assert!(s.validate().is_err());
        assert!(
            serde_json::from_value::<ServiceSpec>(
                serde_json::json!({"upstream": "http://x/", "upstrem": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn aliases() {
        assert!(valid_alias("orders-v2"));
        assert!(!valid_alias(".."));
        assert!(!valid_alias("a/b"));
        assert!(!valid_alias(""));
        assert!(!valid_alias("a%20"));
    }

    #[test]
    fn auth_servers() {
        let s: AuthServerSpec = serde_json::from_value(serde_json::json!({
            "introspection_url": "https://as.example/introspect", "client_id": "rs"
        }))
        .unwrap();
        assert!(s.validate(true).is_ok());
        assert!(s.validate(false).is_err());
        let j: AuthServerSpec =
            serde_json::from_value(serde_json::json!({"jwks_uri": "https://as.example/jwks"}))
                .unwrap();
        assert!(j.validate(false).is_err());
    }

    /// Introspection and JWKS URLs follow one rule: https, or plain http to loopback.
    #[test]
    fn plain_http_only_to_loopback_for_both_kinds() {
        let spec = |v: serde_json::Value| -> AuthServerSpec { serde_json::from_value(v).unwrap() };
        for host in ["127.0.0.1:9000", "localhost:9000", "[::1]:9000"] {
            let i = spec(serde_json::json!({
                "introspection_url": format!("http://{host}/introspect"), "client_id": "rs"
            }));
            assert!(i.validate(true).is_ok(), "{host}");
            let j = spec(serde_json::json!({
                "jwks_uri": format!("http://{host}/jwks"), "issuer": "http://x"
            }));
            assert!(j.validate(false).is_ok(), "{host}");
        }
        let i = spec(serde_json::json!({
            "introspection_url": "http://as.example/introspect", "client_id": "rs"
        }));
        assert!(i.validate(true).unwrap_err().contains("https"));
        let j = spec(serde_json::json!({"jwks_uri": "http://as.example/jwks", "issuer": "x"}));
        assert!(j.validate(false).unwrap_err().contains("https"));
    }
}
