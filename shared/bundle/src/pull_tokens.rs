//! Pull tokens for bundle runners: signed with the registry's token key, naming only the
//! repository of the bundle a step runs, read-only.

use std::time::Duration;

use tre_auth::registry_token::{Access, RegistryTokenKey};
use tre_core::ports::BundlePullTokens;

use crate::BundleRef;

/// Long enough for a step that waits behind the steps before it in a pipeline to start and
/// fetch its bundle; it only reads one bundle repository.
pub const RUNNER_PULL_TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

pub struct RegistryPullTokens {
    key: RegistryTokenKey,
    ttl: Duration,
}

impl RegistryPullTokens {
    pub fn new(key: RegistryTokenKey) -> Self {
        Self {
            key,
            ttl: RUNNER_PULL_TOKEN_TTL,
        }
    }
}

impl BundlePullTokens for RegistryPullTokens {
    fn pull_token(&self, bundle: &str) -> Result<Option<String>, String> {
        let Ok(BundleRef::Registry { repository, .. }) = BundleRef::parse(bundle) else {
            return Ok(None);
        };
        let access = Access {
            kind: "repository".into(),
            name: repository,
            actions: vec!["pull".into()],
        };
        self.key
            .issue("bundle-runner", vec![access], self.ttl)
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_pulls_its_bundle_only() {
        let key = RegistryTokenKey::new(vec![3u8; 32], "tre-registry").unwrap();
        let tokens = RegistryPullTokens::new(key.clone());
        let t = tokens
            .pull_token("registry.example.org/tre/bundles/base@sha256:0000000000000000000000000000000000000000000000000000000000000000")
            .unwrap()
            .expect("a token");
        let (sub, access) = key.verify(&t).unwrap();
        assert_eq!(sub, "bundle-runner");
        assert!(access
            .iter()
            .any(|a| a.allows("repository", "tre/bundles/base", "pull")));
        assert!(!access
            .iter()
            .any(|a| a.allows("repository", "tre/bundles/base", "push")));
        assert!(!access
            .iter()
            .any(|a| a.allows("repository", "tre/bundles/other", "pull")));
        assert_eq!(
            tokens.pull_token("oci-layout:/tmp/x@sha256:00").unwrap(),
            None
        );
    }
}
