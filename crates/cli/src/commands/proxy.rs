//! `tollgate proxy add|update|list|show|delete`: proxy aliases (seed 003's
//! "proxy server alias"), named forward proxies that connections go through
//! with `connection add … --proxy-alias NAME`. The password comes from
//! standard input or an environment variable, never the command line, and
//! is never shown again.
use anyhow::bail;
use clap::{Args, Subcommand};
use tollgate_connect::{Connections, ProxyInput, ProxyView};
use url::Url;

use super::{env_secret, read_stdin_secret, with_services};
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum ProxyCmd {
    /// Add a proxy alias.
    Add {
        name: String,
        #[command(flatten)]
        args: ProxyArgs,
    },
    /// Replace an alias's URL and credentials; the connections that use it
    /// go through the new settings from their next request on.
    Update {
        name: String,
        #[command(flatten)]
        args: ProxyArgs,
    },
    List,
    Show {
        name: String,
    },
    /// Delete an alias (refused while a connection uses it).
    Delete {
        name: String,
    },
}

#[derive(Args)]
pub struct ProxyArgs {
    /// The proxy, e.g. http://proxy.corp:3128 (credentials not in the URL).
    #[arg(long)]
    url: Url,
    /// The proxy's Basic user.
    #[arg(long)]
    user: Option<String>,
    /// Read the proxy password from standard input.
    #[arg(long, requires = "user", conflicts_with = "password_env")]
    password_stdin: bool,
    /// Read the proxy password from this environment variable.
    #[arg(long, requires = "user")]
    password_env: Option<String>,
}

impl ProxyArgs {
    fn input(self) -> anyhow::Result<ProxyInput> {
        let password = if self.password_stdin {
            Some(read_stdin_secret("--password-stdin")?)
        } else {
            self.password_env
                .as_deref()
                .map(|v| env_secret("--password-env", v))
                .transpose()?
        };
        if self.user.is_some() && password.is_none() {
            bail!("--user needs the password: --password-stdin or --password-env");
        }
        Ok(ProxyInput {
            url: self.url,
            username: self.user,
            password,
        })
    }
}

fn print(v: &ProxyView) {
    let rows = [
        ("name", v.name.clone()),
        ("url", v.url.clone()),
        ("user", v.username.clone().unwrap_or_else(|| "-".into())),
        (
            "password",
            if v.has_password { "set" } else { "-" }.to_owned(),
        ),
        ("used by", v.used_by.join(", ")),
    ];
    for (k, val) in rows {
        println!("{k:>10}: {val}");
    }
}

pub async fn run(cfg: &Config, cmd: ProxyCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| {
        let c = Connections::new(svc.store.clone(), svc.master.clone(), svc.clock.clone());
        let shown = |v: &ProxyView, done: &str| {
            if as_json {
                return output::json(v);
            }
            println!("proxy alias '{}' {done}", v.name);
            Ok(())
        };
        match cmd {
            ProxyCmd::Add { name, args } => {
                let v = c.create_proxy(&name, &args.input()?).await?;
                shown(&v, "added")
            }
            ProxyCmd::Update { name, args } => match c.update_proxy(&name, &args.input()?).await? {
                Some(v) => shown(&v, "updated"),
                None => bail!("no proxy alias named '{name}'"),
            },
            ProxyCmd::List => {
                let list = c.proxies().await?;
                if as_json {
                    return output::json(&list);
                }
                let rows = list
                    .iter()
                    .map(|v| {
                        vec![
                            v.name.clone(),
                            v.url.clone(),
                            v.username.clone().unwrap_or_else(|| "-".into()),
                            v.used_by.join(","),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(&["NAME", "URL", "USER", "USED BY"], &rows);
                Ok(())
            }
            ProxyCmd::Show { name } => {
                let Some(v) = c.proxy(&name).await? else {
                    bail!("no proxy alias named '{name}'");
                };
                if as_json {
                    return output::json(&v);
                }
                print(&v);
                Ok(())
            }
            ProxyCmd::Delete { name } => {
                if !c.delete_proxy(&name).await? {
                    bail!("no proxy alias named '{name}'");
                }
                if as_json {
                    output::json(&serde_json::json!({"deleted": name}))
                } else {
                    println!("proxy alias '{name}' deleted");
                    Ok(())
                }
            }
        }
    })
    .await
}
