//! What a connection is: the provider's endpoints, how Tollgate gets a
//! token there (the flow), and how it reaches the provider (trust, client
//! certificate, proxy). The secret half lives apart, sealed under the
//! master key ([`ConnectionSecrets`]).
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// How the token is obtained (seed 003's connection types).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// RFC 6749 §4.1 with PKCE (RFC 7636) and `state`: a person authorizes
    /// once (`tollgate connection authorize`), then the refresh token keeps
    /// the connection alive.
    AuthorizationCode,
    /// RFC 7523 §2.1, the seed's "JWT flow": a signed assertion is the grant.
    JwtBearer,
    /// `client_credentials` with the client authenticated by a signed
    /// assertion (RFC 7523 §2.2, `private_key_jwt`), the seed's "JWT Client
    /// Assertion flow".
    ClientAssertion,
    /// `client_credentials` with a client secret (RFC 6749 §4.4).
    ClientCredentials,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::AuthorizationCode => "authorization_code",
            Flow::JwtBearer => "jwt_bearer",
            Flow::ClientAssertion => "client_assertion",
            Flow::ClientCredentials => "client_credentials",
        }
    }

    /// Whether Tollgate can get a new token on its own (no person needed).
    pub fn is_unattended(self) -> bool {
        !matches!(self, Flow::AuthorizationCode)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of the assertion Tollgate signs (`jwt_bearer`,
/// `client_assertion`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionSpec {
    /// `iss`. Default: the client id.
    pub issuer: Option<String>,
    /// `sub`. Default: the client id (RFC 7523 §3 for client assertions).
    pub subject: Option<String>,
    /// `aud`. Default: the token endpoint.
    pub audience: Option<String>,
    /// The assertion's lifetime (the seed's "Expiration Time (mins)").
    pub expires_in_minutes: u32,
    /// Put `x5t` (base64url SHA-1 of the certificate) in the header: some
    /// providers (Microsoft Entra) still want it.
    pub x5t: bool,
    /// Put `x5t#S256` (base64url SHA-256 of the certificate) in the header.
    pub x5t_s256: bool,
    /// The signing algorithm; default by key type (RS256, ES256, …).
    pub alg: Option<String>,
    /// The signing certificate chain (PEM, leaf first), public: its
    /// thumbprint names the key for the provider.
    pub certificate_pem: Option<String>,
    /// The header's `kid` (RFC 7515 §4.1.4): the id under which the
    /// provider registered the public key (Okta, Tollgate's own JWK Sets
    /// name keys so). Default: the key's RFC 7638 JWK thumbprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// The non-secret configuration of a connection (stored as JSON).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    pub flow: Flow,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub token_endpoint: Url,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub authorization_endpoint: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Extra token-request parameters a provider wants (`resource`,
    /// `audience`, …). They cannot replace the ones the flow sets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<AssertionSpec>,
    /// The redirect URI registered at the provider for the code flow. A
    /// loopback URI (RFC 8252 §7.3) is served by `connection authorize`
    /// itself. Default: `http://127.0.0.1/callback` on a free port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub redirect_uri: Option<Url>,
    /// Refresh this long before the access token expires.
    #[serde(default = "default_margin")]
    pub refresh_margin_secs: u64,
    /// The lifetime assumed when the provider's answer has no `expires_in`.
    #[serde(default = "default_lifetime")]
    pub default_lifetime_secs: u64,
    /// CA certificates (PEM) the provider's TLS certificate must chain to,
    /// instead of the system's: for providers behind a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truststore_pem: Option<String>,
    /// A client certificate chain (PEM) for mutual TLS (RFC 8705); its key
    /// is a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_pem: Option<String>,
    /// An HTTP(S) proxy every request to the provider goes through (the
    /// seed's proxy server alias), e.g. `http://proxy.corp:3128`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub proxy: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_username: Option<String>,
    /// A named proxy (`tollgate proxy add`) instead of `proxy`: its URL and
    /// credentials are read when the HTTP client is built, so a changed
    /// alias reaches every connection that uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_alias: Option<String>,
    /// Seconds a request to the provider may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_margin() -> u64 {
    60
}
fn default_lifetime() -> u64 {
    3600
}
fn default_timeout() -> u64 {
    30
}

/// Parameters the flows set themselves, which `params` may not override.
const RESERVED_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token",
    "assertion",
    "client_assertion",
    "client_assertion_type",
    "client_id",
    "client_secret",
    "scope",
];

