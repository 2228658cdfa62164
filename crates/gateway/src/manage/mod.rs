//! Managing services, consumers and third-party servers: the operations the
//! admin API and the CLI share. They write to the store; a running gateway
//! picks the change up through the store's generation (at once when the
//! caller holds the gateway and calls `Gateway::reload`).
mod authservers;
mod consumers;
mod services;

pub use authservers::*;
pub use consumers::*;
pub use services::*;

use serde::Serialize;
use tollgate_authz::{Error, Services};
use tollgate_core::OAuthError;
use tollgate_store::{ServiceRecord, StoreError};

use crate::spec::ServiceSpec;

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::invalid_request(msg.into()))
}

pub(crate) fn conflict_or(e: StoreError, what: String) -> Error {
    match e {
        StoreError::Conflict => Error::Conflict(what),
        StoreError::NotFound => Error::NotFound(what),
        e => e.into(),
    }
}

pub(crate) fn clients_internal(msg: String) -> Error {
    tracing::error!(error = %msg, "internal error");
    Error::OAuth(OAuthError::ServerError("internal error".into()))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| clients_internal(e.to_string()))
}

pub(crate) async fn load_spec(
    svc: &Services,
    service: &str,
) -> Result<(ServiceRecord, ServiceSpec), Error> {
    let Some(rec) = svc.store.get_service(service).await? else {
        return Err(Error::NotFound(format!("service '{service}'")));
    };
    let spec: ServiceSpec = serde_json::from_value(rec.spec.clone())
        .map_err(|e| clients_internal(format!("stored service '{service}': {e}")))?;
    Ok((rec, spec))
}
