//! A bundle's layer (tar.gz from a registry) unpacked: whatever the archive says, nothing may be
//! written outside the destination.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
}

fuzz_target!(|data: &[u8]| {
    let root = scratch().path();
    let dest = root.join("dest");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir(&dest).expect("destination");
    let _ = tre_bundle::extract(data, &dest);
    let outside: Vec<_> = std::fs::read_dir(root)
        .expect("scratch")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n != "dest")
        .collect();
    assert!(
        outside.is_empty(),
        "written outside the destination: {outside:?}"
    );
    // Entries may have made themselves read-only: make the tree removable again.
    restore_permissions(&dest);
    let _ = std::fs::remove_dir_all(&dest);
});

fn restore_permissions(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                restore_permissions(&path);
            }
        }
    }
}
