//! Minting tokens: random values, their hashes in the store, the RFC 6749
//! §5.1 response. Shared by every grant.
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use tollgate_core::{
    AccessTokenFormat, Client, RefreshMode, ScopeSet, TokenHash, TokenKind, TokenRecord,
    TokenSettings,
};
use tollgate_jose::Alg;
use tollgate_jose::jwt::{self, Verifier};
use tollgate_jose::secrets::{random_token, token_hash};

use crate::Error;
use crate::clients::internal;
use crate::services::Services;

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// Always present, so clients see exactly what was granted (RFC 6749 §3.3).
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What a grant decided; `mint` turns it into stored tokens.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub settings: TokenSettings,
    pub subject: Option<String>,
    pub scope: ScopeSet,
    pub grant_id: String,
    pub with_refresh: bool,
    /// Extra name/value pairs for this grant (e.g. stored with a code); the
    /// client's metadata is added underneath.
    pub metadata: BTreeMap<String, String>,
    /// Derive the token values from this (a presented refresh token) instead
    /// of drawing them at random; see [`derived_values`].
    pub derive_from: Option<&'a str>,
}

/// The values refresh rotation issues for a presented refresh token: the
/// same every time, so a retried refresh within the grace period can be
/// answered with the pair the first attempt stored (`MasterKey::derive_token`).
pub fn derived_values(
    svc: &Services,
    settings: &TokenSettings,
    presented: &str,
) -> (String, String) {
    (
        svc.master
            .derive_token("access", presented, settings.access_token_length),
        svc.master
            .derive_token("refresh", presented, settings.refresh_token_length),
    )
}

/// A grant id that sorts by creation time (milliseconds, fixed-width hex)
/// followed by 16 random base62 characters: the `tokens(grant_id)` index then
/// grows at its end like the expiry index instead of taking each new token on
/// a random page, which matters once it no longer fits in the page cache.
pub fn new_grant_id(now_millis: i64) -> Result<String, Error> {
    let random = random_token(16).map_err(internal)?;
    Ok(format!("{:012x}{random}", now_millis.max(0)))
}

/// The client's effective token settings (server defaults + its overrides).
pub fn settings_for(svc: &Services, client: &Client) -> TokenSettings {
    svc.settings.tokens.with_override(&client.token_settings)
}

/// Builds the records for an access token (and a refresh token if asked),
/// without storing them.
pub fn build(svc: &Services, g: &Grant<'_>) -> Result<(TokenResponse, Vec<TokenRecord>), Error> {
    let now = svc.now();
    let s = &g.settings;
    let mut metadata = g.client.metadata.clone();
    metadata.extend(g.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    let derived = g.derive_from.map(|seed| derived_values(svc, s, seed));
    let access = match &derived {
        Some((a, _)) => a.clone(),
        None => random_token(s.access_token_length).map_err(internal)?,
    };
    let ttl = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX);
    let record = |hash, kind, ttl_secs: u64| TokenRecord {
        hash,
        kind,
        client_id: g.client.id.to_string(),
        subject: g.subject.clone(),
        scope: g.scope.clone(),
        audience: Vec::new(),
        token_type: s.token_type.clone(),
        issued_at: now,
        expires_at: now.saturating_add(ttl(ttl_secs)),
        grant_id: g.grant_id.clone(),
        revoked_at: None,
        metadata: metadata.clone(),
    };
    let access_hash = match s.access_token_format {
        AccessTokenFormat::Opaque => token_hash(&access),
        AccessTokenFormat::Jwt => jwt_record_hash(&access),
    };
    let mut records = vec![record(access_hash, TokenKind::Access, s.access_token_ttl)];
    // A JWT access token is stored like an opaque one, under the hash of
    // its `jti` (the random value, see `jwt_record_hash`): introspection and
    // revocation find it by verifying the JWT and hashing its `jti`.
    let access = match s.access_token_format {
        AccessTokenFormat::Opaque => access,
        AccessTokenFormat::Jwt => sign_access_jwt(svc, &records[0], &access)?,
    };
    let refresh = if g.with_refresh && s.refresh_mode != RefreshMode::None {
        let value = match derived {
            Some((_, r)) => r,
            None => random_token(s.refresh_token_length).map_err(internal)?,
        };
        records.push(record(
            token_hash(&value),
            TokenKind::Refresh,
            s.refresh_token_ttl,
        ));
        Some(value)
    } else {
        None
    };
    Ok((
        TokenResponse {
            access_token: access,
            token_type: s.token_type.clone(),
            expires_in: s.access_token_ttl,
            scope: g.scope.to_string(),
            refresh_token: refresh,
        },
        records,
    ))
}

