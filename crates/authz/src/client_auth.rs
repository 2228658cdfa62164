//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3): HTTP Basic (the seed's "In Authorization
//! Header"), `client_id`/`client_secret` in the form body ("In Form Body"),
//! or a client assertion (RFC 7523 §2.2: `private_key_jwt`,
//! `client_secret_jwt`, see [`crate::assertion::client`]); never two at
//! once, and only the method the client registered.
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tollgate_core::{AuthMethod, Client, ClientType, OAuthError, SecretHashKind};
use tollgate_jose::secrets::argon2_verify;

use crate::form::Params;
use crate::services::Services;

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Basic,
    Post,
    /// Only `client_id`: a public client.
    IdOnly,
    /// `client_assertion` (RFC 7523 §2.2).
    Assertion,
}

struct Credentials {
    client_id: String,
    /// The secret, or for [`Presented::Assertion`] the assertion.
    secret: Option<String>,
    how: Presented,
}

/// Whether the request carries any client credentials at all (the JWT and
/// SAML bearer grants make client authentication optional, RFC 7521 §4.2).
pub fn presented(headers: &HeaderMap, params: &Params) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || params.get("client_id").is_some()
        || params.get("client_secret").is_some()
        || params.get("client_assertion").is_some()
        || params.get("client_assertion_type").is_some()
}

/// The client id the request claims, for the audit log of a rejected request
/// (only if it is a well-formed id; never the secret).
pub fn claimed_client_id(headers: &HeaderMap, params: &Params) -> Option<String> {
    let id = match extract(headers, params) {
        Ok(Some(c)) => c.client_id,
        _ => params.get("client_id")?.to_owned(),
    };
    tollgate_core::ClientId::try_from(id).ok().map(String::from)
}

fn basic(value: &str) -> Result<Credentials, OAuthError> {
    // A header that does not even parse named no client and tried no
    // secret: a malformed request (RFC 6749 §5.2), not a failed login.
    let bad = || OAuthError::invalid_request("malformed HTTP Basic credentials (RFC 7617)");
    let decoded = STANDARD.decode(value.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let joined: String = form_urlencoded::parse(format!("v={s}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .collect();
        if joined.contains('\u{FFFD}') {
            Err(bad())
        } else {
            Ok(joined)
        }
    };
    Ok(Credentials {
        client_id: unescape(id)?,
        secret: Some(unescape(secret)?),
        how: Presented::Basic,
    })
}

/// RFC 7521 §4.2: `client_assertion_type` and `client_assertion` together,
/// and no other credentials beside them.
fn assertion(headers: &HeaderMap, params: &Params) -> Result<Credentials, OAuthError> {
    let (Some(kind), Some(value)) = (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) else {
        return Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together (RFC 7521 §4.2)",
        ));
    };
    if kind != crate::assertion::JWT_CLIENT_ASSERTION {
        return Err(OAuthError::invalid_client(
            format!(
                "client_assertion_type must be {}",
                crate::assertion::JWT_CLIENT_ASSERTION
            ),
            false,
        ));
    }
    if headers.contains_key(header::AUTHORIZATION) || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "the client used more than one authentication method (RFC 6749 §2.3)",
        ));
    }
    let client_id = crate::assertion::client::claimed_client(value)?;
    // RFC 7521 §4.2: a client_id beside the assertion must name the same client.
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_client(
            "client_id differs from the client assertion's sub",
            false,
        ));
    }
    Ok(Credentials {
        client_id,
        secret: Some(value.to_owned()),
        how: Presented::Assertion,
    })
}

fn extract(headers: &HeaderMap, params: &Params) -> Result<Option<Credentials>, OAuthError> {
    if params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some() {
        return assertion(headers, params).map(Some);
    }
    let mut from_header = None;
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        let h = h
            .to_str()
            .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client(
                "clients authenticate with HTTP Basic or form parameters here",
                true,
            ));
        }
        from_header = Some(basic(rest)?);
    }
    match from_header {
        Some(c) => {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "the client used more than one authentication method (RFC 6749 §2.3)",
                ));
            }
            if params.get("client_id").is_some_and(|id| id != c.client_id) {
                return Err(OAuthError::invalid_client(
                    "client_id in the body differs from the authenticated client",
                    true,
                ));
            }
            Ok(Some(c))
        }
        None => Ok(params.get("client_id").map(|id| Credentials {
            client_id: id.to_owned(),
            secret: params.get("client_secret").map(str::to_owned),
            how: if params.get("client_secret").is_some() {
                Presented::Post
            } else {
                Presented::IdOnly
            },
        })),
    }
}

const FAILED: &str = "client authentication failed";

