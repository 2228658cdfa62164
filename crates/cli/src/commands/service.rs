//! `tollgate service add|list|show|update|enable|disable|delete|consume|consumers|approve|reject|revoke|remove-consumer|set-consumer`
//!
//! A running server picks changes up within `gateway.reload_interval_ms`.
use clap::{Args, Subcommand};
use tollgate_core::{RateLimit, ScopeMatching};
use tollgate_gateway::manage::{self, ConsumeRequest, ConsumerView, ServiceView};
use tollgate_gateway::spec::{ConsumerSettings, Consumption, Limits, ServiceSpec, UpstreamAuth};
use tollgate_store::ConsumerStatus;

use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Publish an upstream API as a virtual service at /gateway/ALIAS/….
    Add {
        /// The service's name; also its alias and required scope unless
        /// --alias / --scope say otherwise.
        name: String,
        /// The native endpoint, e.g. http://127.0.0.1:9000/api.
        #[arg(long)]
        upstream: String,
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// List services.
    List,
    /// Show one service.
    Show { name: String },
    /// Change a service: only the options given change.
    Update {
        name: String,
        #[arg(long)]
        upstream: Option<String>,
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Let calls through again.
    Enable { name: String },
    /// Refuse every call (503) without deleting anything.
    Disable { name: String },
    /// Unpublish a service and drop its consumers.
    Delete { name: String },
    /// An application consumes a service: creates (or, with --client-id,
    /// links) its OAuth client and prints the OAuth2 identification details.
    Consume {
        name: String,
        /// The application's name.
        #[arg(long = "app")]
        application: String,
        /// Link this existing client instead of creating one.
        #[arg(long)]
        client_id: Option<String>,
        /// Why the application asks (kept with the consumer).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        consumer: ConsumerArgs,
    },
    /// List a service's consumers.
    Consumers { name: String },
    /// Approve a pending consumer (its client gets the service's scope).
    Approve { name: String, client_id: String },
    /// Reject a pending consumer.
    Reject { name: String, client_id: String },
    /// Withdraw an approved consumer (its tokens stop working for the service).
    Revoke { name: String, client_id: String },
    /// End a consumption: the record goes and the client loses the scope.
    RemoveConsumer { name: String, client_id: String },
    /// Replace a consumer's overrides of the service's token lifetime and limits.
    SetConsumer {
        name: String,
        client_id: String,
        #[command(flatten)]
        consumer: ConsumerArgs,
    },
}

/// Policy options shared by `add` and `update`.
#[derive(Args)]
pub struct SpecArgs {
    /// Allowed method (repeatable); none means every method.
    #[arg(long = "method")]
    methods: Vec<String>,
    /// Required scope (repeatable); default: the service's name.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// all (default): the token needs every scope; any: one suffices.
    #[arg(long)]
    scope_matching: Option<ScopeMatching>,
    /// Let calls through without a token (the seed's allow-anon).
    #[arg(long, conflicts_with = "oauth2")]
    anonymous: bool,
    /// Require a bearer token (the default; undoes --anonymous on update).
    #[arg(long)]
    oauth2: bool,
    /// Who validates tokens, in order: `local` and/or authorization server
    /// names (repeatable); default: gateway.default_validators.
    #[arg(long = "validator")]
    validators: Vec<String>,
    /// Tokens must name this audience (aud).
    #[arg(long)]
    audience: Option<String>,
    /// Pass the caller's Authorization header upstream: true or false.
    #[arg(long)]
    pass_authorization: Option<bool>,
    /// Accept the token in a form body too (RFC 6750 §2.2): true or false.
    #[arg(long)]
    body_token: Option<bool>,
    /// Match alias and path ignoring case (the upstream gets lower case): true or false.
    #[arg(long)]
    case_insensitive: Option<bool>,
    /// New consumers wait for approval: true or false.
    #[arg(long)]
    require_approval: Option<bool>,
    /// Consumers' access-token lifetime in seconds, and the oldest token
    /// accepted (the seed's "Refresh Token After").
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// Each consumer's rate: PER_SECOND/BURST, e.g. 10/20.
    #[arg(long)]
    rate: Option<RateLimit>,
    /// Each consumer's requests per UTC day.
    #[arg(long)]
    per_day: Option<u64>,
    /// How long the upstream may take to start answering (ms).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Call the upstream with a token of this connection (`tollgate
    /// connection add`); an empty value removes it.
    #[arg(long)]
    upstream_connection: Option<String>,
}

impl SpecArgs {
    fn apply(self, s: &mut ServiceSpec) {
        if !self.methods.is_empty() {
            s.methods = self.methods;
        }
        if !self.scopes.is_empty() {
            s.scopes = self.scopes;
        }
        if let Some(m) = self.scope_matching {
            s.scope_matching = m;
        }
        if self.anonymous {
            s.consumption = Consumption::Anonymous;
        }
        if self.oauth2 {
            s.consumption = Consumption::Oauth2;
        }
        if !self.validators.is_empty() {
            s.validators = self.validators;
        }
        if let Some(a) = self.audience {
            s.audience = Some(a).filter(|a| !a.is_empty());
        }
        if let Some(v) = self.pass_authorization {
            s.pass_authorization = v;
        }
        if let Some(c) = self.upstream_connection {
            s.upstream_auth = (!c.is_empty()).then_some(UpstreamAuth { connection: c });
        }
        if let Some(v) = self.body_token {
            s.body_token = v;
        }
        if let Some(v) = self.case_insensitive {
            s.case_insensitive = v;
        }
        if let Some(v) = self.require_approval {
            s.require_approval = v;
        }
        if let Some(v) = self.token_lifetime {
            s.token_lifetime_secs = Some(v);
        }
        if let Some(r) = self.rate {
            s.limits.rate = Some(r);
        }
        if let Some(d) = self.per_day {
            s.limits.per_day = Some(d);
        }
        if let Some(t) = self.timeout_ms {
            s.timeout_ms = t;
        }
    }
}

/// A consumer's overrides.
#[derive(Args)]
pub struct ConsumerArgs {
    /// This consumer's access-token lifetime in seconds.
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// This consumer's rate: PER_SECOND/BURST.
    #[arg(long)]
    rate: Option<RateLimit>,
    /// This consumer's requests per UTC day.
    #[arg(long)]
    per_day: Option<u64>,
}

impl ConsumerArgs {
    fn settings(self, reason: Option<String>) -> ConsumerSettings {
        let limits = (self.rate.is_some() || self.per_day.is_some()).then_some(Limits {
            rate: self.rate,
            per_day: self.per_day,
        });
        ConsumerSettings {
            token_lifetime_secs: self.token_lifetime,
            limits,
            reason,
        }
    }
}

fn parse_url(s: &str) -> anyhow::Result<url::Url> {
    url::Url::parse(s).map_err(|e| anyhow::anyhow!("--upstream '{s}' is not a URL: {e}"))
}

fn prefix(cfg: &Config) -> &str {
    cfg.gateway.prefix.as_str()
}

pub async fn run(cfg: &Config, cmd: ServiceCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        ServiceCmd::Add {
            name,
            upstream,
            alias,
            spec,
        } => {
            let mut s = ServiceSpec::new(parse_url(&upstream)?);
            spec.apply(&mut s);
            let v = manage::create_service(svc, prefix(cfg), &name, alias.as_deref(), s).await?;
            print_service(&v, &cfg.issuer(None), as_json)
        }
        ServiceCmd::List => {
            let list = manage::list_services(svc, prefix(cfg)).await?;
            if as_json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.path.clone(),
                        s.spec.upstream.to_string(),
                        match s.spec.consumption {
                            Consumption::Oauth2 => s.required_scopes.join(" "),
                            Consumption::Anonymous => "(anonymous)".into(),
                        },
                        s.spec.enabled.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["NAME", "PATH", "UPSTREAM", "SCOPE", "ENABLED"], &rows);
            Ok(())
        }
        ServiceCmd::Show { name } => print_service(
            &manage::get_service(svc, prefix(cfg), &name).await?,
            &cfg.issuer(None),
            as_json,
        ),
        ServiceCmd::Update {
            name,
            upstream,
            alias,
            spec,
        } => {
            let mut s = manage::get_service(svc, prefix(cfg), &name).await?.spec;
            if let Some(u) = upstream {
                s.upstream = parse_url(&u)?;
            }
            spec.apply(&mut s);
            let v = manage::update_service(svc, prefix(cfg), &name, alias.as_deref(), s).await?;
            print_service(&v, &cfg.issuer(None), as_json)
        }
        ServiceCmd::Enable { name } => set_enabled(svc, cfg, &name, true, as_json).await,
        ServiceCmd::Disable { name } => set_enabled(svc, cfg, &name, false, as_json).await,
        ServiceCmd::Delete { name } => {
            manage::delete_service(svc, &name).await?;
            if as_json {
                output::json(&serde_json::json!({"deleted": name}))
            } else {
                println!("service '{name}' deleted");
                Ok(())
            }
        }
        ServiceCmd::Consume {
            name,
            application,
            client_id,
            reason,
            consumer,
        } => {
            let v = manage::consume(
                svc,
                ConsumeRequest {
                    service: name,
                    application,
                    client_id,
                    settings: consumer.settings(reason),
                },
            )
            .await?;
            print_consumer(&v, as_json)
        }
        ServiceCmd::Consumers { name } => {
            let list = manage::list_consumers(svc, &name).await?;
            if as_json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|c| {
                    vec![
                        c.client_id.clone(),
                        c.application.clone(),
                        c.status.as_str().into(),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["CLIENT_ID", "APPLICATION", "STATUS"], &rows);
            Ok(())
        }
        ServiceCmd::Approve { name, client_id } => {
            let v = manage::set_consumer_status(svc, &name, &client_id, ConsumerStatus::Approved)
                .await?;
            print_consumer(&v, as_json)
        }
        ServiceCmd::Reject { name, client_id } => {
            let v = manage::set_consumer_status(svc, &name, &client_id, ConsumerStatus::Rejected)
                .await?;
            print_consumer(&v, as_json)
        }
        ServiceCmd::Revoke { name, client_id } => {
            let v = manage::set_consumer_status(svc, &name, &client_id, ConsumerStatus::Revoked)
                .await?;
            print_consumer(&v, as_json)
        }
        ServiceCmd::RemoveConsumer { name, client_id } => {
            manage::delete_consumer(svc, &name, &client_id).await?;
            if as_json {
                output::json(&serde_json::json!({"removed": client_id, "service": name}))
            } else {
                println!("'{client_id}' no longer consumes '{name}'");
                Ok(())
            }
        }
        ServiceCmd::SetConsumer {
            name,
            client_id,
            consumer,
        } => {
            let v = manage::set_consumer_settings(svc, &name, &client_id, consumer.settings(None))
                .await?;
            print_consumer(&v, as_json)
        }
    })
    .await
}

