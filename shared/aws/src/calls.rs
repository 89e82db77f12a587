//! Counting the AWS API calls the adapters make, at the SDK: an interceptor that records every
//! operation (service and action, as the SDK names them) and every attempt of it sent, so
//! retries show apart, and pre-signed links (signed here, sent by someone else) apart from
//! calls. Installed only on clients built through [`CallCounter`]; the clients the deployment
//! builds from the plain configuration carry none.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// One AWS API action: the service and the operation, as the SDK names them
/// (`DynamoDB`/`GetItem`, `SFN`/`StartExecution`, `S3`/`HeadObject`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AwsCall {
    pub service: String,
    pub operation: String,
}

impl fmt::Display for AwsCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.operation)
    }
}

/// How often one action was called, how many attempts were sent for it (more attempts than
/// calls means the SDK retried), and how many requests never reached the service: pre-signed
/// links (no call until a client uses them), or calls that could not connect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
    pub signed_only: u64,
}

/// The calls recorded since the last [`CallCounter::take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallTally(pub BTreeMap<AwsCall, CallCount>);

impl CallTally {
    /// Calls of one service (all its actions).
    pub fn service(&self, service: &str) -> u64 {
        self.0
            .iter()
            .filter(|(c, _)| c.service == service)
            .map(|(_, n)| n.calls)
            .sum()
    }

    /// Calls of one action.
    pub fn calls(&self, service: &str, operation: &str) -> u64 {
        self.0
            .iter()
            .filter(|(c, _)| c.service == service && c.operation == operation)
            .map(|(_, n)| n.calls)
            .sum()
    }

    /// Every call.
    pub fn total(&self) -> u64 {
        self.0.values().map(|n| n.calls).sum()
    }

    /// Attempts beyond the first of each call (the SDK's retries).
    pub fn retries(&self) -> u64 {
        self.0
            .values()
            .map(|n| n.attempts.saturating_sub(n.calls))
            .sum()
    }

    /// Requests that never reached the service (pre-signed links, unreachable endpoints).
    pub fn signed_only(&self) -> u64 {
        self.0.values().map(|n| n.signed_only).sum()
    }
}

impl fmt::Display for CallTally {
    /// `DynamoDB:GetItem×2, SFN:StartExecution` (retries as `+1 retry`); `none` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let mut parts = Vec::new();
        for (call, n) in &self.0 {
            if n.calls > 0 {
                let mut s = call.to_string();
                if n.calls != 1 {
                    s.push_str(&format!("×{}", n.calls));
                }
                let retries = n.attempts.saturating_sub(n.calls);
                if retries > 0 {
                    s.push_str(&format!(" (+{retries} retries)"));
                }
                parts.push(s);
            }
            if n.signed_only > 0 {
                let times = if n.signed_only == 1 {
                    String::new()
                } else {
                    format!("×{}", n.signed_only)
                };
                parts.push(format!("{call}{times} not sent"));
            }
        }
        f.write_str(&parts.join(", "))
    }
}

/// A shared tally of AWS calls; clones count into the same tally. Build the adapters' clients
/// with [`CallCounter::dynamodb`] and friends to have their calls counted.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<BTreeMap<AwsCall, CallCount>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<AwsCall, CallCount>> {
        // A panic elsewhere while holding the lock leaves counts that are still whole numbers.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, cfg: &ConfigBag, what: Event) {
        let call = match cfg.load::<Metadata>() {
            Some(m) => AwsCall {
                service: m.service().to_string(),
                operation: m.name().to_string(),
            },
            None => AwsCall {
                service: "unknown".into(),
                operation: "unknown".into(),
            },
        };
        let mut map = self.lock();
        let n = map.entry(call).or_default();
        match what {
            Event::Sent => n.attempts += 1,
            Event::Ended { sent: true } => n.calls += 1,
            Event::Ended { sent: false } => n.signed_only += 1,
        }
    }

    /// The calls so far, leaving the tally empty.
    pub fn take(&self) -> CallTally {
        CallTally(std::mem::take(&mut *self.lock()))
    }

    /// The calls so far.
    pub fn snapshot(&self) -> CallTally {
        CallTally(self.lock().clone())
    }

    /// A DynamoDB client on `conf` that counts its calls here.
    pub fn dynamodb(&self, conf: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// A Step Functions client on `conf` that counts its calls here.
    pub fn sfn(&self, conf: &aws_config::SdkConfig) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::from_conf(
            aws_sdk_sfn::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// An SQS client on `conf` that counts its calls here.
    pub fn sqs(&self, conf: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// An S3 client on `conf` that counts its calls here (`force_path_style` for emulators).
    pub fn s3(&self, conf: &aws_config::SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(conf)
                .force_path_style(force_path_style)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// A Secrets Manager client on `conf` that counts its calls here.
    pub fn secrets(&self, conf: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }
}

#[derive(Clone, Copy)]
enum Event {
    /// An attempt went out (a response came back).
    Sent,
    /// The call ended; `sent`: at least one attempt went out.
    Ended { sent: bool },
}

/// Put in the call's bag once an attempt went out.
#[derive(Clone, Debug)]
struct Transmitted;

impl Storable for Transmitted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per attempt that reached the service: a retried call shows more attempts than calls.
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(cfg, Event::Sent);
        cfg.interceptor_state().store_put(Transmitted);
        Ok(())
    }

    // Once per call, whatever its retries; a pre-signed request ends before anything is sent.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let sent = cfg.load::<Transmitted>().is_some();
        self.record(cfg, Event::Ended { sent });
        Ok(())
    }
}