/// Authenticates the calling client. `allow_public` admits public clients
/// that send only their `client_id`; `peer` is the client address;
/// `endpoint` the URL called (an assertion may name it as its audience).
///
/// Failed attempts are throttled (see [`crate::ratelimit`]): a client id
/// with too many recent failures gets 429 before any secret is checked, so
/// a brute force learns nothing while blocked, not even from the right
/// secret. An address is never refused: its failures are answered later
/// and later, and its Argon2 checks wait their turn, so a correct
/// credential of a client that is not itself locked is never refused,
/// whatever its neighbours behind the same address do (one that needs an
/// Argon2 check may wait behind their queued checks). A success resets
/// no counter: otherwise an attacker holding one valid client could
/// interleave its own successful logins to keep guessing another client's
/// secret. The price, a client id that can be locked out for one window by
/// anyone who sends it enough wrong secrets, is bounded by the window and
/// visible in the audit log (outcome `too_many_requests`).
pub async fn authenticate(
    svc: &Services,
    headers: &HeaderMap,
    params: &Params,
    allow_public: bool,
    peer: Option<IpAddr>,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    let limits = &svc.limits;
    let Some(creds) = extract(headers, params)? else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: HTTP Basic, or client_id and client_secret in the body",
            false,
        ));
    };
    let basic = creds.how == Presented::Basic;
    if tollgate_core::ClientId::try_from(creds.client_id.as_str()).is_err() {
        limits.failed(None, peer).await;
        return Err(OAuthError::invalid_client(FAILED, basic));
    }
    limits.check_client(&creds.client_id).await?;
    let Some(client) = svc
        .client(&creds.client_id)
        .await
        .map_err(crate::Error::into_oauth)?
    else {
        // Counted under the id too, although no such client exists: a 429
        // only for existing ids would tell a prober which ids exist, which
        // the uniform `invalid_client` answer is there to hide.
        limits.failed(Some(&creds.client_id), peer).await;
        return Err(OAuthError::invalid_client(FAILED, basic));
    };

    match (creds.how, &creds.secret) {
        (Presented::Assertion, Some(assertion)) => {
            if let Err(e) =
                crate::assertion::client::verify(svc, &client, assertion, endpoint).await
            {
                limits.failed(Some(client.id.as_str()), peer).await;
                return Err(e);
            }
        }
        (Presented::IdOnly, _) => {
            if client.client_type != ClientType::Public || !allow_public {
                return Err(OAuthError::invalid_client(
                    "client authentication is required for this client",
                    false,
                ));
            }
        }
        (_, Some(secret)) => {
            if !verify_secret(svc, &client, secret, peer).await {
                limits.failed(Some(client.id.as_str()), peer).await;
                return Err(OAuthError::invalid_client(FAILED, basic));
            }
        }
        (_, None) => return Err(OAuthError::invalid_client(FAILED, basic)),
    }
    if !client.enabled {
        return Err(OAuthError::invalid_client("the client is disabled", basic));
    }
    let expected = match creds.how {
        Presented::Basic => AuthMethod::ClientSecretBasic,
        Presented::Post => AuthMethod::ClientSecretPost,
        Presented::IdOnly => AuthMethod::None,
        // Checked by the assertion's verification, which depends on it.
        Presented::Assertion => client.auth_method,
    };
    if client.auth_method != expected {
        return Err(OAuthError::invalid_client(
            format!(
                "this client is registered for {} authentication, but the request used {}",
                client.auth_method.as_str(),
                expected.as_str()
            ),
            basic,
        ));
    }
    Ok(client)
}

/// Checks a presented secret against every live secret of the client.
/// HMAC-hashed secrets are checked in constant time; Argon2 ones once per
/// process and then remembered by a keyed fingerprint.
async fn verify_secret(
    svc: &Services,
    client: &Client,
    presented: &str,
    peer: Option<IpAddr>,
) -> bool {
    if presented.len() > 1024 {
        return false;
    }
    let now = svc.now();
    let mut ok = false;
    for s in client.secrets.iter().filter(|s| s.is_live(now)) {
        match s.kind {
            // Only for client_secret_jwt, which never sends the secret.
            SecretHashKind::Sealed => {}
            SecretHashKind::Hmac => ok |= svc.master.verify_client_secret(presented, &s.hash),
            SecretHashKind::Argon2 => {
                let fp = svc
                    .master
                    .hash_client_secret(&format!("{}\0{}\0{presented}", client.id, s.id));
                if svc.verified_secrets.get(&fp).await.is_some() {
                    ok = true;
                    continue;
                }
                let (p, h) = (presented.to_owned(), s.hash.clone());
                // The turn goes with the computation: a caller that hangs up
                // does not free it while its Argon2 still runs.
                let turn = svc.limits.address.verification_slot(peer).await;
                let good = tokio::task::spawn_blocking(move || {
                    let _turn = turn;
                    argon2_verify(&p, &h)
                })
                .await
                .unwrap_or(false);
                if good {
                    svc.verified_secrets.insert(fp, ()).await;
                    ok = true;
                }
            }
        }
    }
    ok
}

/// The `Authorization` value of HTTP Basic client authentication: id and
/// secret form-encoded first (RFC 6749 §2.3.1), then joined and base64ed.
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let cred = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        enc(client_id),
        enc(secret)
    ));
    format!("Basic {cred}")
}
