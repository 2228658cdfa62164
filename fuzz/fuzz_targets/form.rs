//! The OAuth endpoints' form-body (and query-string) parser,
//! `tollgate_authz::form::Params::parse`.
//!
//! Must hold: no panic; a refusal is an `invalid_request` with a short
//! description; an accepted body yields exactly the (non-empty) values the
//! `application/x-www-form-urlencoded` reading gives, and rendering those
//! parameters again and re-parsing them gives the same parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_authz::form::Params;

fuzz_target!(|data: &[u8]| {
    let parsed = match Params::parse(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.code(), "invalid_request");
            assert!(e.description().len() < 400, "{}", e.description());
            return;
        }
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut rendered = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        assert_eq!(parsed.get(k), Some(v.as_str()), "parameter {k:?}");
        assert!(!k.contains('\u{FFFD}') && !v.contains('\u{FFFD}'));
        rendered.append_pair(k, v);
    }
    let rendered = rendered.finish();
    let again = match Params::parse(rendered.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("re-parsing the rendered form {rendered:?} failed: {e:?}"),
    };
    for (k, v) in &pairs {
        assert_eq!(again.get(k), Some(v.as_str()), "round trip of {k:?}");
    }
});
