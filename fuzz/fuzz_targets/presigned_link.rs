//! Pre-signed object links of the local stack: a link's key, expiry and signature as a client
//! sends them are checked (none forged may pass), and a link made for any valid key, read back
//! the way the link route reads it, verifies.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tre_core::ports::{ObjectStore, PresignMethod};
use tre_embedded::FsObjectStore;

fn store() -> &'static FsObjectStore {
    static STORE: OnceLock<(tempfile::TempDir, FsObjectStore)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a scratch directory");
            let store =
                FsObjectStore::open(dir.path(), "http://127.0.0.1:8080", [7u8; 32]).expect("store");
            (dir, store)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // key \n expires \n sig: a client's link, forged.
    let mut parts = text.splitn(3, '\n');
    let (key, expires, sig) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let store = store();
    let now = chrono::Utc::now();
    if let Ok(expires) = expires.parse::<i64>() {
        for method in [PresignMethod::Get, PresignMethod::Put] {
            assert!(
                store
                    .verify_presigned(method, key, expires, sig, now)
                    .is_err(),
                "a forged link verified: {key:?} {expires} {sig:?}"
            );
        }
    }
    // A real link for the key, read back as the route reads it (percent-decoded path, query).
    let made = futures::executor::block_on(store.presign(
        PresignMethod::Get,
        key,
        Duration::from_secs(60),
    ));
    let Ok(link) = made else {
        return;
    };
    let url = url::Url::parse(&link.url).expect("a link is a URL");
    let path = url
        .path()
        .strip_prefix("/objects/")
        .expect("the link route");
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .expect("UTF-8 key");
    assert_eq!(decoded, key, "the link names another key");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let expires = q["expires"].parse::<i64>().expect("expiry");
    store
        .verify_presigned(PresignMethod::Get, &decoded, expires, &q["sig"], now)
        .expect("a link made for the key verifies");
    assert!(store
        .verify_presigned(PresignMethod::Put, &decoded, expires, &q["sig"], now)
        .is_err());
});
