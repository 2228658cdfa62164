//! A real HTTP server on a free loopback port, to be an OAuth client's
//! redirect endpoint: it records the path and query of every request it gets
//! and answers 200 with a small "received" page. It can also serve fixed
//! pages (a test's own HTML), which it does not record.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

const RECEIVED_PAGE: &str = "<!doctype html><html><head><title>received</title>\
<link rel=\"icon\" href=\"data:,\"></head><body><p id=\"received\">received</p></body></html>";

#[derive(Clone, Default)]
struct Shared {
    /// Path and query of every recorded request, in arrival order.
    requests: Arc<Mutex<Vec<String>>>,
    /// Fixed pages by path: served, not recorded.
    pages: Arc<Mutex<HashMap<String, String>>>,
}

pub struct Catcher {
    base: String,
    shared: Shared,
    /// How many recorded requests `wait_for_request` has handed out.
    taken: Mutex<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Catcher {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the redirect catcher");
        let addr = listener.local_addr().expect("catcher address");
        let shared = Shared::default();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("redirect catcher");
        });
        Self {
            base: format!("http://127.0.0.1:{}", addr.port()),
            shared,
            taken: Mutex::new(0),
            task,
        }
    }

    /// The absolute URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `html` at `path` from now on, without recording its requests.
    pub fn page(&self, path: &str, html: &str) {
        self.shared
            .pages
            .lock()
            .expect("pages")
            .insert(path.to_owned(), html.to_owned());
    }

    /// Every request recorded so far, as absolute URLs.
    pub fn requests(&self) -> Vec<reqwest::Url> {
        let recorded = self.shared.requests.lock().expect("requests").clone();
        recorded.iter().map(|pq| self.absolute(pq)).collect()
    }

    /// The next recorded request not yet returned by this method, waiting
    /// up to `timeout` for it to arrive.
    pub async fn wait_for_request(&self, timeout: Duration) -> reqwest::Url {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let recorded = self.shared.requests.lock().expect("requests");
                let mut taken = self.taken.lock().expect("taken");
                if let Some(pq) = recorded.get(*taken) {
                    *taken += 1;
                    return self.absolute(pq);
                }
            }
            assert!(
                Instant::now() < deadline,
                "the redirect catcher at {} got no new request within {timeout:?}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn absolute(&self, path_and_query: &str) -> reqwest::Url {
        let url = self.url(path_and_query);
        reqwest::Url::parse(&url).unwrap_or_else(|e| panic!("recorded {url:?}: {e}"))
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Shared>, uri: Uri) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    if uri.path() == "/favicon.ico" {
        return (StatusCode::NOT_FOUND, no_store).into_response();
    }
    let page = shared.pages.lock().expect("pages").get(uri.path()).cloned();
    if let Some(html) = page {
        return (no_store, axum::response::Html(html)).into_response();
    }
    let pq = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    shared.requests.lock().expect("requests").push(pq);
    (no_store, axum::response::Html(RECEIVED_PAGE)).into_response()
}
