//! Intrinsic functions (`States.Format(...)`, `States.ArrayRange(...)`, ...): parsed, then
//! evaluated against a sample input; text that is a JSON object is rendered as a payload
//! template instead (`.$` keys, paths and calls in values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn input() -> Value {
    json!({
        "name": "tre", "n": 3, "big": 1e300, "neg": -2, "ok": true, "none": null,
        "list": [1, 2, 3, "x", [4]], "csv": "a,b,,c", "b64": "aGVsbG8=",
        "obj": {"k": "v", "deep": {"x": [1, {"y": 2}]}}
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (input, context) = (
        input(),
        json!({"Execution": {"Id": "x"}, "Task": {"Token": "t"}}),
    );
    if text.starts_with('{') {
        if let Ok(template) = serde_json::from_str::<Value>(text) {
            tre_stepfunctions::fuzzing::template(&template, &input, &context);
        }
        return;
    }
    tre_stepfunctions::fuzzing::intrinsic(text, &input, &context);
});
