//! RFC 7591 client metadata: parsing hostile JSON into a [`NewClient`], and
//! rendering a registered client back as metadata.
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::{Map, Value, json};
use tollgate_core::{
    AccessTokenFormat, AuthMethod, Client, ClientType, GrantType, OAuthError, ScopeSet,
};
use url::{Host, Url};

use crate::clients::NewClient;
use crate::services::Services;
use crate::settings::RegistrationSettings;

/// Scopes no registered client may obtain: they name Tollgate's own powers.
pub const RESERVED_SCOPE_PREFIX: &str = "tollgate:";

const URL_FIELDS: [&str; 4] = ["client_uri", "logo_uri", "tos_uri", "policy_uri"];
const STRING_FIELDS: [&str; 2] = ["software_id", "software_version"];

pub struct ParsedMetadata {
    pub new: NewClient,
    /// Accepted descriptive metadata to store and echo back.
    pub extra: BTreeMap<String, Value>,
}

fn bad(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::InvalidClientMetadata(d.into())
}

fn string_array<'a>(
    m: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<&'a str>>, OAuthError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= 64 => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad(format!("{field} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(format!(
            "{field} must be an array of at most 64 strings"
        ))),
    }
}

fn string<'a>(m: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, OAuthError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2000 => Ok(Some(s)),
        Some(_) => Err(bad(format!(
            "{field} must be a string of at most 2000 characters"
        ))),
    }
}

/// Whether an address is one a server-side fetch must not reach unless the
/// operator allows it: loopback, private, link-local, unspecified, CGNAT, ULA.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal_ip(IpAddr::V4(v4)))
        }
    }
}

/// RFC 7591 §2: `jwks_uri` is fetched by the server, so it must be https and,
/// unless allowed, must not name an internal host (CVE-2026-22752). Names
/// are checked here as written; the fetcher checks resolved addresses again.
pub fn check_jwks_uri(s: &str, allow_private: bool) -> Result<(), OAuthError> {
    let url = Url::parse(s).map_err(|_| bad("jwks_uri is not an absolute URL"))?;
    if url.scheme() != "https" {
        return Err(bad("jwks_uri must use https"));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "jwks_uri must not carry a fragment or user information",
        ));
    }
    let internal = match url.host() {
        Some(Host::Ipv4(ip)) => is_internal_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_internal_ip(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost"
                || d.ends_with(".localhost")
                || d.ends_with(".local")
                || d.ends_with(".internal")
        }
        None => return Err(bad("jwks_uri has no host")),
    };
    if internal && !allow_private {
        return Err(bad(
            "jwks_uri points at a loopback, private or link-local address, which this server does not fetch",
        ));
    }
    Ok(())
}

fn web_url(field: &str, s: &str) -> Result<(), OAuthError> {
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
        _ => Err(bad(format!("{field} must be an absolute http(s) URL"))),
    }
}

/// Parses RFC 7591 §2 metadata. Unknown members are ignored (§2); members
/// with the wrong type or a refused value are `invalid_client_metadata`, bad
/// redirect URIs `invalid_redirect_uri`.
pub fn parse_metadata(
    body: &Value,
    policy: &RegistrationSettings,
) -> Result<ParsedMetadata, OAuthError> {
    let m = body
        .as_object()
        .ok_or_else(|| bad("client metadata must be a JSON object"))?;
    let mut new = NewClient {
        name: string(m, "client_name")?.unwrap_or("").to_owned(),
        ..Default::default()
    };
    let method = match string(m, "token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some(s) => {
            let method: AuthMethod = s.parse().map_err(bad)?;
            if !AuthMethod::SUPPORTED.contains(&method) {
                return Err(bad(format!(
                    "token_endpoint_auth_method '{s}' is not supported (client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt, none)"
                )));
            }
            method
        }
    };
    new.auth_method = Some(method);
    new.client_type = if method == AuthMethod::None {
        ClientType::Public
    } else {
        ClientType::Confidential
    };

    // RFC 7591 §2: grant_types defaults to authorization_code, response_types to code.
    let grant_names = string_array(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code"]);
    let mut grants = BTreeSet::new();
    for g in grant_names {
        let grant = GrantType::parse(g)
            .ok_or_else(|| bad(format!("grant_types: unknown grant type '{g}'")))?;
        if !policy.allowed_grant_types.contains(&grant) {
            return Err(bad(format!(
                "grant_types: '{g}' may not be registered dynamically on this server"
            )));
        }
        grants.insert(grant);
    }
    if grants.is_empty() {
        return Err(bad("grant_types must not be empty"));
    }
    let response_types = string_array(m, "response_types")?.unwrap_or_else(|| {
        if grants.contains(&GrantType::AuthorizationCode) {
            vec!["code"]
        } else {
            vec![]
        }
    });
    for r in &response_types {
        // RFC 7591 §2.1: response types and grant types must agree.
        let needs = match *r {
            "code" => GrantType::AuthorizationCode,
            "token" => GrantType::Implicit,
            other => {
                return Err(bad(format!(
                    "response_types: unsupported response type '{other}'"
                )));
            }
        };
        if !grants.contains(&needs) {
            return Err(bad(format!(
                "response_types '{r}' requires grant type '{needs}' (RFC 7591 §2.1)"
            )));
        }
    }
    new.grant_types = Some(grants);
    new.redirect_uris = string_array(m, "redirect_uris")?
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();

    let scopes = match string(m, "scope")? {
        Some(s) => ScopeSet::parse(s).map_err(|e| bad(format!("scope: {}", e.description())))?,
        None => ScopeSet::default(),
    };
    for s in scopes.iter() {
        let allowed = if policy.allowed_scopes.is_empty() {
            !s.starts_with(RESERVED_SCOPE_PREFIX)
        } else {
            policy.allowed_scopes.iter().any(|a| a == s)
        };
        if !allowed {
            return Err(bad(format!(
                "scope '{s}' may not be registered dynamically on this server"
            )));
        }
    }
    new.scopes = scopes;

    let mut extra = BTreeMap::new();
    extra.insert("response_types".to_owned(), json!(response_types));
    for f in URL_FIELDS {
        if let Some(v) = string(m, f)? {
            web_url(f, v)?;
            extra.insert(f.to_owned(), json!(v));
        }
    }
    for f in STRING_FIELDS {
        if let Some(v) = string(m, f)? {
            extra.insert(f.to_owned(), json!(v));
        }
    }
    if let Some(c) = string_array(m, "contacts")? {
        extra.insert("contacts".to_owned(), json!(c));
    }
    if let Some(uri) = string(m, "jwks_uri")? {
        check_jwks_uri(uri, policy.allow_private_jwks_uri)?;
        new.jwks_uri = Some(uri.to_owned());
    }
    match m.get("jwks") {
        None | Some(Value::Null) => {}
        Some(j) if j.get("keys").is_some_and(Value::is_array) => {
            if new.jwks_uri.is_some() {
                return Err(bad(
                    "jwks and jwks_uri must not both be present (RFC 7591 §2)",
                ));
            }
            tollgate_jose::JwkSet::parse(j).map_err(|e| bad(format!("jwks: {e}")))?;
            new.jwks = Some(j.clone());
        }
        Some(_) => return Err(bad("jwks must be a JWK Set object with a keys array")),
    }
    if method == AuthMethod::PrivateKeyJwt && new.jwks.is_none() && new.jwks_uri.is_none() {
        return Err(bad("private_key_jwt needs jwks or jwks_uri (RFC 7591 §2)"));
    }
    // An RFC 7591 extension (listed in discovery): the access-token format.
    match string(m, "access_token_format")? {
        None => {}
        Some("opaque") => new.token_settings.access_token_format = Some(AccessTokenFormat::Opaque),
        Some("jwt") => new.token_settings.access_token_format = Some(AccessTokenFormat::Jwt),
        Some(_) => return Err(bad("access_token_format must be 'opaque' or 'jwt'")),
    }
    Ok(ParsedMetadata { new, extra })
}

