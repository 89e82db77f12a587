//! `bundle.yaml` (a bundle author's text, read by the CLI and by the API on registration):
//! parsed, validated, turned into a template registration; and bundle references.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = tre_bundle::BundleManifest::from_yaml(text) {
        if m.validate().is_ok() {
            let _ = m.template_registration("registry.example.org/tre/bundle@sha256:0");
            let _ = m.custom_actions().count();
        }
    }
    let _ = tre_bundle::BundleRef::parse(text);
});
