//! Talking to the provider's token endpoint: the HTTP client of a
//! connection (its truststore, client certificate and proxy), the token
//! request of each grant with the connection's client authentication, and
//! the answer (RFC 6749 §5.1 / §5.2).
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tollgate_jose::{Alg, KeyWithChain};

use crate::error::ConnectError;
use crate::proxies::ProxyRoute;
use crate::spec::{ConnectionSecrets, ConnectionSpec, Flow};

/// Answers larger than this are refused (a token response is a few KiB).
const MAX_ANSWER: usize = 256 * 1024;

/// The assertion type of RFC 7523 §2.2.
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The grant type of RFC 7523 §2.1.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What is asked of the token endpoint.
pub enum Grant<'a> {
    /// The flow's own grant, without a person: client credentials, or a JWT
    /// bearer assertion.
    Unattended,
    Refresh(&'a str),
    Code {
        code: &'a str,
        verifier: &'a str,
        redirect_uri: &'a str,
    },
}

/// A successful token response.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The HTTP client of one connection, through `proxy` (the connection's
/// own, or its alias's as resolved by the caller) when there is one.
pub fn http_client(
    spec: &ConnectionSpec,
    secrets: &ConnectionSecrets,
    proxy: Option<&ProxyRoute>,
) -> Result<reqwest::Client, ConnectError> {
    let config = |m: String| ConnectError::Config(m);
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(spec.timeout_secs))
        .connect_timeout(Duration::from_secs(spec.timeout_secs.min(10)))
        .no_proxy();
    if let Some(pem) = &spec.truststore_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
            config(format!(
                "the truststore is not a PEM certificate bundle: {e}"
            ))
        })?;
        if certs.is_empty() {
            return Err(config("the truststore holds no certificate".into()));
        }
        // Only these: a private CA's provider is trusted through it alone.
        b = b.tls_certs_only(certs);
    }
    if let (Some(cert), Some(key)) = (&spec.client_certificate_pem, &secrets.client_key_pem) {
        let mut pem = key.clone();
        pem.push('\n');
        pem.push_str(cert);
        let id = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| {
            config(format!(
                "the client certificate or its key cannot be used: {e}"
            ))
        })?;
        b = b.identity(id);
    }
    if let Some(route) = proxy {
        let mut p = reqwest::Proxy::all(route.url.as_str())
            .map_err(|e| config(format!("the proxy URL cannot be used: {e}")))?;
        if let (Some(u), Some(pw)) = (&route.username, &route.password) {
            p = p.basic_auth(u, pw);
        }
        b = b.proxy(p);
    }
    b.build()
        .map_err(|e| config(format!("the HTTP client cannot be built: {e}")))
}

