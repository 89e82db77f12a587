//! Application services: the use cases behind the API. They talk to the world only through the
//! ports, and enforce authorisation (deny by default) before touching anything.

mod authz;
mod cascade;
mod changes;
mod error;
mod keys;
mod operations;
mod resources;
mod roles;
mod status;
mod templates;

use std::sync::Arc;

pub use authz::{Caller, ResourceScope};
pub use error::{AppError, AppResult};
pub use resources::{CreateResource, PatchResource};
pub use roles::AssignRole;
pub use status::{Applied, StatusMessage, FINAL_SEQUENCE};
pub use templates::RegisterTemplate;

use crate::ports::{Clock, Ids, Table, Workflows};

/// Logical name of the state machine that runs a resource action.
pub const RESOURCE_ACTION_STATE_MACHINE: &str = "resource-action";

/// Everything the application services need, shared by all requests.
#[derive(Clone)]
pub struct App {
    pub table: Arc<dyn Table>,
    pub workflows: Arc<dyn Workflows>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
}

impl App {
    pub fn new(table: Arc<dyn Table>, workflows: Arc<dyn Workflows>) -> Self {
        Self {
            table,
            workflows,
            clock: Arc::new(crate::ports::SystemClock),
            ids: Arc::new(crate::ports::RandomIds),
        }
    }
}
