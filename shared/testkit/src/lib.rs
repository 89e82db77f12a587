//! Contract test suites: one per port. Every adapter (embedded and AWS) runs the same suite, so
//! the two cannot drift apart. Plus the harness that runs moto server for the AWS adapters.

pub mod mailer;
pub mod moto;
pub mod object_store;
pub mod queue;
pub mod secrets;
pub mod table;
pub mod terraform;
pub mod workflows;
