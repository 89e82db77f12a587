//! Amazon States Language definitions: `StateMachine::parse` on any text (the definitions in
//! statemachines/ seed the corpus).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tre_stepfunctions::StateMachine::parse(text);
    }
});
