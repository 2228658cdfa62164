//! `tollgate connection add|list|show|delete|test|token|authorize`: the
//! tokens Tollgate obtains from other providers (seed 003). Secrets come
//! from standard input or an environment variable, never the command line.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use tollgate_connect::authorize;
use tollgate_connect::{
    AssertionSpec, ConnectionSecrets, ConnectionSpec, ConnectionView, Connections, Flow,
};
use tollgate_jose::{Alg, KeyWithChain};
use url::Url;

use super::{env_secret, read_stdin_secret, with_services};
use crate::config::Config;
use crate::output;

mod redirect;
use redirect::{bind_redirect, catch_redirect, open_browser};

#[derive(Subcommand)]
pub enum ConnectionCmd {
    /// Add a connection: where the provider's token endpoint is and how
    /// Tollgate gets a token there.
    Add {
        name: String,
        #[command(flatten)]
        args: Box<AddArgs>,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Print a valid access token (refreshed first when it is close to
    /// expiry), for scripts: `curl -H "Authorization: Bearer $(tollgate
    /// connection token graph)" …`.
    Token {
        name: String,
        /// Get a new token whatever the age of the current one.
        #[arg(long)]
        refresh: bool,
    },
    /// Get a new token now and report how it went (the token is not printed).
    Test {
        name: String,
    },
    /// The authorization-code flow: print (and open) the provider's
    /// authorization URL, wait on the loopback redirect URI, check `state`,
    /// exchange the code and store the tokens.
    Authorize {
        name: String,
        /// Do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FlowArg {
    AuthorizationCode,
    JwtBearer,
    ClientAssertion,
    ClientCredentials,
}

#[derive(Args)]
pub struct AddArgs {
    #[arg(long, value_enum)]
    flow: FlowArg,
    #[arg(long)]
    token_endpoint: Url,
    /// The code flow's authorization endpoint.
    #[arg(long)]
    authorization_endpoint: Option<Url>,
    #[arg(long)]
    client_id: Option<String>,
    /// Read the client secret from standard input.
    #[arg(long, conflicts_with = "client_secret_env")]
    client_secret_stdin: bool,
    /// Read the client secret from this environment variable.
    #[arg(long)]
    client_secret_env: Option<String>,
    /// A scope to ask for (repeat, or space-separated), e.g.
    /// https://graph.microsoft.com/.default.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// An extra token-request parameter, NAME=VALUE (repeat).
    #[arg(long = "param", value_parser = name_value)]
    params: Vec<(String, String)>,
    /// The signing key (PEM) for jwt_bearer / client_assertion.
    #[arg(long, conflicts_with = "keystore")]
    key: Option<PathBuf>,
    /// The signing key's certificate (PEM, then its chain), for x5t.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// A PKCS#12 keystore (.p12 / .pfx) holding the signing key and its
    /// certificate.
    #[arg(long)]
    keystore: Option<PathBuf>,
    /// The key entry's alias in the keystore (needed when it holds several).
    #[arg(long, requires = "keystore")]
    alias: Option<String>,
    /// Read the keystore password from standard input.
    #[arg(long, conflicts_with = "keystore_password_env", requires = "keystore")]
    keystore_password_stdin: bool,
    /// Read the keystore password from this environment variable.
    #[arg(long, requires = "keystore")]
    keystore_password_env: Option<String>,
    /// The signing algorithm (default by key: RS256, ES256, ES384, EdDSA).
    #[arg(long)]
    alg: Option<String>,
    /// The assertion's `iss` (default: the client id).
    #[arg(long)]
    issuer: Option<String>,
    /// The assertion's `sub` (default for client_assertion: the client id).
    #[arg(long)]
    subject: Option<String>,
    /// The assertion's `aud` (default: the token endpoint).
    #[arg(long)]
    audience: Option<String>,
    /// The assertion's lifetime in minutes.
    #[arg(long, default_value_t = 5)]
    assertion_minutes: u32,
    /// Put the certificate's SHA-1 thumbprint (`x5t`) in the assertion header.
    #[arg(long)]
    x5t: bool,
    /// Put the certificate's SHA-256 thumbprint (`x5t#S256`) in the header.
    #[arg(long = "x5t-s256")]
    x5t_s256: bool,
    /// The assertion header's `kid`: the id under which the provider
    /// registered the public key (jwt-bearer, client-assertion). Default:
    /// the key's RFC 7638 JWK thumbprint.
    #[arg(long)]
    kid: Option<String>,
    /// The code flow's redirect URI as registered at the provider. Default:
    /// http://127.0.0.1/callback on a free port (RFC 8252 §7.3).
    #[arg(long)]
    redirect_uri: Option<Url>,
    /// Refresh this many seconds before the token expires.
    #[arg(long, default_value_t = 60)]
    refresh_margin: u64,
    /// The token lifetime assumed when the provider does not say (seconds).
    #[arg(long, default_value_t = 3600)]
    default_lifetime: u64,
    /// CA certificates (PEM) to trust for the provider instead of the
    /// system's.
    #[arg(long)]
    truststore: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS (RFC 8705).
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The mutual-TLS client key (PEM).
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// An HTTP(S) proxy for every request to the provider.
    #[arg(long, conflicts_with = "proxy_alias")]
    proxy: Option<Url>,
    /// A proxy alias (`tollgate proxy add`) for every request to the
    /// provider, instead of --proxy.
    #[arg(long)]
    proxy_alias: Option<String>,
    #[arg(long, requires = "proxy")]
    proxy_user: Option<String>,
    /// Read the proxy password from this environment variable.
    #[arg(long, requires = "proxy_user")]
    proxy_password_env: Option<String>,
    /// Seconds a request to the provider may take.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn name_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not NAME=VALUE")),
    }
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{what} {}", path.display()))
}

impl AddArgs {
    fn split(self) -> anyhow::Result<(ConnectionSpec, ConnectionSecrets)> {
        if self.client_secret_stdin && self.keystore_password_stdin {
            bail!(
                "only one secret can come from standard input; give the other with its --…-env option"
            );
        }
        let client_secret = if self.client_secret_stdin {
            Some(read_stdin_secret("--client-secret-stdin")?)
        } else {
            self.client_secret_env
                .as_deref()
                .map(|v| env_secret("--client-secret-env", v))
                .transpose()?
        };
        let alg = self
            .alg
            .as_deref()
            .map(|a| Alg::parse(a).ok_or_else(|| anyhow::anyhow!("--alg: unknown algorithm '{a}'")))
            .transpose()?;
        let cert_pem = self.cert.as_ref().map(|p| read(p, "--cert")).transpose()?;
        let key = match (&self.key, &self.keystore) {
            (Some(path), _) => Some(
                KeyWithChain::from_pem(&read(path, "--key")?, cert_pem.as_deref(), alg)
                    .with_context(|| format!("--key {}", path.display()))?,
            ),
            (None, Some(path)) => {
                let password = if self.keystore_password_stdin {
                    read_stdin_secret("--keystore-password-stdin")?
                } else if let Some(var) = &self.keystore_password_env {
                    env_secret("--keystore-password-env", var)?
                } else {
                    bail!(
                        "--keystore needs its password: --keystore-password-stdin or --keystore-password-env"
                    );
                };
                let data = std::fs::read(path)
                    .with_context(|| format!("--keystore {}", path.display()))?;
                Some(
                    KeyWithChain::from_pkcs12(&data, &password, self.alias.as_deref(), alg)
                        .with_context(|| format!("--keystore {}", path.display()))?,
                )
            }
            (None, None) => {
                if self.cert.is_some() {
                    bail!("--cert names the signing key's certificate: give the key with --key");
                }
                None
            }
        };
        let (signing_key_pem, certificate_pem) = match &key {
            Some(k) => {
                let (key_pem, chain_pem) = k.to_pem();
                (Some(key_pem), chain_pem)
            }
            None => (None, None),
        };
        let flow = match self.flow {
            FlowArg::AuthorizationCode => Flow::AuthorizationCode,
            FlowArg::JwtBearer => Flow::JwtBearer,
            FlowArg::ClientAssertion => Flow::ClientAssertion,
            FlowArg::ClientCredentials => Flow::ClientCredentials,
        };
        let signs = matches!(flow, Flow::JwtBearer | Flow::ClientAssertion);
        if self.kid.is_some() && !signs {
            bail!("--kid names the assertion's key: only for jwt-bearer and client-assertion");
        }
        let assertion = signs.then_some(AssertionSpec {
            issuer: self.issuer,
            subject: self.subject,
            audience: self.audience,
            expires_in_minutes: self.assertion_minutes,
            x5t: self.x5t,
            x5t_s256: self.x5t_s256,
            alg: self.alg,
            certificate_pem,
            kid: self.kid,
        });
        let proxy_password = self
            .proxy_password_env
            .as_deref()
            .map(|v| env_secret("--proxy-password-env", v))
            .transpose()?;
        let spec = ConnectionSpec {
            flow,
            token_endpoint: self.token_endpoint,
            authorization_endpoint: self.authorization_endpoint,
            client_id: self.client_id,
            scopes: self
                .scopes
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_owned)
                .collect(),
            params: self.params.into_iter().collect(),
            assertion,
            redirect_uri: self.redirect_uri,
            refresh_margin_secs: self.refresh_margin,
            default_lifetime_secs: self.default_lifetime,
            truststore_pem: self
                .truststore
                .as_ref()
                .map(|p| read(p, "--truststore"))
                .transpose()?,
            client_certificate_pem: self
                .client_cert
                .as_ref()
                .map(|p| read(p, "--client-cert"))
                .transpose()?,
            proxy: self.proxy,
            proxy_username: self.proxy_user,
            proxy_alias: self.proxy_alias,
            timeout_secs: self.timeout,
        };
        let secrets = ConnectionSecrets {
            client_secret,
            signing_key_pem,
            client_key_pem: self
                .client_key
                .as_ref()
                .map(|p| read(p, "--client-key"))
                .transpose()?,
            proxy_password,
        };
        Ok((spec, secrets))
    }
}

pub async fn run(cfg: &Config, cmd: ConnectionCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| {
        let c = Connections::new(svc.store.clone(), svc.master.clone(), svc.clock.clone());
        match cmd {
            ConnectionCmd::Add { name, args } => {
                let (spec, secrets) = args.split()?;
                c.create(&name, &spec, &secrets).await?;
                let view = ConnectionView::from(&c.open(&name).await?);
                if as_json {
                    return output::json(&view);
                }
                println!("connection '{name}' added ({})", view.spec.flow);
                match view.spec.flow {
                    Flow::AuthorizationCode => {
                        println!("next: tollgate connection authorize {name}");
                    }
                    _ => println!("next: tollgate connection test {name}"),
                }
                Ok(())
            }
            ConnectionCmd::List => {
                let list: Vec<ConnectionView> =
                    c.list().await?.iter().map(ConnectionView::from).collect();
                if as_json {
                    return output::json(&list);
                }
                let rows = list
                    .iter()
                    .map(|v| {
                        vec![
                            v.name.clone(),
                            v.spec.flow.to_string(),
                            v.status.clone(),
                            v.spec.token_endpoint.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(&["NAME", "FLOW", "STATUS", "TOKEN ENDPOINT"], &rows);
                Ok(())
            }
            ConnectionCmd::Show { name } => {
                let view = ConnectionView::from(&c.open(&name).await?);
                if as_json {
                    return output::json(&view);
                }
                show(&view);
                Ok(())
            }
            ConnectionCmd::Delete { name } => {
                if !c.delete(&name).await? {
                    bail!("no connection named '{name}'");
                }
                if as_json {
                    output::json(&serde_json::json!({"deleted": name}))
                } else {
                    println!("connection '{name}' deleted");
                    Ok(())
                }
            }
            ConnectionCmd::Token { name, refresh } => {
                let t = if refresh {
                    c.refresh(&name).await?
                } else {
                    c.token(&name).await?
                };
                if as_json {
                    output::json(&serde_json::json!({
                        "access_token": t.value,
                        "token_type": t.token_type,
                        "expires_at": t.expires_at,
                        "scope": t.scope,
                    }))
                } else {
                    println!("{}", t.value);
                    Ok(())
                }
            }
            ConnectionCmd::Test { name } => {
                let t = c.refresh(&name).await?;
                let left = t.expires_at - svc.clock.now();
                if as_json {
                    output::json(&serde_json::json!({
                        "connection": name,
                        "ok": true,
                        "token_type": t.token_type,
                        "expires_in": left,
                        "scope": t.scope,
                    }))
                } else {
                    println!(
                        "connection '{name}' works: a {} token, valid for {left} s{}",
                        t.token_type,
                        t.scope
                            .as_deref()
                            .map(|s| format!(", scope \"{s}\""))
                            .unwrap_or_default()
                    );
                    Ok(())
                }
            }
            ConnectionCmd::Authorize {
                name,
                no_browser,
                wait,
            } => {
                let o = c.open(&name).await?;
                let (listener, redirect) = bind_redirect(o.spec.redirect_uri.as_ref()).await?;
                let pending = authorize::begin(&o.spec, redirect)?;
                eprintln!("Open this address in a browser to authorize '{name}':");
                println!("{}", pending.url);
                if !no_browser {
                    open_browser(pending.url.as_str());
                }
                let params = tokio::time::timeout(
                    Duration::from_secs(wait),
                    catch_redirect(listener, &pending),
                )
                .await
                .map_err(|_| {
                    anyhow::anyhow!("no answer on {} within {wait} s", pending.redirect_uri)
                })??;
                let code = authorize::answer(&pending, &params).map_err(|e| {
                    anyhow::anyhow!(
                        "refused the provider's answer: {e}; nothing was stored. Run `tollgate connection authorize {name}` again."
                    )
                })?;
                let t = c
                    .complete_authorization(
                        &name,
                        code,
                        &pending.verifier,
                        pending.redirect_uri.as_str(),
                    )
                    .await?;
                if as_json {
                    output::json(&serde_json::json!({
                        "connection": name,
                        "authorized": true,
                        "expires_at": t.expires_at,
                        "scope": t.scope,
                    }))
                } else {
                    eprintln!("connection '{name}' authorized; its tokens are stored");
                    Ok(())
                }
            }
        }
    })
    .await
}

fn show(v: &ConnectionView) {
    let mut rows = vec![
        ("name", v.name.clone()),
        ("flow", v.spec.flow.to_string()),
        ("token endpoint", v.spec.token_endpoint.to_string()),
    ];
    if let Some(u) = &v.spec.authorization_endpoint {
        rows.push(("authorization endpoint", u.to_string()));
    }
    if let Some(c) = &v.spec.client_id {
        rows.push(("client id", c.clone()));
    }
    if !v.spec.scopes.is_empty() {
        rows.push(("scopes", v.spec.scopes.join(" ")));
    }
    if let Some(kid) = v.spec.assertion.as_ref().and_then(|a| a.kid.as_ref()) {
        rows.push(("assertion kid", kid.clone()));
    }
    if let Some(p) = &v.spec.proxy {
        rows.push(("proxy", p.to_string()));
    }
    if let Some(a) = &v.spec.proxy_alias {
        rows.push(("proxy alias", a.clone()));
    }
    rows.push(("secrets", v.secrets.join(", ")));
    rows.push(("status", v.status.clone()));
    if let Some(e) = v.expires_at {
        rows.push(("token expires at", tollgate_core::clock::format_utc(e)));
    }
    if let Some(t) = v.obtained_at {
        rows.push(("token obtained at", tollgate_core::clock::format_utc(t)));
    }
    rows.push((
        "refresh token",
        if v.has_refresh_token { "yes" } else { "no" }.into(),
    ));
    if let Some(e) = &v.last_error {
        rows.push(("last error", e.clone()));
    }
    for (k, val) in rows {
        println!("{k:>24}: {val}");
    }
}
