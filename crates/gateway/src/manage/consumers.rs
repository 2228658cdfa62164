//! Consumers: an application consuming a service, its approval, and the
//! scopes its client is registered with because of it.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_authz::clients::{self, NewClient};
use tollgate_authz::{Error, Services};
use tollgate_core::{ClientType, GrantType, ScopeMatching, ScopeSet, TokenSettingsOverride};
use tollgate_store::{ConsumerRecord, ConsumerStatus};

use super::{conflict_or, invalid, load_spec, to_json};
use crate::spec::{ConsumerSettings, ServiceSpec};

/// A consumer as shown to operators, and the seed's "OAuth2 Identification
/// Details" when it was just created.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerView {
    pub service: String,
    pub application: String,
    pub client_id: String,
    /// Shown once, when `consume` created the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The scope to request (the service's required scopes).
    pub scope: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^(pending|approved|rejected|revoked)$"))]
    pub status: ConsumerStatus,
    pub token_endpoint: String,
    /// The seed's REST token service, for migrating clients.
    pub token_service: String,
    pub settings: ConsumerSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

fn consumer_view(svc: &Services, rec: ConsumerRecord, scope: &[String]) -> ConsumerView {
    ConsumerView {
        service: rec.service,
        application: rec.application,
        client_id: rec.client_id,
        client_secret: None,
        scope: scope.join(" "),
        status: rec.status,
        token_endpoint: svc.settings.endpoint("/oauth2/token"),
        token_service: svc.settings.endpoint(tollgate_authz::TOKEN_SERVICE_PATH),
        settings: serde_json::from_value(rec.settings).unwrap_or_default(),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
    }
}

/// Adds scopes to a client's registered ones: what lets it obtain tokens
/// for a service it consumes.
pub(crate) async fn grant_scopes(
    svc: &Services,
    client_id: &str,
    scopes: &[String],
) -> Result<(), Error> {
    edit_scopes(svc, client_id, |set| {
        set.extend(scopes.iter().cloned());
    })
    .await
}

/// Takes a consumption's scopes back from the client, except those another
/// approved consumption of the same client still needs.
async fn withdraw_scopes(
    svc: &Services,
    client_id: &str,
    service: &str,
    scopes: &[String],
) -> Result<(), Error> {
    let mut still_needed = BTreeSet::new();
    for other in svc.store.list_consumers(None).await? {
        if other.client_id != client_id
            || other.service == service
            || other.status != ConsumerStatus::Approved
        {
            continue;
        }
        if let Some(rec) = svc.store.get_service(&other.service).await?
            && let Ok(spec) = serde_json::from_value::<ServiceSpec>(rec.spec)
        {
            still_needed.extend(spec.required_scopes(&rec.name));
        }
    }
    edit_scopes(svc, client_id, |set| {
        for s in scopes {
            if !still_needed.contains(s) {
                set.remove(s);
            }
        }
    })
    .await
}

async fn edit_scopes(
    svc: &Services,
    client_id: &str,
    edit: impl FnOnce(&mut BTreeSet<String>),
) -> Result<(), Error> {
    let Some(mut c) = svc.store.get_client(client_id).await? else {
        return Err(Error::NotFound(format!("client '{client_id}'")));
    };
    let current: BTreeSet<String> = c.scopes.iter().map(str::to_owned).collect();
    let mut next = current.clone();
    edit(&mut next);
    if next == current {
        return Ok(());
    }
    c.scopes = ScopeSet::from_tokens(next)?;
    c.updated_at = svc.now();
    svc.store.update_client(&c).await?;
    svc.forget_client(client_id).await;
    Ok(())
}

pub struct ConsumeRequest {
    pub service: String,
    /// The application's name (the new client's name).
    pub application: String,
    /// Link this existing client instead of creating one.
    pub client_id: Option<String>,
    pub settings: ConsumerSettings,
}

