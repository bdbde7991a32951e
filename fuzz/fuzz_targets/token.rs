//! The token parser and the Authorization header in front of it: any bytes, no panic; what
//! parses has the exact format of spec §3.
#![no_main]

use axum::http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate::services::tokens;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(env) = tokens::parse(text) {
            assert_eq!(text.len(), 46);
            assert!(text.starts_with(&format!("tg_{}_", env.as_str())));
            assert!(tokens::hint(text).len() < text.len());
        }
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.append(AUTHORIZATION, value);
        if let Ok(token) = tollgate::enforcement::bearer_token(&headers) {
            let _ = tokens::parse(token);
        }
    }
});
