//! Browser login sessions and the CSRF tokens of the pages' forms.
//!
//! The session cookie carries a random value; the store keeps its SHA-256
//! (like every other token), so a database leak gives no live session.
//!
//! CSRF tokens are MACs under a master-key sub-key, bound to what the form
//! may do: the login form to a random nonce in a separate cookie (a signed
//! double-submit cookie, OWASP's recommendation when there is no session
//! yet), the consent form to the session and the exact authorization
//! request, the other forms to the session. A token from one form is
//! useless on another, and a cross-site page can read neither cookie nor
//! token.
use axum::http::{HeaderMap, HeaderValue, header};
use tollgate_core::{TokenHash, User};
use tollgate_jose::secrets::{random_token, token_hash};
use tollgate_store::SessionRecord;

use crate::Error;
use crate::clients::internal;
use crate::services::Services;

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty() && v.len() <= 512)
}

/// Whether cookies get the `Secure` flag: as configured, else whenever the
/// issuer is https.
fn secure(svc: &Services) -> bool {
    svc.settings
        .login
        .cookie_secure
        .unwrap_or_else(|| svc.settings.issuer.starts_with("https://"))
}

/// A `Set-Cookie` value with the configured domain, path and flags, plus
/// `SameSite=Lax` (sent on the top-level navigation back from a client, not
/// on cross-site subrequests or form posts).
fn set_cookie(svc: &Services, name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    let s = &svc.settings.login;
    let mut c = format!(
        "{name}={value}; Path={}; Max-Age={max_age}; SameSite=Lax",
        s.cookie_path
    );
    if let Some(d) = &s.cookie_domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    if s.cookie_http_only {
        c.push_str("; HttpOnly");
    }
    if secure(svc) {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// The name of the login form's nonce cookie.
fn csrf_cookie_name(svc: &Services) -> String {
    format!("{}_csrf", svc.settings.login.cookie_name)
}

/// The signed-in user behind the request's session cookie, if the session
/// is live and the user still exists and is enabled.
pub async fn current(
    svc: &Services,
    headers: &HeaderMap,
) -> Result<Option<(SessionRecord, User)>, Error> {
    let Some(value) = cookie(headers, &svc.settings.login.cookie_name) else {
        return Ok(None);
    };
    let Some(session) = svc
        .store
        .find_session(&token_hash(value), svc.now())
        .await?
    else {
        return Ok(None);
    };
    match svc.store.get_user(&session.subject).await? {
        Some(user) if user.enabled => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

/// Starts a session for a user who just entered their password; returns
/// the `Set-Cookie` header value.
pub async fn start(svc: &Services, user: &User) -> Result<Option<HeaderValue>, Error> {
    let value = random_token(43).map_err(internal)?;
    let now = svc.now();
    let lifetime = i64::try_from(svc.settings.login.session_lifetime_secs).unwrap_or(3600);
    svc.store
        .insert_session(&SessionRecord {
            hash: token_hash(&value),
            subject: user.id.clone(),
            auth_time: now,
            created_at: now,
            expires_at: now.saturating_add(lifetime),
        })
        .await?;
    Ok(set_cookie(
        svc,
        &svc.settings.login.cookie_name,
        &value,
        lifetime,
    ))
}

/// Ends the request's session; returns the `Set-Cookie` that clears it.
pub async fn end(svc: &Services, headers: &HeaderMap) -> Result<Option<HeaderValue>, Error> {
    if let Some(value) = cookie(headers, &svc.settings.login.cookie_name) {
        svc.store.delete_session(&token_hash(value)).await?;
    }
    Ok(set_cookie(svc, &svc.settings.login.cookie_name, "", 0))
}

/// The login form's nonce: the request's, or a fresh one to set.
pub fn login_nonce(svc: &Services, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let name = csrf_cookie_name(svc);
    match cookie(headers, &name) {
        Some(n) => (n.to_owned(), None),
        None => {
            let n = random_token(32).unwrap_or_default();
            let lifetime = i64::try_from(svc.settings.login.session_lifetime_secs).unwrap_or(3600);
            let set = set_cookie(svc, &name, &n, lifetime);
            (n, set)
        }
    }
}

/// The nonce the request's cookie carries, for checking a posted login form.
pub fn posted_login_nonce<'a>(svc: &Services, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, &csrf_cookie_name(svc))
}

/// What a CSRF token is bound to.
pub enum Binding<'a> {
    /// The login form, to the nonce cookie.
    Login(&'a str),
    /// The consent form, to the session and the authorization request.
    Consent(&'a TokenHash, &'a str),
    /// The authorizations page and sign-out, to the session.
    Account(&'a TokenHash),
}

fn binding_bytes(b: &Binding<'_>) -> Vec<u8> {
    let (purpose, parts): (&[u8], Vec<&[u8]>) = match b {
        Binding::Login(nonce) => (b"login", vec![nonce.as_bytes()]),
        Binding::Consent(session, request) => (b"consent", vec![&session.0, request.as_bytes()]),
        Binding::Account(session) => (b"account", vec![&session.0]),
    };
    let mut out = purpose.to_vec();
    for p in parts {
        // Length-prefixed, so no two different bindings give the same bytes.
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

pub fn csrf_token(svc: &Services, b: &Binding<'_>) -> String {
    svc.master.form_tag(&binding_bytes(b))
}

pub fn csrf_ok(svc: &Services, b: &Binding<'_>, presented: Option<&str>) -> bool {
    presented.is_some_and(|t| t.len() <= 128 && svc.master.verify_form_tag(&binding_bytes(b), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tollgate_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "tollgate_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "tollgate"), None);
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn bindings_never_collide() {
        let s = TokenHash([1; 32]);
        let a = binding_bytes(&Binding::Consent(&s, "x"));
        let b = binding_bytes(&Binding::Account(&s));
        let c = binding_bytes(&Binding::Login("x"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            binding_bytes(&Binding::Consent(&s, "ab")),
            binding_bytes(&Binding::Consent(&TokenHash([2; 32]), "ab"))
        );
    }
}
