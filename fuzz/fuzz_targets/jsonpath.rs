//! The States language's JSONPath subset: Paths and reference paths parsed, then read from and
//! written into a sample document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let doc = json!({"a": {"b": [1, {"c": "d"}], "e f": null}, "list": [[0, 1], [2]], "n": 1});
        tre_stepfunctions::fuzzing::path(text, &doc);
    }
});