/// The signing key of the connection with its certificate chain.
pub fn signing_key(
    spec: &ConnectionSpec,
    secrets: &ConnectionSecrets,
) -> Result<Option<KeyWithChain>, ConnectError> {
    let Some(key_pem) = &secrets.signing_key_pem else {
        return Ok(None);
    };
    let a = spec.assertion();
    let alg = match a.alg.as_deref() {
        None => None,
        Some(s) => Some(
            Alg::parse(s)
                .ok_or_else(|| ConnectError::Config(format!("unknown signing algorithm '{s}'")))?,
        ),
    };
    let mut key = KeyWithChain::from_pem(key_pem, a.certificate_pem.as_deref(), alg)
        .map_err(|e| ConnectError::Config(format!("the signing key: {e}")))?;
    // The provider's name for the key, when it has its own; else the
    // thumbprint the key carries from `from_pem`.
    if let Some(kid) = a.kid {
        key.key = key.key.with_kid(kid);
    }
    Ok(Some(key))
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they
/// go into the Basic credentials.
fn basic(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// A signed assertion: `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, with
/// `x5t` / `x5t#S256` in the header as the connection asks.
fn assertion(
    spec: &ConnectionSpec,
    key: &KeyWithChain,
    issuer: &str,
    subject: &str,
    now: i64,
) -> Result<String, ConnectError> {
    let a = spec.assertion();
    let audience = a
        .audience
        .clone()
        .unwrap_or_else(|| spec.token_endpoint.to_string());
    let jti = tollgate_jose::secrets::random_token(24)
        .map_err(|e| ConnectError::Config(format!("no randomness for the assertion id: {e}")))?;
    let claims = json!({
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + i64::from(a.expires_in_minutes) * 60,
        "jti": jti,
    });
    let mut header = Map::new();
    header.insert("typ".into(), Value::from("JWT"));
    if a.x5t {
        let t = key
            .x5t()
            .ok_or_else(|| ConnectError::Config("x5t needs the signing certificate".into()))?;
        header.insert("x5t".into(), Value::from(t));
    }
    if a.x5t_s256 {
        let t = key
            .x5t_s256()
            .ok_or_else(|| ConnectError::Config("x5t#S256 needs the signing certificate".into()))?;
        header.insert("x5t#S256".into(), Value::from(t));
    }
    key.key
        .sign_jwt_with(&header, &claims)
        .map_err(|e| ConnectError::Config(format!("signing the assertion failed: {e}")))
}

/// A token request: its form, and its `Authorization` header (if any).
pub struct TokenRequest {
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
}

/// The token request of `grant`, with the connection's client
/// authentication.
pub fn token_request(
    spec: &ConnectionSpec,
    secrets: &ConnectionSecrets,
    key: Option<&KeyWithChain>,
    grant: &Grant<'_>,
    now: i64,
) -> Result<TokenRequest, ConnectError> {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &str| form.push((k.to_owned(), v.to_owned()));
    let client_id = spec.client_id.as_deref().filter(|c| !c.is_empty());
    let need_key = || key.ok_or_else(|| ConnectError::Config("no signing key".into()));
    match grant {
        Grant::Unattended => {
            match spec.flow {
                Flow::ClientCredentials | Flow::ClientAssertion => {
                    add("grant_type", "client_credentials");
                }
                Flow::JwtBearer => {
                    let a = spec.assertion();
                    let iss = a.issuer.as_deref().or(client_id).ok_or_else(|| {
                        ConnectError::Config("the assertion has no issuer".into())
                    })?;
                    let sub = a.subject.as_deref().ok_or_else(|| {
                        ConnectError::Config("the assertion has no subject".into())
                    })?;
                    add("grant_type", JWT_BEARER_GRANT);
                    add("assertion", &assertion(spec, need_key()?, iss, sub, now)?);
                }
                Flow::AuthorizationCode => {
                    return Err(ConnectError::NeedsAuthorization(
                    "an authorization-code connection needs a person to authorize it (tollgate connection authorize)".into(),
                ));
                }
            }
        }
        Grant::Refresh(rt) => {
            add("grant_type", "refresh_token");
            add("refresh_token", rt);
        }
        Grant::Code {
            code,
            verifier,
            redirect_uri,
        } => {
            add("grant_type", "authorization_code");
            add("code", code);
            add("code_verifier", verifier);
            add("redirect_uri", redirect_uri);
        }
    }
    // A refresh asks for no scope: the grant's own (RFC 6749 §6).
    if !spec.scopes.is_empty() && !matches!(grant, Grant::Refresh(_) | Grant::Code { .. }) {
        add("scope", &spec.scopes.join(" "));
    }
    for (k, v) in &spec.params {
        add(k, v);
    }
    // Client authentication: a signed assertion for `client_assertion`,
    // else the secret over Basic, else (a public client) the id alone.
    let mut authorization = None;
    match (spec.flow, client_id) {
        (Flow::ClientAssertion, Some(id)) => {
            let a = spec.assertion();
            let iss = a.issuer.as_deref().unwrap_or(id);
            let sub = a.subject.as_deref().unwrap_or(id);
            add("client_id", id);
            add("client_assertion_type", JWT_BEARER_ASSERTION);
            add(
                "client_assertion",
                &assertion(spec, need_key()?, iss, sub, now)?,
            );
        }
        (_, Some(id)) => match &secrets.client_secret {
            Some(secret) => authorization = Some(basic(id, secret)),
            None => add("client_id", id),
        },
        (_, None) => {}
    }
    Ok(TokenRequest {
        form,
        authorization,
    })
}

/// Sends the request and reads the answer.
pub async fn request_token(
    http: &reqwest::Client,
    spec: &ConnectionSpec,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<Issued, ConnectError> {
    let mut req = http
        .post(spec.token_endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form);
    if let Some(a) = authorization {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            ConnectError::Unreachable(format!(
                "the token endpoint {} cannot be reached: {}",
                spec.token_endpoint,
                tollgate_core::error_chain(&e)
            ))
        } else {
            ConnectError::Interrupted(format!(
                "the token endpoint {} did not answer: {}",
                spec.token_endpoint,
                tollgate_core::error_chain(&e)
            ))
        }
    })?;
    let status = resp.status();
    let body = match read_limited(resp).await {
        Ok(body) => body,
        // A refusal whose body broke off (a proxy's 407 often does) is
        // still the refusal its status says.
        Err(ConnectError::Interrupted(_)) if !status.is_success() => Vec::new(),
        Err(e) => return Err(e),
    };
    parse_answer(status.as_u16(), &body)
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, ConnectError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        ConnectError::Interrupted(format!("reading the token endpoint's answer failed: {e}"))
    })? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ConnectError::Protocol(
                "the token endpoint's answer is larger than 256 KiB".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A provider's words as they may go into a log, an error and the store:
/// at most 300 characters, no control characters.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.chars().filter(|c| !c.is_control()).count() > 300 {
        out.push('…');
    }
    out
}

