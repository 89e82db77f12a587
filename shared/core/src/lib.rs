//! The TRE control plane's core: domain types and rules, ports (traits) and application
//! services. Nothing in here knows about AWS, HTTP or SQLite.

pub mod app;
pub mod domain;
pub mod ports;

pub use ports::{PortError, PortResult};
