//! Who may assert: the trusted JWT issuers of the JWT bearer grant (the
//! seed's "Access token using JWT" filter) and the SAML identity providers
//! of the SAML 2.0 bearer grant, configured in `[jwt_bearer]` and
//! `[saml_bearer]` and checked once at start.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{ClientId, ScopeSet};
use tollgate_jose::{Alg, JwkSet, PublicKey};
use tollgate_saml::{IdpTrust, SamlPolicy};

/// `[jwt_bearer]`: RFC 7523 §2.1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtBearerSettings {
    /// What `aud` must contain (one of them). Empty: the token endpoint URL
    /// (the seed's "Audience (aud) must contain the following URI").
    pub audience: Vec<String>,
    pub issuers: Vec<TrustedIssuerConfig>,
}

/// One trusted issuer of JWT bearer assertions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedIssuerConfig {
    /// The `iss` value.
    pub issuer: String,
    /// Its keys: a JWK Set inline, a `jwks_uri` fetched over https, or a PEM
    /// file of public keys and certificates (exactly one of the three).
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub keys_file: Option<PathBuf>,
    /// The `sub` values it may assert; `"*"` admits any. Required: an issuer
    /// that may speak for everyone must say so.
    pub subjects: Vec<String>,
    /// The scopes its assertions may obtain (on top of the client's own
    /// registered scopes). Empty: whatever the client may obtain.
    pub scopes: Vec<String>,
    /// The client tokens are issued to when the token request carries no
    /// client authentication (RFC 7523 §3.1 makes it optional).
    pub client_id: Option<String>,
    /// Accepted signature algorithms; empty: every asymmetric one.
    pub algorithms: Vec<Alg>,
}

/// `[saml_bearer]`: RFC 7522.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlBearerSettings {
    /// What Audience and Recipient must contain (the seed's "Audience and
    /// Recipient within SAML Assertion must contain the following URI").
    /// Unset: the token endpoint URL.
    pub audience: Option<String>,
    /// Clock drift allowed on NotBefore / NotOnOrAfter (the seed's "Drift time").
    pub drift_secs: u64,
    /// Largest decoded assertion accepted, bytes.
    pub max_bytes: usize,
    pub idps: Vec<TrustedIdpConfig>,
}

impl Default for SamlBearerSettings {
    fn default() -> Self {
        Self {
            audience: None,
            drift_secs: 60,
            max_bytes: tollgate_saml::DEFAULT_MAX_BYTES,
            idps: Vec::new(),
        }
    }
}

/// One trusted SAML identity provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedIdpConfig {
    /// The IdP's entity id: the assertion's `Issuer`.
    pub issuer: String,
    /// PEM file with the IdP's signing certificate(s).
    pub certificate_file: PathBuf,
    pub subjects: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Static(Arc<JwkSet>),
    Remote(String),
}

/// Limits shared by both kinds of trusted party.
#[derive(Debug, Clone)]
pub struct Grantor {
    subjects: Vec<String>,
    pub scopes: Option<ScopeSet>,
    pub client_id: Option<String>,
}

impl Grantor {
    fn new(
        what: &str,
        subjects: Vec<String>,
        scopes: &[String],
        client_id: Option<String>,
    ) -> Result<Self, String> {
        if subjects.is_empty() {
            return Err(format!(
                "{what}: subjects is empty; list the subjects it may assert, or \"*\" for any"
            ));
        }
        let scopes = if scopes.is_empty() {
            None
        } else {
            Some(ScopeSet::parse(&scopes.join(" ")).map_err(|e| format!("{what}: scopes: {e}"))?)
        };
        if let Some(c) = &client_id {
            ClientId::try_from(c.as_str()).map_err(|e| format!("{what}: client_id: {e}"))?;
        }
        Ok(Self {
            subjects,
            scopes,
            client_id,
        })
    }

    pub fn allows_subject(&self, sub: &str) -> bool {
        self.subjects.iter().any(|s| s == "*" || s == sub)
    }
}

#[derive(Debug)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub keys: KeySource,
    pub algorithms: Vec<Alg>,
    pub grantor: Grantor,
}

#[derive(Debug)]
pub struct TrustedIdp {
    pub policy: SamlPolicy,
    pub grantor: Grantor,
}

