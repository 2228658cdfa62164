//! Forwarding one request to the upstream and its answer back, streamed
//! both ways (no body is buffered), over pooled connections (the hyper-util
//! legacy client, in this process and runtime).
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tollgate_authz::client_addr::ClientAddr;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::GatewayError;
use crate::registry::Service;
use crate::validate::Principal;

pub const X_CLIENT_ID: &str = "x-tollgate-client-id";
pub const X_SUBJECT: &str = "x-tollgate-subject";
pub const X_SCOPE: &str = "x-tollgate-scope";
/// Who vouched for the token: `local` (this Tollgate) or the name of the
/// third-party authorization server, so an upstream never mistakes another
/// issuer's client id for one of ours.
pub const X_ISSUER: &str = "x-tollgate-issuer";
const X_REAL_IP: &str = "x-real-ip";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// RFC 9110 §7.6.1: connection-specific headers, never forwarded (plus
/// the ones a `Connection` header names).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "keep-alive"
    )
}

pub struct Upstreams {
    client: Client<HttpsConnector<HttpConnector>, Body>,
}

/// The CA certificates https upstreams are verified against: the system's,
/// plus `extra` (a PEM bundle, for upstreams behind a private CA).
fn roots(extra: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(errors = ?native.errors, "some system CA certificates could not be read");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("gateway.upstream_ca_file {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("gateway.upstream_ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "gateway.upstream_ca_file {} holds no certificate",
                path.display()
            ));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("gateway.upstream_ca_file {}: {e}", path.display()))?;
        }
    } else if added == 0 {
        // Not fatal: plain-HTTP upstreams work, https ones fail to connect (502).
        tracing::warn!("no system CA certificates found; https upstreams will not verify");
    }
    Ok(roots)
}

impl Upstreams {
    pub fn new(
        connect_timeout: Duration,
        max_idle_per_host: usize,
        extra_ca: Option<&Path>,
    ) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots(extra_ca)?)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(max_idle_per_host)
            .build(https);
        Ok(Self { client })
    }

    /// Sends `req` (already rewritten) and waits for the upstream's
    /// response head at most the service's timeout.
    pub async fn send(
        &self,
        service: &Service,
        req: Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        let timeout = Duration::from_millis(service.spec.timeout_ms);
        let resp = match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => {
                return Err(GatewayError::GatewayTimeout(
                    format!(
                        "the upstream of '{}' did not answer within {} ms",
                        service.name, service.spec.timeout_ms
                    )
                    .into(),
                ));
            }
            Ok(Err(e)) => {
                tracing::warn!(service = %service.name, error = %e, connect = e.is_connect(), "upstream call failed");
                let what = if e.is_connect() {
                    "cannot be reached"
                } else {
                    "failed to answer"
                };
                return Err(GatewayError::BadGateway(
                    format!("the upstream of '{}' {what}", service.name).into(),
                ));
            }
            Ok(Ok(r)) => r,
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// Removes the hop-by-hop headers, including those `Connection` lists.
/// (Allocates only when there is something to remove: this runs twice on
/// every call.)
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    remove_where(h, is_hop_by_hop);
}

/// Removes every header `drop` picks, plus (when `drop` picks
/// `Connection`) the ones a `Connection` header names.
fn remove_where(h: &mut HeaderMap, drop: impl Fn(&HeaderName) -> bool) {
    let mut gone: Vec<HeaderName> = h.keys().filter(|k| drop(k)).cloned().collect();
    if gone.is_empty() {
        return;
    }
    if gone.contains(&header::CONNECTION) {
        gone.extend(
            h.get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()),
        );
    }
    for n in gone {
        h.remove(n);
    }
}

/// `name` equals `want` (lower case, with dashes) when every `_` in `name`
/// is read as `-`.
fn eq_dashed(name: &[u8], want: &str) -> bool {
    name.len() == want.len()
        && name
            .iter()
            .zip(want.bytes())
            .all(|(&a, b)| a == b || (a == b'_' && b == b'-'))
}

