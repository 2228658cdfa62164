//! Rate limits over real HTTP: throttling of failed client authentication
//! per client id (refused) and per client address (slowed, never refused),
//! and a client's own request rate.
//! The limits live in the server process, whatever the store, so these run
//! on SQLite only.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Backend, Server};

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// A request answered 429 with the JSON error and a sane `Retry-After`.
async fn assert_throttled(r: reqwest::Response, max_retry_after: u64) {
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=max_retry_after).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("retry")
    );
}

/// A client that connects from `ip` (any of 127.0.0.0/8 works on Linux).
pub fn http_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_lock_the_client_id_even_for_the_right_secret() {
    // Default thresholds (10 per client, 10 per address before failures
    // are slowed); a short window so the test can see it end, a short
    // delay so the failures from this one address do not drag.
    let s = Server::start_with(
        Backend::Sqlite,
        &[
            ("TOLLGATE_RATE_LIMIT__FAILED_AUTH_MAX_DELAY_MS", "100"),
            ("TOLLGATE_RATE_LIMIT__FAILED_AUTH_WINDOW_SECS", "5"),
        ],
        &[],
    )
    .await;
    let (id, secret) = s.add_client("target", &[]);
    let (other, other_secret) = s.add_client("bystander", &[]);
    for n in 1..=10 {
        let r = s
            .post_form("/oauth2/token", Some((&id, "wrong-guess")), &CC)
            .await;
        assert_eq!(r.status(), 401, "failure {n} is still an invalid_client");
    }
    // The 11th wrong secret is refused, and so is the right one: refused
    // before the secret is looked at.
    let r = s
        .post_form("/oauth2/token", Some((&id, "wrong-guess")), &CC)
        .await;
    assert_throttled(r, 5).await;
    let r = s
        .post_form("/oauth2/token", Some((&id, &secret)), &CC)
        .await;
    assert_throttled(r, 5).await;
    let r = s
        .post_form(
            "/oauth2/introspect",
            Some((&id, &secret)),
            &[("token", "x")],
        )
        .await;
    assert_throttled(r, 5).await;
    // Another client from the same address is not affected.
    s.token(&other, &other_secret, None).await;
    // Unknown ids are counted too, so a 429 does not tell which ids exist.
    for _ in 0..10 {
        s.post_form("/oauth2/token", Some(("nobody", "guess")), &CC)
            .await;
    }
    let r = s
        .post_form("/oauth2/token", Some(("nobody", "guess")), &CC)
        .await;
    assert_throttled(r, 5).await;

    let events = s.audit_events("token.rejected", 12).await;
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "too_many_requests" && e["client_id"] == id.as_str()),
        "throttled attempts are audited: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["outcome"] == "invalid_client" && e["client_id"] == id.as_str())
    );

    // When the window has passed the right secret works again.
    tokio::time::sleep(Duration::from_millis(5100)).await;
    s.token(&id, &secret, None).await;
}

