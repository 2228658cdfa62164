//! HTTP Basic client authentication (RFC 7617, RFC 6749 §2.3.1): the
//! `Authorization` header decoder behind `tollgate_authz::client_auth`
//! (reached through the public `claimed_client_id`, which runs the same
//! extraction as `authenticate` without a store).
//!
//! Must hold: no panic for any header value; a claimed id is a well-formed
//! client id; and what `basic_authorization` encodes decodes to the same
//! client id.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use tollgate_authz::client_auth::{basic_authorization, claimed_client_id, presented};
use tollgate_authz::form::Params;
use tollgate_core::ClientId;

fn claimed(value: HeaderValue, params: &Params) -> Option<String> {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    assert!(presented(&headers, params));
    let id = claimed_client_id(&headers, params);
    if let Some(id) = &id {
        assert!(ClientId::try_from(id.as_str()).is_ok(), "{id:?}");
    }
    id
}

fuzz_target!(|data: &[u8]| {
    let none = Params::default();
    // The raw header value, and the same bytes as Basic credentials.
    if let Ok(v) = HeaderValue::from_bytes(data) {
        claimed(v, &none);
    }
    let mut basic = b"Basic ".to_vec();
    basic.extend_from_slice(data);
    if let Ok(v) = HeaderValue::from_bytes(&basic) {
        claimed(v, &none);
    }
    // Round trip: "id\0secret" encoded as a client would, then decoded.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (id, secret) = text.split_once('\0').unwrap_or((text, "s"));
    if id.contains('\u{FFFD}') || secret.contains('\u{FFFD}') {
        return; // refused on purpose: a percent-decoding that was not UTF-8
    }
    let Ok(v) = HeaderValue::from_str(&basic_authorization(id, secret)) else {
        panic!("basic_authorization made an invalid header value");
    };
    let got = claimed(v, &none);
    if ClientId::try_from(id).is_ok() {
        assert_eq!(got.as_deref(), Some(id));
        // A body client_id naming the same client is fine; another one is not.
        if let Ok(same) = Params::parse(format!("client_id={id}").as_bytes()) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&basic_authorization(id, secret)) {
                headers.insert(header::AUTHORIZATION, v);
            }
            assert_eq!(claimed_client_id(&headers, &same).as_deref(), Some(id));
        }
    } else {
        assert_eq!(got, None);
    }
});