/// What the upstream needs to know about the call.
pub struct Forward<'a> {
    pub service: &'a Service,
    /// The normalised path after the alias ("" or "/…").
    pub rest: &'a str,
    pub query: Option<&'a str>,
    /// Who called (see `tollgate_authz::client_addr`).
    pub client: Option<&'a ClientAddr>,
    /// `http` or `https`: how the caller reached us.
    pub scheme: &'static str,
    pub principal: Option<&'a Principal>,
    /// `gateway.trust_forwarded_for`: keep an incoming `X-Forwarded-For`
    /// whole and append the peer, instead of sending the verified chain.
    pub trust_forwarded: bool,
}

/// A header a caller may not send upstream: ours (`X-Tollgate-*`, also
/// spelt with `_`, which CGI-style servers read as the same variable) and
/// forwarding headers the gateway sets itself or that would contradict them.
fn is_reserved(name: &HeaderName) -> bool {
    const PREFIX: &str = "x-tollgate-";
    const SET: &[&str] = &[
        "forwarded",
        "x-real-ip",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        "x-forwarded-ssl",
        "x-forwarded-scheme",
        "x-url-scheme",
        // Path overrides some frameworks honour (IIS, Symfony): a request
        // for one path whose policy was checked must not run another.
        "x-original-url",
        "x-rewrite-url",
    ];
    let n = name.as_str().as_bytes();
    (n.len() >= PREFIX.len() && eq_dashed(&n[..PREFIX.len()], PREFIX))
        || SET.iter().any(|w| eq_dashed(n, w))
        || (eq_dashed(n, X_FORWARDED_FOR) && name.as_str() != X_FORWARDED_FOR)
}

/// `X-HTTP-Method-Override` and its variants, which many frameworks obey.
fn is_method_override(name: &HeaderName) -> bool {
    let n = name.as_str().as_bytes();
    [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ]
    .iter()
    .any(|w| eq_dashed(n, w))
}

