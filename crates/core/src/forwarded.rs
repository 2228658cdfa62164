//! The client address behind reverse proxies: parsing of RFC 7239
//! `Forwarded` and of `X-Forwarded-For`, and the choice of the right-most
//! address that is not a trusted proxy.
//!
//! Every proxy appends the address it received the request from, so the
//! entries a trusted proxy appended are true and everything left of them is
//! whatever the client sent. Reading from the right and skipping trusted
//! proxies therefore stops at the first address no trusted party vouches
//! beyond: the client as the outermost trusted proxy saw it.
use std::net::IpAddr;

/// One hop of a forwarding chain (RFC 7239 §6: a node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Ip(IpAddr),
    /// `unknown`, an obfuscated identifier (`_hidden`, RFC 7239 §6.3), a
    /// missing `for=` or anything that does not parse: a hop whose address
    /// nobody knows.
    Unknown,
}

/// A node (`192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, a bare IPv6 address as some `X-Forwarded-For`
/// writers send it); anything else is [`Node::Unknown`].
pub fn parse_node(s: &str) -> Node {
    let s = s.trim();
    let ip = if let Some(rest) = s.strip_prefix('[') {
        // RFC 7239 §6: IPv6 in brackets, an optional port after them.
        rest.split_once(']').and_then(|(addr, port)| {
            (port.is_empty() || valid_port(port.strip_prefix(':')?))
                .then(|| addr.parse::<std::net::Ipv6Addr>().ok())
                .flatten()
                .map(IpAddr::V6)
        })
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        Some(ip)
    } else {
        s.split_once(':').and_then(|(addr, port)| {
            valid_port(port)
                .then(|| addr.parse::<std::net::Ipv4Addr>().ok())
                .flatten()
                .map(IpAddr::V4)
        })
    };
    ip.map_or(Node::Unknown, Node::Ip)
}

/// RFC 7239 §6: a port is digits (1-5 of them), or an obfuscated `_port`.
fn valid_port(p: &str) -> bool {
    let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = p.len() > 1
        && p.starts_with('_')
        && p[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    digits || obfuscated
}

/// The chain of `X-Forwarded-For` field values, in order: comma-separated
/// nodes, left-most the farthest from us.
///
/// Values are bytes, not text: a client may put a non-UTF-8 byte in its own
/// part of a header that a proxy then extends (`X-Forwarded-For: é` becomes
/// `é, 198.51.100.7`). Only the element holding it is unknown; dropping the
/// whole field value would also drop the address the proxy vouched for.
pub fn parse_x_forwarded_for<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Vec<Node> {
    values
        .into_iter()
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|element| match std::str::from_utf8(element) {
            Ok(text) => parse_node(text),
            Err(_) => Node::Unknown,
        })
        .collect()
}

/// The chain of `Forwarded` field values (RFC 7239 §4): one node per
/// element, from its `for` parameter (case-insensitive name, token or
/// quoted-string value, §4 and RFC 9110 §5.6.6). An element without `for`,
/// with two, or that does not parse is [`Node::Unknown`]; a syntax error
/// makes the rest of that field value unknown, since its element boundaries
/// can no longer be trusted.
pub fn parse_forwarded<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Node> {
    let mut out = Vec::new();
    for v in values {
        let mut p = Parser {
            s: v.as_bytes(),
            i: 0,
        };
        loop {
            match p.element() {
                Some(node) => out.push(node),
                None => {
                    out.push(Node::Unknown);
                    break;
                }
            }
            p.ws();
            if p.i >= p.s.len() {
                break;
            }
            if !p.eat(b',') {
                out.push(Node::Unknown);
                break;
            }
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.i)
            .is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// RFC 9110 §5.6.2 tchar.
    fn token(&mut self) -> Option<&str> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
        {
            self.i += 1;
        }
        (self.i > start)
            .then(|| std::str::from_utf8(&self.s[start..self.i]).ok())
            .flatten()
    }

    /// RFC 9110 §5.6.4 quoted-string, unescaped.
    fn quoted(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    out.push(*self.s.get(self.i)?);
                    self.i += 1;
                }
                _ => out.push(b),
            }
        }
    }

    /// One `forwarded-element`: pairs separated by `;`. `None` on a
    /// syntax error.
    fn element(&mut self) -> Option<Node> {
        let mut node = None;
        let mut fors = 0;
        loop {
            self.ws();
            let name = self.token()?.to_ascii_lowercase();
            if !self.eat(b'=') {
                return None;
            }
            let value = match self.quoted() {
                Some(q) => q,
                None => self.token()?.to_owned(),
            };
            if name == "for" {
                fors += 1;
                node = Some(parse_node(&value));
            }
            self.ws();
            if !self.eat(b';') {
                break;
            }
        }
        Some(if fors == 1 {
            node.unwrap_or(Node::Unknown)
        } else {
            Node::Unknown
        })
    }
}

