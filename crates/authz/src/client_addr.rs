//! The client address of a request: computed once, where the listener
//! accepts the request, and put on it as the [`ClientAddr`] extension that
//! the throttles, the audit log, the listeners' source rules and the
//! gateway's forwarded headers all read.
//!
//! The TCP peer is the client unless it is in `server.trusted_proxies`;
//! then the client is the right-most address of the forwarding header that
//! is not itself a trusted proxy (see [`tollgate_core::forwarded`]).
use std::fmt::Write as _;
use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use tollgate_core::forwarded::{self, Resolved};

/// Which header the trusted proxies write. Only one is read: a proxy that
/// appends to one passes the other through as the client sent it, so
/// reading both would let a client name its own address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`, HAProxy's
    /// `option forwardfor`, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (its `for=` parameters).
    Forwarded,
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { nets, header }
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 read as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`. The
    /// headers are read only when the peer is trusted.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return ClientAddr {
                ip: peer,
                peer,
                via: Vec::new(),
            };
        }
        let chain = match self.header {
            ForwardedHeader::XForwardedFor => forwarded::parse_x_forwarded_for(
                headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .map(|v| v.as_bytes()),
            ),
            // A Forwarded value that is not text is unknown as a whole (its
            // element boundaries are the parser's, not a byte split's).
            ForwardedHeader::Forwarded => forwarded::parse_forwarded(
                headers
                    .get_all("forwarded")
                    .iter()
                    .map(|v| v.to_str().unwrap_or("for=unknown")),
            ),
        };
        let Resolved { client, via } = forwarded::resolve(peer, &chain, |ip| self.contains(ip));
        ClientAddr {
            ip: client,
            peer,
            via,
        }
    }
}

/// Who sent a request: the request extension every consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client address (IPv4-mapped IPv6 shown as IPv4).
    pub ip: IpAddr,
    /// The TCP peer: the client, or the nearest trusted proxy.
    pub peer: IpAddr,
    /// The trusted proxies between the client and us, nearest the client
    /// first, ending with the peer; empty without proxies.
    pub via: Vec<IpAddr>,
}

impl ClientAddr {
    /// A direct caller, no proxy in between.
    pub fn direct(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        Self {
            ip,
            peer: ip,
            via: Vec::new(),
        }
    }

    /// The verified forwarding chain as `X-Forwarded-For` spells it: the
    /// client, then each trusted proxy it passed (the peer last). Entries a
    /// client wrote itself are not in it.
    pub fn forwarded_for(&self) -> String {
        let mut s = self.ip.to_string();
        for hop in &self.via {
            let _ = write!(s, ", {hop}");
        }
        s
    }
}

/// `server.trusted_proxies`: a list of CIDR ranges or addresses, in TOML as
/// an array, in the environment also as one comma-separated string
/// (`TOLLGATE_SERVER__TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7`). A bare
/// address is that one host.
pub fn deserialize_nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        One(String),
        Many(Vec<String>),
    }
    let items = match Given::deserialize(d)? {
        Given::One(s) => s.split(',').map(str::to_owned).collect(),
        Given::Many(v) => v,
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "'{s}' is not a CIDR range (10.0.0.0/8) or an address"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn proxies(header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(
            vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            header,
        )
    }

    #[test]
    fn only_trusted_peers_are_believed_and_only_their_header() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("forwarded", "for=192.0.2.66"),
        ]);
        let xff = proxies(ForwardedHeader::XForwardedFor);
        let a = xff.resolve(ip("::ffff:127.0.0.1"), &h);
        assert_eq!(a.ip, ip("203.0.113.9"));
        assert_eq!(a.peer, ip("127.0.0.1"));
        assert_eq!(a.forwarded_for(), "203.0.113.9, 127.0.0.1");
        let a = proxies(ForwardedHeader::Forwarded).resolve(ip("10.1.1.1"), &h);
        assert_eq!(a.ip, ip("192.0.2.66"));
        // Untrusted peer: its headers are ignored.
        let a = xff.resolve(ip("127.0.0.2"), &h);
        assert_eq!(a, ClientAddr::direct(ip("127.0.0.2")));
        assert_eq!(a.forwarded_for(), "127.0.0.2");
        // No proxies configured: nothing is read.
        let a = TrustedProxies::default().resolve(ip("127.0.0.1"), &h);
        assert_eq!(a.ip, ip("127.0.0.1"));
    }

    #[derive(Deserialize)]
    struct Cfg {
        #[serde(deserialize_with = "deserialize_nets")]
        nets: Vec<IpNet>,
    }

    #[test]
    fn nets_from_a_list_or_a_comma_separated_string() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<Cfg>(serde_json::json!({ "nets": v })).map(|c| c.nets)
        };
        let want: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap(),
        ];
        assert_eq!(
            parse(serde_json::json!(["10.0.0.0/8", "192.0.2.7"])).unwrap(),
            want
        );
        assert_eq!(
            parse(serde_json::json!("10.0.0.0/8, 192.0.2.7")).unwrap(),
            want
        );
        assert_eq!(parse(serde_json::json!("")).unwrap(), vec![]);
        let e = parse(serde_json::json!("10.0.0.0/33")).unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
    }
}
