//! Virtual services: publish, change, list, unpublish.
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_authz::{Error, Services};
use tollgate_store::{ConsumerStatus, ServiceRecord};

use super::consumers::grant_scopes;
use super::{clients_internal, conflict_or, invalid, to_json};
use crate::spec::{ServiceSpec, valid_alias, valid_name};

/// A service as shown to operators.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    pub name: String,
    pub alias: String,
    /// Where callers reach it, relative to the gateway's base URL.
    pub path: String,
    /// The scopes a token must carry.
    pub required_scopes: Vec<String>,
    pub spec: ServiceSpec,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(rec: ServiceRecord, prefix: &str) -> Result<ServiceView, Error> {
    let spec: ServiceSpec = serde_json::from_value(rec.spec)
        .map_err(|e| clients_internal(format!("stored service '{}': {e}", rec.name)))?;
    Ok(ServiceView {
        path: format!("{prefix}/{}/", rec.alias),
        required_scopes: spec.required_scopes(&rec.name),
        name: rec.name,
        alias: rec.alias,
        spec,
        created_at: rec.created_at,
        updated_at: rec.updated_at,
    })
}

/// What the spec names must exist: its validators and its upstream connection
/// (checked on add and on update alike, so a typo fails at once, not on a call).
async fn check_references(svc: &Services, spec: &ServiceSpec) -> Result<(), Error> {
    for v in &spec.validators {
        if v != crate::spec::LOCAL && svc.store.get_auth_server(v).await?.is_none() {
            return Err(invalid(format!(
                "validators: no authorization server is named '{v}' (add it with `tollgate authserver add`)"
            )));
        }
    }
    if let Some(a) = &spec.upstream_auth
        && svc.store.get_connection(&a.connection).await?.is_none()
    {
        return Err(invalid(format!(
            "upstream_auth: no connection is named '{}' (add it with `tollgate connection add`)",
            a.connection
        )));
    }
    Ok(())
}

pub async fn create_service(
    svc: &Services,
    prefix: &str,
    name: &str,
    alias: Option<&str>,
    mut spec: ServiceSpec,
) -> Result<ServiceView, Error> {
    if !valid_name(name) {
        return Err(invalid(
            "a service name is letters, digits, '-', '.', '_' or '~' (at most 64)",
        ));
    }
    let alias = alias.unwrap_or(name);
    if !valid_alias(alias) {
        return Err(invalid(
            "an alias is one path segment of letters, digits, '-', '.', '_' or '~'",
        ));
    }
    spec.validate().map_err(invalid)?;
    check_references(svc, &spec).await?;
    let now = svc.now();
    let rec = ServiceRecord {
        name: name.to_owned(),
        alias: alias.to_owned(),
        spec: to_json(&spec)?,
        created_at: now,
        updated_at: now,
    };
    svc.store.create_service(&rec).await.map_err(|e| {
        conflict_or(
            e,
            format!("a service named '{name}' or published at '{alias}' already exists"),
        )
    })?;
    svc.audit(
        "service.created",
        None,
        "ok",
        None,
        json!({"service": name}),
    );
    view(rec, prefix)
}

/// Replaces a service's policy (and alias). The whole spec is given, so
/// an update is what `show --json` printed, edited.
pub async fn update_service(
    svc: &Services,
    prefix: &str,
    name: &str,
    alias: Option<&str>,
    mut spec: ServiceSpec,
) -> Result<ServiceView, Error> {
    let Some(mut rec) = svc.store.get_service(name).await? else {
        return Err(Error::NotFound(format!("service '{name}'")));
    };
    if let Some(a) = alias {
        if !valid_alias(a) {
            return Err(invalid(
                "an alias is one path segment of unreserved characters",
            ));
        }
        a.clone_into(&mut rec.alias);
    }
    spec.validate().map_err(invalid)?;
    check_references(svc, &spec).await?;
    rec.spec = to_json(&spec)?;
    rec.updated_at = svc.now();
    svc.store
        .update_service(&rec)
        .await
        .map_err(|e| conflict_or(e, format!("service '{name}' (alias '{}')", rec.alias)))?;
    // New required scopes reach the clients of approved consumers, so they
    // keep getting tokens the service accepts.
    let required = spec.required_scopes(name);
    for c in svc.store.list_consumers(Some(name)).await? {
        if c.status == ConsumerStatus::Approved {
            grant_scopes(svc, &c.client_id, &required).await?;
        }
    }
    svc.audit(
        "service.updated",
        None,
        "ok",
        None,
        json!({"service": name}),
    );
    view(rec, prefix)
}

pub async fn get_service(svc: &Services, prefix: &str, name: &str) -> Result<ServiceView, Error> {
    match svc.store.get_service(name).await? {
        Some(r) => view(r, prefix),
        None => Err(Error::NotFound(format!("service '{name}'"))),
    }
}

pub async fn list_services(svc: &Services, prefix: &str) -> Result<Vec<ServiceView>, Error> {
    svc.store
        .list_services()
        .await?
        .into_iter()
        .map(|r| view(r, prefix))
        .collect()
}

/// Deletes the service and its consumers. Clients created for them stay
/// (they may consume other services); the service's scope stops mattering.
pub async fn delete_service(svc: &Services, name: &str) -> Result<(), Error> {
    if !svc.store.delete_service(name).await? {
        return Err(Error::NotFound(format!("service '{name}'")));
    }
    svc.audit(
        "service.deleted",
        None,
        "ok",
        None,
        json!({"service": name}),
    );
    Ok(())
}