/// Rewrites the caller's request for the upstream: the target URI (the
/// upstream's base path plus the normalised rest), hop-by-hop headers out,
/// `X-Forwarded-*` set, identity headers set from the validated token only
/// (a caller's own copies are dropped first, so they cannot be forged),
/// and `Authorization` dropped unless the service passes it on.
pub fn rewrite(mut req: Request<Body>, f: &Forward<'_>) -> Result<Request<Body>, GatewayError> {
    let mut target = String::with_capacity(
        f.service.upstream_origin.len() + f.service.upstream_base.len() + f.rest.len() + 1,
    );
    target.push_str(&f.service.upstream_origin);
    target.push_str(&f.service.upstream_base);
    target.push_str(f.rest);
    if f.service.upstream_base.is_empty() && f.rest.is_empty() {
        target.push('/');
    }
    if let Some(q) = f.query {
        target.push('?');
        target.push_str(q);
    }
    let uri = Uri::try_from(target)
        .map_err(|_| GatewayError::invalid_request("the request path cannot be forwarded"))?;
    // An HTTP/2 caller names the host in `:authority`, not in `Host`.
    let authority = req
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    *req.uri_mut() = uri;
    // hyper sends HTTP/1.1 upstream whatever the caller spoke.
    *req.version_mut() = axum::http::Version::HTTP_11;

    let h = req.headers_mut();
    let host = h.remove(header::HOST).or(authority);
    // Hop-by-hop headers, and ours or forwarding ones a caller sent; where
    // the service allows only some methods, the headers that would make an
    // upstream run another.
    let restricted = !f.service.spec.methods.is_empty();
    remove_where(h, |k| {
        is_hop_by_hop(k) || is_reserved(k) || (restricted && is_method_override(k))
    });
    // HTTP/2 may split cookies over several fields; HTTP/1.1 wants one
    // (RFC 9113 §8.2.3).
    if h.get_all(header::COOKIE).iter().nth(1).is_some() {
        let joined = h
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect::<Vec<_>>()
            .join(&b"; "[..]);
        h.remove(header::COOKIE);
        if let Ok(v) = HeaderValue::from_bytes(&joined) {
            h.insert(header::COOKIE, v);
        }
    }
    if !f.service.spec.pass_authorization {
        h.remove(header::AUTHORIZATION);
    }
    let previous = if f.trust_forwarded {
        h.get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        String::new()
    };
    h.remove(X_FORWARDED_FOR);
    if let Some(c) = f.client {
        // The client address and the trusted proxies it passed (just the
        // caller without `server.trusted_proxies`), or what came plus the
        // peer when the operator trusts every caller's chain.
        let chain = if previous.is_empty() {
            c.forwarded_for()
        } else {
            format!("{previous}, {}", c.peer)
        };
        if let Ok(chain) = HeaderValue::from_str(&chain) {
            h.insert(X_FORWARDED_FOR, chain);
        }
        if let Ok(real) = HeaderValue::from_str(&c.ip.to_string()) {
            h.insert(X_REAL_IP, real);
        }
    }
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static(f.scheme));
    match host {
        Some(host) => {
            h.insert(X_FORWARDED_HOST, host);
        }
        None => {
            h.remove(X_FORWARDED_HOST);
        }
    }
    if let Some(p) = f.principal {
        let mut set = |name: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(name, v);
            }
        };
        set(X_ISSUER, &p.source);
        if let Some(c) = &p.client_id {
            set(X_CLIENT_ID, c);
        }
        if let Some(s) = &p.subject {
            set(X_SUBJECT, s);
        }
        set(X_SCOPE, &p.scopes.join(" "));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::registry::build_service;
    use crate::spec::ServiceSpec;

    fn service(upstream: &str) -> Service {
        build_service(
            "orders",
            "orders",
            ServiceSpec::new(url::Url::parse(upstream).unwrap()),
        )
    }

    fn caller() -> &'static ClientAddr {
        static C: std::sync::OnceLock<ClientAddr> = std::sync::OnceLock::new();
        C.get_or_init(|| ClientAddr::direct("10.0.0.7".parse().unwrap()))
    }

    fn fwd<'a>(s: &'a Service, rest: &'a str, p: Option<&'a Principal>) -> Forward<'a> {
        Forward {
            service: s,
            rest,
            query: Some("a=1&b=%20"),
            client: Some(caller()),
            scheme: "https",
            principal: p,
            trust_forwarded: false,
        }
    }

    #[test]
    fn target_uri() {
        let s = service("http://127.0.0.1:9000/api/");
        let req = Request::builder()
            .uri("/gateway/orders/x")
            .body(Body::empty())
            .unwrap();
        let out = rewrite(req, &fwd(&s, "/x/y", None)).unwrap();
        assert_eq!(out.uri(), "http://127.0.0.1:9000/api/x/y?a=1&b=%20");
        let s = service("http://127.0.0.1:9000");
        let req = Request::builder().uri("/").body(Body::empty()).unwrap();
        let mut f = fwd(&s, "", None);
        f.query = None;
        assert_eq!(rewrite(req, &f).unwrap().uri(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn http2_callers() {
        let s = service("http://127.0.0.1:9000/api");
        let req = Request::builder()
            .uri("https://gw.example:8443/gateway/orders/x")
            .version(axum::http::Version::HTTP_2)
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(Body::empty())
            .unwrap();
        let out = rewrite(req, &fwd(&s, "/x", None)).unwrap();
        assert_eq!(out.headers()["x-forwarded-host"], "gw.example:8443");
        assert_eq!(out.headers()["cookie"], "a=1; b=2");
        assert_eq!(out.headers().get_all("cookie").iter().count(), 1);
        assert_eq!(out.version(), axum::http::Version::HTTP_11);
    }

    #[test]
    fn headers() {
        let s = service("http://127.0.0.1:9000/api");
        let p = Principal {
            source: Arc::from("local"),
            client_id: Some("billing".into()),
            subject: None,
            scopes: vec!["orders".into(), "read".into()],
            audience: vec![],
            issued_at: None,
            expires_at: None,
        };
        let req = Request::builder()
            .uri("/gateway/orders/x")
            .header("host", "gw.example")
            .header("authorization", "Bearer abc")
            .header("x-tollgate-client-id", "forged")
            .header("X-Tollgate-Subject", "admin")
            .header("x-forwarded-for", "1.2.3.4")
            .header("x-tollgate_subject", "admin")
            .header("forwarded", "for=1.2.3.4")
            .header("connection", "close, x-secret-hop")
            .header("x-secret-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("x-original-url", "/admin")
            .header("x-forwarded-ssl", "on")
            .header("x-http-method-override", "DELETE")
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap();
        let out = rewrite(req, &fwd(&s, "/x", Some(&p))).unwrap();
        let h = out.headers();
        assert_eq!(h[X_CLIENT_ID], "billing");
        assert!(
            h.get(X_SUBJECT).is_none(),
            "a forged subject must not survive"
        );
        assert_eq!(h[X_SCOPE], "orders read");
        assert_eq!(
            h["x-forwarded-for"], "10.0.0.7",
            "a caller's own chain is not trusted"
        );
        assert_eq!(h["x-real-ip"], "10.0.0.7");
        // Behind trusted proxies: the verified chain, not the caller's own.
        let behind = ClientAddr {
            ip: "203.0.113.9".parse().unwrap(),
            peer: "10.0.0.2".parse().unwrap(),
            via: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
        };
        let forged = |trust: bool| {
            let req = Request::builder()
                .uri("/gateway/orders/x")
                .header("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.1")
                .body(Body::empty())
                .unwrap();
            let mut f = fwd(&s, "/x", None);
            f.client = Some(&behind);
            f.trust_forwarded = trust;
            rewrite(req, &f).unwrap()
        };
        let out = forged(false);
        assert_eq!(
            out.headers()["x-forwarded-for"],
            "203.0.113.9, 10.0.0.1, 10.0.0.2"
        );
        assert_eq!(out.headers()["x-real-ip"], "203.0.113.9");
        // gateway.trust_forwarded_for keeps what came and appends the peer.
        let out = forged(true);
        assert_eq!(
            out.headers()["x-forwarded-for"],
            "1.2.3.4, 203.0.113.9, 10.0.0.1, 10.0.0.2"
        );
        assert_eq!(h[X_ISSUER], "local");
        assert!(h.get("x-tollgate_subject").is_none());
        assert!(h.get("forwarded").is_none());
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "gw.example");
        assert!(h.get("authorization").is_none());
        for gone in [
            "connection",
            "x-secret-hop",
            "keep-alive",
            "te",
            "host",
            "x-original-url",
            "x-forwarded-ssl",
        ] {
            assert!(h.get(gone).is_none(), "{gone}");
        }
        // Any method is allowed here, so an override is the upstream's business.
        assert_eq!(h["x-http-method-override"], "DELETE");
        let mut only_get = service("http://127.0.0.1:9000/api");
        only_get.spec.methods = vec!["GET".into()];
        let req = Request::builder()
            .uri("/gateway/orders/x")
            .header("x-http-method-override", "DELETE")
            .header("X-HTTP-Method", "DELETE")
            .body(Body::empty())
            .unwrap();
        let out = rewrite(req, &fwd(&only_get, "/x", None)).unwrap();
        assert!(out.headers().get("x-http-method-override").is_none());
        assert!(out.headers().get("x-http-method").is_none());
        assert_eq!(h["accept"], "application/json");
    }
}
