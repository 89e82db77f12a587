//! `SecretStore` on a JSON file of the local stack (`<data_dir>/secrets.json`, an object of
//! name → value), which only its owner may read: a file others can read is refused.

use std::path::PathBuf;

use async_trait::async_trait;
use tre_core::ports::SecretStore;
use tre_core::{PortError, PortResult};

/// The file's name in the data directory.
pub const SECRETS_FILE: &str = "secrets.json";

pub struct FileSecrets {
    path: PathBuf,
}

impl FileSecrets {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl SecretStore for FileSecrets {
    async fn secret(&self, name: &str) -> PortResult<String> {
        let path = self.path.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let missing = || PortError::NotFound(format!("secret `{name}`"));
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                Err(e) => {
                    return Err(PortError::Backend(format!(
                        "reading {}: {e}",
                        path.display()
                    )))
                }
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0);
                if mode & 0o077 != 0 {
                    return Err(PortError::Invalid(format!(
                        "{} may be read by others: chmod 600 it",
                        path.display()
                    )));
                }
            }
            let all: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .map_err(|e| {
                    PortError::Invalid(format!(
                        "{} is not a JSON object of secrets: {e}",
                        path.display()
                    ))
                })?;
            match all.get(&name) {
                Some(serde_json::Value::String(v)) => Ok(v.clone()),
                Some(_) => Err(PortError::Invalid(format!(
                    "secret `{name}` is not a string"
                ))),
                None => Err(missing()),
            }
        })
        .await
        .map_err(|e| PortError::Backend(format!("secret task failed: {e}")))?
    }
}
