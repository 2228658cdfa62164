//! The CLI against the same store as the server: --json shapes scripts rely on.
use serde_json::Value;

use crate::harness::{Backend, Server};

crate::on_both_backends!(
    cli_json_shapes_and_errors,
    key_rotation_keeps_old_key_published,
    purge_command_deletes_revoked_access_tokens
);

async fn cli_json_shapes_and_errors(b: Backend) {
    let s = Server::start(b).await;
    let c = s.cli_json(&[
        "client",
        "add",
        "billing",
        "--scope",
        "orders.read",
        "--metadata",
        "team=payments",
    ]);
    assert_eq!(c["client_id"], "billing");
    assert_eq!(
        c["client_secret"].as_str().unwrap().len(),
        43,
        "256-bit base64url secret"
    );
    assert_eq!(c["scope"], "orders.read");
    let shown = s.cli_json(&["client", "show", "billing"]);
    assert!(
        shown.get("client_secret").is_none(),
        "a secret is shown only once"
    );
    let list = s.cli_json(&["client", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == "billing")
    );
    // A name that is not an identifier gets a generated id.
    let c2 = s.cli_json(&["client", "add", "My App"]);
    assert_eq!(c2["client_name"], "My App");
    assert!(c2["client_id"].as_str().unwrap().len() >= 20);
    // Duplicate id, bad redirect URI, public client with a secret: clear errors, non-zero exit.
    for args in [
        vec!["client", "add", "billing"],
        vec![
            "client",
            "add",
            "x",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "javascript:alert(1)",
        ],
        vec!["client", "add", "x", "--grant", "nonsense"],
        vec!["client", "show", "nobody"],
        vec!["client", "delete", "nobody"],
    ] {
        let out = s.cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error:"),
            "{args:?}"
        );
    }
    // A chosen secret comes from stdin (Argon2id at rest) and works.
    let out = s.cli_with_stdin(
        &["client", "add", "chosen", "--secret-stdin", "--json"],
        b"a-long-chosen-secret-123\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("client_secret").is_none());
    s.token("chosen", "a-long-chosen-secret-123", None).await;
    let rt = s.cli_json(&["registration-token", "create", "--description", "ci"]);
    assert!(rt["token"].as_str().unwrap().len() >= 40);
    assert_eq!(rt["description"], "ci");
}

async fn key_rotation_keeps_old_key_published(b: Backend) {
    let mut s = Server::start(b).await;
    let before = s.cli_json(&["keys", "list"]);
    assert_eq!(before.as_array().unwrap().len(), 1);
    let rotated = s.cli_json(&["keys", "rotate"]);
    let kid = rotated["kid"].as_str().unwrap();
    let after = s.cli_json(&["keys", "list"]);
    let keys = after.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.iter().filter(|k| k["status"] == "active").count(), 1);
    assert!(
        keys.iter()
            .any(|k| k["kid"] == kid && k["status"] == "active")
    );
    s.restart();
    let jwks: Value = s.get_json("/oauth2/jwks").await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "the retired key stays published"
    );
    // A second staged key while one waits is a conflict, and with --json the
    // failure is JSON too, with a code a script can branch on.
    s.cli_json(&["keys", "rotate", "--staged"]);
    let out = s.cli(&["keys", "rotate", "--staged", "--json"]);
    assert!(!out.status.success());
    let e: Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(e["error"], "conflict", "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_typos_and_unsafe_listeners_are_refused() {
    let s = Server::start(Backend::Sqlite).await;
    let file = s.dir.join("typo.toml");
    std::fs::write(&file, "[server]\nlisten_adress = \"127.0.0.1:1\"\n").unwrap();
    let out = s.cli(&["migrate", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_adress"), "{err}");

    let file = s.dir.join("ttl.toml");
    std::fs::write(&file, "[tokens]\naccess_token_length = 8\n").unwrap();
    let out = s.cli(&["migrate", "--config", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access_token_length"));

    // Plain HTTP on a non-loopback address needs an explicit opt-in.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve"])
        .env("TOLLGATE_SERVER__LISTEN", "0.0.0.0:0")
        .env("TOLLGATE_SERVER__DATA_DIR", s.dir.join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain HTTP"));
}

/// `tollgate purge --json` removes a revoked access token (once its
/// revocation time is in the past) and reports per-kind counts; the token
/// stays unknown, which introspection answers exactly like revoked.
async fn purge_command_deletes_revoked_access_tokens(b: Backend) {
    // No background purge, so only the command deletes.
    let s = Server::start_with(b, &[("TOLLGATE_PURGE__ENABLED", "false")], &[]).await;
    let (id, secret) = s.add_client("purged", &[]);
    let t = s.token(&id, &secret, None).await;
    let token = t["access_token"].as_str().unwrap();
    let r = s
        .post_form("/oauth2/revoke", Some((&id, &secret)), &[("token", token)])
        .await;
    assert_eq!(r.status(), 200);
    // Purges take rows revoked strictly before now (whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let report = s.cli_json(&["purge"]);
    assert_eq!(
        report,
        serde_json::json!({"tokens": 1, "codes": 0, "audit_events": 0, "registration_tokens": 0,
            "sessions": 0, "user_grants": 0, "assertion_ids": 0})
    );
    assert_eq!(s.cli_json(&["purge"])["tokens"], 0);
    assert_eq!(s.introspect((&id, &secret), token).await["active"], false);
    // The text form says every count the JSON has, and the total.
    let text = s.cli(&["purge"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("purged 0 records:") && text.contains("0 assertion replay records"),
        "{text}"
    );
    // The audit log's text form shows times as dates, not Unix seconds.
    let audit = s.cli(&["audit", "list", "--limit", "5"]);
    let audit = String::from_utf8_lossy(&audit.stdout);
    let first = audit.lines().nth(1).unwrap_or_default();
    assert!(first.contains(" UTC"), "{audit}");
}
