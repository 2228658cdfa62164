//! The login page: `GET /oauth2/login?continue=…`, `POST /oauth2/login`
//! (the seed's login form posting username, password and a continue path),
//! and `POST /oauth2/logout`.
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::PeerIp;
use crate::form::{Form, FormRejection, Params};
use crate::pages::csp_source;
use crate::session::{self, Binding};
use crate::users::{self, LoginError};
use crate::{App, Error};

pub const PATH: &str = "/oauth2/login";
pub const LOGOUT_PATH: &str = "/oauth2/logout";

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "continue")]
    cont: Option<String>,
}

/// Where a login may continue to: this server's authorization endpoint or
/// the user's authorizations page, never anywhere else (no open redirect).
fn safe_continue(cont: Option<&str>) -> String {
    match cont {
        Some(c)
            if (c.starts_with(&format!("{}?", super::authorize::PATH))
                || c == super::account::PATH)
                && !c.contains(['\r', '\n', '\\'])
                && c.len() <= 8192 =>
        {
            c.to_owned()
        }
        _ => super::account::PATH.to_owned(),
    }
}

/// The continue URL without `prompt=login`, which has now been honoured.
fn without_prompt_login(cont: &str) -> String {
    let Some((path, query)) = cont.split_once('?') else {
        return cont.to_owned();
    };
    let kept =
        form_urlencoded::parse(query.as_bytes()).filter(|(k, v)| !(k == "prompt" && v == "login"));
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("{path}?{q}")
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let cont = safe_continue(query.as_ref().ok().and_then(|q| q.cont.as_deref()));
    render(&app, &headers, StatusCode::OK, &cont, "", None).await
}

/// The login form; `username` refills the field after a failure.
async fn render(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    cont: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let svc = &app.svc;
    let (nonce, set_cookie) = session::login_nonce(svc, headers);
    let client = client_of(app, cont).await;
    // The login's redirect chain may end at the client's redirect URI.
    let targets: Vec<String> = client
        .as_ref()
        .map(|c| {
            c.redirect_uris
                .iter()
                .filter_map(|r| csp_source(r.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let ctx = json!({
        "action": PATH,
        "continue": cont,
        "csrf_token": session::csrf_token(svc, &Binding::Login(&nonce)),
        "username": username,
        "error": error,
        "client_name": client.as_ref().map(|c| if c.name.is_empty() { c.id.to_string() } else { c.name.clone() }),
    });
    let mut r = app.pages.render(status, "login.html", ctx, &targets);
    if let Some(c) = set_cookie {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// The client an authorization request in `cont` names, for the page's
/// wording and CSP.
async fn client_of(app: &App, cont: &str) -> Option<Arc<tollgate_core::Client>> {
    let (_, query) = cont.split_once('?')?;
    let params = Params::parse(query.as_bytes()).ok()?;
    let id = params.get("client_id")?;
    app.svc.client(id).await.ok().flatten()
}

pub async fn submit(
    State(app): State<Arc<App>>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let Ok(Form(params)) = form else {
        return app.pages.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the sign-in form could not be read",
        );
    };
    let svc = &app.svc;
    let cont = safe_continue(params.get("continue"));
    let username = params.get("username").unwrap_or_default();
    let csrf_good = session::posted_login_nonce(svc, &headers).is_some_and(|nonce| {
        session::csrf_ok(svc, &Binding::Login(nonce), params.get("csrf_token"))
    });
    if !csrf_good {
        svc.audit(
            "user.login",
            None,
            "invalid_request",
            ip.map(|i| i.to_string()),
            json!({"reason": "missing or invalid CSRF token"}),
        );
        return render(
            &app,
            &headers,
            StatusCode::FORBIDDEN,
            &cont,
            username,
            Some(
                "The sign-in form expired or did not come from this site. Please try again.".into(),
            ),
        )
        .await;
    }
    let password = params.get("password").unwrap_or_default();
    let user = match users::login(svc, username, password, ip, "page").await {
        Ok(u) => u,
        Err(e) => {
            let status = match &e {
                LoginError::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
                LoginError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            return render(&app, &headers, status, &cont, username, Some(e.message())).await;
        }
    };
    match session::start(svc, &user).await {
        Ok(cookie) => {
            let mut r = see_other(&without_prompt_login(&cont));
            if let Some(c) = cookie {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) => store_down(&app, e),
    }
}

pub async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let svc = &app.svc;
    let token = form
        .ok()
        .and_then(|Form(p)| p.get("csrf_token").map(str::to_owned));
    let current = match session::current(svc, &headers).await {
        Ok(c) => c,
        Err(e) => return store_down(&app, e),
    };
    if let Some((s, _)) = &current
        && !session::csrf_ok(svc, &Binding::Account(&s.hash), token.as_deref())
    {
        return app.pages.error(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "the sign-out form was not sent by this site",
        );
    }
    match session::end(svc, &headers).await {
        Ok(cookie) => {
            let mut r = see_other(PATH);
            if let Some(c) = cookie {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(e) => store_down(&app, e),
    }
}

/// A 303 after a form post.
pub fn see_other(url: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn store_down(app: &App, e: Error) -> Response {
    let e = e.into_oauth();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    app.pages.error(status, e.code(), e.description())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_stays_on_this_server() {
        for bad in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/oauth2/authorize?x"),
            Some("/oauth2/authorize"),
            Some("/oauth2/authorizeX?a=b"),
            Some("/oauth2/authorize?a=b\r\nSet-Cookie: x"),
        ] {
            assert_eq!(safe_continue(bad), "/oauth2/consents", "{bad:?}");
        }
        assert_eq!(
            safe_continue(Some("/oauth2/authorize?client_id=a")),
            "/oauth2/authorize?client_id=a"
        );
    }

    #[test]
    fn prompt_login_is_dropped_once_honoured() {
        assert_eq!(
            without_prompt_login("/oauth2/authorize?client_id=a&prompt=login&state=x"),
            "/oauth2/authorize?client_id=a&state=x"
        );
        assert_eq!(
            without_prompt_login("/oauth2/authorize?prompt=consent"),
            "/oauth2/authorize?prompt=consent"
        );
    }
}
