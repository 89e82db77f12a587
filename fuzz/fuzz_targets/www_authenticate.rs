//! A registry's `WWW-Authenticate: Bearer realm=...` challenge, as the bundle client parses it
//! before it asks the realm for a token.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        if let Some((_realm, params)) = tre_bundle::fuzzing::challenge(header) {
            // Only these go on to the realm.
            assert!(params.iter().all(|(k, _)| k == "service" || k == "scope"));
        }
    }
});