/// The secret half of a connection, sealed under the master key as JSON.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSecrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The assertion signing key, PKCS#8 PEM (taken from a PEM file or a
    /// PKCS#12 keystore when the connection was added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key_pem: Option<String>,
    /// The mutual-TLS client key, PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_password: Option<String>,
}

impl fmt::Debug for ConnectionSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "-" };
        f.debug_struct("ConnectionSecrets")
            .field("client_secret", &set(&self.client_secret))
            .field("signing_key_pem", &set(&self.signing_key_pem))
            .field("client_key_pem", &set(&self.client_key_pem))
            .field("proxy_password", &set(&self.proxy_password))
            .finish()
    }
}

/// A connection name: what the CLI, the admin API and a service's
/// `upstream_auth` call it by.
pub fn valid_name(name: &str) -> Result<(), String> {
    valid_name_of("connection", name)
}

/// A name of `what` (a connection, a proxy alias): 1 to 64 letters,
/// digits, `-`, `_` or `.`, starting with a letter or digit.
pub fn valid_name_of(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid {what} name: 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        ))
    }
}

/// An http(s) URL with a host and no credentials or fragment; plain http
/// only to this machine when `secure` (secrets, assertions and tokens
/// travel there).
pub(crate) fn http_url(what: &str, u: &Url, secure: bool) -> Result<(), String> {
    // Credentials first, so no message below ever repeats a password.
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "{what} must not carry credentials in the URL; give them as options"
        ));
    }
    match u.scheme() {
        "https" if u.host().is_some() => {}
        "http" if u.host().is_some() => {
            if secure && !tollgate_core::redirect::is_loopback_host(u) {
                return Err(format!(
                    "{what} must be https (plain http only to 127.0.0.1 / localhost): '{u}'"
                ));
            }
        }
        _ => {
            return Err(format!(
                "{what} must be an http(s) URL with a host, not '{u}'"
            ));
        }
    }
    if u.fragment().is_some() {
        return Err(format!("{what} must not have a fragment"));
    }
    Ok(())
}

