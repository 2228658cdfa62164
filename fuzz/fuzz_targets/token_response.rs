//! The connection provider's token-response parser,
//! `tollgate_connect::provider::parse_answer` (RFC 6749 §5.1 / §5.2).
//!
//! Must hold: no panic; success only for a 2xx status with a JSON object
//! carrying a non-empty `access_token` and a `token_type`, whose values it
//! returns unchanged; a provider's words kept in an error are printable (no
//! control characters, at most 300 characters and an ellipsis).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_connect::ConnectError;
use tollgate_connect::provider::parse_answer;

fn printable(s: &str) {
    assert!(!s.chars().any(char::is_control), "{s:?}");
    assert!(s.chars().count() <= 301, "{} chars", s.chars().count());
}

fuzz_target!(|data: &[u8]| {
    let Some((&st, rest)) = data.split_first() else {
        return;
    };
    let Some((&st2, body)) = rest.split_first() else {
        return;
    };
    // Mostly the statuses providers send, sometimes any status.
    const COMMON: [u16; 12] = [200, 201, 204, 302, 400, 401, 403, 404, 429, 500, 502, 503];
    let status = if st < 240 {
        COMMON[usize::from(st) % COMMON.len()]
    } else {
        u16::from_be_bytes([st - 240, st2]) % 1000
    };
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(body).ok();
    match parse_answer(status, body) {
        Ok(issued) => {
            assert!((200..300).contains(&status), "{status}");
            let Some(j) = json else {
                panic!("accepted a body that is not a JSON object");
            };
            assert!(!issued.access_token.is_empty());
            assert_eq!(
                j.get("access_token").and_then(Value::as_str),
                Some(issued.access_token.as_str())
            );
            assert_eq!(
                j.get("token_type").and_then(Value::as_str),
                Some(issued.token_type.as_str())
            );
            // The Debug output never shows the tokens. Checked for tokens
            // that look like tokens (16+ alphanumerics: no field name or
            // punctuation of the output can spell them) and are not also in
            // the token type or the scope, which it does show.
            let debug = format!("{issued:?}");
            let shown = |t: &str| {
                issued.token_type.contains(t)
                    || issued.scope.as_deref().is_some_and(|s| s.contains(t))
            };
            let secrets =
                std::iter::once(&issued.access_token).chain(issued.refresh_token.as_ref());
            for t in secrets {
                assert!(!t.is_empty());
                if t.len() >= 16 && t.bytes().all(|b| b.is_ascii_alphanumeric()) && !shown(t) {
                    assert!(!debug.contains(t.as_str()), "{debug}");
                }
            }
        }
        Err(ConnectError::Provider {
            status: s,
            error,
            description,
        }) => {
            assert_eq!(s, status);
            assert!(!(200..300).contains(&status));
            printable(&error);
            if let Some(d) = &description {
                printable(d);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
