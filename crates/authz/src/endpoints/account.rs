//! The signed-in user's authorizations: `GET /oauth2/consents` lists the
//! clients they approved, `POST /oauth2/consents/revoke` withdraws one
//! (its consent and every token of the user's grants to that client).
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::authorize::found;
use super::login::{see_other, store_down};
use crate::App;
use crate::form::{Form, FormRejection};
use crate::session::{self, Binding};

pub const PATH: &str = "/oauth2/consents";
pub const REVOKE_PATH: &str = "/oauth2/consents/revoke";

#[derive(Deserialize)]
pub struct Notice {
    revoked: Option<String>,
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Response {
    let svc = &app.svc;
    let (session, user) = match session::current(svc, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return found(&format!("{}?continue={PATH}", super::login::PATH)),
        Err(e) => return store_down(&app, e),
    };
    let consents = match svc.store.list_consents(&user.id).await {
        Ok(c) => c,
        Err(e) => return store_down(&app, e.into()),
    };
    // People know an application by its name; the id only when it has none.
    let display_name = async |id: &str| match svc.client(id).await {
        Ok(Some(cl)) if !cl.name.is_empty() => cl.name.clone(),
        _ => id.to_owned(),
    };
    let mut rows = Vec::with_capacity(consents.len());
    for c in consents {
        let name = display_name(&c.client_id).await;
        rows.push(json!({
            "client_id": c.client_id,
            "client_name": name,
            "scopes": c.scope.iter().collect::<Vec<_>>(),
            "granted_at": c.granted_at,
        }));
    }
    let token = session::csrf_token(svc, &Binding::Account(&session.hash));
    let message = match notice.ok().and_then(|Query(n)| n.revoked) {
        Some(id) => {
            let id: String = id.chars().take(128).collect();
            Some(format!(
                "Access for {} was revoked.",
                display_name(&id).await
            ))
        }
        None => None,
    };
    let ctx = json!({
        "username": user.username.as_str(),
        "consents": rows,
        "csrf_token": token,
        "logout_csrf_token": token,
        "revoke_action": REVOKE_PATH,
        "logout_action": super::login::LOGOUT_PATH,
        "message": message,
    });
    app.pages.render(StatusCode::OK, "consents.html", ctx, &[])
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    form: Result<Form, FormRejection>,
) -> Response {
    let svc = &app.svc;
    let (session, user) = match session::current(svc, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other(&format!("{}?continue={PATH}", super::login::PATH)),
        Err(e) => return store_down(&app, e),
    };
    let Ok(Form(params)) = form else {
        return app.pages.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form could not be read",
        );
    };
    if !session::csrf_ok(
        svc,
        &Binding::Account(&session.hash),
        params.get("csrf_token"),
    ) {
        return app.pages.error(
            StatusCode::FORBIDDEN,
            "invalid_request",
            "the form was not sent by this site or has expired",
        );
    }
    let Some(client_id) = params.get("client_id") else {
        return app.pages.error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing parameter 'client_id'",
        );
    };
    match crate::users::revoke_grants(svc, &user.id, Some(client_id)).await {
        Ok(_) => {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("revoked", client_id)
                .finish();
            see_other(&format!("{PATH}?{q}"))
        }
        Err(e) => store_down(&app, e),
    }
}
