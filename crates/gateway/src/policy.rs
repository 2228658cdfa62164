//! What a call must show to get through: a token one of the service's
//! validators vouches for (our store first), and what the service requires
//! of it (audience, scope, the consumer's standing, token age).
use std::sync::Arc;

use tollgate_store::ConsumerStatus;

use crate::registry::{Service, Snapshot};
use crate::spec::LOCAL;
use crate::validate::{self, Principal, Verdict};
use crate::{Gateway, GatewayError};

impl Gateway {
    /// Asks the service's validators in order; the first that knows the
    /// token decides. Our own store's "invalid" is final; a third-party
    /// server's "inactive" may just mean the token is another server's.
    pub(crate) async fn validate(
        &self,
        snap: &Snapshot,
        service: &Service,
        token: &str,
    ) -> Result<Arc<Principal>, GatewayError> {
        let names = if service.spec.validators.is_empty() {
            &self.settings.default_validators
        } else {
            &service.spec.validators
        };
        // Our own store first, whatever the listed order: a token of ours
        // must never be sent to a third party's introspection endpoint.
        let ordered = names
            .iter()
            .filter(|n| n.as_str() == LOCAL)
            .chain(names.iter().filter(|n| n.as_str() != LOCAL));
        let now = self.app.svc.now();
        let mut refused: Option<&'static str> = None;
        for name in ordered {
            let verdict = if name == LOCAL {
                match validate::local(&self.app.svc, &self.local, token).await? {
                    Verdict::Invalid(why) => return Err(GatewayError::invalid_token(why)),
                    v => v,
                }
            } else {
                let Some(server) = snap.auth_servers.get(name) else {
                    tracing::error!(service = %service.name, server = %name, "the service names an authorization server that does not exist");
                    return Err(GatewayError::unavailable(format!(
                        "the service '{}' names an unknown authorization server",
                        service.name
                    )));
                };
                self.remote.check(server, token, now).await?
            };
            match verdict {
                Verdict::Valid(p) => return Ok(p),
                Verdict::Invalid(why) => refused = Some(why),
                Verdict::Unknown => {}
            }
        }
        Err(GatewayError::invalid_token(refused.unwrap_or(
            "the access token is unknown, expired or revoked",
        )))
    }

    /// What the service requires of a valid token, checked on every call:
    /// audience, scope, the consumer's standing and token age.
    pub(crate) fn authorize(
        &self,
        snap: &Snapshot,
        service: &Arc<Service>,
        p: &Principal,
    ) -> Result<(), GatewayError> {
        if let Some(aud) = &service.spec.audience
            && !p.audience.iter().any(|a| a == aud)
        {
            return Err(GatewayError::invalid_token(format!(
                "the access token is not meant for this service (aud must include '{aud}')"
            )));
        }
        let required = &service.required;
        let ok = match service.spec.scope_matching {
            tollgate_core::ScopeMatching::All => required.iter().all(|s| p.has_scope(s)),
            tollgate_core::ScopeMatching::Any => required.iter().any(|s| p.has_scope(s)),
        };
        if !ok {
            return Err(GatewayError::InsufficientScope {
                description: format!(
                    "the access token's scope is insufficient to access '{}'",
                    service.name
                )
                .into(),
                scope: required.join(" "),
            });
        }
        // The seed's mediator "searches its list of consumers for the
        // client": a client of this Tollgate gets in only as an approved
        // consumer of the service, whatever scopes it was registered with
        // (dynamic registration may hand out any scope name). Consumers are
        // our clients, so a third party's tokens are judged by their scope.
        let consumer = if &*p.source == LOCAL {
            p.client_id
                .as_deref()
                .and_then(|c| snap.consumer(&service.name, c))
        } else {
            None
        };
        if &*p.source == LOCAL {
            match consumer {
                Some(c) if c.status == ConsumerStatus::Approved => {}
                Some(c) => {
                    return Err(GatewayError::InsufficientScope {
                        description: format!(
                            "the application '{}' is {} as a consumer of '{}'",
                            c.application,
                            c.status.as_str(),
                            service.name
                        )
                        .into(),
                        scope: required.join(" "),
                    });
                }
                None => {
                    return Err(GatewayError::InsufficientScope {
                        description: format!(
                            "the client is not a consumer of '{}' (tollgate service consume)",
                            service.name
                        )
                        .into(),
                        scope: required.join(" "),
                    });
                }
            }
        }
        let lifetime = match consumer {
            Some(c) => c.token_lifetime(&service.spec),
            None => service.spec.token_lifetime_secs,
        };
        if let (Some(max), Some(iat)) = (lifetime, p.issued_at) {
            let age = self.app.svc.now() - iat;
            if age > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(GatewayError::invalid_token(format!(
                    "the access token is older than the {max} s this service accepts; get a new one"
                )));
            }
        }
        Ok(())
    }
}
