//! `GET /oauth2/authorize` (RFC 6749 §3.1, §4.1.1, §4.2.1) and the consent
//! form's `POST /oauth2/consent`.
//!
//! Errors about the client or the redirect URI are shown on an error page
//! and never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11); every other
//! answer goes to the registered redirect URI with `state` and `iss`.
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_core::authorize::{self, AuthorizationRequest, AuthorizeError, PkcePolicy, Prompt};
use tollgate_core::{Client, OAuthError, User};
use tollgate_store::SessionRecord;

use super::PeerAddr;
use crate::authorize::{error_url, needs_consent, remember_consent, respond};
use crate::form::{Form, FormRejection, Params};
use crate::pages::csp_source;
use crate::session::{self, Binding};
use crate::{App, Error, telemetry};

pub const PATH: &str = "/oauth2/authorize";
pub const CONSENT_PATH: &str = "/oauth2/consent";

/// How an authorization request ends.
enum Outcome {
    /// A page about the request itself (unknown client, bad redirect URI).
    Page(StatusCode, OAuthError),
    /// Back to the client with a code or a token.
    Redirect(String),
    /// Back to the client with an error (its code, for metrics and audit).
    RedirectError(String, &'static str, String),
    /// To the login page, then back here.
    Login,
    /// Ask the user.
    Consent(Box<ConsentAsk>),
}

/// What the consent page needs.
struct ConsentAsk {
    client: Arc<Client>,
    req: AuthorizationRequest,
    session: SessionRecord,
    user: User,
}

/// A request parsed and validated against its client.
struct Checked {
    client: Arc<Client>,
    req: AuthorizationRequest,
}

pub async fn authorize(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let outcome = match check(&app, &raw).await {
        Ok(c) => decide(&app, &headers, c).await,
        Err(o) => Ok(o),
    };
    finish(&app, &raw, addr, outcome)
}

/// `POST /oauth2/consent`: the user's decision on the consent page.
pub async fn consent(
    State(app): State<Arc<App>>,
    PeerAddr(addr): PeerAddr,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let params = match form {
        Ok(Form(p)) => p,
        Err(_) => {
            return app.pages.error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the consent form could not be read",
            );
        }
    };
    let raw = params.get("request").unwrap_or_default().to_owned();
    let outcome = match check(&app, &raw).await {
        Ok(c) => decided(&app, &headers, &params, &raw, c).await,
        Err(o) => Ok(o),
    };
    finish(&app, &raw, addr, outcome)
}

/// Parses the request and validates it against its client.
async fn check(app: &App, raw: &str) -> Result<Checked, Outcome> {
    let bad = |e: OAuthError| Outcome::Page(StatusCode::BAD_REQUEST, e);
    let params = Params::parse(raw.as_bytes()).map_err(bad)?;
    let get = |k: &str| params.get(k).map(str::to_owned);
    let page = |e: AuthorizeError| match e {
        AuthorizeError::Page(e) => bad(e),
        AuthorizeError::Redirect {
            error,
            redirect_uri,
            state,
            fragment,
        } => Outcome::RedirectError(
            error_url(&app.svc, &redirect_uri, fragment, &error, state.as_deref()),
            error.code(),
            error.description().to_owned(),
        ),
    };
    let id = authorize::client_id(&get).map_err(page)?;
    let client = match app.svc.client(id.as_str()).await {
        Ok(Some(c)) if c.enabled => c,
        Ok(_) => {
            return Err(bad(OAuthError::invalid_request(
                "unknown or disabled client_id",
            )));
        }
        Err(e) => return Err(unavailable(e)),
    };
    let a = &app.svc.settings.authorize;
    let policy = PkcePolicy {
        allow_plain: a.allow_plain_pkce,
        require_for_confidential: a.require_pkce,
    };
    let req = authorize::validate(&get, &client, policy).map_err(page)?;
    Ok(Checked { client, req })
}

/// An error for a validated request: it goes back to the client.
fn back_to_client(svc: &crate::Services, req: &AuthorizationRequest, e: &OAuthError) -> Outcome {
    Outcome::RedirectError(
        error_url(
            svc,
            &req.redirect_uri,
            req.response_type.uses_fragment(),
            e,
            req.state.as_deref(),
        ),
        e.code(),
        e.description().to_owned(),
    )
}

fn unavailable(e: Error) -> Outcome {
    let e = e.into_oauth();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    Outcome::Page(status, e)
}

