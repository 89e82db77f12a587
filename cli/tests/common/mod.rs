//! What the CLI tests share.

/// Whether `tre workspaces get -o json` printed a workspace whose install has ended (the API
/// refuses a change while an operation runs, and lists taken meanwhile differ).
pub fn install_ended(get_output: &str) -> bool {
    let w: serde_json::Value = serde_json::from_str(get_output).expect("json output");
    let status = w["workspace"]["deploymentStatus"]
        .as_str()
        .or(w["deploymentStatus"].as_str())
        .unwrap_or_default();
    !status.starts_with("awaiting_") && status != "deploying"
}
