//! The gateway: virtual services that publish upstream APIs under
//! `/gateway/{alias}/…`, and let a call through only with a valid bearer
//! token carrying the service's scope (RFC 6750), validated by this
//! Tollgate or by a third-party server (RFC 7662 introspection, or RFC 9068
//! JWTs against its JWKS).
#![forbid(unsafe_code)]

pub mod bearer;
pub mod error;
pub mod limits;
pub mod manage;
pub mod metrics;
pub mod path;
mod policy;
pub mod proxy;
pub mod registry;
pub mod settings;
pub mod spec;
pub mod validate;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_authz::client_addr::ClientAddr;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::Response;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use tollgate_authz::App;
use tollgate_authz::assertion::RemoteKeys;

pub use error::GatewayError;
pub use settings::GatewaySettings;

use crate::registry::{Registry, Service, Snapshot};
use crate::spec::{Consumption, LOCAL};

pub struct Gateway {
    pub app: Arc<App>,
    pub settings: GatewaySettings,
    registry: Registry,
    remote: validate::Remote,
    upstreams: proxy::Upstreams,
    budgets: limits::Budgets,
    /// What the local validator remembers (see `validate::LocalCache`).
    local: validate::LocalCache,
    /// Tokens for upstreams that want OAuth themselves (`upstream_auth`).
    connections: Arc<tollgate_connect::Connections>,
    recorder: metrics::Recorder,
}

impl Gateway {
    /// Builds the gateway and loads its configuration from the store.
    pub async fn start(
        app: Arc<App>,
        settings: GatewaySettings,
        connections: Arc<tollgate_connect::Connections>,
    ) -> Result<Arc<Self>, String> {
        settings.validate()?;
        // Keys of third-party servers come from URLs an administrator
        // configured, so private addresses are allowed (unlike a client's
        // self-registered jwks_uri).
        let keys = RemoteKeys::new(&app.svc.settings.assertions, true, true)?;
        let remote = validate::Remote::new(
            settings.validation_cache_capacity,
            keys,
            i64::try_from(app.svc.settings.assertions.clock_skew_secs).unwrap_or(60),
            app.svc.settings.assertions.jwks_ca_file.as_deref(),
        )?;
        let upstreams = proxy::Upstreams::new(
            Duration::from_millis(settings.connect_timeout_ms),
            settings.max_idle_per_host,
            settings.upstream_ca_file.as_deref(),
        )?;
        let gw = Arc::new(Self {
            app,
            budgets: limits::Budgets::new(settings.budget_capacity),
            local: validate::LocalCache::new(settings.validation_cache_capacity),
            connections,
            recorder: metrics::Recorder::default(),
            settings,
            registry: Registry::default(),
            remote,
            upstreams,
        });
        gw.reload()
            .await
            .map_err(|e| format!("loading the gateway's services: {e}"))?;
        Ok(gw)
    }

    /// Reads the configuration from the store now.
    pub async fn reload(&self) -> Result<(), tollgate_store::StoreError> {
        let snap = registry::load(&*self.app.svc.store, &self.app.svc.master).await?;
        let servers_changed = {
            let old = self.registry.get();
            old.auth_servers.len() != snap.auth_servers.len()
                || old.auth_servers.iter().any(|(k, v)| {
                    snap.auth_servers
                        .get(k)
                        .is_none_or(|n| n.spec != v.spec || n.secret != v.secret)
                })
        };
        if servers_changed {
            self.remote.clear();
        }
        ::metrics::gauge!(metrics::SERVICES).set(snap.service_count() as f64);
        self.registry.set(snap);
        Ok(())
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.registry.get()
    }

