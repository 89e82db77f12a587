//! The SMTP adapter passes the mailer contract suite against a real SMTP server: aiosmtpd
//! (`TRE_AIOSMTPD`; `scripts/test` installs it), whose maildir the suite reads back.

use std::sync::Arc;

use tre_core::ports::Mailer;
use tre_embedded::{SmtpMailer, SmtpSettings};
use tre_testkit::mailer::Aiosmtpd;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_mailer_contract() {
    let server = Aiosmtpd::start().await.expect("aiosmtpd");
    let settings = SmtpSettings::parse(&server.url(), "tre@tre.example.org").expect("settings");
    let mailer: Arc<dyn Mailer> = Arc::new(SmtpMailer::new(settings));
    tre_testkit::mailer::run(mailer, &server, "example.org").await;
}