/// RFC 6749 §5.1 (200 with a JSON token) or §5.2 (a JSON error).
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Issued, ConnectError> {
    let json: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let Some(j) = json else {
            return Err(ConnectError::from_status(status, None, None));
        };
        let text = |k: &str| j.get(k).and_then(Value::as_str).map(printable);
        return Err(ConnectError::from_status(
            status,
            text("error"),
            text("error_description"),
        ));
    }
    let j = json.ok_or_else(|| {
        ConnectError::Protocol(format!(
            "the token endpoint answered {status} without a JSON object"
        ))
    })?;
    let text = |k: &str| j.get(k).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConnectError::Protocol("the token response has no access_token".into()))?;
    let token_type = text("token_type").ok_or_else(|| {
        ConnectError::Protocol("the token response has no token_type (RFC 6749 §5.1)".into())
    })?;
    // Numbers per RFC 6749; some providers send a string.
    let expires_in = match j.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    };
    Ok(Issued {
        access_token,
        token_type,
        expires_in,
        refresh_token: text("refresh_token").filter(|t| !t.is_empty()),
        scope: text("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ok = parse_answer(
            200,
            br#"{"access_token":"at","token_type":"Bearer","expires_in":"3599","refresh_token":"rt","scope":"a b"}"#,
        )
        .unwrap();
        assert_eq!(ok.access_token, "at");
        assert_eq!(ok.expires_in, Some(3599));
        assert_eq!(ok.refresh_token.as_deref(), Some("rt"));
        assert!(!format!("{ok:?}").contains("rt\""));
        let e = parse_answer(
            400,
            br#"{"error":"invalid_grant","error_description":"refresh token expired"}"#,
        )
        .unwrap_err();
        assert!(matches!(&e, ConnectError::Provider { error, .. } if error == "invalid_grant"));
        assert!(e.to_string().contains("refresh token expired"), "{e}");
        assert!(e.is_dead_grant());
        let e = parse_answer(503, b"<html>down</html>").unwrap_err();
        assert!(e.is_transient() && e.may_resend(true), "{e}");
        let e = parse_answer(500, b"{}").unwrap_err();
        assert!(
            e.is_transient() && !e.may_resend(true) && e.may_resend(false),
            "{e}"
        );
        let long = format!(
            r#"{{"error":"invalid_request","error_description":"{}\u0007"}}"#,
            "x".repeat(1000)
        );
        let e = parse_answer(400, long.as_bytes()).unwrap_err();
        let ConnectError::Provider { description, .. } = &e else {
            panic!("{e}")
        };
        let d = description.as_deref().unwrap();
        assert!(d.chars().count() <= 301 && !d.contains('\u{7}'), "{d}");
        let e = parse_answer(200, br#"{"token_type":"Bearer"}"#).unwrap_err();
        assert!(e.to_string().contains("access_token"), "{e}");
        let e = parse_answer(200, b"not json").unwrap_err();
        assert!(matches!(e, ConnectError::Protocol(_)));
    }

    #[test]
    fn the_header_kid_is_the_thumbprint_unless_one_is_given() {
        let key = tollgate_jose::SigningKey::generate(Alg::ES256).unwrap();
        let secrets = ConnectionSecrets {
            signing_key_pem: Some(key.to_pkcs8_pem()),
            ..Default::default()
        };
        let mut spec: ConnectionSpec = serde_json::from_value(json!({
            "flow": "client_assertion",
            "token_endpoint": "https://login.example/token",
            "client_id": "app",
        }))
        .unwrap();
        let kid_of = |spec: &ConnectionSpec| {
            let req = token_request(
                spec,
                &secrets,
                signing_key(spec, &secrets).unwrap().as_ref(),
                &Grant::Unattended,
                1_700_000_000,
            )
            .unwrap();
            let (_, jwt) = req
                .form
                .iter()
                .find(|(k, _)| k == "client_assertion")
                .unwrap();
            tollgate_jose::decode_header(jwt).unwrap().kid
        };
        assert_eq!(kid_of(&spec).as_deref(), Some(key.thumbprint().as_str()));
        spec.assertion = Some(crate::AssertionSpec {
            kid: Some("okta-registered-1".into()),
            expires_in_minutes: 5,
            ..Default::default()
        });
        assert_eq!(kid_of(&spec).as_deref(), Some("okta-registered-1"));
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        // RFC 6749 §2.3.1: "a:b" / "c d" → "a%3Ab:c+d".
        let h = basic("a:b", "c d");
        let decoded = STANDARD.decode(h.trim_start_matches("Basic ")).unwrap();
        assert_eq!(decoded, b"a%3Ab:c+d");
    }
}
