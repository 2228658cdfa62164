//! A real PostgreSQL outage under load, on a private server (see
//! `private_pg`), twice: a crash (`pg_ctl stop -m immediate`) and a network
//! path that goes silent. While the database is away the token endpoint
//! answers 503 `temporarily_unavailable` with `Retry-After`, within a bound
//! and never with a token it could not store; `/readyz` says 503; when the
//! database comes back both recover without a restart of Tollgate.
//!
//! SQLite has no analogue: it is a file inside the process, not a server
//! that can go away or be cut off (its BUSY, I/O and disk-full errors are
//! classified as `Unavailable` by the store).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Server;
use crate::private_pg::{PrivatePg, Silencer};

/// The store's timeouts in this test, in seconds (`database.*_secs`).
const ACQUIRE_SECS: u64 = 2;
const QUERY_SECS: u64 = 2;
/// No request may take longer than this: each store call gives up after
/// the acquire plus the query timeout, a token request makes at most two
/// (the client, when not cached, and the batched commit), plus slack for a
/// loaded two-core machine. A hang (a request waiting for TCP to give up)
/// would take minutes.
const BOUND: Duration = Duration::from_secs(2 * (ACQUIRE_SECS + QUERY_SECS) + 2);
const LOAD_TASKS: usize = 6;

#[derive(Debug)]
enum Outcome {
    Issued(String),
    Unavailable,
    /// Anything else: a 500, a 200 without a token, a 503 without its
    /// JSON or `Retry-After`, a transport error.
    Wrong(String),
}

#[derive(Debug)]
struct Sample {
    start: Instant,
    end: Instant,
    outcome: Outcome,
}

async fn classify(r: reqwest::Result<reqwest::Response>) -> Outcome {
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Wrong(format!("transport error: {e}")),
    };
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").cloned();
    let text = r.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200 => match body["access_token"].as_str() {
            Some(t) => Outcome::Issued(t.to_owned()),
            None => Outcome::Wrong(format!("200 without a token: {text}")),
        },
        503 if body["error"] == "temporarily_unavailable" && retry_after.is_some() => {
            Outcome::Unavailable
        }
        _ => Outcome::Wrong(format!("{status} (Retry-After {retry_after:?}): {text}")),
    }
}

/// Client-credentials requests in a loop until `stop`, every result kept.
fn spawn_load(
    s: &Server,
    id: &str,
    secret: &str,
    stop: &Arc<AtomicBool>,
    samples: &Arc<Mutex<Vec<Sample>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..LOAD_TASKS)
        .map(|_| {
            let (http, url) = (s.http.clone(), s.url("/oauth2/token"));
            let (id, secret) = (id.to_owned(), secret.to_owned());
            let (stop, samples) = (Arc::clone(stop), Arc::clone(samples));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let r = http
                        .post(&url)
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    let outcome = classify(r).await;
                    let end = Instant::now();
                    samples.lock().unwrap().push(Sample {
                        start,
                        end,
                        outcome,
                    });
                }
            })
        })
        .collect()
}

