//! The SES adapter passes the mailer contract suite against moto server, whose record of the
//! emails its SES accepted (`/moto-api/data.json`) the suite reads back. moto's SES, like SES,
//! sends only from a verified identity: the harness verifies the sender through the SES API.

use std::sync::Arc;

use tre_aws::{CallCounter, SesMailer};
use tre_core::ports::{Mail, Mailer, PortError};
use tre_testkit::mailer::MotoSentEmails;
use tre_testkit::moto::MotoServer;

const SENDER: &str = "tre@tre.example.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_mailer_contract() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let client = aws_sdk_sesv2::Client::new(&conf);
    client
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .expect("verify the sender");
    let mailer: Arc<dyn Mailer> = Arc::new(SesMailer::new(client, SENDER).expect("mailer"));
    tre_testkit::mailer::run(mailer, &MotoSentEmails::new(moto.endpoint()), "example.org").await;
}

/// What SES refuses for good is `Invalid` with SES's own words; an unreachable service is
/// `Backend`. Each send is one SendEmail call (counted at the SDK).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_refusals_are_invalid_and_outages_backend() {
    let moto = MotoServer::start().await.expect("moto");
    let conf = moto.sdk_config().await;
    let calls = CallCounter::new();
    let mail = Mail {
        to: "someone@example.org".into(),
        subject: "s".into(),
        text: "t".into(),
    };
    // No identity verified: SES (and moto) reject the message.
    let unverified =
        SesMailer::new(calls.sesv2(&conf), "nobody@unverified.example.org").expect("mailer");
    match unverified.send(&mail).await {
        Err(PortError::Invalid(m)) => {
            assert!(m.contains("MessageRejected"), "{m}");
            assert!(m.contains("not verified"), "SES's message is kept: {m}");
        }
        other => panic!("an unverified sender answered {other:?}"),
    }
    let tally = calls.take();
    assert_eq!(tally.calls("SESv2", "SendEmail"), 1, "{tally}");
    // An address refused before any call.
    assert!(matches!(
        unverified
            .send(&Mail {
                to: "a@b\r\nBcc: c@d".into(),
                ..mail.clone()
            })
            .await,
        Err(PortError::Invalid(_))
    ));
    assert_eq!(calls.take().total(), 0);
    drop(moto);
    match unverified.send(&mail).await {
        Err(PortError::Backend(m)) => assert!(m.starts_with("SES SendEmail"), "{m}"),
        other => panic!("a stopped service answered {other:?}"),
    }
}
