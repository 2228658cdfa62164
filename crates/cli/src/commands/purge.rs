//! `tollgate purge`: one full purge now, with the configured batch size and
//! retention (the same work the server's background task does each interval),
//! for operators who run it from cron with `purge.enabled = false`, or want
//! a backlog gone before a backup.
use tollgate_authz::purge::purge_once;

use super::with_services;
use crate::config::Config;
use crate::output;

pub async fn run(cfg: &Config, as_json: bool) -> anyhow::Result<()> {
    with_services(cfg, async |svc| {
        let report = purge_once(&*svc.store, svc.now(), &cfg.purge).await?;
        if as_json {
            return output::json(&report);
        }
        println!(
            "purged {} records: {} tokens, {} codes, {} audit events, {} registration tokens, {} sessions, {} user grant records, {} assertion replay records",
            report.total(),
            report.tokens,
            report.codes,
            report.audit_events,
            report.registration_tokens,
            report.sessions,
            report.user_grants,
            report.assertion_ids
        );
        Ok(())
    })
    .await
}
