//! The "ceiling": the cheapest possible handler on the same stack as Tollgate
//! (tokio + hyper via axum 0.8). Every benchmark figure is read as a fraction
//! of what this server reaches on the same machine.
//!
//! Usage:
//! - `tollgate-bench-ceiling [ADDR]` (default 127.0.0.1:0): the trivial
//!   upstream. Prints `ceiling listening on http://ADDR` once bound.
//! - `tollgate-bench-ceiling proxy ADDR UPSTREAM`: the floor of a hyper-based
//!   gateway: every request forwarded to `UPSTREAM` (`host:port`) with the
//!   same parts as Tollgate's proxy (hyper's HTTP/1 server, the hyper-util
//!   legacy client with pooled keep-alive connections, `TCP_NODELAY`), and
//!   nothing else: no token, no header rewriting, no metrics. Prints
//!   `proxy listening on http://ADDR` once bound.
use std::io::Write;
use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

async fn ok() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"ok":true}"#,
    )
}

async fn bind(addr: &str, what: &str) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("{what} listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    Ok(listener)
}

async fn proxy(addr: &str, upstream: SocketAddr) -> std::io::Result<()> {
    let listener = bind(addr, "proxy").await?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    if let Ok(target) = format!("http://{upstream}{path}").parse::<Uri>() {
                        *req.uri_mut() = target;
                    }
                    // An upstream failure closes the connection (hyper's answer
                    // to a service error): the load generator counts it.
                    client.request(req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("proxy") {
        let (Some(addr), Some(upstream)) = (args.get(1), args.get(2)) else {
            eprintln!("usage: tollgate-bench-ceiling proxy ADDR UPSTREAM_HOST:PORT");
            std::process::exit(2);
        };
        let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
        return proxy(addr, upstream).await;
    }
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = bind(&addr, "ceiling").await?;
    let app = Router::new().route("/", get(ok).post(ok));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
