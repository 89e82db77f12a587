//! Packaging the sample bundles: deterministic digests, OCI layout round trip, verification of
//! every digest, and safe extraction.

use std::path::PathBuf;

use tre_bundle::{build, extract, read_layout, write_layout, BundleArtifact, BundleRef, Reference};

fn bundles() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bundles")
}

#[test]
fn every_sample_bundle_builds_deterministically() {
    let mut count = 0;
    for entry in std::fs::read_dir(bundles()).expect("bundles/") {
        let dir = entry.expect("entry").path();
        let a = build(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let b = build(&dir).expect("again");
        assert_eq!(
            a.digest,
            b.digest,
            "{}: same input, same digest",
            dir.display()
        );
        count += 1;
    }
    assert!(count >= 6, "expected the six sample bundles, found {count}");
}

#[test]
fn layout_round_trip_and_extraction() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = tmp.path().join("layout");
    let artifact = build(&bundles().join("tre-workspace-base")).expect("build");
    write_layout(&layout, &artifact, "1.0.0").expect("write");
    let by_tag = read_layout(&layout, &Reference::Tag("1.0.0".into())).expect("by tag");
    let by_digest =
        read_layout(&layout, &Reference::Digest(artifact.digest.clone())).expect("by digest");
    assert_eq!(by_tag.digest, artifact.digest);
    assert_eq!(by_digest.manifest, artifact.manifest);

    let r =
        BundleRef::parse(&format!("oci:{}@{}", layout.display(), artifact.digest)).expect("ref");
    assert!(matches!(r, BundleRef::Layout { .. }));

    let out = tmp.path().join("out");
    extract(&artifact.layer.bytes, &out).expect("extract");
    assert!(out.join("bundle.yaml").exists());
    let script = out.join("scripts/storage.sh");
    assert!(script.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&script)
            .expect("meta")
            .permissions()
            .mode();
        assert!(mode & 0o100 != 0, "the executable bit survives packaging");
    }
}

#[test]
fn tampering_is_detected() {
    let a = build(&bundles().join("tre-noop")).expect("build");
    let mut layer = a.layer.bytes.clone();
    let last = layer.len() - 1;
    layer[last] ^= 0xff;
    let err = BundleArtifact::verify(
        a.oci_manifest.clone(),
        Some(&a.digest),
        a.config.bytes.clone(),
        layer,
    )
    .expect_err("tampered layer");
    assert!(
        err.to_string().contains("digest mismatch for layer"),
        "{err}"
    );
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = BundleArtifact::verify(
        a.oci_manifest.clone(),
        Some(&wrong),
        a.config.bytes.clone(),
        a.layer.bytes.clone(),
    )
    .expect_err("wrong manifest digest");
    assert!(err.to_string().contains("manifest"), "{err}");
}

#[test]
fn archives_that_escape_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    // `append_data` refuses `..` itself, so write the name into the header directly.
    let name = b"../escape.txt";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    builder.append(&header, &b"bad"[..]).expect("append");
    let gz = builder.into_inner().expect("tar").finish().expect("gz");
    let err = extract(&gz, &tmp.path().join("out")).expect_err("escape refused");
    assert!(err.to_string().contains("unsafe"), "{err}");
    assert!(!tmp.path().join("escape.txt").exists());
}
