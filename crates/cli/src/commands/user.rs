//! `tollgate user add|list|show|passwd|enable|disable|delete|grants|revoke`
use std::collections::BTreeMap;

use clap::Subcommand;
use tollgate_authz::users::{self, UserGrantsView, UserPatch, UserView};

use super::{read_stdin_secret, with_services};
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user. The password comes from standard input.
    Add {
        username: String,
        /// Read the password from standard input (required: a password on
        /// the command line would end up in the shell history and `ps`).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// An attribute stored with the user's codes and tokens, NAME=VALUE;
        /// may be repeated.
        #[arg(long = "attr", value_parser = super::client::parse_pair)]
        attributes: Vec<(String, String)>,
    },
    /// List users.
    List,
    /// Show one user (by username or id).
    Show { user: String },
    /// Set a user's password (from standard input); ends their sessions.
    Passwd {
        user: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Enable a disabled user.
    Enable { user: String },
    /// Disable a user: ends their sessions and revokes their tokens.
    Disable { user: String },
    /// Delete a user with their sessions, consents and grants (tokens revoked).
    Delete { user: String },
    /// What the user granted to which client: consents, grants, tokens.
    Grants { user: String },
    /// Revoke the user's grants (to one client with --client) and their tokens.
    Revoke {
        user: String,
        #[arg(long)]
        client: Option<String>,
    },
}

pub async fn run(cfg: &Config, cmd: UserCmd, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| match cmd {
        UserCmd::Add {
            username,
            attributes,
            ..
        } => {
            let password = read_stdin_secret("--password-stdin")?;
            let attrs: BTreeMap<_, _> = attributes.into_iter().collect();
            print_user(
                &users::create_user(svc, &username, &password, attrs).await?,
                as_json,
            )
        }
        UserCmd::List => {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = users::list_page(svc, after.as_deref(), 500).await?;
                let n = page.len();
                after = page.last().map(|u| u.username.clone());
                all.extend(page);
                if n < 500 {
                    break;
                }
            }
            if as_json {
                return output::json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|u| vec![u.username.clone(), u.id.clone(), u.enabled.to_string()])
                .collect();
            output::table(&["USERNAME", "ID", "ENABLED"], &rows);
            Ok(())
        }
        UserCmd::Show { user } => {
            print_user(&UserView::from(&users::find(svc, &user).await?), as_json)
        }
        UserCmd::Passwd { user, .. } => {
            let password = read_stdin_secret("--password-stdin")?;
            let patch = UserPatch {
                password: Some(password),
                ..Default::default()
            };
            print_user(&users::update_user(svc, &user, patch).await?, as_json)
        }
        UserCmd::Enable { user } => set_enabled(svc, &user, true, as_json).await,
        UserCmd::Disable { user } => set_enabled(svc, &user, false, as_json).await,
        UserCmd::Delete { user } => {
            users::delete_user(svc, &user).await?;
            if as_json {
                output::json(&serde_json::json!({"deleted": user}))
            } else {
                println!("deleted user {user}");
                Ok(())
            }
        }
        UserCmd::Grants { user } => print_grants(&users::grants_of(svc, &user).await?, as_json),
        UserCmd::Revoke { user, client } => {
            let n = users::revoke_grants(svc, &user, client.as_deref()).await?;
            if as_json {
                output::json(&serde_json::json!({"tokens_revoked": n}))
            } else {
                println!("revoked {n} token(s)");
                Ok(())
            }
        }
    })
    .await
}

async fn set_enabled(
    svc: &tollgate_authz::Services,
    user: &str,
    enabled: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let patch = UserPatch {
        enabled: Some(enabled),
        ..Default::default()
    };
    print_user(&users::update_user(svc, user, patch).await?, as_json)
}

fn print_user(u: &UserView, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(u);
    }
    println!("username:   {}", u.username);
    println!("id:         {}", u.id);
    println!("enabled:    {}", u.enabled);
    for (k, v) in &u.attributes {
        println!("attribute:  {k}={v}");
    }
    Ok(())
}

fn print_grants(g: &UserGrantsView, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return output::json(g);
    }
    println!("user {} ({})", g.user.username, g.user.id);
    println!("\nconsents:");
    let rows: Vec<Vec<String>> = g
        .consents
        .iter()
        .map(|c| vec![c.client_id.clone(), c.scope.to_string()])
        .collect();
    output::table(&["CLIENT", "SCOPE"], &rows);
    println!("\ntokens:");
    let rows: Vec<Vec<String>> = g
        .tokens
        .iter()
        .map(|t| {
            vec![
                t.client_id.clone(),
                t.token_use.clone(),
                t.scope.clone(),
                t.hash_prefix.clone(),
                if t.active { "active" } else { "inactive" }.into(),
            ]
        })
        .collect();
    output::table(&["CLIENT", "KIND", "SCOPE", "HASH", "STATE"], &rows);
    Ok(())
}