/// Every trusted party, ready to check assertions.
#[derive(Debug, Default)]
pub struct Trust {
    pub jwt_audience: Vec<String>,
    pub issuers: HashMap<String, TrustedIssuer>,
    pub idps: Vec<TrustedIdp>,
}

impl Trust {
    /// Checks and loads the configuration (key files are read here, once).
    /// `token_endpoint` is the default audience of both grants.
    pub fn load(
        jwt: &JwtBearerSettings,
        saml: &SamlBearerSettings,
        token_endpoint: &str,
    ) -> Result<Self, String> {
        let mut issuers = HashMap::new();
        for c in &jwt.issuers {
            let what = format!("jwt_bearer.issuers[{}]", c.issuer);
            if c.issuer.is_empty() {
                return Err("jwt_bearer.issuers: an entry has no issuer".into());
            }
            let keys = match (&c.jwks, &c.jwks_uri, &c.keys_file) {
                (Some(v), None, None) => KeySource::Static(Arc::new(
                    JwkSet::parse(v).map_err(|e| format!("{what}.jwks: {e}"))?,
                )),
                (None, Some(uri), None) => {
                    let u = url::Url::parse(uri)
                        .map_err(|_| format!("{what}.jwks_uri is not a URL"))?;
                    if u.scheme() != "https" {
                        return Err(format!("{what}.jwks_uri must use https"));
                    }
                    KeySource::Remote(uri.clone())
                }
                (None, None, Some(path)) => KeySource::Static(Arc::new(pem_keys(path, &what)?)),
                _ => {
                    return Err(format!(
                        "{what}: give exactly one of jwks, jwks_uri or keys_file"
                    ));
                }
            };
            let algorithms = if c.algorithms.is_empty() {
                Alg::ASYMMETRIC.to_vec()
            } else if c.algorithms.iter().any(|a| a.is_hmac()) {
                return Err(format!(
                    "{what}.algorithms: HMAC algorithms need a shared secret, which a trusted issuer does not have here"
                ));
            } else {
                c.algorithms.clone()
            };
            let grantor = Grantor::new(&what, c.subjects.clone(), &c.scopes, c.client_id.clone())?;
            let t = TrustedIssuer {
                issuer: c.issuer.clone(),
                keys,
                algorithms,
                grantor,
            };
            if issuers.insert(c.issuer.clone(), t).is_some() {
                return Err(format!("{what}: the issuer is listed twice"));
            }
        }
        let saml_audience = saml
            .audience
            .clone()
            .unwrap_or_else(|| token_endpoint.to_owned());
        let mut idps = Vec::new();
        for c in &saml.idps {
            let what = format!("saml_bearer.idps[{}]", c.issuer);
            if c.issuer.is_empty() {
                return Err("saml_bearer.idps: an entry has no issuer".into());
            }
            let pem = std::fs::read_to_string(&c.certificate_file).map_err(|e| {
                format!(
                    "{what}.certificate_file {}: {e}",
                    c.certificate_file.display()
                )
            })?;
            let trust =
                IdpTrust::from_pem(&pem).map_err(|e| format!("{what}.certificate_file: {e}"))?;
            let mut policy = SamlPolicy::new(trust, saml_audience.clone());
            policy.issuer = Some(c.issuer.clone());
            policy.drift_secs = i64::try_from(saml.drift_secs.min(3600)).unwrap_or(60);
            policy.max_bytes = saml.max_bytes;
            idps.push(TrustedIdp {
                policy,
                grantor: Grantor::new(&what, c.subjects.clone(), &c.scopes, c.client_id.clone())?,
            });
        }
        let jwt_audience = if jwt.audience.is_empty() {
            vec![token_endpoint.to_owned()]
        } else {
            jwt.audience.clone()
        };
        Ok(Self {
            jwt_audience,
            issuers,
            idps,
        })
    }
}

/// Public keys and certificates from a PEM file, one key per block.
fn pem_keys(path: &std::path::Path, what: &str) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{what}.keys_file {}: {e}", path.display()))?;
    let mut keys = Vec::new();
    let mut block = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            block.clear();
        }
        block.push_str(line);
        block.push('\n');
        if line.starts_with("-----END ") {
            keys.push(PublicKey::from_pem(&block).map_err(|e| format!("{what}.keys_file: {e}"))?);
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "{what}.keys_file holds no PEM public key or certificate"
        ));
    }
    Ok(JwkSet::from_keys(keys))
}