/// The media type RFC 9068 §2.1 puts in `typ` (the short form).
pub const AT_JWT: &str = "at+jwt";

/// An RFC 9068 access token for a stored record, signed with the current
/// key. `jti` is the value whose hash is the record's key. Every claim comes
/// from the record, so a refresh retried within the grace period gets a JWT
/// with the same claims (and the same `jti`) as the first answer.
pub fn sign_access_jwt(svc: &Services, rec: &TokenRecord, jti: &str) -> Result<String, Error> {
    let set = svc.keys.current();
    let Some(key) = set.active.as_ref() else {
        return Err(internal("no signing key is active"));
    };
    let aud: Value = match rec.audience.as_slice() {
        [] => json!(svc.settings.issuer),
        [one] => json!(one),
        many => json!(many),
    };
    let claims = json!({
        "iss": svc.settings.issuer,
        // RFC 9068 §2.2: without a resource owner the client is the subject.
        "sub": rec.subject.as_deref().unwrap_or(rec.client_id.as_str()),
        "aud": aud,
        "client_id": rec.client_id,
        "scope": rec.scope.to_string(),
        "jti": jti,
        "iat": rec.issued_at,
        "exp": rec.expires_at,
    });
    key.sign_jwt(AT_JWT, &claims).map_err(internal)
}

/// The store key of a JWT access token: a hash of its `jti` in a domain of
/// its own. The `jti` sits in clear text in every JWT's payload (and in
/// resource servers' logs); stored under its plain hash it would also work
/// as an opaque token.
pub fn jwt_record_hash(jti: &str) -> TokenHash {
    token_hash(&format!("at+jwt\0{jti}"))
}

/// The store key of a presented token value: its hash, or for one of our
/// JWT access tokens the hash of its `jti`, once its signature verifies
/// against our published keys, its `typ` is `at+jwt` and its `iss` is us
/// (RFC 9068 §4). `None` for a JWT that fails any of that: it cannot be
/// ours, so it is unknown.
pub fn lookup_hash(svc: &Services, value: &str) -> Option<TokenHash> {
    if !value.contains('.') {
        return Some(token_hash(value));
    }
    let set = svc.keys.current();
    let keys = set.verify.as_ref()?;
    let (header, claims) = jwt::verify(value, Verifier::Keys(keys), &Alg::SIGNING).ok()?;
    let typ = header.typ.as_deref()?.to_ascii_lowercase();
    if typ != AT_JWT && typ != "application/at+jwt" {
        return None;
    }
    if claims.get("iss").and_then(Value::as_str) != Some(svc.settings.issuer.as_str()) {
        return None;
    }
    let jti = claims.get("jti").and_then(Value::as_str)?;
    Some(jwt_record_hash(jti))
}

/// Builds, commits and caches the tokens of a grant. Returns only after the
/// store committed them: a 200 never names a token that is not stored.
pub async fn mint(svc: &Services, g: &Grant<'_>) -> Result<TokenResponse, Error> {
    let (resp, records) = build(svc, g)?;
    svc.store.insert_tokens(records.clone()).await?;
    for r in records {
        svc.remember_token(r).await;
    }
    Ok(resp)
}
