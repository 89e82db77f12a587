//! Contract suite for the `Mailer` port, and the harnesses that read back what a mail service
//! received: [`Aiosmtpd`] (a real SMTP server keeping a maildir, for the SMTP adapter) and
//! [`MotoSentEmails`] (moto's record of the emails its SES accepted, for the SES adapter).
//!
//! The suite checks what a recipient would see, not how the adapter talks: the mail reaches
//! exactly its recipient with its subject (non-ASCII included) and text; an address that could
//! carry another header or address is refused `Invalid` and nothing is sent; a subject or a
//! text cannot add a recipient (a subject is sent on one line, control characters as spaces).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use tre_core::ports::{Mail, Mailer, PortError};

/// How long a sent mail may take to show up where the harness reads.
const ARRIVAL: Duration = Duration::from_secs(30);

/// One mail as the service received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Everyone it goes to: the envelope's recipients and every `To`/`Cc`/`Bcc` address
    /// (SMTP), or the destination's addresses (SES), without repeats, sorted.
    pub recipients: Vec<String>,
    /// The subject as a reader sees it (encoded words decoded).
    pub subject: String,
    /// The text as a reader sees it (transfer encoding undone).
    pub text: String,
}

/// What the mail service behind an adapter has received so far, read back by the test's
/// harness from the service itself.
pub trait Inbox: Send + Sync {
    fn received(&self) -> impl Future<Output = anyhow::Result<Vec<Received>>> + Send;
}

fn fail(case: &str, msg: impl std::fmt::Display) -> ! {
    panic!("mailer contract, case `{case}`: {msg}")
}

/// Line ends as `\n`, without the trailing ones (SMTP ends every line with CRLF).
fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n")
        .trim_end_matches('\n')
        .to_string()
}

/// The subject as the suite expects it to arrive: on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Run every case. `domain` is the recipients' domain (any, for SMTP; SES on moto accepts any
/// too). Addresses are fresh for each run, so the suite may share a service with other tests.
pub async fn run(mailer: Arc<dyn Mailer>, inbox: &impl Inbox, domain: &str) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let addr = |who: &str| format!("{who}-{tag}@{domain}");
    arrives_exactly(mailer.as_ref(), inbox, &addr("alice")).await;
    refuses_addresses(mailer.as_ref(), inbox, &addr("bob"), &addr("eve"), &tag).await;
    subject_adds_nobody(mailer.as_ref(), inbox, &addr("carol"), &addr("mallory")).await;
    text_adds_nobody(mailer.as_ref(), inbox, &addr("dave"), &addr("trudy")).await;
}

/// Wait for the one mail to `to`; fail when none comes or several do.
async fn the_mail_to(inbox: &impl Inbox, case: &str, to: &str) -> Received {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let all = inbox.received().await.unwrap_or_else(|e| fail(case, e));
        let mine: Vec<_> = all
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r == to))
            .cloned()
            .collect();
        match mine.len() {
            1 => {
                // It is not counted twice either (SES and SMTP servers may be slow to write).
                tokio::time::sleep(Duration::from_millis(200)).await;
                let again = inbox.received().await.unwrap_or_else(|e| fail(case, e));
                let n = again
                    .iter()
                    .filter(|m| m.recipients.iter().any(|r| r == to))
                    .count();
                if n != 1 {
                    fail(case, format!("{n} mails to {to}: {again:#?}"));
                }
                return mine.into_iter().next().unwrap_or_else(|| unreachable!());
            }
            0 if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            0 => fail(
                case,
                format!("no mail to {to} within {ARRIVAL:?}; got {all:#?}"),
            ),
            n => fail(case, format!("{n} mails to {to}: {mine:#?}")),
        }
    }
}

/// No mail went to an address containing any of `needles`.
async fn nothing_to(inbox: &impl Inbox, case: &str, needles: &[&str]) {
    let all = inbox.received().await.unwrap_or_else(|e| fail(case, e));
    for m in &all {
        if m.recipients
            .iter()
            .any(|r| needles.iter().any(|n| r.contains(n)))
        {
            fail(case, format!("a mail went where it must not: {m:#?}"));
        }
    }
}

async fn arrives_exactly(mailer: &dyn Mailer, inbox: &impl Inbox, to: &str) {
    let case = "a mail arrives to its recipient with its subject and text";
    let mail = Mail {
        to: to.to_string(),
        subject: "Zugriff geprüft — ok".into(),
        text: "Ihr Antrag auf Zugriff wurde geprüft.\nÖffnen Sie ihn in der Konsole: https://tre.example.org/console/#/airlock/1\n\nGrüße ✓\n"
            .into(),
    };
    mailer.send(&mail).await.unwrap_or_else(|e| fail(case, e));
    let got = the_mail_to(inbox, case, to).await;
    if got.recipients != [to.to_string()] {
        fail(
            case,
            format!("recipients {:?}, want only {to}", got.recipients),
        );
    }
    if got.subject != mail.subject {
        fail(
            case,
            format!("subject {:?}, want {:?}", got.subject, mail.subject),
        );
    }
    if normalized(&got.text) != normalized(&mail.text) {
        fail(case, format!("text {:?}, want {:?}", got.text, mail.text));
    }
}