async fn set_enabled(
    svc: &tollgate_authz::Services,
    cfg: &Config,
    name: &str,
    enabled: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut s = manage::get_service(svc, prefix(cfg), name).await?.spec;
    s.enabled = enabled;
    let v = manage::update_service(svc, prefix(cfg), name, None, s).await?;
    print_service(&v, &cfg.issuer(None), as_json)
}

fn print_service(v: &ServiceView, issuer: &str, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(v);
    }
    println!("service:   {}", v.name);
    println!("url:       {issuer}{}", v.path);
    println!("upstream:  {}", v.spec.upstream);
    if let Some(a) = &v.spec.upstream_auth {
        println!("upstream token: from the connection '{}'", a.connection);
    }
    if v.spec.pass_authorization {
        println!("upstream token: the caller's (Authorization passed through)");
    }
    match v.spec.consumption {
        Consumption::Oauth2 => println!(
            "access:    bearer token with scope '{}' ({})",
            v.required_scopes.join(" "),
            v.spec.scope_matching.as_str()
        ),
        Consumption::Anonymous => println!("access:    anonymous (no token needed)"),
    }
    if !v.spec.methods.is_empty() {
        println!("methods:   {}", v.spec.methods.join(", "));
    }
    if !v.spec.validators.is_empty() {
        println!("validated: {}", v.spec.validators.join(", "));
    }
    if v.spec.require_approval {
        println!("approval:  required");
    }
    println!("enabled:   {}", v.spec.enabled);
    Ok(())
}

fn print_consumer(v: &ConsumerView, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(v);
    }
    println!("OAuth2 identification details for '{}'", v.application);
    println!("  service:        {}", v.service);
    println!("  status:         {}", v.status.as_str());
    println!("  client_id:      {}", v.client_id);
    if let Some(s) = &v.client_secret {
        println!("  client_secret:  {s}   (shown once)");
    }
    println!("  scope:          {}", v.scope);
    println!("  token endpoint: {}", v.token_endpoint);
    println!("  token service:  {}", v.token_service);
    Ok(())
}
