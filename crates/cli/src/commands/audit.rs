//! `tollgate audit list`: read the audit log (newest first).
use clap::Subcommand;
use tollgate_store::AuditQuery;

use super::with_services;
use crate::config::Config;
use crate::output;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// List audit events, newest first.
    List {
        /// Only this event type (e.g. token.rejected, client.created).
        #[arg(long)]
        event: Option<String>,
        /// Only events about this client.
        #[arg(long)]
        client: Option<String>,
        /// Only events at or after this Unix time (seconds).
        #[arg(long)]
        since: Option<i64>,
        /// Only events with an id below this one (paging).
        #[arg(long)]
        before_id: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

pub async fn run(cfg: &Config, cmd: AuditCmd, as_json: bool) -> anyhow::Result<()> {
    let AuditCmd::List {
        event,
        client,
        since,
        before_id,
        limit,
    } = cmd;
    with_services(cfg, async |svc| {
        let q = AuditQuery {
            since,
            until: None,
            client_id: client,
            event,
            before_id,
            limit,
        };
        let records = svc.store.query_audit(&q).await?;
        if as_json {
            return output::json(&records);
        }
        let rows = records
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    tollgate_core::clock::format_utc(r.event.at),
                    r.event.event.clone(),
                    r.event.client_id.clone().unwrap_or_default(),
                    r.event.outcome.clone(),
                    r.event.remote_addr.clone().unwrap_or_default(),
                    r.event.detail.to_string(),
                ]
            })
            .collect::<Vec<_>>();
        output::table(
            &["ID", "AT", "EVENT", "CLIENT", "OUTCOME", "FROM", "DETAIL"],
            &rows,
        );
        Ok(())
    })
    .await
}
