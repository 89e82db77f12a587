//! The one place a TRE binary sets up its logs. Each binary says what kind of process it is;
//! the filter always comes from `RUST_LOG`, with a default per kind.
//!
//! - [`Telemetry::Lambda`]: JSON lines on stdout with the current span, without timestamps
//!   (CloudWatch stamps each line itself).
//! - [`Telemetry::Job`]: JSON lines on stderr, so a job's stdout stays its own (the runners:
//!   Fargate tasks in AWS, processes under `tre dev`).
//! - [`Telemetry::Service`]: JSON lines on stdout (the registry, a long-running container).
//! - [`Telemetry::Console`]: readable lines for a person at a terminal (`tre dev`), quieter
//!   about HTTP; `spans_on_close` also logs each span as it closes, with its busy and idle time.

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Telemetry {
    Lambda,
    Job,
    Service,
    Console { spans_on_close: bool },
}

impl Telemetry {
    /// The filter used when `RUST_LOG` is unset or does not parse.
    pub fn default_filter(self) -> &'static str {
        match self {
            Telemetry::Console { .. } => "info,tower_http=warn",
            _ => "info",
        }
    }

    /// Install the global subscriber. A second call (tests that start several stacks in one
    /// process) keeps the first one.
    pub fn init(self) {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(self.default_filter()));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let _ = match self {
            Telemetry::Lambda => builder
                .json()
                .with_current_span(true)
                .without_time()
                .try_init(),
            Telemetry::Job => builder.json().with_writer(std::io::stderr).try_init(),
            Telemetry::Service => builder.json().try_init(),
            Telemetry::Console { spans_on_close } => builder
                .with_span_events(if spans_on_close {
                    FmtSpan::CLOSE
                } else {
                    FmtSpan::NONE
                })
                .try_init(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_console_quietens_http_by_default() {
        assert_eq!(
            Telemetry::Console {
                spans_on_close: false
            }
            .default_filter(),
            "info,tower_http=warn"
        );
        for kind in [Telemetry::Lambda, Telemetry::Job, Telemetry::Service] {
            assert_eq!(kind.default_filter(), "info");
        }
    }
}
