//! RO-Crate metadata documents checked against the files they describe (what a workspace, or a
//! data source's consumer, is handed).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let files = vec![(
            "admissions.csv".to_string(),
            45u64,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string(),
        )];
        let _ = tre_core::domain::rocrate::validate(&doc, &files);
        let _ = tre_core::domain::rocrate::validate(&doc, &[]);
    }
});