/// Addresses that could end a line, start a header or name a second address are refused
/// before anything is sent.
async fn refuses_addresses(
    mailer: &dyn Mailer,
    inbox: &impl Inbox,
    bob: &str,
    eve: &str,
    tag: &str,
) {
    let case = "an address with a line break, space or list is refused and nothing is sent";
    let bad = [
        format!("{bob}\r\nBcc: {eve}"),
        format!("{bob}\nBcc: {eve}"),
        format!("{bob}\r\n"),
        format!("{bob} {eve}"),
        format!(" {bob}"),
        format!("{bob}\t"),
        format!("{bob},{eve}"),
        format!("{bob};{eve}"),
        format!("Bob <{bob}>"),
        format!("\"bob\"{bob}"),
        format!("{bob}\0"),
        "no-at-sign".to_string(),
        String::new(),
    ];
    for to in &bad {
        let mail = Mail {
            to: to.clone(),
            subject: "must not be sent".into(),
            text: "must not be sent".into(),
        };
        match mailer.send(&mail).await {
            Err(PortError::Invalid(_)) => {}
            other => fail(
                case,
                format!("sending to {to:?} answered {other:?}, want Invalid"),
            ),
        }
    }
    // A good mail after the refused ones: once it is there, anything sent before would be too
    // (both services record a mail before they answer).
    let ok = format!(
        "bob-ok-{tag}@{}",
        bob.rsplit_once('@').map(|(_, d)| d).unwrap_or("x")
    );
    mailer
        .send(&Mail {
            to: ok.clone(),
            subject: "after the refused ones".into(),
            text: "sent".into(),
        })
        .await
        .unwrap_or_else(|e| fail(case, e));
    the_mail_to(inbox, case, &ok).await;
    let local = |a: &str| a.split('@').next().unwrap_or(a).to_string();
    nothing_to(inbox, case, &[&local(bob), &local(eve)]).await;
    let all = inbox.received().await.unwrap_or_else(|e| fail(case, e));
    if let Some(m) = all.iter().find(|m| m.subject == "must not be sent") {
        fail(case, format!("a refused mail was sent: {m:#?}"));
    }
}

async fn subject_adds_nobody(mailer: &dyn Mailer, inbox: &impl Inbox, to: &str, other: &str) {
    let case = "a subject with a line break and a header cannot add a recipient";
    let subject = format!("Hello\r\nBcc: {other}\r\nX-Injected: yes");
    mailer
        .send(&Mail {
            to: to.to_string(),
            subject: subject.clone(),
            text: "the text".into(),
        })
        .await
        .unwrap_or_else(|e| fail(case, e));
    let got = the_mail_to(inbox, case, to).await;
    if got.recipients != [to.to_string()] {
        fail(
            case,
            format!("recipients {:?}, want only {to}", got.recipients),
        );
    }
    if got.subject != one_line(&subject) {
        fail(
            case,
            format!(
                "subject {:?}, want it on one line: {:?}",
                got.subject,
                one_line(&subject)
            ),
        );
    }
    if normalized(&got.text) != "the text" {
        fail(case, format!("text {:?}", got.text));
    }
    nothing_to(inbox, case, &[other]).await;
}

/// The text is the body, whatever it holds: header-like lines, an SMTP end-of-data line and
/// lines starting with dots arrive as they were sent.
async fn text_adds_nobody(mailer: &dyn Mailer, inbox: &impl Inbox, to: &str, other: &str) {
    let case = "a text with header lines and a lone dot arrives whole and adds nobody";
    let text = format!(
        "first line\r\n\r\nBcc: {other}\r\n.\r\nRCPT TO:<{other}>\n..two dots\n.one dot\nlast line"
    );
    mailer
        .send(&Mail {
            to: to.to_string(),
            subject: "text".into(),
            text: text.clone(),
        })
        .await
        .unwrap_or_else(|e| fail(case, e));
    let got = the_mail_to(inbox, case, to).await;
    if got.recipients != [to.to_string()] {
        fail(
            case,
            format!("recipients {:?}, want only {to}", got.recipients),
        );
    }
    if normalized(&got.text) != normalized(&text) {
        fail(case, format!("text {:?}, want {:?}", got.text, text));
    }
    nothing_to(inbox, case, &[other]).await;
}

/// A private aiosmtpd (`$TRE_AIOSMTPD`, which `scripts/test` installs into `.venv`) on a free
/// loopback port, keeping every message in a maildir; stopped when dropped.
pub struct Aiosmtpd {
    child: Child,
    addr: String,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Aiosmtpd {
    /// Start it and wait until it listens. Fails (it does not skip) when `TRE_AIOSMTPD` is
    /// unset: a suite that silently did not run would prove nothing.
    pub async fn start() -> anyhow::Result<Self> {
        let program = std::env::var("TRE_AIOSMTPD").context(
            "TRE_AIOSMTPD must name the aiosmtpd program (scripts/test installs it: .venv/bin/aiosmtpd)",
        )?;
        let dir = tempfile::tempdir()?;
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&program)
            .args(["-n", "-l", &addr, "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program} (TRE_AIOSMTPD)"))?;
        let mut server = Self {
            child,
            addr,
            maildir,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&server.addr).await.is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{program} exited ({status}) before listening on {}",
                    server.addr
                );
            }
            if Instant::now() > deadline {
                bail!("{program} never listened on {}", server.addr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// `host:port`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `smtp://host:port`
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Inbox for Aiosmtpd {
    async fn received(&self) -> anyhow::Result<Vec<Received>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                out.push(parse_message(&e.path())?);
            }
        }
        Ok(out)
    }
}