    /// Polls the store's generation and reloads when it moved (a change by
    /// the CLI, another process or another node).
    pub fn spawn_reload(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let gw = Arc::downgrade(self);
        let every = Duration::from_millis(self.settings.reload_interval_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(gw) = gw.upgrade() else { break };
                match gw.app.svc.store.gateway_generation().await {
                    Ok(g) if g != gw.registry.get().generation => {
                        if let Err(e) = gw.reload().await {
                            tracing::warn!(error = %e, "reloading the gateway's services failed");
                        } else {
                            tracing::info!(generation = g, "gateway configuration reloaded");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "reading the gateway generation failed"),
                }
            }
        })
    }

    /// Whether `path` (raw, as received) is the gateway's: the prefix
    /// itself or anything under it. The listener hands such calls to
    /// [`Gateway::call`] instead of its router.
    pub fn owns(&self, path: &str) -> bool {
        path::is_under(path, &self.settings.prefix)
    }

    /// Serves one call that [`Gateway::owns`]. `scheme` is how the caller
    /// reached us (`http` or `https`, for `X-Forwarded-Proto`); who called
    /// is the request's `ClientAddr` extension, which the listener set. A
    /// panic is a 500 in JSON, never a dropped connection.
    pub async fn call(self: Arc<Self>, scheme: &'static str, mut req: Request) -> Response {
        let gw = self.clone();
        // Computed by the listener (see `tollgate_authz::client_addr`).
        let client = req.extensions_mut().remove::<ClientAddr>();
        match std::panic::AssertUnwindSafe(self.handle(client, scheme, req))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!("a gateway call panicked");
                GatewayError::Internal.into_response_with(&gw.settings.realm)
            }
        }
    }

    /// Serves one call; every outcome, the upstream's answer or ours, is
    /// counted per service and consumer.
    async fn handle(
        self: Arc<Self>,
        client: Option<ClientAddr>,
        scheme: &'static str,
        req: Request,
    ) -> Response {
        let start = Instant::now();
        let mut labels = metrics::Labels::default();
        let resp = match self.serve(client.as_ref(), scheme, req, &mut labels).await {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, GatewayError::Unavailable(_)) {
                    tracing::warn!(service = labels.service.as_deref().unwrap_or(""), error = %e, "gateway call refused");
                }
                e.into_response_with(&self.settings.realm)
            }
        };
        self.recorder
            .record(&labels, resp.status().as_u16(), start.elapsed());
        resp
    }

    async fn serve(
        &self,
        client: Option<&ClientAddr>,
        scheme: &'static str,
        req: Request,
        labels: &mut metrics::Labels,
    ) -> Result<Response, GatewayError> {
        let normalised = path::normalise(req.uri().path())
            .map_err(|e| GatewayError::invalid_request(e.to_string()))?;
        let Some(after) = normalised
            .strip_prefix(self.settings.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .filter(|r| !r.is_empty())
        else {
            return Err(GatewayError::NotFound(
                format!("name a service: {}/{{alias}}/…", self.settings.prefix).into(),
            ));
        };
        let (alias, rest) = match after.find('/') {
            Some(i) => after.split_at(i),
            None => (after, ""),
        };
        let snap = self.registry.get();
        let Some(service) = snap.service(alias).cloned() else {
            return Err(GatewayError::NotFound(
                format!(
                    "no service is published at {}/{alias}",
                    self.settings.prefix
                )
                .into(),
            ));
        };
        labels.service = Some(service.name.clone());
        let rest: Cow<'_, str> = if service.spec.case_insensitive {
            Cow::Owned(rest.to_ascii_lowercase())
        } else {
            Cow::Borrowed(rest)
        };
        if !service.spec.enabled {
            return Err(GatewayError::unavailable(format!(
                "the service '{}' is disabled",
                service.name
            )));
        }
        if service.spec.methods.is_empty() {
            // CONNECT (a tunnel) and TRACE (echoes headers, credentials
            // included) are no API call; a service lets them through only
            // by listing them.
            if matches!(*req.method(), Method::CONNECT | Method::TRACE) {
                return Err(GatewayError::MethodNotAllowed {
                    allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".into(),
                });
            }
        } else if !service
            .spec
            .methods
            .iter()
            .any(|m| m == req.method().as_str())
        {
            return Err(GatewayError::MethodNotAllowed {
                allow: service.spec.methods.join(", "),
            });
        }
        let (req, principal) = match service.spec.consumption {
            Consumption::Anonymous => (req, None),
            Consumption::Oauth2 => {
                let (req, token) = self.take_token(&service, req).await?;
                let Some(token) = token else {
                    return Err(GatewayError::NoToken);
                };
                let p = self.validate(&snap, &service, &token).await?;
                // Our clients are registered (a bounded set); a third
                // party's client ids are not ours to count, so its calls
                // are labelled with the server's name.
                labels.consumer = if &*p.source == LOCAL {
                    p.client_id.clone().unwrap_or_default()
                } else {
                    format!("authserver:{}", p.source)
                };
                self.authorize(&snap, &service, &p)?;
                (req, Some(p))
            }
        };
        let limits = match principal
            .as_ref()
            .filter(|p| &*p.source == LOCAL)
            .and_then(|p| p.client_id.as_deref())
            .and_then(|c| snap.consumer(&service.name, c))
        {
            Some(c) => *c.limits(&service.spec),
            None => service.spec.limits,
        };
        if !limits.is_empty() {
            // A budget belongs to a consumer of this Tollgate, or to a third
            // party's client (or subject) under that party's name, never to
            // a bare client id another issuer could also mint.
            let who = match &principal {
                Some(p) => format!(
                    "{}:{}",
                    p.source,
                    p.client_id
                        .as_deref()
                        .or(p.subject.as_deref())
                        .unwrap_or("")
                ),
                None => format!(
                    "ip:{}",
                    client.map(|c| c.ip.to_string()).unwrap_or_default()
                ),
            };
            let now_ms = self.app.svc.clock.now_millis();
            self.budgets
                .admit(&service.name, &who, &limits, now_ms)
                .await?;
        }

        let upstream_token = match &service.spec.upstream_auth {
            None => None,
            Some(a) => Some(self.connections.token(&a.connection).await.map_err(|e| {
                tracing::warn!(service = %service.name, connection = %a.connection, error = %e, "no token for the upstream");
                GatewayError::BadGateway(
                    format!(
                        "the credentials for the upstream of '{}' (connection '{}') cannot be obtained",
                        service.name, a.connection
                    )
                    .into(),
                )
            })?),
        };
        let query = req.uri().query().map(str::to_owned);
        let mut out = proxy::rewrite(
            req,
            &proxy::Forward {
                service: &service,
                rest: &rest,
                query: query.as_deref(),
                client,
                scheme,
                principal: principal.as_deref(),
                trust_forwarded: self.settings.trust_forwarded_for,
            },
        )?;
        if let Some(t) = upstream_token {
            // RFC 6750 §2.1 spells the scheme `Bearer`; providers often
            // answer `token_type: bearer`.
            let scheme = if t.token_type.eq_ignore_ascii_case("bearer") {
                "Bearer"
            } else {
                t.token_type.as_str()
            };
            let mut v =
                header::HeaderValue::from_str(&format!("{scheme} {}", t.value)).map_err(|_| {
                    GatewayError::BadGateway(
                        "the upstream's access token cannot be sent in a header".into(),
                    )
                })?;
            v.set_sensitive(true);
            out.headers_mut().insert(header::AUTHORIZATION, v);
        }
        self.upstreams.send(&service, out).await
    }

    /// The token of the request: the `Authorization` header, or where the
    /// service allows it a form-encoded body (read whole, within a limit,
    /// and handed on unchanged).
    async fn take_token(
        &self,
        service: &Service,
        req: Request,
    ) -> Result<(Request, Option<String>), GatewayError> {
        let from_header = bearer::from_headers(req.headers())?;
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !service.spec.body_token || !is_form || req.method() == Method::GET {
            return Ok((req, from_header));
        }
        let (parts, body) = req.into_parts();
        let limit = self.settings.form_body_limit;
        let bytes: Bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| {
                GatewayError::invalid_request(format!(
                    "a form body that may carry the access token is limited to {limit} bytes"
                ))
            })?
            .to_bytes();
        let from_body = bearer::from_form(&bytes)?;
        let token = match (from_header, from_body) {
            (Some(_), Some(_)) => {
                return Err(GatewayError::invalid_request(
                    "the request carries more than one access token (header and body)",
                ));
            }
            (h, b) => h.or(b),
        };
        Ok((Request::from_parts(parts, Body::from(bytes)), token))
    }
}
