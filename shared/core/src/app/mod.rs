//! Application services: the use cases behind the API. They talk to the world only through the
//! ports, and enforce authorisation (deny by default) before touching anything.

mod airlock;
mod airlock_query;
mod airlock_review;
mod airlock_review_env;
mod airlock_status;
mod airlock_upload;
mod audit;
mod authz;
mod cascade;
mod changes;
mod datasource_bindings;
mod datasources;
mod ended;
mod error;
mod keys;
mod notifications;
mod operations;
mod paging;
mod registry_access;
mod resources;
mod roles;
mod status;
mod templates;

use std::sync::Arc;

pub use airlock::{
    AddAirlockFile, AirlockRequestView, AirlockStorage, CreateAirlockRequest, FileLink,
    ReviewAirlockRequest, RevokeAirlockRequest, AIRLOCK_STATE_MACHINE, DEFAULT_TITLE,
    LINK_LIFETIME, REQUIRED_APPROVALS_PROPERTY,
};
pub use airlock_query::{RequestFilter, RequestOrder};
pub use airlock_review_env::{ReviewEnvironment, Swept};
pub use airlock_status::{AirlockEvent, AirlockReviewOpened, AirlockStatus};
pub use airlock_upload::{
    AirlockLink, CompleteAirlockFile, CompletedPart, MultipartLinks, PartLink, MULTIPART_PART_BYTES,
};
pub use audit::{AuditEntry, AuditFilter, AuditHeads};
pub use authz::{Caller, ResourceScope};
pub use datasource_bindings::{BindDataSource, BoundDataSource};
pub use datasources::{
    AddDataSourceFile, DataFile, DataReview, DataSource, DataSourceStatus, DataState,
    ImportOutcome, ReviewDataSource, DATASOURCE_STATE_MACHINE,
};
pub use ended::{ExecutionEnded, StatusQueueMessage};
pub use error::{AppError, AppResult};
/// Where a request is stored (the airlock runner reads the checksums it recorded).
pub use keys::airlock_request as airlock_request_key;
pub use keys::data_source as data_source_key;
pub use notifications::{Delivered, NewNotification, SeenPrincipals, DELIVER_MESSAGE};
pub use paging::{
    PagePosition, PageRequest, PageTokens, Paged, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
    PAGE_TOKEN_KEY_MIN_BYTES,
};
pub use resources::{CreateResource, PatchResource, Precondition, DATA_SOURCES_PARAMETER};
pub use roles::{AssignRole, Me, WorkspaceRoles};
pub use status::{Applied, StatusMessage, FINAL_SEQUENCE};
pub use templates::{
    resource_type_name, RegisterAzureTemplate, RegisterOwnTemplate, RegisterTemplate,
    TemplateJsonSchema,
};

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
    /// The airlock's stage stores (absent where the airlock is not set up).
    pub airlock: Option<Arc<AirlockStorage>>,
    /// Pull tokens for bundles in the registry, handed to each step (absent: none needed).
    pub bundle_tokens: Option<Arc<dyn crate::ports::BundlePullTokens>>,
    /// Networks beyond the globally routable internet that data sources may name (none unless
    /// the deployment configures some; see `with_datasource_networks`).
    pub datasource_networks: Arc<crate::domain::datasource::AllowedNetworks>,
    /// Signs the continuation tokens of list pages (a deployment's key, or this process's own).
    pub page_tokens: Arc<PageTokens>,
    /// The last audit event this process wrote to each chain (a guess that saves a read).
    pub audit_heads: Arc<AuditHeads>,
    /// Sends notification email (absent: notifications are only listed).
    pub mailer: Option<Arc<dyn crate::ports::Mailer>>,
    /// Where a delivery run is asked for right after a change (the status queue; absent: the
    /// periodic sweep delivers).
    pub notify_queue: Option<Arc<dyn crate::ports::Queue>>,
    /// The console's address, which notification links start with.
    pub console_url: String,
    pub seen_principals: Arc<SeenPrincipals>,
}

impl App {
    pub fn new(table: Arc<dyn Table>, workflows: Arc<dyn Workflows>) -> Self {
        Self {
            table,
            workflows,
            clock: Arc::new(crate::ports::SystemClock),
            ids: Arc::new(crate::ports::RandomIds),
            airlock: None,
            bundle_tokens: None,
            datasource_networks: Arc::default(),
            page_tokens: Arc::new(PageTokens::random()),
            audit_heads: Arc::default(),
            mailer: None,
            notify_queue: None,
            console_url: String::new(),
            seen_principals: Arc::default(),
        }
    }

    pub fn with_page_tokens(mut self, tokens: PageTokens) -> Self {
        self.page_tokens = Arc::new(tokens);
        self
    }

    pub fn with_bundle_tokens(mut self, tokens: Arc<dyn crate::ports::BundlePullTokens>) -> Self {
        self.bundle_tokens = Some(tokens);
        self
    }

    /// Email notifications through `mailer`, linking to the console at `console_url` (its page
    /// paths, `#/...`, are appended as they are).
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::ports::Mailer>, console_url: &str) -> Self {
        self.mailer = Some(mailer);
        self.console_url = console_url.to_string();
        self
    }

    /// Ask for notifications to be delivered through `queue` (the status queue) right after the
    /// change that causes them.
    pub fn with_notify_queue(mut self, queue: Arc<dyn crate::ports::Queue>) -> Self {
        self.notify_queue = Some(queue);
        self
    }

    pub fn with_airlock(mut self, storage: AirlockStorage) -> Self {
        self.airlock = Some(Arc::new(storage));
        self
    }
}
