//! Credentials a bundle runner needs to fetch its bundle.

/// Mints a short-lived token that lets a runner pull one bundle from the registry; `Ok(None)`
/// for a bundle that needs none (an OCI layout, another registry).
pub trait BundlePullTokens: Send + Sync {
    fn pull_token(&self, bundle: &str) -> Result<Option<String>, String>;
}
