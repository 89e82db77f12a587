//! The `SecretStore` contract. The caller stores one secret first (how is the adapter's own
//! business: a file, Secrets Manager) and names it here.

use std::sync::Arc;

use tre_core::ports::SecretStore;
use tre_core::PortError;

/// The secret the caller must have stored before running the suite.
pub const KNOWN_NAME: &str = "tre/datasources/exports-token";
pub const KNOWN_VALUE: &str = "Bearer s3cret-value";

pub async fn run(store: Arc<dyn SecretStore>) {
    match store.secret(KNOWN_NAME).await {
        Ok(v) if v == KNOWN_VALUE => {}
        other => panic!("secret {KNOWN_NAME}: {other:?}"),
    }
    match store.secret("tre/datasources/no-such-secret").await {
        Err(PortError::NotFound(m)) => assert!(m.contains("no-such-secret"), "{m}"),
        other => panic!("a missing secret must be NotFound: {other:?}"),
    }
    // Reading is repeatable and changes nothing.
    assert_eq!(
        store.secret(KNOWN_NAME).await.ok().as_deref(),
        Some(KNOWN_VALUE)
    );
}
