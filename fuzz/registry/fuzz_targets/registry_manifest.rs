//! Manifests pushed to the registry, with the Content-Type the client declared (first byte
//! chooses it).
#![no_main]

use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/json",
];

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let media_type = MEDIA_TYPES[usize::from(*which) % MEDIA_TYPES.len()];
    let _ = tre_registry::fuzzing::manifest(media_type, body);
});
