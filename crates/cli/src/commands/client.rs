//! `tollgate client add|list|show|rotate-secret|set-rate-limit|set-keys|set-token-format|enable|disable|delete`
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;
use tollgate_authz::clients::{self, ClientPatch, ClientView, NewClient};
use tollgate_core::{
    AccessTokenFormat, AuthMethod, ClientId, ClientType, GrantType, RateLimit, RefreshMode,
    ScopeMatching, ScopeSet, TokenSettingsOverride,
};

use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum ClientCmd {
    /// Register a client. Prints it with its secret (shown once).
    Add(Box<AddArgs>),
    /// List clients.
    List,
    /// Show one client.
    Show { id: String },
    /// Add a new generated secret; earlier ones stay valid for --grace seconds.
    RotateSecret {
        id: String,
        /// Seconds the previous secrets stay valid (0 = revoke them now).
        #[arg(long, default_value_t = 86400)]
        grace: u64,
    },
    /// Set the client's request-rate limit at the token and introspection
    /// endpoints: PER_SECOND/BURST (e.g. 10/20), or `none` to remove it.
    /// A running server applies it within cache.client_ttl_secs.
    SetRateLimit {
        id: String,
        #[arg(value_parser = parse_rate_limit_or_none)]
        limit: RateLimitArg,
    },
    /// Replace the public keys of a private_key_jwt client: a JWK Set (or
    /// PEM public keys / certificates) from a file, or a jwks_uri.
    #[command(group(ArgGroup::new("keys").required(true).args(["jwks_file", "jwks_uri"])))]
    SetKeys {
        id: String,
        /// A JWK Set JSON file, or a PEM file of public keys / certificates.
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        /// The https URL where the client publishes its JWK Set.
        #[arg(long)]
        jwks_uri: Option<String>,
    },
    /// Issue opaque or JWT (RFC 9068) access tokens to this client; the
    /// client's other token settings are kept.
    SetTokenFormat {
        id: String,
        #[arg(value_parser = parse_token_format)]
        format: AccessTokenFormat,
    },
    /// Enable a disabled client.
    Enable { id: String },
    /// Disable a client: it can no longer authenticate and its tokens stop being active.
    Disable { id: String },
    /// Delete a client and every token issued to it.
    Delete { id: String },
}

#[derive(Args)]
pub struct AddArgs {
    /// Display name. Also the client id when it is a valid identifier and --id is not given.
    pub name: String,
    /// Client id (A-Z a-z 0-9 . _ ~ -, up to 128); generated when absent.
    #[arg(long)]
    pub id: Option<String>,
    /// Registered scopes, space-separated; may be repeated.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Allowed grant types; may be repeated (default: client_credentials).
    #[arg(long = "grant")]
    pub grants: Vec<GrantType>,
    /// Redirect URIs; may be repeated.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// client_secret_basic (default), client_secret_post, client_secret_jwt,
    /// private_key_jwt (with --jwks-file or --jwks-uri), or none for public clients.
    #[arg(long)]
    pub auth_method: Option<AuthMethod>,
    /// The client's public keys (private_key_jwt): a JWK Set JSON file, or a
    /// PEM file of public keys / certificates (one key per block; each gets
    /// its RFC 7638 thumbprint as kid).
    #[arg(long, conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// The https URL where the client publishes its JWK Set (private_key_jwt).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// Access tokens for this client: opaque (the server default unless
    /// tokens.access_token_format says otherwise) or jwt (RFC 9068).
    #[arg(long, value_parser = parse_token_format)]
    pub access_token_format: Option<AccessTokenFormat>,
    /// A public client (no secret).
    #[arg(long)]
    pub public: bool,
    /// How requested scopes match the registered ones: any (default) or all.
    #[arg(long, default_value = "any")]
    pub scope_matching: ScopeMatching,
    /// Metadata copied onto every token, NAME=VALUE; may be repeated.
    #[arg(long = "metadata", value_parser = parse_pair)]
    pub metadata: Vec<(String, String)>,
    /// Read a chosen secret from standard input instead of generating one.
    #[arg(long)]
    pub secret_stdin: bool,
    #[arg(long)]
    pub access_token_ttl: Option<u64>,
    #[arg(long)]
    pub access_token_length: Option<usize>,
    #[arg(long)]
    pub token_type: Option<String>,
    /// rotate, none or preserve.
    #[arg(long, value_parser = parse_refresh_mode)]
    pub refresh_mode: Option<RefreshMode>,
    #[arg(long)]
    pub refresh_token_ttl: Option<u64>,
    #[arg(long)]
    pub refresh_token_length: Option<usize>,
    /// Authorization code lifetime in seconds (default 600).
    #[arg(long)]
    pub code_ttl: Option<u64>,
    /// Issue a refresh token with client credentials (needs --grant refresh_token too).
    #[arg(long)]
    pub client_credentials_refresh: bool,
    /// Request-rate limit at the token and introspection endpoints,
    /// PER_SECOND/BURST (e.g. 10/20: 10 a second, bursts of 20).
    #[arg(long, value_parser = parse_rate_limit)]
    pub rate_limit: Option<RateLimit>,
    /// Skip the consent page: the user's login is the approval (the seed's
    /// "Skip Authorization"; for first-party clients only).
    #[arg(long)]
    pub skip_consent: bool,
}

