//! Third-party authorization servers whose tokens services accept.
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_authz::{Error, Services};
use tollgate_store::AuthServerRecord;

use super::{clients_internal, conflict_or, invalid, to_json};
use crate::registry::SECRET_CONTEXT;
use crate::spec::{AuthServerSpec, ServiceSpec, valid_alias};

/// A third-party authorization server as shown: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthServerView {
    pub name: String,
    pub spec: AuthServerSpec,
    pub has_client_secret: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn server_view(rec: AuthServerRecord) -> Result<AuthServerView, Error> {
    let spec = serde_json::from_value(rec.spec)
        .map_err(|e| clients_internal(format!("stored authorization server: {e}")))?;
    Ok(AuthServerView {
        name: rec.name,
        spec,
        has_client_secret: rec.secret_encrypted.is_some(),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
    })
}

/// Adds or replaces (`replace`) a third-party server. The secret is
/// encrypted under the master key; `None` on a replace keeps the old one.
pub async fn put_auth_server(
    svc: &Services,
    name: &str,
    spec: AuthServerSpec,
    secret: Option<&str>,
    replace: bool,
) -> Result<AuthServerView, Error> {
    if !valid_alias(name) || name == crate::spec::LOCAL {
        return Err(invalid(
            "a server name is letters, digits, '-', '.', '_' or '~', and not 'local'",
        ));
    }
    let existing = svc.store.get_auth_server(name).await?;
    let sealed = match secret {
        Some(s) => Some(
            svc.master
                .seal(SECRET_CONTEXT, s.as_bytes())
                .map_err(|e| clients_internal(e.to_string()))?,
        ),
        None => existing.as_ref().and_then(|e| e.secret_encrypted.clone()),
    };
    spec.validate(sealed.is_some()).map_err(invalid)?;
    let now = svc.now();
    let rec = AuthServerRecord {
        name: name.to_owned(),
        spec: to_json(&spec)?,
        secret_encrypted: sealed,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    let what = format!("authorization server '{name}'");
    if replace {
        if existing.is_none() {
            return Err(Error::NotFound(what));
        }
        svc.store.update_auth_server(&rec).await
    } else {
        svc.store.create_auth_server(&rec).await
    }
    .map_err(|e| conflict_or(e, format!("{what} already exists")))?;
    svc.audit(
        "authserver.saved",
        None,
        "ok",
        None,
        json!({"server": name}),
    );
    server_view(rec)
}

pub async fn get_auth_server(svc: &Services, name: &str) -> Result<AuthServerView, Error> {
    match svc.store.get_auth_server(name).await? {
        Some(r) => server_view(r),
        None => Err(Error::NotFound(format!("authorization server '{name}'"))),
    }
}

pub async fn list_auth_servers(svc: &Services) -> Result<Vec<AuthServerView>, Error> {
    svc.store
        .list_auth_servers()
        .await?
        .into_iter()
        .map(server_view)
        .collect()
}

/// Refuses while a service names the server (it would fail closed).
pub async fn delete_auth_server(svc: &Services, name: &str) -> Result<(), Error> {
    for s in svc.store.list_services().await? {
        let spec: Option<ServiceSpec> = serde_json::from_value(s.spec).ok();
        if spec.is_some_and(|sp| sp.validators.iter().any(|v| v == name)) {
            return Err(Error::Conflict(format!(
                "service '{}' validates its tokens with '{name}'; change it first",
                s.name
            )));
        }
    }
    if !svc.store.delete_auth_server(name).await? {
        return Err(Error::NotFound(format!("authorization server '{name}'")));
    }
    svc.audit(
        "authserver.deleted",
        None,
        "ok",
        None,
        json!({"server": name}),
    );
    Ok(())
}
