//! Secrets the TRE reads but never stores: credentials of data sources' systems. AWS Secrets
//! Manager in AWS; a file of the local stack's own under `tre dev`.

use async_trait::async_trait;

use super::PortResult;

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret's value; `NotFound` when there is no such secret.
    async fn secret(&self, name: &str) -> PortResult<String>;
}