/// A client whose secret the operator chose (`--secret-stdin`): stored and
/// checked with Argon2id.
fn chosen_secret_client(s: &Server, name: &str) -> (String, String) {
    let secret = format!("{name}-chosen-secret");
    let out = s.cli_with_stdin(
        &["client", "add", name, "--secret-stdin", "--json"],
        secret.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["client_id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_slowed_never_refused() {
    // The default per-address threshold (10), a short delay cap so the
    // flood does not drag the test.
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_RATE_LIMIT__FAILED_AUTH_MAX_DELAY_MS", "200")],
        &[],
    )
    .await;
    let mut victims: Vec<(String, String)> = (0..4)
        .map(|i| s.add_client(&format!("victim-{i}"), &[]))
        .collect();
    // One victim and one bystander with chosen secrets, checked with
    // Argon2id: their checks queue per address.
    victims.push(chosen_secret_client(&s, "chosen-victim"));
    let (chosen, chosen_secret) = chosen_secret_client(&s, "chosen-bystander");
    let (id, secret) = s.add_client("bystander", &[]);
    let flood = http_from("127.0.0.3");
    let token = |http: &reqwest::Client, id: &str, secret: &str| {
        http.post(s.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&CC)
            .send()
    };
    // 100 failures from one address: 50 invented client ids, and 50 wrong
    // secrets for real clients (10 each, the per-client threshold), a few
    // at a time.
    let mut attempts: Vec<String> = (0..50)
        .map(|n| format!("random-{n}-{}", std::process::id()))
        .collect();
    attempts.extend(
        victims
            .iter()
            .flat_map(|(v, _)| std::iter::repeat_n(v.clone(), 10)),
    );
    for batch in attempts.chunks(10) {
        let answers =
            futures_util::future::join_all(batch.iter().map(|v| token(&flood, v, "guess"))).await;
        for r in answers {
            assert_eq!(
                r.unwrap().status(),
                401,
                "a failure is an invalid_client, never a 429"
            );
        }
    }
    // A correct credential of an unrelated client from that address: 200,
    // with a generated secret and with a chosen (Argon2id) one.
    let r = token(&flood, &id, &secret).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = token(&flood, &chosen, &chosen_secret).await.unwrap();
    assert_eq!(r.status(), 200);
    // The attacked clients themselves are locked, from everywhere, until
    // their window ends: that is the per-client limit.
    let (victim, victim_secret) = &victims[0];
    assert_throttled(token(&flood, victim, victim_secret).await.unwrap(), 60).await;
    assert_throttled(
        token(&http_from("127.0.0.2"), victim, victim_secret)
            .await
            .unwrap(),
        60,
    )
    .await;
    // A malformed Authorization header from the flooding address is a
    // malformed request, not a throttled one.
    let r = flood
        .post(s.url("/oauth2/token"))
        .header("authorization", "Basic !!!")
        .form(&CC)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // The slowed failures are counted.
    let (scraper, scraper_secret) = s.add_client("prometheus", &["--scope", "tollgate:metrics"]);
    let scraper = s.token(&scraper, &scraper_secret, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth(&scraper)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tollgate_auth_failure_delays_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rate_limit_is_a_token_bucket_set_from_the_cli() {
    let s = Server::start_with(
        Backend::Sqlite,
        &[("TOLLGATE_CACHE__CLIENT_TTL_SECS", "1")],
        &[],
    )
    .await;
    let v = s.cli_json(&["client", "add", "limited", "--rate-limit", "1/2"]);
    assert_eq!(
        v["rate_limit"],
        serde_json::json!({"per_second": 1, "burst": 2})
    );
    let (id, secret) = (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    );
    let (free, free_secret) = s.add_client("unlimited", &[]);
    assert!(
        s.cli_json(&["client", "show", &free])
            .get("rate_limit")
            .is_none(),
        "no limit, no member"
    );

    // The burst of two passes, then requests are refused; token and
    // introspection requests draw on the same bucket. A loaded machine may
    // take more than a second for this, so the bound is the bucket's own:
    // at most burst + rate x elapsed seconds.
    let start = Instant::now();
    let first = s.token(&id, &secret, None).await;
    let at = first["access_token"].as_str().unwrap();
    let mut admitted = 1;
    let refused = loop {
        let r = s
            .post_form("/oauth2/introspect", Some((&id, &secret)), &[("token", at)])
            .await;
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted < 20, "never refused");
    };
    assert_throttled(refused, 1).await;
    let refused = loop {
        let r = s
            .post_form("/oauth2/token", Some((&id, &secret)), &CC)
            .await;
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted < 20, "never refused");
    };
    assert_throttled(refused, 1).await;
    let elapsed = start.elapsed().as_secs();
    assert!(
        (2..=2 + elapsed).contains(&admitted),
        "{admitted} admitted in {elapsed} s at 1/s with a burst of 2"
    );
    // Other clients are not limited by it.
    for _ in 0..5 {
        s.token(&free, &free_secret, None).await;
    }
    let events = s.audit_events("introspect.rejected", 1).await;
    assert!(events.iter().any(|e| e["outcome"] == "too_many_requests"));

    // Bad limits are refused by the CLI with a message, not stored.
    for bad in ["0/1", "1/0", "fast", "2000000/1"] {
        let out = s.cli(&["client", "set-rate-limit", &id, bad]);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("PER_SECOND/BURST")
                || String::from_utf8_lossy(&out.stderr).contains("per_second")
        );
    }
    let out = s.cli(&["client", "add", "bad-limit", "--rate-limit", "0/5"]);
    assert!(!out.status.success());

    // Removing the limit reaches the running server within the client cache TTL.
    let v = s.cli_json(&["client", "set-rate-limit", &id, "none"]);
    assert!(v.get("rate_limit").is_none());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..6 {
        s.token(&id, &secret, None).await;
    }
    // And setting one again applies, with a fresh bucket.
    let v = s.cli_json(&["client", "set-rate-limit", &id, "1/1"]);
    assert_eq!(
        v["rate_limit"],
        serde_json::json!({"per_second": 1, "burst": 1})
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let start = Instant::now();
    let mut admitted = 0;
    let refused = loop {
        let r = s
            .post_form("/oauth2/token", Some((&id, &secret)), &CC)
            .await;
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted < 20, "never refused");
    };
    assert_throttled(refused, 1).await;
    let elapsed = start.elapsed().as_secs();
    assert!(
        (1..=1 + elapsed).contains(&admitted),
        "{admitted} in {elapsed} s"
    );
}
