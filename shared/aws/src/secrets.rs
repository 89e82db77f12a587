//! `SecretStore` on AWS Secrets Manager (the secret's string value).

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tre_core::ports::{PortError, PortResult, SecretStore};

use crate::errors::{backend, code};

#[derive(Clone)]
pub struct SecretsManagerSecrets {
    client: Client,
}

impl SecretsManagerSecrets {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(conf))
    }
}

#[async_trait]
impl SecretStore for SecretsManagerSecrets {
    async fn secret(&self, name: &str) -> PortResult<String> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => out
                .secret_string()
                .map(str::to_string)
                .ok_or_else(|| PortError::Invalid(format!("secret `{name}` has no string value"))),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => {
                Err(PortError::NotFound(format!("secret `{name}`")))
            }
            Err(e) => Err(backend("get secret value", e)),
        }
    }
}