/// A rate limit, or its explicit absence (`none`).
#[derive(Clone, Copy)]
pub struct RateLimitArg(Option<RateLimit>);

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    s.parse()
}

fn parse_rate_limit_or_none(s: &str) -> Result<RateLimitArg, String> {
    if s.eq_ignore_ascii_case("none") {
        Ok(RateLimitArg(None))
    } else {
        s.parse().map(|l| RateLimitArg(Some(l)))
    }
}

pub(crate) fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{s}' is not NAME=VALUE"))
}

fn parse_token_format(s: &str) -> Result<AccessTokenFormat, String> {
    match s {
        "opaque" => Ok(AccessTokenFormat::Opaque),
        "jwt" => Ok(AccessTokenFormat::Jwt),
        _ => Err(format!("'{s}' is not opaque or jwt")),
    }
}

fn format_name(f: AccessTokenFormat) -> &'static str {
    match f {
        AccessTokenFormat::Opaque => "opaque",
        AccessTokenFormat::Jwt => "jwt",
    }
}

fn parse_refresh_mode(s: &str) -> Result<RefreshMode, String> {
    match s {
        "rotate" => Ok(RefreshMode::Rotate),
        "none" => Ok(RefreshMode::None),
        "preserve" => Ok(RefreshMode::Preserve),
        _ => Err(format!("'{s}' is not rotate, none or preserve")),
    }
}

