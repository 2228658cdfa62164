//! The gateway's request-path normalisation, `tollgate_gateway::path`.
//!
//! Must hold: no panic; normalising a normalised path is a no-op; the result
//! is absolute and has none of the spellings the rules remove (empty, `.`
//! and `..` segments, path parameters, backslashes, control characters,
//! lower-case or unreserved escapes, encoded `/`, `\` or NUL).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_gateway::path::{is_under, normalise};

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None, // lower-case hex is not normal form
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let _ = is_under(raw, "/gateway");
    let Ok(n) = normalise(raw) else {
        return;
    };
    assert_eq!(normalise(&n).as_ref(), Ok(&n), "not idempotent: {raw:?}");
    assert!(n.starts_with('/'), "{n:?}");
    assert!(!n.contains("//"), "{n:?}");
    assert!(!n.contains(';') && !n.contains('\\'), "{n:?}");
    assert!(!n.chars().any(char::is_control), "{n:?}");
    assert!(
        !n.split('/').any(|s| s == "." || s == ".."),
        "dot segment left in {n:?}"
    );
    let b = n.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                panic!("escape not in normal form in {n:?}");
            };
            let v = h * 16 + l;
            assert!(!unreserved(v), "unreserved character left encoded in {n:?}");
            assert!(!matches!(v, b'/' | b'\\' | 0), "{n:?}");
            i += 3;
        } else {
            i += 1;
        }
    }
    // A normalised path is under a prefix exactly when its spelling says so.
    if is_under(&n, "/gateway") {
        assert!(n == "/gateway" || n.starts_with("/gateway/"));
    }
});
