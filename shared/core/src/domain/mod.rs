//! Domain types and rules: templates, resources, operations, role assignments.

pub mod airlock;
pub mod airlock_review;
pub mod audit;
pub mod datasource;
pub mod notification;
pub mod operation;
pub mod principal;
pub mod resource;
pub mod rocrate;
pub mod roles;
pub mod schema;
pub mod template;
pub mod version;
pub mod whole_number;

pub use operation::{Operation, OperationStatus, OperationStep, StepOutcome};
pub use principal::{Principal, TreRole};
pub use resource::{AirlockReviewOf, DeploymentStatus, Resource, ResourceKind};
pub use roles::{RoleAssignment, WorkspaceRole};
pub use template::{CustomAction, Template};
