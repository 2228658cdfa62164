//! `serve --demo`: the printed curl commands work exactly as printed.
use crate::harness::{Backend, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_commands_work_as_printed() {
    let mut s = Server::start_with(Backend::Sqlite, &[], &["--demo"]).await;
    let printed = s.stdout.join("\n");
    assert!(printed.contains("Demo client: demo / "), "{printed}");
    // Every non-comment command line, run in order in one shell.
    let script: Vec<&str> = s
        .stdout
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("curl ") || l.starts_with("TOKEN=") || l.starts_with("ADMIN="))
        .collect();
    assert!(script.len() >= 7, "{printed}");
    let run = |lines: &[&str]| {
        let out = std::process::Command::new("bash")
            .args(["-c", &format!("set -e\n{}", lines.join("\necho\n"))])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&script);
    assert!(out.contains("\"access_token\":\""), "{out}");
    assert!(out.contains("\"active\":true"), "{out}");
    assert!(out.contains("\"Department\":\"Engineering\""), "{out}");
    assert!(out.contains("\n200\n"), "revocation answers 200: {out}");
    assert!(out.contains("{\"active\":false}"), "{out}");
    assert!(out.contains("\"registration_access_token\""), "{out}");
    assert!(
        out.contains("\"client_name\":\"Demo client\""),
        "the admin API: {out}"
    );

    // Idempotent: a restart keeps the demo client and its secret.
    let first_secret = printed
        .lines()
        .find(|l| l.starts_with("Demo client:"))
        .unwrap()
        .to_owned();
    s.kill9();
    s.restart_with(&["--demo"]);
    let again = s.stdout.join("\n");
    let second_secret = again
        .lines()
        .find(|l| l.starts_with("Demo client:"))
        .unwrap()
        .to_owned();
    assert_eq!(first_secret, second_secret);
    let clients = s.cli_json(&["client", "list"]);
    assert_eq!(
        clients
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["client_id"] == "demo")
            .count(),
        1
    );
}
