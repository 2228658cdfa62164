//! `GET|POST /oauth2/tokeninfo`: the seed's "access token information": the
//! `access_token` from the query string or form body, answered with a JSON
//! description including the stored metadata.
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_core::{OAuthError, TokenKind};

use super::introspect::{active_token, describe};
use super::no_store;
use crate::form::{Form, FormRejection};
use crate::{App, Error, telemetry};

pub async fn tokeninfo(State(app): State<Arc<App>>, form: Result<Form, FormRejection>) -> Response {
    let params = match form {
        Ok(Form(p)) => p,
        Err(rejection) => {
            telemetry::oauth_error("tokeninfo", "invalid_request");
            return rejection.into_response();
        }
    };
    let result = async {
        let token = params.require("access_token")?;
        let invalid =
            || OAuthError::InvalidToken("the access token is invalid, expired or revoked".into());
        let record = active_token(&app.svc, token).await?.ok_or_else(invalid)?;
        if record.kind != TokenKind::Access {
            return Err(Error::from(invalid()));
        }
        let mut body = describe(&app.svc, &record);
        body.insert(
            "expires_in".into(),
            json!((record.expires_at - app.svc.now()).max(0)),
        );
        Ok::<_, Error>(Value::Object(body))
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body)),
        Err(e) => {
            telemetry::oauth_error("tokeninfo", e.code());
            e.into_response()
        }
    }
}