impl AddArgs {
    fn into_new_client(self) -> anyhow::Result<NewClient> {
        let id = self.id.or_else(|| {
            ClientId::try_from(self.name.as_str())
                .ok()
                .map(String::from)
        });
        let scopes = ScopeSet::parse(&self.scopes.join(" "))
            .map_err(|e| anyhow::anyhow!("--scope: {}", e.description()))?;
        let secret = if self.secret_stdin {
            Some(super::read_stdin_secret("--secret-stdin")?)
        } else {
            None
        };
        let client_type = if self.public || self.auth_method == Some(AuthMethod::None) {
            ClientType::Public
        } else {
            ClientType::Confidential
        };
        Ok(NewClient {
            id,
            name: self.name,
            client_type,
            auth_method: self.auth_method,
            grant_types: (!self.grants.is_empty())
                .then(|| self.grants.into_iter().collect::<BTreeSet<_>>()),
            redirect_uris: self.redirect_uris,
            scopes,
            scope_matching: self.scope_matching,
            jwks: self
                .jwks_file
                .as_deref()
                .map(super::assertion::read_jwks_file)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--jwks-file: {e:#}"))?,
            jwks_uri: self.jwks_uri,
            token_settings: TokenSettingsOverride {
                access_token_format: self.access_token_format,
                access_token_ttl: self.access_token_ttl,
                access_token_length: self.access_token_length,
                token_type: self.token_type,
                refresh_mode: self.refresh_mode,
                refresh_token_ttl: self.refresh_token_ttl,
                refresh_token_length: self.refresh_token_length,
                code_ttl: self.code_ttl,
                client_credentials_refresh: self.client_credentials_refresh.then_some(true),
                ..Default::default()
            },
            metadata: self.metadata.into_iter().collect::<BTreeMap<_, _>>(),
            secret,
            rate_limit: self.rate_limit,
            skip_consent: self.skip_consent,
        })
    }
}

fn print_client(c: &ClientView, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(c);
    }
    println!("client_id:      {}", c.client_id);
    if let Some(s) = &c.client_secret {
        println!("client_secret:  {s}   (shown once; store it now)");
    }
    println!("name:           {}", c.client_name);
    println!("type:           {:?}", c.client_type);
    println!("auth method:    {}", c.token_endpoint_auth_method.as_str());
    println!(
        "grant types:    {}",
        c.grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "scope:          {} (matching: {})",
        c.scope,
        c.scope_matching.as_str()
    );
    if !c.redirect_uris.is_empty() {
        println!("redirect URIs:  {}", c.redirect_uris.join(", "));
    }
    if !c.metadata.is_empty() {
        let m: Vec<String> = c.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("metadata:       {}", m.join(", "));
    }
    if let Some(l) = &c.rate_limit {
        println!(
            "rate limit:     {} per second, burst {}",
            l.per_second, l.burst
        );
    }
    if let Some(f) = c.token_settings.access_token_format {
        println!("token format:   {}", format_name(f));
    }
    if let Some(j) = &c.jwks {
        let kids: Vec<&str> = j["keys"]
            .as_array()
            .map(|ks| ks.iter().filter_map(|k| k["kid"].as_str()).collect())
            .unwrap_or_default();
        println!(
            "jwks:           {} key(s){}",
            j["keys"].as_array().map_or(0, Vec::len),
            if kids.is_empty() {
                String::new()
            } else {
                format!(" (kid {})", kids.join(", "))
            }
        );
    }
    if let Some(u) = &c.jwks_uri {
        println!("jwks_uri:       {u}");
    }
    println!("enabled:        {}", c.enabled);
    println!("secrets:        {}", c.secrets.len());
    Ok(())
}

pub async fn run(cfg: &Config, cmd: ClientCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        ClientCmd::Add(args) => {
            let view = clients::create_client(svc, args.into_new_client()?).await?;
            print_client(&view, as_json)
        }
        ClientCmd::List => {
            let list = clients::list_clients(svc).await?;
            if as_json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|c| {
                    vec![
                        c.client_id.clone(),
                        c.client_name.clone(),
                        c.token_endpoint_auth_method.as_str().into(),
                        c.scope.clone(),
                        c.enabled.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(
                &["CLIENT_ID", "NAME", "AUTH_METHOD", "SCOPE", "ENABLED"],
                &rows,
            );
            Ok(())
        }
        ClientCmd::Show { id } => print_client(&clients::get_client(svc, &id).await?, as_json),
        ClientCmd::RotateSecret { id, grace } => {
            print_client(&clients::rotate_secret(svc, &id, grace).await?, as_json)
        }
        ClientCmd::SetRateLimit { id, limit } => {
            print_client(&clients::set_rate_limit(svc, &id, limit.0).await?, as_json)
        }
        ClientCmd::SetKeys {
            id,
            jwks_file,
            jwks_uri,
        } => {
            let jwks = jwks_file
                .as_deref()
                .map(super::assertion::read_jwks_file)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--jwks-file: {e:#}"))?;
            let patch = ClientPatch {
                jwks,
                jwks_uri,
                ..Default::default()
            };
            print_client(&clients::update_client(svc, &id, patch).await?, as_json)
        }
        ClientCmd::SetTokenFormat { id, format } => {
            let mut settings = clients::get_client(svc, &id).await?.token_settings;
            settings.access_token_format = Some(format);
            let patch = ClientPatch {
                token_settings: Some(settings),
                ..Default::default()
            };
            print_client(&clients::update_client(svc, &id, patch).await?, as_json)
        }
        ClientCmd::Enable { id } => {
            print_client(&clients::set_enabled(svc, &id, true).await?, as_json)
        }
        ClientCmd::Disable { id } => {
            print_client(&clients::set_enabled(svc, &id, false).await?, as_json)
        }
        ClientCmd::Delete { id } => {
            clients::delete_client(svc, &id).await?;
            if as_json {
                output::json(&json!({"client_id": id, "deleted": true}))
            } else {
                println!("deleted client {id}");
                Ok(())
            }
        }
    })
    .await
}
