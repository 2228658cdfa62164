//! Redirect-URI registration rules and matching, `tollgate_core::RedirectUri`.
//!
//! The input is a registered URI and a presented one, separated by the first
//! newline (neither can contain one legitimately).
//!
//! Must hold: no panic; an accepted URI matches itself and survives its serde
//! form; a presented URI other than the registered one matches only as RFC
//! 8252 §7.3 allows it: a loopback-IP `http` URI that differs in the port and
//! nothing else (RFC 9700 §4.1.3: exact string matching otherwise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::RedirectUri;

/// `s` with the port of an `http://host:port` authority removed, as a string.
fn without_port(s: &str) -> Option<String> {
    let rest = s.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rfind(':') {
        Some(i)
            if !authority[..i].is_empty()
                && !authority[i + 1..].contains(']')
                && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[..i]
        }
        _ => authority,
    };
    Some(format!("http://{host}{tail}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, presented) = text.split_once('\n').unwrap_or((text, text));
    let Ok(r) = RedirectUri::try_from(registered) else {
        return;
    };
    assert_eq!(r.as_str(), registered);
    assert!(r.matches(registered));
    let json = serde_json::to_string(&r).unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<RedirectUri>(&json).ok().as_ref(),
        Some(&r)
    );
    if r.matches(presented) && presented != registered {
        let (Some(a), Some(b)) = (without_port(registered), without_port(presented)) else {
            panic!("{presented:?} matched {registered:?} but is not a loopback http URI");
        };
        assert_eq!(
            a, b,
            "{presented:?} matched {registered:?} but differs in more than the port"
        );
    }
});