/// Polls until `pred` holds for the samples, or fails after `limit`.
async fn wait_for(
    samples: &Mutex<Vec<Sample>>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&[Sample]) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !pred(&samples.lock().unwrap()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /readyz`: its status, and how long it took.
async fn readyz(s: &Server) -> (u16, Value, Duration) {
    let start = Instant::now();
    let r = s.http.get(s.url("/readyz")).send().await.expect("readyz");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_under_load() {
    let Some(pg) = PrivatePg::start("postgres_crash_under_load") else {
        return;
    };
    // The crash: every server process quits at once, connections reset;
    // the restart runs crash recovery.
    outage_under_load(
        "postgres_crash_under_load",
        &pg.url(),
        Duration::ZERO,
        || pg.crash(),
        || pg.start_server(),
    )
    .await;
}

/// The database stops answering without closing anything (a network
/// partition): requests that were mid-statement and requests queued behind
/// them must still answer 503 within the store's timeouts instead of
/// waiting until TCP gives up (here: until the partition ends, so the
/// partition lasts longer than the bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_a_silent_network() {
    let Some(pg) = PrivatePg::start("postgres_behind_a_silent_network") else {
        return;
    };
    // A few milliseconds per hop keep statements in flight most of the
    // time, so the partition catches some mid-way.
    let net = Silencer::start(pg.port, Duration::from_millis(5)).await;
    outage_under_load(
        "postgres_behind_a_silent_network",
        &net.url(),
        BOUND + Duration::from_secs(1),
        || net.frozen.store(true, Ordering::Relaxed),
        || net.frozen.store(false, Ordering::Relaxed),
    )
    .await;
}

/// The scenario both tests share: load, `begin` the outage mid-load, check
/// the answers during it, `end` it (no sooner than `min_outage`), check
/// recovery without a restart, then check every answer and that every token
/// answered 200 is stored.
async fn outage_under_load(
    name: &str,
    db_url: &str,
    min_outage: Duration,
    begin: impl FnOnce(),
    end: impl FnOnce(),
) {
    let acquire = ACQUIRE_SECS.to_string();
    let query = QUERY_SECS.to_string();
    let mut s = Server::start_on_postgres(
        db_url,
        &[
            ("TOLLGATE_DATABASE__ACQUIRE_TIMEOUT_SECS", &acquire),
            ("TOLLGATE_DATABASE__QUERY_TIMEOUT_SECS", &query),
        ],
    )
    .await;
    let (id, secret) = s.add_client("outage", &["--scope", "read"]);
    let began = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let load = spawn_load(&s, &id, &secret, &stop, &samples);
    wait_for(
        &samples,
        Duration::from_secs(30),
        "tokens before the outage",
        |v| {
            v.iter()
                .filter(|x| matches!(x.outcome, Outcome::Issued(_)))
                .count()
                >= 50
        },
    )
    .await;

    // Mid-load: requests are in flight, batches are committing.
    begin();
    let down = Instant::now();

    let (status, body, took) = readyz(&s).await;
    assert_eq!(status, 503, "/readyz while the database is away: {body}");
    assert_eq!(body["status"], "unavailable");
    assert!(
        took <= BOUND,
        "/readyz took {took:?} while the database was away"
    );

    // Introspection must not call an unknown token inactive when it cannot
    // look it up: the answer is "retry later", not "invalid".
    let started = Instant::now();
    let r = s
        .post_form(
            "/oauth2/introspect",
            Some((&id, &secret)),
            &[("token", "not-a-token-this-server-can-look-up-now")],
        )
        .await;
    assert_eq!(r.status(), 503, "introspection while the database is away");
    assert!(started.elapsed() <= BOUND);

    // Let requests that began after the outage began run into it.
    wait_for(
        &samples,
        Duration::from_secs(60),
        "requests answered during the outage",
        |v| v.iter().filter(|x| x.start > down).count() >= 3 * LOAD_TASKS,
    )
    .await;
    tokio::time::sleep_until((down + min_outage).into()).await;

    // The database may answer before `end` returns (pg_ctl polls for
    // readiness), so "during the outage" ends where the restart begins.
    let restarting = Instant::now();
    end();
    let up = Instant::now();

    // Recovery without a restart: fresh requests succeed again, readiness too.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recovered = samples
            .lock()
            .unwrap()
            .iter()
            .any(|x| x.start > up && matches!(x.outcome, Outcome::Issued(_)));
        let (ready, _, _) = readyz(&s).await;
        if recovered && ready == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery within 30 s of the database's return (readyz {ready}); log:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = up.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let wrong: Vec<&str> = samples
        .iter()
        .filter_map(|x| match &x.outcome {
            Outcome::Wrong(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} answers were neither a token nor a 503 temporarily_unavailable with Retry-After, \
         e.g. {:?}; log:\n{}",
        wrong.len(),
        wrong.first(),
        s.log()
    );
    let slowest = samples
        .iter()
        .map(|x| x.end - x.start)
        .max()
        .unwrap_or_default();
    assert!(
        slowest <= BOUND,
        "a request took {slowest:?} (bound {BOUND:?})"
    );
    let during: Vec<_> = samples
        .iter()
        .filter(|x| x.start > down && x.end < restarting)
        .collect();
    assert!(
        during.len() >= LOAD_TASKS,
        "too few requests ran entirely inside the outage: {}",
        during.len()
    );
    assert!(
        during
            .iter()
            .all(|x| matches!(x.outcome, Outcome::Unavailable)),
        "a request that began and ended while the database was away was not a 503"
    );

    // Every token handed out exists: ask a fresh process (no cache), after
    // the database's crash recovery where there was a crash.
    let issued: Vec<&str> = samples
        .iter()
        .filter_map(|x| match &x.outcome {
            Outcome::Issued(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    s.restart();
    for t in &issued {
        assert_eq!(
            s.introspect((&id, &secret), t).await["active"],
            true,
            "a token answered with 200 was not stored"
        );
    }
    eprintln!(
        "{name}: {} requests ({} tokens, {} answered 503 entirely inside \
         the outage), outage {:?}, slowest answer {slowest:?}, recovered {recovered_after:?} \
         after the database's return, test body {:?}",
        samples.len(),
        issued.len(),
        during.len(),
        up - down,
        began.elapsed()
    );
}
