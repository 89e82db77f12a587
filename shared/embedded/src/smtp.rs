//! A plain SMTP client (RFC 5321), enough to hand notifications to a local or relay mail
//! server: no TLS and no authentication, which is what `tre dev` offers (a deployment sends
//! through Amazon SES instead).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tre_core::ports::{Mail, Mailer, PortError, PortResult};

/// How long one SMTP exchange may take before the mail is left for a retry.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Where mail goes and whom it is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `host:port`
    pub server: String,
    pub from: String,
}

impl SmtpSettings {
    /// From `smtp://host[:port]` (port 25 by default) and a sender address.
    pub fn parse(url: &str, from: &str) -> Result<Self, String> {
        let rest = url
            .trim()
            .strip_prefix("smtp://")
            .ok_or_else(|| format!("`{url}` is not an smtp://host[:port] URL"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?']) {
            return Err(format!(
                "`{url}` is not an smtp://host[:port] URL (no user, path or query)"
            ));
        }
        let server = if rest
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            rest.to_string()
        } else {
            format!("{rest}:25")
        };
        check_address(from).map_err(|e| format!("the sender: {e}"))?;
        Ok(Self {
            server,
            from: from.to_string(),
        })
    }
}

pub struct SmtpMailer {
    settings: SmtpSettings,
}

impl SmtpMailer {
    pub fn new(settings: SmtpSettings) -> Self {
        Self { settings }
    }
}

/// An address fit for an SMTP envelope and a header: one `local@domain`, nothing that could
/// end a line or start another header.
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

/// A header value as RFC 2047 words when it is not plain ASCII (and never with a line break).
fn header_text(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_ascii() {
        one_line
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(one_line.as_bytes())
        )
    }
}

/// The message: headers, then the text with CRLF line ends and leading dots doubled.
fn message(from: &str, mail: &Mail, id: &str) -> String {
    let mut out = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{id}@tre>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        mail.to,
        header_text(&mail.subject),
        chrono::Utc::now().to_rfc2822(),
    );
    for line in mail.text.replace("\r\n", "\n").split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Session {
    /// The server's reply: its code and text (every line of a multi-line reply).
    async fn reply(&mut self) -> PortResult<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .await
                .map_err(|e| PortError::Backend(format!("SMTP: {e}")))?;
            if n == 0 {
                return Err(PortError::Backend(
                    "SMTP: the server closed the connection".into(),
                ));
            }
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    PortError::Backend(format!("SMTP: not a reply: {}", line.trim_end()))
                })?;
            text.push_str(line.get(4..).unwrap_or_default().trim_end());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
            text.push(' ');
        }
    }

    /// Send a command (or the message) and require a reply in `want`.
    async fn exchange(&mut self, what: &str, data: &str, want: &[u16]) -> PortResult<()> {
        if !data.is_empty() {
            self.writer
                .write_all(data.as_bytes())
                .await
                .map_err(|e| PortError::Backend(format!("SMTP: {e}")))?;
        }
        let (code, text) = self.reply().await?;
        if want.contains(&code) {
            return Ok(());
        }
        let detail = format!("SMTP server answered {what} with {code} {text}");
        // 5xx: refused for good (a bad address); 4xx: try again later.
        if (500..600).contains(&code) {
            Err(PortError::Invalid(detail))
        } else {
            Err(PortError::Backend(detail))
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> PortResult<()> {
        check_address(&mail.to).map_err(PortError::Invalid)?;
        let from = &self.settings.from;
        let body = message(from, mail, &uuid::Uuid::new_v4().to_string());
        let exchange = async {
            let stream = TcpStream::connect(&self.settings.server)
                .await
                .map_err(|e| PortError::Backend(format!("SMTP {}: {e}", self.settings.server)))?;
            let (r, w) = stream.into_split();
            let mut s = Session {
                reader: BufReader::new(r),
                writer: w,
            };
            s.exchange("the greeting", "", &[220]).await?;
            s.exchange("EHLO", "EHLO tre\r\n", &[250]).await?;
            s.exchange("MAIL FROM", &format!("MAIL FROM:<{from}>\r\n"), &[250])
                .await?;
            s.exchange(
                "RCPT TO",
                &format!("RCPT TO:<{}>\r\n", mail.to),
                &[250, 251],
            )
            .await?;
            s.exchange("DATA", "DATA\r\n", &[354]).await?;
            s.exchange("the message", &format!("{body}.\r\n"), &[250])
                .await?;
            // The mail is accepted; how the goodbye goes does not matter.
            let _ = s.exchange("QUIT", "QUIT\r\n", &[221]).await;
            Ok(())
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| PortError::Backend(format!("SMTP {}: timed out", self.settings.server)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_refuse_precisely() {
        let s = SmtpSettings::parse("smtp://mail.example.org", "tre@example.org").unwrap();
        assert_eq!(s.server, "mail.example.org:25");
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525/", "tre@example.org").unwrap();
        assert_eq!(s.server, "127.0.0.1:2525");
        assert!(SmtpSettings::parse("http://x", "tre@example.org").is_err());
        assert!(SmtpSettings::parse("smtp://u@x", "tre@example.org").is_err());
        assert!(SmtpSettings::parse("smtp://x", "not an address").is_err());
    }

    #[test]
    fn headers_cannot_be_injected_and_dots_are_stuffed() {
        assert!(check_address("a@b\r\nBcc: c@d").is_err());
        assert!(check_address("a b@c").is_err());
        let m = message(
            "tre@x.org",
            &Mail {
                to: "r@x.org".into(),
                subject: "line\r\nBcc: evil@x.org é".into(),
                text: "one\n.two\n".into(),
            },
            "id",
        );
        assert!(!m.contains("\r\nBcc:"), "{m}");
        assert!(m.contains("Subject: =?UTF-8?B?"), "{m}");
        assert!(m.contains("\r\n..two\r\n"), "{m}");
    }
}