/// With a valid request: who is signed in, and is consent needed?
async fn decide(app: &App, headers: &HeaderMap, c: Checked) -> Result<Outcome, Outcome> {
    let Checked { client, req } = c;
    let svc = &app.svc;
    let back = |e: OAuthError| back_to_client(svc, &req, &e);
    let current = session::current(svc, headers).await.map_err(unavailable)?;
    let (session, user) = match current {
        // prompt=login asks for the password again; the login page drops it
        // from the request it returns to, so this is asked once.
        Some(s) if req.prompt != Some(Prompt::Login) => s,
        _ if req.prompt == Some(Prompt::None) => {
            return Ok(back(OAuthError::LoginRequired(
                "the user is not signed in".into(),
            )));
        }
        _ => return Ok(Outcome::Login),
    };
    let ask = req.prompt == Some(Prompt::Consent)
        || needs_consent(svc, &client, &user, &req)
            .await
            .map_err(unavailable)?;
    if !ask {
        return Ok(match respond(svc, &req, &client, &user).await {
            Ok(url) => Outcome::Redirect(url),
            Err(e) => back(e.into_oauth()),
        });
    }
    if req.prompt == Some(Prompt::None) {
        return Ok(back(OAuthError::ConsentRequired(
            "the user has not approved these scopes for this client".into(),
        )));
    }
    Ok(Outcome::Consent(Box::new(ConsentAsk {
        client,
        req,
        session,
        user,
    })))
}

/// The consent form came back: check who and the CSRF token, then act.
async fn decided(
    app: &App,
    headers: &HeaderMap,
    form: &Params,
    raw: &str,
    c: Checked,
) -> Result<Outcome, Outcome> {
    let Checked { client, req } = c;
    let svc = &app.svc;
    let Some((session, user)) = session::current(svc, headers).await.map_err(unavailable)? else {
        return Ok(Outcome::Login);
    };
    if !session::csrf_ok(
        svc,
        &Binding::Consent(&session.hash, raw),
        form.get("csrf_token"),
    ) {
        return Ok(Outcome::Page(
            StatusCode::FORBIDDEN,
            OAuthError::invalid_request(
                "the consent form was not sent by this site or has expired; start again from the application",
            ),
        ));
    }
    let back = |e: OAuthError| back_to_client(svc, &req, &e);
    match form.get("decision") {
        Some("allow") => {}
        Some("deny") => {
            svc.audit(
                "consent.denied",
                Some(client.id.as_str()),
                "access_denied",
                None,
                json!({"user_id": user.id}),
            );
            return Ok(back(OAuthError::AccessDenied(
                "the user denied the request".into(),
            )));
        }
        _ => {
            return Ok(Outcome::Page(
                StatusCode::BAD_REQUEST,
                OAuthError::invalid_request("decision must be allow or deny"),
            ));
        }
    }
    if let Err(e) = remember_consent(svc, &client, &user, &req.scope).await {
        return Ok(back(e.into_oauth()));
    }
    Ok(match respond(svc, &req, &client, &user).await {
        Ok(url) => Outcome::Redirect(url),
        Err(e) => back(e.into_oauth()),
    })
}

fn finish(
    app: &App,
    raw: &str,
    addr: Option<String>,
    outcome: Result<Outcome, Outcome>,
) -> Response {
    let outcome = outcome.unwrap_or_else(|o| o);
    match outcome {
        Outcome::Page(status, e) => {
            telemetry::oauth_error("authorize", e.code());
            app.svc.audit(
                "authorize.rejected",
                None,
                e.code(),
                addr,
                json!({"reason": e.description()}),
            );
            app.pages.error(status, e.code(), e.description())
        }
        Outcome::Redirect(url) => found(&url),
        Outcome::RedirectError(url, code, reason) => {
            telemetry::oauth_error("authorize", code);
            app.svc.audit(
                "authorize.rejected",
                None,
                code,
                addr,
                json!({"reason": reason, "redirected": true}),
            );
            found(&url)
        }
        Outcome::Login => {
            let cont = format!("{PATH}?{raw}");
            let url = format!(
                "{}?{}",
                super::login::PATH,
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("continue", &cont)
                    .finish()
            );
            found(&url)
        }
        Outcome::Consent(ask) => consent_page(app, &ask, raw),
    }
}

/// A 302 to `url`, not cached (it may carry a code or a token).
pub fn found(url: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn consent_page(app: &App, ask: &ConsentAsk, raw: &str) -> Response {
    let ConsentAsk {
        client,
        req,
        session,
        user,
    } = ask;
    let descriptions = &app.svc.settings.ui.scope_descriptions;
    let scopes: Vec<_> = req
        .scope
        .iter()
        .map(|s| json!({"name": s, "description": descriptions.get(s)}))
        .collect();
    let redirect_host = url::Url::parse(&req.redirect_uri)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(str::to_owned)
                .or(Some(u.scheme().to_owned()))
        })
        .unwrap_or_default();
    let ctx = json!({
        "client_name": if client.name.is_empty() { client.id.as_str() } else { client.name.as_str() },
        "client_id": client.id.as_str(),
        "username": user.username.as_str(),
        "scopes": scopes,
        "request": raw,
        "csrf_token": session::csrf_token(&app.svc, &Binding::Consent(&session.hash, raw)),
        "action": CONSENT_PATH,
        "redirect_host": redirect_host,
        "consents_url": super::account::PATH,
    });
    let targets: Vec<String> = csp_source(&req.redirect_uri).into_iter().collect();
    app.pages
        .render(StatusCode::OK, "consent.html", ctx, &targets)
}