/// An application asks to consume a service: creates (or links) its OAuth
/// client and records the consumer, `pending` when the service requires
/// approval (the client then gets the scope only once approved).
pub async fn consume(svc: &Services, r: ConsumeRequest) -> Result<ConsumerView, Error> {
    r.settings.validate().map_err(invalid)?;
    if r.application.trim().is_empty() || r.application.len() > 200 {
        return Err(invalid("the application name must be 1 to 200 characters"));
    }
    let (rec, spec) = load_spec(svc, &r.service).await?;
    let required = spec.required_scopes(&rec.name);
    let status = if spec.require_approval {
        ConsumerStatus::Pending
    } else {
        ConsumerStatus::Approved
    };
    let (client_id, secret) = match &r.client_id {
        Some(id) => {
            if svc.store.get_client(id).await?.is_none() {
                return Err(Error::NotFound(format!("client '{id}'")));
            }
            (id.clone(), None)
        }
        None => {
            let lifetime = r.settings.token_lifetime_secs.or(spec.token_lifetime_secs);
            let view = clients::create_client(
                svc,
                NewClient {
                    id: None,
                    name: r.application.clone(),
                    client_type: ClientType::Confidential,
                    auth_method: None,
                    grant_types: Some(BTreeSet::from([GrantType::ClientCredentials])),
                    redirect_uris: Vec::new(),
                    scopes: ScopeSet::default(),
                    scope_matching: ScopeMatching::Any,
                    token_settings: TokenSettingsOverride {
                        access_token_ttl: lifetime,
                        ..TokenSettingsOverride::default()
                    },
                    metadata: Default::default(),
                    secret: None,
                    rate_limit: None,
                    skip_consent: false,
                    jwks: None,
                    jwks_uri: None,
                },
            )
            .await?;
            (view.client_id, view.client_secret)
        }
    };
    // Asking again does not undo an administrator's decision: an approved
    // consumer stays approved, a rejected or revoked one stays so.
    let existing = svc.store.get_consumer(&rec.name, &client_id).await?;
    let status = existing.as_ref().map_or(status, |e| e.status);
    if status == ConsumerStatus::Approved {
        grant_scopes(svc, &client_id, &required).await?;
    }
    let now = svc.now();
    // Asking again without overrides keeps the ones an administrator set.
    let settings = match &existing {
        Some(e) if r.settings == ConsumerSettings::default() => e.settings.clone(),
        _ => to_json(&r.settings)?,
    };
    let c = ConsumerRecord {
        service: rec.name.clone(),
        client_id: client_id.clone(),
        application: r.application,
        status,
        settings,
        created_at: now,
        updated_at: now,
    };
    svc.store
        .put_consumer(&c)
        .await
        .map_err(|e| conflict_or(e, format!("service '{}' or client '{client_id}'", rec.name)))?;
    svc.audit(
        "consumer.created",
        Some(&client_id),
        c.status.as_str(),
        None,
        json!({"service": rec.name}),
    );
    let mut v = consumer_view(svc, c, &required);
    v.client_secret = secret;
    Ok(v)
}

/// An administrator's decision on a consumer: approve, reject or revoke.
pub async fn set_consumer_status(
    svc: &Services,
    service: &str,
    client_id: &str,
    status: ConsumerStatus,
) -> Result<ConsumerView, Error> {
    let (rec, spec) = load_spec(svc, service).await?;
    let required = spec.required_scopes(&rec.name);
    let Some(mut c) = svc.store.get_consumer(service, client_id).await? else {
        return Err(Error::NotFound(format!(
            "consumer '{client_id}' of service '{service}'"
        )));
    };
    // Approve from any state (re-approving a rejected or revoked
    // consumer); reject only what waits; revoke only what was approved.
    let refused = match status {
        ConsumerStatus::Pending => Some("a consumer cannot be put back to pending"),
        ConsumerStatus::Approved => None,
        ConsumerStatus::Rejected => {
            (!matches!(c.status, ConsumerStatus::Pending | ConsumerStatus::Rejected))
                .then_some("only a pending consumer can be rejected (revoke an approved one)")
        }
        ConsumerStatus::Revoked => {
            (!matches!(c.status, ConsumerStatus::Approved | ConsumerStatus::Revoked))
                .then_some("only an approved consumer can be revoked")
        }
    };
    if let Some(why) = refused {
        return Err(invalid(why));
    }
    if status == ConsumerStatus::Approved {
        grant_scopes(svc, client_id, &required).await?;
    } else {
        withdraw_scopes(svc, client_id, service, &required).await?;
    }
    c.status = status;
    c.updated_at = svc.now();
    svc.store.put_consumer(&c).await?;
    svc.audit(
        "consumer.status",
        Some(client_id),
        status.as_str(),
        None,
        json!({"service": service}),
    );
    Ok(consumer_view(svc, c, &required))
}

/// Replaces a consumer's overrides (token lifetime, limits).
pub async fn set_consumer_settings(
    svc: &Services,
    service: &str,
    client_id: &str,
    settings: ConsumerSettings,
) -> Result<ConsumerView, Error> {
    settings.validate().map_err(invalid)?;
    let (rec, spec) = load_spec(svc, service).await?;
    let Some(mut c) = svc.store.get_consumer(service, client_id).await? else {
        return Err(Error::NotFound(format!(
            "consumer '{client_id}' of service '{service}'"
        )));
    };
    c.settings = to_json(&settings)?;
    c.updated_at = svc.now();
    svc.store.put_consumer(&c).await?;
    Ok(consumer_view(svc, c, &spec.required_scopes(&rec.name)))
}

pub async fn list_consumers(svc: &Services, service: &str) -> Result<Vec<ConsumerView>, Error> {
    let (rec, spec) = load_spec(svc, service).await?;
    let required = spec.required_scopes(&rec.name);
    Ok(svc
        .store
        .list_consumers(Some(service))
        .await?
        .into_iter()
        .map(|c| consumer_view(svc, c, &required))
        .collect())
}

/// Ends a consumption: the record goes and the client loses the scope.
pub async fn delete_consumer(svc: &Services, service: &str, client_id: &str) -> Result<(), Error> {
    let (rec, spec) = load_spec(svc, service).await?;
    if !svc.store.delete_consumer(service, client_id).await? {
        return Err(Error::NotFound(format!(
            "consumer '{client_id}' of service '{service}'"
        )));
    }
    if let Err(e) = withdraw_scopes(svc, client_id, service, &spec.required_scopes(&rec.name)).await
        && !matches!(e, Error::NotFound(_))
    {
        return Err(e);
    }
    Ok(())
}
