//! Real upstream HTTP servers on loopback for the gateway tests: one that
//! echoes what it received (and counts calls), with paths that stream a
//! large body slowly or never answer; and the address of one that is down.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

/// Bytes `/api/slow-big` sends: 128 chunks of 64 KiB, 15 ms apart.
pub const BIG_CHUNKS: usize = 128;
pub const CHUNK: usize = 64 * 1024;

pub struct Upstream {
    pub addr: SocketAddr,
    /// Requests that reached this upstream.
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new().fallback(move |req: Request| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                handle(req).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, hits, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn handle(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if path.ends_with("/hang") {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    if path.ends_with("/slow-big") {
        let stream = async_stream(BIG_CHUNKS);
        return Response::builder()
            .header("content-type", "application/octet-stream")
            .body(stream)
            .unwrap();
    }
    let (parts, body) = req.into_parts();
    // Counted as it streams in, never held whole.
    let mut body = body;
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => size += f.data_ref().map_or(0, Bytes::len),
            Err(_) => break,
        }
    }
    let mut headers = Map::new();
    for (k, v) in &parts.headers {
        headers.insert(k.as_str().to_owned(), json!(v.to_str().unwrap_or("?")));
    }
    let mut resp = axum::Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": Value::Object(headers),
        "body_bytes": size,
    }))
    .into_response();
    // A hop-by-hop header the gateway must not pass back.
    resp.headers_mut()
        .insert("connection", "x-upstream-hop".parse().unwrap());
    resp.headers_mut()
        .insert("x-upstream-hop", "secret".parse().unwrap());
    resp
}

/// A body of `n` chunks produced slowly, so a proxy that buffered it would
/// show the first byte only at the end.
fn async_stream(n: usize) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        for i in 0..n {
            let chunk = Bytes::from(vec![(i % 251) as u8; CHUNK]);
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    let stream = futures_stream(rx);
    Body::from_stream(stream)
}

fn futures_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// An address nothing listens on (bound, then released).
pub async fn down_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}