/// One message of a maildir (RFC 5322 headers, unfolded; the envelope's recipients are in
/// aiosmtpd's `X-RcptTo`).
fn parse_message(path: &Path) -> anyhow::Result<Received> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let raw = String::from_utf8(raw).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    fn all<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
        headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    let mut recipients: Vec<String> = Vec::new();
    for name in ["x-rcptto", "to", "cc", "bcc"] {
        for v in all(&headers, name) {
            for a in v.split(',') {
                let a = a.trim();
                let a = match (a.rfind('<'), a.rfind('>')) {
                    (Some(i), Some(j)) if i < j => &a[i + 1..j],
                    _ => a,
                };
                if !a.is_empty() {
                    recipients.push(a.to_string());
                }
            }
        }
    }
    recipients.sort();
    recipients.dedup();
    let subject = decode_words(all(&headers, "subject").next().unwrap_or_default())?;
    let encoding = all(&headers, "content-transfer-encoding")
        .next()
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let text = match encoding.as_str() {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())?,
        )?,
        "quoted-printable" => String::from_utf8(quoted_printable(body, false)?)?,
        _ => body.to_string(),
    };
    Ok(Received {
        recipients,
        subject,
        text,
    })
}

/// A header value with its RFC 2047 encoded words (`=?UTF-8?B?...?=`, `?Q?`) decoded; the
/// white space between two adjacent encoded words goes.
fn decode_words(v: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = v;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        let parts: Vec<&str> = word[2..].splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            break;
        };
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let (charset, enc, text) = (parts[0], parts[1], &parts[2][..end]);
        if !charset.eq_ignore_ascii_case("utf-8") {
            bail!("an encoded word in {charset}, not UTF-8: {v}");
        }
        let bytes = match enc {
            "B" | "b" => base64::engine::general_purpose::STANDARD.decode(text)?,
            "Q" | "q" => quoted_printable(text, true)?,
            other => bail!("encoding {other} of an encoded word: {v}"),
        };
        out.push_str(&String::from_utf8(bytes)?);
        let consumed = 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
        rest = &word[consumed..];
        after_word = true;
    }
    out.push_str(rest);
    Ok(out)
}

/// Quoted-printable (RFC 2045), or the `Q` encoding of a header word (`_` is a space).
fn quoted_printable(s: &str, word: bool) -> anyhow::Result<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = s.get(i + 1..i + 3).context("a cut =XX escape")?;
                out.push(u8::from_str_radix(hex, 16)?);
                i += 3;
            }
            b'_' if word => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The emails moto's SES (v1 and v2 share one backend) accepted, as its dashboard data
/// (`GET /moto-api/data.json`: `ses` → `Message`, each with `source`, `destinations`,
/// `subject` and `body`) shows them.
pub struct MotoSentEmails {
    endpoint: String,
    client: reqwest::Client,
}

impl MotoSentEmails {
    /// `endpoint`: the moto server's base URL (`MotoServer::endpoint`).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            client: reqwest::Client::new(),
        }
    }
}

impl Inbox for MotoSentEmails {
    async fn received(&self) -> anyhow::Result<Vec<Received>> {
        let data: serde_json::Value = self
            .client
            .get(format!("{}/moto-api/data.json", self.endpoint))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let messages = data
            .pointer("/ses/Message")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default();
        let text = |m: &serde_json::Value, k: &str| {
            m.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .with_context(|| format!("moto's SES message has no {k}: {m}"))
        };
        messages
            .iter()
            .map(|m| {
                let mut recipients: Vec<String> = ["ToAddresses", "CcAddresses", "BccAddresses"]
                    .iter()
                    .filter_map(|k| m.pointer(&format!("/destinations/{k}")))
                    .filter_map(|v| v.as_array())
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect();
                recipients.sort();
                recipients.dedup();
                Ok(Received {
                    recipients,
                    subject: text(m, "subject")?,
                    text: text(m, "body")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_decode() {
        assert_eq!(
            decode_words("=?UTF-8?B?WnVncmlmZiBnZXByw7xmdCDigJQgb2s=?=").unwrap(),
            "Zugriff geprüft — ok"
        );
        assert_eq!(
            decode_words("a =?utf-8?Q?gepr=C3=BCft_ok?= =?UTF-8?B?IOKAlA==?= b").unwrap(),
            "a geprüft ok — b"
        );
        assert_eq!(decode_words("plain").unwrap(), "plain");
    }
}