/// Who sent a request, as far as the trusted proxies vouch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The client address: the right-most chain address that is not a
    /// trusted proxy; when the hop left of the trusted proxies is unknown
    /// (or the chain holds only trusted proxies), the farthest trusted
    /// proxy, the last address anyone vouches for.
    pub client: IpAddr,
    /// The trusted proxies the request passed after `client`, nearest the
    /// client first, ending with the peer (empty when the peer is the
    /// client).
    pub via: Vec<IpAddr>,
}

/// The client address of a request from `peer` that carried `chain`. A
/// peer that is not trusted is the client and its chain is ignored.
pub fn resolve(peer: IpAddr, chain: &[Node], trusted: impl Fn(IpAddr) -> bool) -> Resolved {
    let peer = peer.to_canonical();
    let mut client = peer;
    let mut via = Vec::new();
    if !trusted(peer) {
        return Resolved { client, via };
    }
    for node in chain.iter().rev() {
        let Node::Ip(ip) = node else { break };
        via.push(client);
        client = ip.to_canonical();
        if !trusted(client) {
            break;
        }
    }
    via.reverse();
    Resolved { client, via }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nodes(v: &[&str]) -> Vec<Node> {
        v.iter().map(|s| Node::Ip(ip(s))).collect()
    }

    #[test]
    fn nodes_with_ports_brackets_and_unknowns() {
        assert_eq!(parse_node("192.0.2.1"), Node::Ip(ip("192.0.2.1")));
        assert_eq!(parse_node(" 192.0.2.1:8080 "), Node::Ip(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:_p"), Node::Ip(ip("192.0.2.1")));
        assert_eq!(parse_node("[2001:db8::1]"), Node::Ip(ip("2001:db8::1")));
        assert_eq!(parse_node("[2001:db8::1]:443"), Node::Ip(ip("2001:db8::1")));
        assert_eq!(parse_node("2001:db8::1"), Node::Ip(ip("2001:db8::1")));
        for bad in [
            "unknown",
            "_hidden",
            "",
            "[2001:db8::1",
            "[2001:db8::1]443",
            "[192.0.2.1]",
            "192.0.2.1:",
            "192.0.2.1:123456",
            "example.com",
            "2001:db8::1:443x",
        ] {
            assert_eq!(parse_node(bad), Node::Unknown, "{bad}");
        }
    }

    #[test]
    fn forwarded_per_rfc_7239() {
        // RFC 7239 §4 and §7.1 examples.
        assert_eq!(parse_forwarded([r#"for="_gazonk""#]), vec![Node::Unknown]);
        assert_eq!(
            parse_forwarded([r#"For="[2001:db8:cafe::17]:4711""#]),
            nodes(&["2001:db8:cafe::17"])
        );
        assert_eq!(
            parse_forwarded(["for=192.0.2.60;proto=http;by=203.0.113.43"]),
            nodes(&["192.0.2.60"])
        );
        assert_eq!(
            parse_forwarded(["for=192.0.2.43, for=198.51.100.17"]),
            nodes(&["192.0.2.43", "198.51.100.17"])
        );
        // Several fields are one list; parameters in any order and case.
        assert_eq!(
            parse_forwarded([
                "for=192.0.2.43",
                "proto=https; FOR=\"198.51.100.17:80\" ;by=x"
            ]),
            nodes(&["192.0.2.43", "198.51.100.17"])
        );
        // A quoted comma does not split; escapes are undone.
        assert_eq!(
            parse_forwarded([r#"by="a,b";for="192.0.2.\1", for=unknown"#]),
            vec![Node::Ip(ip("192.0.2.1")), Node::Unknown]
        );
        // No for, two fors, syntax errors: unknown, and a broken field
        // value yields nothing after the break.
        assert_eq!(parse_forwarded(["proto=http"]), vec![Node::Unknown]);
        assert_eq!(
            parse_forwarded(["for=192.0.2.1;for=192.0.2.2"]),
            vec![Node::Unknown]
        );
        assert_eq!(
            parse_forwarded(["for=192.0.2.1 x, for=192.0.2.2"]),
            vec![Node::Ip(ip("192.0.2.1")), Node::Unknown]
        );
        assert_eq!(parse_forwarded([r#"for="192.0.2.1"#]), vec![Node::Unknown]);
        assert_eq!(parse_forwarded(["for=[::1]"]), vec![Node::Unknown]);
    }

    #[test]
    fn a_non_utf8_byte_unknowns_only_its_element() {
        // A client's Latin-1 `é` (the byte 0xE9, not UTF-8) before the
        // address nginx appended: the appended address still counts.
        let chain = parse_x_forwarded_for([&b"\xe9, 198.51.100.7"[..]]);
        assert_eq!(chain, vec![Node::Unknown, Node::Ip(ip("198.51.100.7"))]);
        let r = resolve(ip("10.0.0.1"), &chain, ten);
        assert_eq!(r.client, ip("198.51.100.7"));
    }

    #[test]
    fn x_forwarded_for_lists() {
        assert_eq!(
            parse_x_forwarded_for([&b"203.0.113.9, 10.0.0.1"[..], b"10.0.0.2"]),
            nodes(&["203.0.113.9", "10.0.0.1", "10.0.0.2"])
        );
        assert_eq!(
            parse_x_forwarded_for([&b"junk, 10.0.0.1"[..]]),
            vec![Node::Unknown, Node::Ip(ip("10.0.0.1"))]
        );
    }

    fn ten(ip: IpAddr) -> bool {
        matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 10)
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let chain = nodes(&["1.1.1.1", "203.0.113.9", "10.0.0.1"]);
        let r = resolve(ip("10.0.0.2"), &chain, ten);
        assert_eq!(r.client, ip("203.0.113.9"));
        assert_eq!(r.via, vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        // An untrusted peer is the client whatever it claims.
        let r = resolve(ip("198.51.100.1"), &chain, ten);
        assert_eq!((r.client, r.via.len()), (ip("198.51.100.1"), 0));
        // A trusted peer without a chain is the client itself.
        assert_eq!(resolve(ip("10.0.0.2"), &[], ten).client, ip("10.0.0.2"));
        // Unknown left of the proxies: the farthest trusted proxy.
        let chain = vec![
            Node::Ip(ip("1.1.1.1")),
            Node::Unknown,
            Node::Ip(ip("10.0.0.1")),
        ];
        let r = resolve(ip("10.0.0.2"), &chain, ten);
        assert_eq!(r.client, ip("10.0.0.1"));
        assert_eq!(r.via, vec![ip("10.0.0.2")]);
        // Only trusted proxies: the farthest one. IPv4-mapped peers count as IPv4.
        let chain = nodes(&["10.0.0.1"]);
        let r = resolve(ip("::ffff:10.0.0.2"), &chain, ten);
        assert_eq!(r.client, ip("10.0.0.1"));
    }

    fn ipv4() -> impl Strategy<Value = IpAddr> {
        any::<[u8; 4]>().prop_map(IpAddr::from)
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![ipv4(), any::<[u8; 16]>().prop_map(IpAddr::from)]
    }

    /// A `Forwarded` element for `ip`, written in one of the ways RFC 7239
    /// allows, with other parameters around it.
    fn written(ip: IpAddr, port: Option<u16>, quote: bool, extra: bool) -> String {
        let node = match (ip, port) {
            (IpAddr::V4(v4), None) => v4.to_string(),
            (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
            (IpAddr::V6(v6), None) => format!("[{v6}]"),
            (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        };
        // A value with ':' or '[' must be quoted (it is no token).
        let value = if quote || node.contains([':', '[']) {
            format!("\"{node}\"")
        } else {
            node
        };
        if extra {
            format!("proto=https;For={value};by=\"_proxy\"")
        } else {
            format!("for={value}")
        }
    }

    proptest! {
        #[test]
        fn forwarded_round_trips(
            hops in proptest::collection::vec(
                (any_ip(), proptest::option::of(any::<u16>()), any::<bool>(), any::<bool>()),
                1..8,
            ),
            split in any::<prop::sample::Index>(),
        ) {
            let elements: Vec<String> =
                hops.iter().map(|(ip, p, q, e)| written(*ip, *p, *q, *e)).collect();
            // Split into two header fields anywhere between elements.
            let at = split.index(elements.len() + 1);
            let (a, b) = elements.split_at(at);
            let fields: Vec<String> =
                [a.join(", "), b.join(",")].into_iter().filter(|f| !f.is_empty()).collect();
            let parsed = parse_forwarded(fields.iter().map(String::as_str));
            let want: Vec<Node> = hops.iter().map(|(ip, ..)| Node::Ip(*ip)).collect();
            prop_assert_eq!(parsed, want);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}", t in "[a-zA-Z0-9=;,\"\\\\\\[\\]:. _-]{0,80}") {
            let _ = parse_forwarded([s.as_str(), t.as_str()]);
            let _ = parse_x_forwarded_for([s.as_bytes(), t.as_bytes()]);
        }

        #[test]
        fn the_client_is_never_a_hop_the_client_could_forge(
            forged in proptest::collection::vec(any_ip(), 0..4),
            client in ipv4().prop_filter("untrusted", |ip| !ten(*ip)),
            proxies in proptest::collection::vec(any::<[u8; 3]>(), 0..4),
            peer in any::<[u8; 3]>(),
        ) {
            // Whatever the client put in front, a chain whose trusted part is
            // genuine resolves to the client and the proxies it passed.
            let ten_ip = |o: [u8; 3]| IpAddr::from([10, o[0], o[1], o[2]]);
            let mut chain: Vec<Node> = forged.iter().map(|ip| Node::Ip(*ip)).collect();
            chain.push(Node::Ip(client));
            chain.extend(proxies.iter().map(|p| Node::Ip(ten_ip(*p))));
            let r = resolve(ten_ip(peer), &chain, ten);
            prop_assert_eq!(r.client, client);
            prop_assert_eq!(r.via.len(), proxies.len() + 1);
        }
    }
}
