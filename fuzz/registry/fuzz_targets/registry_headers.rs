//! The registry's request-header parsers: `Range` of a blob GET, `Content-Range` of an upload
//! PATCH, and digests (first byte chooses which). What they accept must make sense.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tre_registry::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 3 {
        0 => {
            // Whatever it accepts resolves, for any size, inside the blob.
            if let Some(Ok(Some(spec))) = fuzzing::range(text) {
                for size in [0u64, 1, 2, 100, u64::MAX] {
                    if let Some((first, last)) = spec.resolve(size) {
                        assert!(
                            first <= last && last < size,
                            "`{text}` on {size}: {first}-{last}"
                        );
                    }
                }
            }
        }
        1 => {
            if let Some(Ok(Some(chunk))) = fuzzing::content_range(text) {
                assert!(chunk.start <= chunk.end, "`{text}`: {chunk:?}");
            }
        }
        _ => {
            if let Ok(hex) = fuzzing::digest(text) {
                assert!(matches!(hex.len(), 64 | 128), "`{text}`");
                assert!(text.ends_with(hex.as_str()), "`{text}`");
            }
        }
    }
});
