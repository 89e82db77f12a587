//! `Mailer` on Amazon SES (API v2, `SendEmail` with simple content): a UTF-8 subject and text
//! body from one configured sender (an SES identity), optionally through a configuration set.

use async_trait::async_trait;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tre_core::ports::{Mail, Mailer, PortError, PortResult};

use crate::CallCounter;

/// Error codes SES answers for a message it refuses for good (its content, its addresses, the
/// request itself): sending it again will not help.
const REFUSED: &[&str] = &[
    "MessageRejected",
    "BadRequestException",
    "InvalidParameterValue",
    "ValidationException",
    "ValidationError",
];

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// Mail from `from` (an address SES has verified, or one of a verified domain). `Invalid`
    /// when `from` is not a plain address.
    pub fn new(client: Client, from: impl Into<String>) -> PortResult<Self> {
        let from = from.into();
        check_address(&from).map_err(|e| PortError::Invalid(format!("the sender: {e}")))?;
        Ok(Self {
            client,
            from,
            configuration_set: None,
        })
    }

    pub fn from_conf(conf: &aws_config::SdkConfig, from: impl Into<String>) -> PortResult<Self> {
        Self::new(Client::new(conf), from)
    }

    /// Send through an SES configuration set (event destinations, a dedicated IP pool...).
    pub fn with_configuration_set(mut self, name: impl Into<String>) -> Self {
        self.configuration_set = Some(name.into()).filter(|n: &String| !n.is_empty());
        self
    }

    pub fn sender(&self) -> &str {
        &self.from
    }
}

impl CallCounter {
    /// An SES (v2) client on `conf` that counts its calls here.
    pub fn sesv2(&self, conf: &aws_config::SdkConfig) -> Client {
        Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }
}

/// An address fit for an envelope and a header: one `local@domain`, nothing that could end a
/// line or start another header or address. The same rule as the SMTP adapter's
/// (`tre_embedded::smtp::check_address`), kept in both so neither adapter depends on the other;
/// the mailer contract suite (`tre_testkit::mailer`) holds the two to the same answers.
fn check_address(a: &str) -> Result<(), String> {
    let ok = a.len() <= 254
        && a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !a
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>,;\"".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("`{a}` is not a plain email address"))
    }
}

/// A subject on one line: control characters (line breaks among them) become spaces, as the
/// SMTP adapter writes it.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn utf8(data: String) -> PortResult<Content> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| PortError::Invalid(format!("SES content: {e}")))
}

/// The SDK's error as a `PortError`, with SES's code and message: a refusal of the message is
/// `Invalid`; throttling, the service's own failures, the account's state and the transport
/// are `Backend` (trying again, or once an operator acted, may help).
fn port_error<E>(e: SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let status = se.raw().status().as_u16();
            let code = err.code().unwrap_or("error");
            let detail = format!(
                "SES SendEmail: {code} (HTTP {status}): {}",
                err.message().unwrap_or("no message")
            );
            if REFUSED.contains(&code) {
                PortError::Invalid(detail)
            } else {
                PortError::Backend(detail)
            }
        }
        other => PortError::Backend(format!(
            "SES SendEmail: {}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        )),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> PortResult<()> {
        check_address(&mail.to).map_err(PortError::Invalid)?;
        let message = Message::builder()
            .subject(utf8(one_line(&mail.subject))?)
            .body(Body::builder().text(utf8(mail.text.clone())?).build())
            .build();
        let mut req = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build());
        if let Some(set) = &self.configuration_set {
            req = req.configuration_set_name(set);
        }
        let out = req.send().await.map_err(port_error)?;
        tracing::debug!(
            message_id = out.message_id().unwrap_or_default(),
            "SES accepted the mail"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_subjects_cannot_carry_headers() {
        assert!(check_address("tre@example.org").is_ok());
        for bad in [
            "a@b\r\nBcc: c@d",
            "a b@c",
            "a@b,c@d",
            "<a@b>",
            "a@b;c",
            "\"a\"@b",
            "ab",
            "@b",
            "a@",
            "a@b\t",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(one_line("a\r\nBcc: x@y é"), "a  Bcc: x@y é");
    }

    #[test]
    fn the_sender_is_checked_and_its_call_has_an_iam_action() {
        let conf = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        assert!(matches!(
            SesMailer::from_conf(&conf, "not an address"),
            Err(PortError::Invalid(_))
        ));
        let m = SesMailer::from_conf(&conf, "tre@example.org")
            .unwrap()
            .with_configuration_set("");
        assert_eq!(m.sender(), "tre@example.org");
        assert!(m.configuration_set.is_none());
        // `tests/iam_table.rs` scans the other adapters' sources; this one's only call:
        assert_eq!(
            crate::iam_actions_for("SesMailer", "send_email"),
            ["ses:SendEmail"]
        );
    }
}
