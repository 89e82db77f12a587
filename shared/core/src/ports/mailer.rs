use async_trait::async_trait;

use super::PortResult;

/// One plain-text email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Sends email (Amazon SES in AWS; plain SMTP locally).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hand the mail to the mail service. `Invalid` when the service refuses it for good (a
    /// bad address), `Backend` when trying again may help.
    async fn send(&self, mail: &Mail) -> PortResult<()>;
}
