//! Who holds a token, according to whom: this Tollgate's own store, a
//! third-party server's RFC 7662 introspection endpoint, or a third-party
//! server's JWKS (RFC 9068 JWT access tokens). Each validator answers
//! valid, invalid (it knows the token and refuses it) or unknown (try the
//! next one); "cannot tell" is an error, and the gateway fails closed on it.
//!
//! Answers are about the token only. What a service requires of it (scope,
//! audience, consumer) is checked by the caller on every request, cache hit
//! or not: a token cached as valid for one service must not pass another
//! service whose scope it lacks (Ory Oathkeeper, CVE-2021-32701).
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use serde_json::Value;
use tollgate_authz::Services;
use tollgate_authz::assertion::RemoteKeys;
use tollgate_authz::client_auth::basic_authorization;
use tollgate_core::{TokenHash, TokenKind};
use tollgate_jose::Alg;
use tollgate_jose::jwt::{self, ClaimRules, Verifier};
use tollgate_jose::secrets::token_hash;

use crate::error::GatewayError;
use crate::registry::AuthServer;
use crate::spec::LOCAL;

/// Largest introspection answer read.
const MAX_INTROSPECTION_BYTES: usize = 64 * 1024;

/// The holder of a valid token, as the gateway needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `local` or the name of the authorization server that vouched.
    pub source: Arc<str>,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl Principal {
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Valid(Arc<Principal>),
    /// The validator knows the token and refuses it; the reason is for the
    /// caller (RFC 6750 `error_description`).
    Invalid(&'static str),
    Unknown,
}

/// What `local` remembers between calls.
pub struct LocalCache {
    /// Values the store does not know. A token is committed before it is
    /// handed out, so a value unknown now stays unknown; without this, every
    /// call with a third party's token on a service that also accepts ours
    /// would cost a database round trip.
    misses: Cache<TokenHash, ()>,
    /// JWT access tokens of ours whose signature verified, by the SHA-256
    /// of the whole token, to the key of their stored record: the signature
    /// is checked once per token, not once per call (the record, which
    /// revocation marks, is still read every time).
    verified: Cache<TokenHash, TokenHash>,
}

impl LocalCache {
    pub fn new(capacity: u64) -> Self {
        let ttl = Duration::from_secs(300);
        Self {
            misses: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            verified: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    async fn record_key(&self, svc: &Services, token: &str) -> Option<TokenHash> {
        if !token.contains('.') {
            return Some(token_hash(token));
        }
        let whole = token_hash(token);
        if let Some(key) = self.verified.get(&whole).await {
            return Some(key);
        }
        let key = tollgate_authz::issue::lookup_hash(svc, token)?;
        self.verified.insert(whole, key).await;
        Some(key)
    }
}

/// This Tollgate's tokens, through the authorization server's own lookup
/// and cache (which revocation invalidates at once on this node).
pub async fn local(
    svc: &Services,
    cache: &LocalCache,
    token: &str,
) -> Result<Verdict, GatewayError> {
    let Some(hash) = cache.record_key(svc, token).await else {
        // A JWT that is not ours (another issuer, or a forgery).
        return Ok(Verdict::Unknown);
    };
    if cache.misses.contains_key(&hash) {
        return Ok(Verdict::Unknown);
    }
    let record = svc.token(&hash).await.map_err(|e| {
        tracing::warn!(error = %e, "token lookup failed; refusing the call");
        GatewayError::unavailable("the token store cannot be reached; try again shortly")
    })?;
    let Some(t) = record else {
        cache.misses.insert(hash, ()).await;
        return Ok(Verdict::Unknown);
    };
    let now = svc.now();
    if t.kind != TokenKind::Access {
        return Ok(Verdict::Invalid(
            "a refresh token is not an access token; exchange it at the token endpoint",
        ));
    }
    if t.revoked_at.is_some() {
        return Ok(Verdict::Invalid("the access token has been revoked"));
    }
    if t.expires_at <= now {
        return Ok(Verdict::Invalid("the access token has expired"));
    }
    match svc.client(&t.client_id).await {
        Ok(Some(c)) if c.enabled => {}
        Ok(_) => {
            return Ok(Verdict::Invalid(
                "the token's client is disabled or deleted",
            ));
        }
        Err(_) => {
            return Err(GatewayError::unavailable(
                "the token store cannot be reached; try again shortly",
            ));
        }
    }
    Ok(Verdict::Valid(Arc::new(Principal {
        source: Arc::from(LOCAL),
        client_id: Some(t.client_id.clone()),
        subject: t.subject.clone(),
        scopes: t.scope.iter().map(str::to_owned).collect(),
        // Our JWT access tokens name the issuer when the token has no
        // audience of its own (see `issue::sign_access_jwt`).
        audience: t.audience.clone(),
        issued_at: Some(t.issued_at),
        expires_at: Some(t.expires_at),
    })))
}

/// A cached answer of a third-party server, with how long it may be reused.
#[derive(Debug, Clone)]
struct Cached {
    verdict: Verdict,
    ttl: Duration,
}

struct PerEntry;

impl Expiry<(Arc<str>, TokenHash), Cached> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &(Arc<str>, TokenHash),
        value: &Cached,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Third-party validation with its cache: keyed by (server, SHA-256 of the
/// token), never the token itself; one call in flight per key however many
/// requests wait for it (moka's `try_get_with` coalesces them).
pub struct Remote {
    http: reqwest::Client,
    cache: Cache<(Arc<str>, TokenHash), Cached>,
    keys: RemoteKeys,
    skew: i64,
}

impl Remote {
    /// `ca_file`: extra roots for introspection servers behind a private CA (the
    /// same `assertions.jwks_ca_file` the JWKS fetcher trusts, so one file
    /// covers every third-party server).
    pub fn new(
        capacity: u64,
        keys: RemoteKeys,
        skew: i64,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let http = tollgate_authz::assertion::https_client(
            || {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .pool_max_idle_per_host(64)
            },
            ca_file,
        )
        .map_err(|e| format!("introspection {e}"))?;
        Ok(Self {
            http,
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntry)
                .build(),
            keys,
            skew,
        })
    }

    /// Forgets every cached answer (a server's settings changed).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// Hit/miss counts for metrics.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    pub async fn check(
        &self,
        server: &Arc<AuthServer>,
        token: &str,
        now: i64,
    ) -> Result<Verdict, GatewayError> {
        let key = (server.name.clone(), token_hash(token));
        let mut fetched = false;
        let cached = self
            .cache
            .try_get_with(key, async {
                fetched = true;
                let verdict = if server.spec.jwks_uri.is_some() {
                    self.verify_jwt(server, token, now).await?
                } else {
                    self.introspect(server, token, now).await?
                };
                Ok::<_, GatewayError>(Cached {
                    ttl: ttl(server, &verdict, now),
                    verdict,
                })
            })
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())?;
        metrics::counter!(
            crate::metrics::VALIDATION_CACHE,
            "server" => server.name.to_string(),
            "result" => if fetched { "miss" } else { "hit" },
        )
        .increment(1);
        // A cached answer may outlive the token's `exp` by less than a
        // second; never let it.
        if let Verdict::Valid(p) = &cached.verdict
            && p.expires_at.is_some_and(|e| e <= now)
        {
            return Ok(Verdict::Invalid("the access token has expired"));
        }
        Ok(cached.verdict)
    }

    async fn introspect(
        &self,
        server: &AuthServer,
        token: &str,
        now: i64,
    ) -> Result<Verdict, GatewayError> {
        let (Some(url), Some(id)) = (&server.spec.introspection_url, &server.spec.client_id) else {
            return Ok(Verdict::Unknown);
        };
        let down = |why: String| {
            tracing::warn!(server = %server.name, %why, "introspection failed; refusing the call");
            metrics::counter!(crate::metrics::INTROSPECTIONS, "server" => server.name.to_string(), "result" => "error").increment(1);
            GatewayError::unavailable(format!(
                "the authorization server '{}' cannot be reached; try again shortly",
                server.name
            ))
        };
        // Marked sensitive: never indexed by HTTP/2 header compression or
        // shown in a debug dump.
        let mut credentials = reqwest::header::HeaderValue::from_str(&basic_authorization(
            id,
            server.secret.as_deref().unwrap_or(""),
        ))
        .map_err(|_| down("the client credentials are not a valid header".into()))?;
        credentials.set_sensitive(true);
        let resp = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, credentials)
            .header("accept", "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(Duration::from_millis(server.spec.timeout_ms))
            .send()
            .await
            .map_err(|e| down(tollgate_core::error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(down(format!("status {status}")));
        }
        // An introspection answer is a small object; a server that sends
        // megabytes is refused rather than buffered.
        let mut resp = resp;
        let mut raw = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            down(format!(
                "reading the answer: {}",
                tollgate_core::error_chain(&e)
            ))
        })? {
            if raw.len() + chunk.len() > MAX_INTROSPECTION_BYTES {
                return Err(down("the answer is larger than 64 KiB".into()));
            }
            raw.extend_from_slice(&chunk);
        }
        let body: Value =
            serde_json::from_slice(&raw).map_err(|e| down(format!("not JSON: {e}")))?;
        let verdict = read_introspection(server, &body, now, self.skew);
        metrics::counter!(
            crate::metrics::INTROSPECTIONS,
            "server" => server.name.to_string(),
            "result" => if matches!(verdict, Verdict::Valid(_)) { "active" } else { "inactive" },
        )
        .increment(1);
        Ok(verdict)
    }

    /// RFC 9068 §4: signature by the server's published key, `typ`
    /// `at+jwt`, `iss`, `exp` (required) and `nbf`. The audience is the
    /// service's business (checked by the caller).
    async fn verify_jwt(
        &self,
        server: &AuthServer,
        token: &str,
        now: i64,
    ) -> Result<Verdict, GatewayError> {
        let (Some(url), Some(issuer)) = (&server.spec.jwks_uri, &server.spec.issuer) else {
            return Ok(Verdict::Unknown);
        };
        let Ok(header) = jwt::decode_header(token) else {
            return Ok(Verdict::Unknown);
        };
        let keys = self
            .keys
            .get(url.as_str(), header.kid.as_deref())
            .await
            .map_err(|e| {
                tracing::warn!(server = %server.name, error = %e, "fetching the JWKS failed");
                GatewayError::unavailable(format!(
                    "the keys of the authorization server '{}' cannot be fetched; try again shortly",
                    server.name
                ))
            })?;
        let Ok((header, claims)) = jwt::verify(token, Verifier::Keys(&keys), &Alg::ASYMMETRIC)
        else {
            return Ok(Verdict::Invalid(
                "the access token's signature does not verify",
            ));
        };
        let typ = header.typ.as_deref().unwrap_or("").to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Ok(Verdict::Invalid(
                "the JWT is not an access token (typ must be at+jwt, RFC 9068)",
            ));
        }
        let rules = ClaimRules {
            now,
            skew: self.skew,
            issuer: Some(issuer),
            subject: None,
            audiences: &[],
            require: &["exp", "iss"],
            max_lifetime: None,
        };
        if jwt::check_claims(&claims, &rules).is_err() {
            return Ok(Verdict::Invalid(
                "the access token has expired, is not yet valid or has another issuer",
            ));
        }
        Ok(Verdict::Valid(Arc::new(principal_from_claims(
            &server.name,
            &claims,
        ))))
    }
}