/// A registered client as RFC 7591 §3.2.1 / RFC 7592 §3 metadata.
pub fn client_metadata(svc: &Services, c: &Client) -> Value {
    let mut m = json!({
        "client_id": c.id,
        "client_name": c.name,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uris,
        "scope": c.scopes.to_string(),
        "client_id_issued_at": c.created_at,
        "registration_client_uri": svc.settings.endpoint(&format!("/oauth2/register/{}", c.id)),
    });
    if c.client_type == ClientType::Confidential && c.auth_method != AuthMethod::PrivateKeyJwt {
        m["client_secret_expires_at"] = json!(0);
    }
    if let Some(j) = &c.jwks {
        m["jwks"] = j.clone();
    }
    if let Some(u) = &c.jwks_uri {
        m["jwks_uri"] = json!(u);
    }
    let format = svc
        .settings
        .tokens
        .with_override(&c.token_settings)
        .access_token_format;
    m["access_token_format"] = json!(match format {
        AccessTokenFormat::Opaque => "opaque",
        AccessTokenFormat::Jwt => "jwt",
    });
    if let (Some(reg), Some(obj)) = (&c.registration, m.as_object_mut()) {
        for (k, v) in &reg.metadata {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ParsedMetadata, OAuthError> {
        parse_metadata(&v, &RegistrationSettings::default())
    }

    #[test]
    fn defaults_follow_rfc7591() {
        let p = parse(json!({"redirect_uris": ["https://a.example/cb"], "unknown": 1})).unwrap();
        assert_eq!(
            p.new.grant_types.unwrap().into_iter().collect::<Vec<_>>(),
            vec![GrantType::AuthorizationCode]
        );
        assert_eq!(p.extra["response_types"], json!(["code"]));
        assert_eq!(p.new.auth_method, Some(AuthMethod::ClientSecretBasic));
    }

    #[test]
    fn hostile_metadata_is_refused() {
        let cc = |extra: Value| {
            let mut v = json!({"grant_types": ["client_credentials"]});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            parse(v)
        };
        assert!(cc(json!({"scope": "tollgate:admin"})).is_err());
        assert!(cc(json!({"jwks_uri": "http://example.com/jwks"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://127.0.0.1/jwks"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://169.254.169.254/latest"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://[::1]/jwks"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://10.1.2.3/jwks"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://localhost/jwks"})).is_err());
        assert!(cc(json!({"jwks_uri": "https://keys.example.com/jwks"})).is_ok());
        assert!(cc(json!({"logo_uri": "javascript:alert(1)"})).is_err());
        assert!(cc(json!({"client_name": 5})).is_err());
        assert!(cc(json!({"token_endpoint_auth_method": "private_key_jwt"})).is_err());
        assert!(cc(json!({"response_types": ["token"]})).is_err());
        assert!(parse(json!({"grant_types": ["password"]})).is_err());
        assert!(parse(json!({"grant_types": "client_credentials"})).is_err());
    }

    #[test]
    fn private_jwks_uri_allowed_when_configured() {
        let policy = RegistrationSettings {
            allow_private_jwks_uri: true,
            ..Default::default()
        };
        let v = json!({"grant_types": ["client_credentials"], "jwks_uri": "https://10.0.0.1/jwks"});
        assert!(parse_metadata(&v, &policy).is_ok());
    }
}
