//! Listeners: each an address, plain HTTP or TLS (rustls, certificate and
//! key from PEM files), naming what it serves (`oauth`, `gateway`,
//! `admin`: the seed's "token service only on these HTTPS ports") and which
//! source addresses it admits (the seed's port access mode).
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tollgate_authz::client_addr::TrustedProxies;
use tollgate_gateway::Gateway;
use tower::ServiceExt;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    /// The authorization server: `/oauth2/*`, discovery, login and consent
    /// pages, and the seed's token service.
    Oauth,
    /// `/gateway/*`: the published services.
    Gateway,
    /// `/admin/v1`, `/admin/openapi.json` and `/metrics`.
    Admin,
}

/// One `[[listeners]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `address:port`.
    pub listen: String,
    pub serves: Vec<Surface>,
    /// PEM certificate chain and private key; both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Source ranges admitted (empty: every address) and refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<IpNet>,
}

/// Source-address rules: a caller in `deny` is refused; when `allow` is
/// not empty, a caller outside it is refused too. The caller is the client
/// address (behind `server.trusted_proxies`, the forwarded one).
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

impl Access {
    pub fn admits(&self, ip: IpAddr) -> bool {
        // An IPv4 caller on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

/// A listener ready to serve: bound, with its TLS acceptor and rules.
pub struct Bound {
    pub config: ListenerConfig,
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl Bound {
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.tcp.local_addr()?)
    }
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
    pub fn serves(&self, s: Surface) -> bool {
        self.config.serves.contains(&s)
    }
}

impl ListenerConfig {
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen
            .parse()
            .with_context(|| format!("listener '{}' is not an address:port", self.listen))
    }

    /// Checks the entry, loads its certificate and binds.
    pub async fn bind(self, allow_plain_http: bool) -> anyhow::Result<Bound> {
        let addr = self.addr()?;
        if self.serves.is_empty() {
            bail!("listener {addr}: `serves` is empty (oauth, gateway and/or admin)");
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some(TlsAcceptor::from(load_tls(c, k)?)),
            (None, None) => None,
            _ => bail!("listener {addr}: give both tls_cert and tls_key, or neither"),
        };
        if tls.is_none() && !addr.ip().is_loopback() && !allow_plain_http {
            bail!(
                "refusing to serve plain HTTP on non-loopback address {addr}: give the listener \
                 tls_cert and tls_key, or put Tollgate behind a TLS-terminating proxy and set \
                 server.allow_plain_http = true"
            );
        }
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Bound {
            config: self,
            tcp,
            tls,
        })
    }
}

/// A rustls server configuration from PEM files (HTTP/2 and HTTP/1.1 by ALPN).
pub fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing the certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the private key do not match or are unsupported")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request head may take to arrive (HTTP/1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What every listener shares besides its own rules.
pub struct Shared {
    pub router: Router,
    pub gateway: Option<Arc<Gateway>>,
    pub proxies: Arc<TrustedProxies>,
    pub max_connections: usize,
}

/// Serves the router (and the gateway) on the listener until `shutdown`
/// resolves, then waits for the connections' requests in flight to finish.
///
/// Each request's client address is computed here, once, from the peer and
/// (behind a trusted proxy) its forwarding header, checked against the
/// listener's rules and put on the request as a
/// [`ClientAddr`](tollgate_authz::client_addr::ClientAddr) for everyone after.
pub async fn run(
    bound: Bound,
    shared: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Shared {
        router,
        gateway,
        proxies,
        max_connections,
    } = shared;
    let Bound { config, tcp, tls } = bound;
    let access = Arc::new(Access {
        allow: config.allow,
        deny: config.deny,
    });
    let local = tcp.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper cannot time out a request head, and a caller
    // sending one byte a minute would hold a connection for ever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let slots = Arc::new(tokio::sync::Semaphore::new(
        max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    tokio::pin!(shutdown);
    loop {
        // At most `max_connections` at once; the next accept waits for a slot.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, %local, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Gateway calls go straight to the gateway (its hot path needs no
        // router, request span or route histogram); the rest to the router.
        let (app, gateway) = (router.clone(), gateway.clone());
        let (access, proxies) = (access.clone(), proxies.clone());
        let service = service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            let gateway = gateway.clone();
            let client = proxies.resolve(peer.ip(), req.headers());
            let admitted = access.admits(client.ip);
            async move {
                if !admitted {
                    tracing::info!(client = %client.ip, %peer, %local, "refused by the listener's address rules");
                    return Ok::<_, Infallible>(denied(client.ip, local));
                }
                req.extensions_mut().insert(client);
                Ok::<_, Infallible>(match gateway {
                    Some(gw) if gw.owns(req.uri().path()) => {
                        gw.call(scheme, req.map(Body::new)).await
                    }
                    _ => match app.oneshot(req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    },
                })
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => {
                    // The version sniffing below reads without a timeout: a
                    // caller that connects and sends nothing would hold its
                    // slot for ever.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    // ALPN already chose the protocol: no sniffing (which
                    // would wait without a timeout for the first bytes).
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = if h2 {
                        builder.http2_only()
                    } else {
                        builder.http1_only()
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(tcp);
    graceful.shutdown().await;
    Ok(())
}

/// The answer to a caller the listener does not admit (the seed's
/// "Access Denied" of a port whose access mode refuses it).
fn denied(ip: IpAddr, local: SocketAddr) -> axum::response::Response {
    tollgate_authz::error::plain_error(
        StatusCode::FORBIDDEN,
        "access_denied",
        &format!(
            "access denied: {ip} may not use port {} (the listener's allow/deny rules)",
            local.port()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        let a = Access {
            allow: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            deny: vec!["10.9.0.0/16".parse().unwrap()],
        };
        assert!(a.admits("10.1.2.3".parse().unwrap()));
        assert!(!a.admits("10.9.2.3".parse().unwrap()));
        assert!(!a.admits("192.168.1.1".parse().unwrap()));
        assert!(a.admits("::ffff:10.1.2.3".parse().unwrap()));
        assert!(a.admits("::1".parse().unwrap()));
        let open = Access::default();
        assert!(open.admits("203.0.113.9".parse().unwrap()));
        let deny_only = Access {
            allow: vec![],
            deny: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(!deny_only.admits("127.0.0.1".parse().unwrap()));
    }
}