/// How long an answer is reused: a valid one until the token's `exp` or
/// the server's TTL, whichever comes first; a refusal briefly.
fn ttl(server: &AuthServer, v: &Verdict, now: i64) -> Duration {
    let secs = match v {
        Verdict::Valid(p) => {
            let to_exp = p.expires_at.map_or(i64::MAX, |e| e - now).max(0);
            to_exp.min(i64::try_from(server.spec.cache_ttl_secs).unwrap_or(i64::MAX))
        }
        _ => i64::try_from(server.spec.negative_ttl_secs).unwrap_or(0),
    };
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn str_claim(c: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    c.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn int_claim(c: &serde_json::Map<String, Value>, k: &str) -> Option<i64> {
    c.get(k)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// A claim that is a space-separated string or an array of strings (`scope`
/// is the first in RFC 8693/9068; some servers send arrays, or `scp`).
fn words(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(
            s.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn principal_from_claims(source: &Arc<str>, c: &serde_json::Map<String, Value>) -> Principal {
    let scopes = words(c.get("scope"))
        .or_else(|| words(c.get("scp")))
        .unwrap_or_default();
    // `aud` is a single string or an array (RFC 7519 §4.1.3); a string is
    // one audience, even with spaces in it.
    let audience = match c.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        other => words(other).unwrap_or_default(),
    };
    Principal {
        source: source.clone(),
        client_id: str_claim(c, "client_id").or_else(|| str_claim(c, "cid")),
        subject: str_claim(c, "sub"),
        scopes,
        audience,
        issued_at: int_claim(c, "iat"),
        expires_at: int_claim(c, "exp"),
    }
}

/// RFC 7662 §2.2: only `active: true` means anything; `exp` and `nbf`
/// are re-checked (a server's clock or cache may lag), and an `iss` that
/// names another issuer than configured is refused.
fn read_introspection(server: &AuthServer, body: &Value, now: i64, skew: i64) -> Verdict {
    let Some(obj) = body.as_object() else {
        return Verdict::Invalid("the authorization server's answer is not an object");
    };
    if obj.get("active") != Some(&Value::Bool(true)) {
        return Verdict::Invalid("the access token is not active (unknown, expired or revoked)");
    }
    if int_claim(obj, "exp").is_some_and(|e| e <= now) {
        return Verdict::Invalid("the access token has expired");
    }
    if int_claim(obj, "nbf").is_some_and(|n| n > now + skew) {
        return Verdict::Invalid("the access token is not valid yet");
    }
    if let (Some(want), Some(got)) = (&server.spec.issuer, obj.get("iss").and_then(Value::as_str))
        && want != got
    {
        return Verdict::Invalid("the access token was issued by another server");
    }
    Verdict::Valid(Arc::new(principal_from_claims(&server.name, obj)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::AuthServerSpec;

    fn server() -> AuthServer {
        AuthServer {
            name: Arc::from("okta"),
            spec: serde_json::from_value::<AuthServerSpec>(json!({
                "introspection_url": "http://127.0.0.1:1/i", "client_id": "rs",
                "issuer": "https://okta.example"
            }))
            .unwrap(),
            secret: Some("s".into()),
        }
    }

    #[test]
    fn introspection_answers() {
        let s = server();
        let now = 1_000;
        let v = read_introspection(
            &s,
            &json!({"active": true, "scope": "orders  read", "client_id": "c", "exp": 2000,
                    "iat": 900, "aud": ["a", "b"], "iss": "https://okta.example"}),
            now,
            60,
        );
        let Verdict::Valid(p) = v else {
            panic!("{v:?}")
        };
        assert_eq!(p.scopes, vec!["orders", "read"]);
        assert_eq!(p.audience, vec!["a", "b"]);
        assert_eq!(p.client_id.as_deref(), Some("c"));
        for body in [
            json!({"active": false}),
            json!({"active": "true"}),
            json!({"active": true, "exp": 999}),
            json!({"active": true, "nbf": 1100}),
            json!({"active": true, "iss": "https://evil.example"}),
            json!([]),
        ] {
            assert!(
                matches!(read_introspection(&s, &body, now, 60), Verdict::Invalid(_)),
                "{body}"
            );
        }
    }

    #[test]
    fn cache_lifetimes() {
        let s = server();
        let p = |exp| {
            Verdict::Valid(Arc::new(Principal {
                source: Arc::from("okta"),
                client_id: None,
                subject: None,
                scopes: vec![],
                audience: vec![],
                issued_at: None,
                expires_at: exp,
            }))
        };
        assert_eq!(ttl(&s, &p(Some(1_010)), 1_000), Duration::from_secs(10));
        assert_eq!(ttl(&s, &p(Some(9_000)), 1_000), Duration::from_secs(60));
        assert_eq!(ttl(&s, &p(None), 1_000), Duration::from_secs(60));
        assert_eq!(
            ttl(&s, &Verdict::Invalid("x"), 1_000),
            Duration::from_secs(5)
        );
    }
}