impl ConnectionSpec {
    /// Everything a flow needs is there and nothing contradicts it.
    pub fn validate(&self, secrets: &ConnectionSecrets) -> Result<(), String> {
        http_url("the token endpoint", &self.token_endpoint, true)?;
        if let Some(u) = &self.authorization_endpoint {
            http_url("the authorization endpoint", u, true)?;
        }
        if let Some(u) = &self.redirect_uri {
            // RFC 8252 §7.3: a loopback redirect is plain http.
            http_url("the redirect URI", u, true)?;
        }
        if let Some(p) = &self.proxy {
            // The proxy sees a TLS tunnel to an https provider.
            http_url("the proxy", p, false)?;
        }
        if let Some(alias) = &self.proxy_alias {
            if self.proxy.is_some() {
                return Err(format!(
                    "give either a proxy URL or the proxy alias '{alias}', not both"
                ));
            }
            valid_name_of("proxy alias", alias)?;
        }
        if self.proxy_username.is_some() != secrets.proxy_password.is_some() {
            return Err("a proxy user needs a proxy password, and the other way round".into());
        }
        if self.proxy_username.is_some() && self.proxy.is_none() {
            return Err("proxy credentials are given but no proxy".into());
        }
        if self.client_certificate_pem.is_some() != secrets.client_key_pem.is_some() {
            return Err("mutual TLS needs both the client certificate and its key".into());
        }
        if let Some(bad) = self
            .params
            .keys()
            .find(|k| RESERVED_PARAMS.contains(&k.as_str()))
        {
            return Err(format!(
                "the parameter '{bad}' is set by the flow and cannot be given as an extra parameter"
            ));
        }
        if self.scopes.iter().any(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        }) {
            return Err("a scope is empty or has characters RFC 6749 §3.3 does not allow".into());
        }
        if self.timeout_secs == 0 || self.timeout_secs > 300 {
            return Err("the timeout must be 1 to 300 seconds".into());
        }
        if self.default_lifetime_secs == 0 {
            return Err("the default token lifetime must be at least 1 second".into());
        }
        let client_id = self.client_id.as_deref().filter(|c| !c.is_empty());
        let has_key = secrets.signing_key_pem.is_some();
        match self.flow {
            Flow::ClientCredentials => {
                if client_id.is_none() || secrets.client_secret.is_none() {
                    return Err("client_credentials needs a client id and a client secret".into());
                }
            }
            Flow::ClientAssertion => {
                if client_id.is_none() || !has_key {
                    return Err(
                        "client_assertion needs a client id and a signing key (--key or --keystore)"
                            .into(),
                    );
                }
            }
            Flow::JwtBearer => {
                if !has_key {
                    return Err("jwt_bearer needs a signing key (--key or --keystore)".into());
                }
                let a = self.assertion.as_ref();
                let iss = a.and_then(|a| a.issuer.as_deref()).or(client_id);
                let sub = a.and_then(|a| a.subject.as_deref());
                if iss.is_none() || sub.is_none() {
                    return Err(
                        "jwt_bearer needs the assertion's issuer (or a client id) and subject"
                            .into(),
                    );
                }
            }
            Flow::AuthorizationCode => {
                if client_id.is_none() || self.authorization_endpoint.is_none() {
                    return Err(
                        "authorization_code needs a client id and an authorization endpoint".into(),
                    );
                }
            }
        }
        if let Some(a) = &self.assertion {
            if !has_key {
                return Err("assertion settings are given but no signing key".into());
            }
            if a.expires_in_minutes == 0 || a.expires_in_minutes > 60 {
                return Err("the assertion lifetime must be 1 to 60 minutes".into());
            }
            if (a.x5t || a.x5t_s256) && a.certificate_pem.is_none() {
                return Err("x5t / x5t#S256 need the signing certificate (--cert)".into());
            }
            if let Some(kid) = &a.kid
                && (kid.is_empty() || kid.len() > 256 || kid.chars().any(char::is_control))
            {
                return Err(
                    "the kid must be 1 to 256 characters without control characters".into(),
                );
            }
        }
        Ok(())
    }

    /// The assertion settings, with their defaults when none were given.
    pub fn assertion(&self) -> AssertionSpec {
        self.assertion.clone().unwrap_or(AssertionSpec {
            expires_in_minutes: 5,
            ..AssertionSpec::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(flow: Flow) -> ConnectionSpec {
        ConnectionSpec {
            flow,
            token_endpoint: Url::parse("https://login.example/token").unwrap(),
            authorization_endpoint: None,
            client_id: Some("app".into()),
            scopes: vec!["https://graph.microsoft.com/.default".into()],
            params: BTreeMap::new(),
            assertion: None,
            redirect_uri: None,
            refresh_margin_secs: 60,
            default_lifetime_secs: 3600,
            truststore_pem: None,
            client_certificate_pem: None,
            proxy: None,
            proxy_username: None,
            proxy_alias: None,
            timeout_secs: 30,
        }
    }

    /// A URL with a password in it is refused without repeating the password,
    /// whatever else is wrong with it (a socks5:// proxy, a non-loopback http).
    #[test]
    fn a_password_in_a_url_is_never_echoed() {
        for url in [
            "socks5://u:s3cret@p.example:1080",
            "http://u:s3cret@remote.example/token",
            "https://u:s3cret@remote.example/token",
        ] {
            let err = http_url("proxy", &Url::parse(url).unwrap(), true).unwrap_err();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("credentials"), "{err}");
        }
    }

    #[test]
    fn each_flow_needs_its_parts() {
        let none = ConnectionSecrets::default();
        let secret = ConnectionSecrets {
            client_secret: Some("s".into()),
            ..Default::default()
        };
        let key = ConnectionSecrets {
            signing_key_pem: Some("k".into()),
            ..Default::default()
        };
        assert!(spec(Flow::ClientCredentials).validate(&secret).is_ok());
        assert!(spec(Flow::ClientCredentials).validate(&none).is_err());
        assert!(spec(Flow::ClientAssertion).validate(&key).is_ok());
        assert!(spec(Flow::ClientAssertion).validate(&secret).is_err());
        let mut jb = spec(Flow::JwtBearer);
        assert!(jb.validate(&key).is_err(), "no subject");
        jb.assertion = Some(AssertionSpec {
            subject: Some("user@example".into()),
            expires_in_minutes: 5,
            ..Default::default()
        });
        assert!(jb.validate(&key).is_ok());
        let mut code = spec(Flow::AuthorizationCode);
        assert!(code.validate(&none).is_err(), "no authorization endpoint");
        code.authorization_endpoint = Some(Url::parse("https://login.example/authorize").unwrap());
        assert!(code.validate(&none).is_ok(), "a public client with PKCE");
    }

    #[test]
    fn contradictions_are_refused() {
        let secret = ConnectionSecrets {
            client_secret: Some("s".into()),
            ..Default::default()
        };
        let mut s = spec(Flow::ClientCredentials);
        s.params.insert("grant_type".into(), "password".into());
        assert!(s.validate(&secret).unwrap_err().contains("grant_type"));
        let mut s = spec(Flow::ClientCredentials);
        s.token_endpoint = Url::parse("https://user:pw@login.example/token").unwrap();
        assert!(s.validate(&secret).unwrap_err().contains("credentials"));
        let mut s = spec(Flow::ClientCredentials);
        s.token_endpoint = Url::parse("http://login.example/token").unwrap();
        assert!(s.validate(&secret).unwrap_err().contains("https"));
        s.token_endpoint = Url::parse("http://127.0.0.1:8080/token").unwrap();
        assert!(s.validate(&secret).is_ok(), "loopback may be plain http");
        let mut s = spec(Flow::ClientCredentials);
        s.proxy_username = Some("u".into());
        assert!(s.validate(&secret).is_err());
        let mut s = spec(Flow::ClientCredentials);
        s.proxy_alias = Some("corp".into());
        assert!(s.validate(&secret).is_ok());
        s.proxy = Some(Url::parse("http://127.0.0.1:3128").unwrap());
        assert!(s.validate(&secret).unwrap_err().contains("not both"));
        let mut s = spec(Flow::ClientCredentials);
        s.scopes = vec!["a b".into()];
        assert!(s.validate(&secret).is_err());
        let mut s = spec(Flow::ClientAssertion);
        s.assertion = Some(AssertionSpec {
            x5t: true,
            expires_in_minutes: 5,
            ..Default::default()
        });
        let key = ConnectionSecrets {
            signing_key_pem: Some("k".into()),
            ..Default::default()
        };
        assert!(s.validate(&key).unwrap_err().contains("certificate"));
    }

    #[test]
    fn names_and_secret_debug() {
        assert!(valid_name("graph").is_ok());
        assert!(valid_name("sales-force.eu_1").is_ok());
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
        let s = ConnectionSecrets {
            client_secret: Some("hunter2".into()),
            ..Default::default()
        };
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2") && d.contains("<set>"), "{d}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let v = serde_json::json!({"flow": "client_credentials", "token_endpoint": "https://a/t", "scope": "x"});
        assert!(serde_json::from_value::<ConnectionSpec>(v).is_err());
    }
}
