//! What every Lambda shares, so that each `functions/*/src/main.rs` is one call.
//!
//! The configuration is read once, into [`Settings`], from the environment ([`Settings::from_env`])
//! or any lookup ([`Settings::from_lookup`]: a test gives a deployed function's environment as
//! read back, without touching its own process environment). The backend it names: with
//! `TRE_DATA_DIR`, the embedded adapters (so `cargo lambda watch` / `cargo lambda invoke` work on
//! a laptop with no AWS at all); otherwise the DynamoDB/Step Functions adapters (`TRE_TABLE`,
//! `TRE_STATE_MACHINE_PREFIX`) on the SDK configuration the caller gives.

pub mod audit_archive;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

use tre_api::RouteGroup;
use tre_core::app::App;

/// Environment variables this crate reads (the infrastructure test checks Terraform sets the
/// AWS ones).
pub const ENV_DATA_DIR: &str = "TRE_DATA_DIR";
pub const ENV_OBJECTS_URL: &str = "TRE_OBJECTS_URL";
pub const ENV_REGISTRY_TOKEN_KEY: &str = "TRE_REGISTRY_TOKEN_KEY";
pub const ENV_REGISTRY_SERVICE: &str = "TRE_REGISTRY_SERVICE";
/// Signs list pages' continuation tokens (base64, 32+ bytes); every API function shares it.
pub const ENV_PAGE_TOKEN_KEY: &str = "TRE_PAGE_TOKEN_KEY";
/// The OIDC issuer and audience API Gateway's authorizer checks, told to clients by
/// `/api/.metadata` (the authorizer, not this code, enforces them).
pub const ENV_OIDC_ISSUER: &str = "TRE_OIDC_ISSUER";
pub const ENV_OIDC_AUDIENCE: &str = "TRE_OIDC_AUDIENCE";
/// Networks beyond globally routable addresses that data sources may name (the import job
/// reads the same variable); unset: none.
pub const ENV_DATASOURCE_ALLOWED_NETWORKS: &str = "TRE_DATASOURCE_ALLOWED_NETWORKS";
/// The sender of notification email (an SES identity); unset: notifications are only listed.
/// Read by the status consumer, which delivers them.
pub const ENV_MAIL_FROM: &str = "TRE_MAIL_FROM";
/// The console's address (`https://tre.example.org/console/`), which the links in notification
/// email start with; required with [`ENV_MAIL_FROM`].
pub const ENV_CONSOLE_URL: &str = "TRE_CONSOLE_URL";

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("backend: {0}")]
    Backend(String),
}

/// A function's configuration, read once. Values are kept as given (trimmed, empty = unset) and
/// interpreted where they are used, so a variable one function does not use cannot stop it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `TRE_DATA_DIR`: the embedded backend's data directory.
    pub data_dir: Option<PathBuf>,
    /// `TRE_OBJECTS_URL`: where the embedded backend's airlock links point.
    pub objects_url: Option<String>,
    /// `TRE_TABLE`.
    pub table: Option<String>,
    /// `TRE_STATE_MACHINE_PREFIX`.
    pub state_machine_prefix: Option<String>,
    /// `TRE_AIRLOCK_BUCKET_PREFIX`.
    pub airlock_bucket_prefix: Option<String>,
    /// `TRE_REGISTRY_TOKEN_KEY` (base64), where a registry is deployed.
    pub registry_token_key: Option<String>,
    /// `TRE_REGISTRY_SERVICE`.
    pub registry_service: Option<String>,
    /// `TRE_PAGE_TOKEN_KEY` (base64).
    pub page_token_key: Option<String>,
    /// `TRE_OIDC_ISSUER`, `TRE_OIDC_AUDIENCE`.
    pub oidc_issuer: Option<String>,
    pub oidc_audience: Option<String>,
    /// `TRE_OIDC_ROLES_CLAIM`, `TRE_OIDC_GROUPS_CLAIM`, `TRE_OIDC_GROUP_ROLES`: how verified
    /// claims map to a principal (see [`Settings::claim_mapping`]).
    pub roles_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub group_roles: Option<String>,
    /// `TRE_DATASOURCE_ALLOWED_NETWORKS` (see [`Settings::datasource_networks`]).
    pub datasource_allowed_networks: Option<String>,
    /// `TRE_STATUS_QUEUE_URL`: where a change that causes a notification asks for its delivery
    /// at once (unset: the periodic sweep delivers it).
    pub status_queue_url: Option<String>,
    /// `TRE_MAIL_FROM`, `TRE_CONSOLE_URL` (see [`Settings::mail`]).
    pub mail_from: Option<String>,
    pub console_url: Option<String>,
}

/// How the status consumer emails notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// The sender: an address SES has verified (or one of a verified domain).
    pub from: String,
    /// The console's address, ending in `/`.
    pub console_url: String,
}

impl Settings {
    /// The process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Any lookup of variable names (e.g. `|k| map.get(k).cloned()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            data_dir: get(ENV_DATA_DIR).map(PathBuf::from),
            objects_url: get(ENV_OBJECTS_URL),
            table: get(tre_aws::ENV_TABLE),
            state_machine_prefix: get(tre_aws::ENV_STATE_MACHINE_PREFIX),
            airlock_bucket_prefix: get(tre_aws::ENV_AIRLOCK_BUCKET_PREFIX),
            registry_token_key: get(ENV_REGISTRY_TOKEN_KEY),
            registry_service: get(ENV_REGISTRY_SERVICE),
            page_token_key: get(ENV_PAGE_TOKEN_KEY),
            oidc_issuer: get(ENV_OIDC_ISSUER),
            oidc_audience: get(ENV_OIDC_AUDIENCE),
            roles_claim: get(tre_auth::ENV_ROLES_CLAIM),
            groups_claim: get(tre_auth::ENV_GROUPS_CLAIM),
            group_roles: get(tre_auth::ENV_GROUP_ROLES),
            datasource_allowed_networks: get(ENV_DATASOURCE_ALLOWED_NETWORKS),
            status_queue_url: get(tre_aws::ENV_STATUS_QUEUE_URL),
            mail_from: get(ENV_MAIL_FROM),
            console_url: get(ENV_CONSOLE_URL),
        }
    }

    /// Whether and how notifications are emailed: `None` without a sender (they are then only
    /// listed); with one, the console's `http(s)://` address is required too.
    pub fn mail(&self) -> Result<Option<MailSettings>, WiringError> {
        let Some(from) = &self.mail_from else {
            return Ok(None);
        };
        let console = self.console_url.as_deref().ok_or_else(|| {
            WiringError::Config(format!(
                "{ENV_CONSOLE_URL} must be set with {ENV_MAIL_FROM} (the links in notification email start with it)"
            ))
        })?;
        let rest = console
            .strip_prefix("https://")
            .or_else(|| console.strip_prefix("http://"))
            .unwrap_or_default();
        if rest.is_empty()
            || rest.starts_with('/')
            || console
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '#')
        {
            return Err(WiringError::Config(format!(
                "{ENV_CONSOLE_URL} is not an http(s):// address of the console: `{console}`"
            )));
        }
        // Page paths (`#/...`) are appended as they are.
        let console_url = if console.ends_with('/') {
            console.to_string()
        } else {
            format!("{console}/")
        };
        Ok(Some(MailSettings {
            from: from.clone(),
            console_url,
        }))
    }

    /// The networks data sources may name besides globally routable addresses.
    pub fn datasource_networks(
        &self,
    ) -> Result<tre_core::domain::datasource::AllowedNetworks, WiringError> {
        self.datasource_allowed_networks
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| WiringError::Config(format!("{ENV_DATASOURCE_ALLOWED_NETWORKS}: {e}")))
    }

    /// How verified token claims map to a principal.
    pub fn claim_mapping(&self) -> Result<tre_auth::ClaimMapping, WiringError> {
        tre_auth::ClaimMapping::from_lookup(|k| match k {
            tre_auth::ENV_ROLES_CLAIM => self.roles_claim.clone(),
            tre_auth::ENV_GROUPS_CLAIM => self.groups_claim.clone(),
            tre_auth::ENV_GROUP_ROLES => self.group_roles.clone(),
            _ => None,
        })
        .map_err(|e| WiringError::Config(e.to_string()))
    }

    /// The key of list page tokens. Unset, each process draws its own: tokens then work only
    /// against the instance that issued them, so deployments set it.
    pub fn page_tokens(&self) -> Result<Option<tre_core::app::PageTokens>, WiringError> {
        use base64::Engine;
        let Some(raw) = &self.page_token_key else {
            return Ok(None);
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| WiringError::Config(format!("{ENV_PAGE_TOKEN_KEY} is not base64: {e}")))?;
        tre_core::app::PageTokens::new(key)
            .map(Some)
            .map_err(|e| WiringError::Config(format!("{ENV_PAGE_TOKEN_KEY}: {e}")))
    }

    /// The registry's token key, where a registry is deployed.
    pub fn registry_token_key(
        &self,
    ) -> Result<Option<tre_auth::registry_token::RegistryTokenKey>, WiringError> {
        use base64::Engine;
        let Some(raw) = &self.registry_token_key else {
            return Ok(None);
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| {
                WiringError::Config(format!("{ENV_REGISTRY_TOKEN_KEY} is not base64: {e}"))
            })?;
        let service = self
            .registry_service
            .clone()
            .unwrap_or_else(|| tre_auth::registry_token::DEFAULT_SERVICE.into());
        tre_auth::registry_token::RegistryTokenKey::new(key, service)
            .map(Some)
            .map_err(WiringError::Config)
    }
}

/// Build the application services on the backend the process environment names.
pub async fn app_from_env() -> Result<App, WiringError> {
    app_for(&Settings::from_env()).await
}

/// The App for settings, on the SDK configuration of the process environment (region,
/// credentials: what the Lambda runtime provides).
async fn app_for(settings: &Settings) -> Result<App, WiringError> {
    if settings.data_dir.is_some() {
        return embedded_app(settings);
    }
    // Only the AWS backend needs (and waits for) the SDK's configuration.
    app_from_settings(settings, &tre_aws::sdk_config().await)
}

/// Build the application services from settings; the AWS adapters use `conf` (region,
/// credentials, endpoint).
pub fn app_from_settings(
    settings: &Settings,
    conf: &aws_config::SdkConfig,
) -> Result<App, WiringError> {
    if settings.data_dir.is_some() {
        return embedded_app(settings);
    }
    let required = |v: &Option<String>, k: &str| {
        v.clone().ok_or_else(|| {
            WiringError::Config(format!(
                "set {k} (AWS backend) or {ENV_DATA_DIR} (embedded backend)"
            ))
        })
    };
    let table = required(&settings.table, tre_aws::ENV_TABLE)?;
    let prefix = required(
        &settings.state_machine_prefix,
        tre_aws::ENV_STATE_MACHINE_PREFIX,
    )?;
    let mut app = App::new(
        Arc::new(tre_aws::DynamoTable::from_conf(conf, table)),
        Arc::new(tre_aws::SfnWorkflows::from_conf(conf, prefix)),
    )
    .with_datasource_networks(settings.datasource_networks()?);
    if let Some(buckets) = &settings.airlock_bucket_prefix {
        app = app.with_airlock(tre_aws::airlock_storage(conf, buckets));
    }
    // Steps whose bundle lives in the registry get a pull token for it.
    if let Some(key) = settings.registry_token_key()? {
        app = app.with_bundle_tokens(Arc::new(tre_bundle::RegistryPullTokens::new(key)));
    }
    if let Some(tokens) = settings.page_tokens()? {
        app = app.with_page_tokens(tokens);
    }
    // A change that causes a notification asks the status consumer to deliver it at once.
    if let Some(url) = &settings.status_queue_url {
        app = app.with_notify_queue(Arc::new(tre_aws::SqsQueue::from_conf(conf, url)));
    }
    Ok(app)
}

/// The status consumer's App: [`app_from_settings`] and, where [`Settings::mail`] names a
/// sender, notification email through SES (the embedded backend sends none).
pub fn status_consumer_app(
    settings: &Settings,
    conf: &aws_config::SdkConfig,
) -> Result<App, WiringError> {
    let app = app_from_settings(settings, conf)?;
    if settings.data_dir.is_some() {
        return Ok(app);
    }
    let Some(mail) = settings.mail()? else {
        return Ok(app);
    };
    let mailer = tre_aws::SesMailer::from_conf(conf, &mail.from)
        .map_err(|e| WiringError::Config(format!("{ENV_MAIL_FROM}: {e}")))?;
    Ok(app.with_mailer(Arc::new(mailer), &mail.console_url))
}

fn embedded_app(settings: &Settings) -> Result<App, WiringError> {
    let dir = settings
        .data_dir
        .as_deref()
        .ok_or_else(|| WiringError::Config(format!("{ENV_DATA_DIR} is not set")))?;
    // One database handle (its connections, schema check and writer thread) serves all.
    let embedded =
        tre_embedded::Embedded::open(dir).map_err(|e| WiringError::Backend(e.to_string()))?;
    let db = embedded.db().clone();
    // Links point at the local stack serving this directory (`tre dev`), by default.
    let base = settings
        .objects_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let airlock = embedded
        .airlock_storage(&base)
        .map_err(|e| WiringError::Backend(e.to_string()))?;
    let mut app = App::new(
        Arc::new(tre_embedded::SqliteTable::new(db.clone())),
        Arc::new(tre_embedded::RecordedWorkflows::new(db)),
    )
    .with_airlock(airlock)
    .with_datasource_networks(settings.datasource_networks()?);
    if let Some(tokens) = settings.page_tokens()? {
        app = app.with_page_tokens(tokens);
    }
    Ok(app)
}

/// The router one API Lambda serves: API Gateway's verified claims mapped as the settings say,
/// and the registry's token realm where the settings name a key.
pub fn api_router(
    group: RouteGroup,
    app: App,
    settings: &Settings,
) -> Result<axum::Router, WiringError> {
    let authenticator = tre_api::lambda::ApiGatewayAuthenticator::new(settings.claim_mapping()?);
    let mut state =
        tre_api::ApiState::new(app, Arc::new(authenticator)).with_sign_in(tre_api::SignIn::new(
            settings.oidc_issuer.as_deref().unwrap_or_default(),
            settings.oidc_audience.as_deref().unwrap_or_default(),
        ));
    if let Some(key) = settings.registry_token_key()? {
        state = state.with_registry_tokens(key);
    }
    Ok(tre_api::router_for(group, state))
}

/// Serve one API route group until the Lambda runtime stops the process.
pub async fn run_api(group: RouteGroup) -> Result<(), lambda_http::Error> {
    tre_telemetry::Telemetry::Lambda.init();
    let settings = Settings::from_env();
    let app = app_for(&settings).await?;
    lambda_http::run(api_router(group, app, &settings)?).await
}

/// Serve the status consumer (SQS event source with partial batch responses).
pub async fn run_status_consumer() -> Result<(), lambda_runtime::Error> {
    tre_telemetry::Telemetry::Lambda.init();
    let settings = Settings::from_env();
    let app = if settings.data_dir.is_some() {
        embedded_app(&settings)?
    } else {
        status_consumer_app(&settings, &tre_aws::sdk_config().await)?
    };
    match &app.mailer {
        Some(_) => tracing::info!("notifications are emailed through SES"),
        None => tracing::info!("{ENV_MAIL_FROM} is not set: notifications are only listed"),
    }
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(status::handle_batch(app, event.payload).await)
        },
    ))
    .await
}

/// Serve the audit archive (DynamoDB stream event source with partial batch responses): the
/// bucket is read from the environment once, before the first event.
pub async fn run_audit_archive() -> Result<(), lambda_runtime::Error> {
    tre_telemetry::Telemetry::Lambda.init();
    let config = audit_archive::ArchiveConfig::from_env()?;
    let archive = audit_archive::AuditArchive::on_s3(&tre_aws::sdk_config().await, &config);
    let archive = &archive;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
            Ok::<_, lambda_runtime::Error>(audit_archive::handle_batch(archive, event.payload).await)
        },
    ))
    .await
}

/// What each function crate's code calls through the AWS adapters: (adapter, SDK operation).
/// The infrastructure test checks each function's IAM role allows exactly these (via
/// `tre_aws::IAM_ACTIONS`).
pub const FUNCTION_SDK_CALLS: &[(&str, &[(&str, &str)])] = &[
    ("api-meta", &[("DynamoTable", "get_item")]),
    ("api-templates", TABLE_READ_WRITE),
    ("api-workspaces", API_WITH_WORKFLOWS),
    ("api-shared-services", API_WITH_WORKFLOWS),
    ("status-consumer", STATUS_CONSUMER),
    ("api-airlock", API_AIRLOCK),
    ("audit-archive", AUDIT_ARCHIVE),
];

// A conditional put (it heads first), and a read of what is there when something is. The event
// source mapping reads the table's stream with the function's role: those actions are not SDK
// calls of this code (infra/iam.tf grants them on the stream only; the infrastructure test
// checks that).
const AUDIT_ARCHIVE: &[(&str, &str)] = &[
    ("S3ObjectStore", "head_object"),
    ("S3ObjectStore", "put_object"),
    ("S3ObjectStore", "get_object"),
];

const API_AIRLOCK: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    // A review environment is a user resource: written with its operation and the request
    // that names it in one transaction, then installed (and uninstalled at the decision).
    ("DynamoTable", "transact_write_items"),
    ("SfnWorkflows", "start_execution"),
    ("SfnWorkflows", "send_task_success"),
    // Submission and review notify (airlock managers, the requester): the delivery is asked
    // for on the status queue at once.
    ("SqsQueue", "send_message"),
    // Submission checks every file was uploaded.
    ("S3ObjectStore", "head_object"),
    // Pre-signed links (signed put_object / get_object requests) act with the function's
    // role: uploads put, downloads get.
    ("S3ObjectStore", "put_object"),
    ("S3ObjectStore", "get_object"),
    // Large files: parts through signed upload_part links, then assembled.
    ("S3ObjectStore", "create_multipart_upload"),
    ("S3ObjectStore", "upload_part"),
    ("S3ObjectStore", "complete_multipart_upload"),
];

const TABLE_READ_WRITE: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "batch_get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
];

const API_WITH_WORKFLOWS: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "batch_get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
    ("SfnWorkflows", "start_execution"),
    ("SfnWorkflows", "describe_execution"),
];

// The event source mapping receives and deletes on the function's behalf, with its role.
const STATUS_CONSUMER: &[(&str, &str)] = &[
    ("DynamoTable", "get_item"),
    ("DynamoTable", "query"),
    ("DynamoTable", "put_item"),
    ("DynamoTable", "delete_item"),
    ("DynamoTable", "transact_write_items"),
    ("SqsQueue", "receive_message"),
    ("SqsQueue", "delete_message"),
    ("SqsQueue", "get_queue_attributes"),
    ("SqsQueue", "change_message_visibility"),
    // executionEnded messages: the execution's record says how it ended.
    ("SfnWorkflows", "describe_execution"),
    // airlockReview messages: a blocked request's review step is released at once.
    ("SfnWorkflows", "send_task_success"),
    // Review environments whose request left review are uninstalled (and swept on a schedule).
    ("SfnWorkflows", "start_execution"),
    // Notifications: a failed operation (or data source) asks for its delivery on the status
    // queue at once; delivery emails from the sender identity.
    ("SqsQueue", "send_message"),
    ("SesMailer", "send_email"),
];

/// Environment variables one function reads besides [`AWS_ENV_VARS`] (Terraform sets each on
/// that function only: `local.function_env` in infra/lambda.tf).
pub const FUNCTION_ENV_VARS: &[(&str, &[&str])] = &[
    ("audit-archive", &[audit_archive::ENV_AUDIT_ARCHIVE_BUCKET]),
    // Blank TRE_MAIL_FROM: notifications are only listed.
    ("status-consumer", &[ENV_MAIL_FROM, ENV_CONSOLE_URL]),
];

/// Environment variables every function reads in AWS (Terraform must set each).
pub const AWS_ENV_VARS: &[&str] = &[
    tre_aws::ENV_TABLE,
    tre_aws::ENV_STATE_MACHINE_PREFIX,
    tre_auth::ENV_ROLES_CLAIM,
    tre_auth::ENV_GROUPS_CLAIM,
    tre_auth::ENV_GROUP_ROLES,
    // The registry's token realm (GET /api/registry/token) signs with this key.
    "TRE_REGISTRY_TOKEN_KEY",
    "TRE_REGISTRY_SERVICE",
    // List pages' continuation tokens must verify on every instance of every API function.
    ENV_PAGE_TOKEN_KEY,
    // Changes that cause notifications ask for their delivery here.
    tre_aws::ENV_STATUS_QUEUE_URL,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn settings_come_from_any_lookup_blank_is_unset() {
        let s = settings(&[
            ("TRE_TABLE", " tre-tre "),
            (
                "TRE_STATE_MACHINE_PREFIX",
                "arn:aws:states:eu-west-2:1:stateMachine:tre-",
            ),
            ("TRE_AIRLOCK_BUCKET_PREFIX", ""),
            ("TRE_OIDC_ROLES_CLAIM", "realm_access.roles"),
            ("TRE_OIDC_GROUP_ROLES", "tre-admins=TREAdmin"),
            // 32 bytes of 7, base64.
            (
                "TRE_REGISTRY_TOKEN_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            ),
        ]);
        assert_eq!(s.table.as_deref(), Some("tre-tre"));
        assert!(s.datasource_networks().unwrap().is_empty());
        let nets = settings(&[(ENV_DATASOURCE_ALLOWED_NETWORKS, "10.20.0.0/16")]);
        assert_eq!(
            nets.datasource_networks().unwrap().to_string(),
            "10.20.0.0/16"
        );
        let bad = settings(&[(ENV_DATASOURCE_ALLOWED_NETWORKS, "10.20.0.1/16")]);
        assert!(bad.datasource_networks().is_err());
        assert_eq!(s.airlock_bucket_prefix, None);
        assert_eq!(s.data_dir, None);
        let mapping = s.claim_mapping().unwrap();
        assert_eq!(mapping.roles_claim, "realm_access.roles");
        assert_eq!(mapping.group_roles.len(), 1);
        let key = s.registry_token_key().unwrap().expect("a key");
        assert_eq!(key.service(), "tre-registry");
    }

    #[test]
    fn the_page_token_key_is_base64_of_32_bytes_or_more() {
        assert!(settings(&[]).page_tokens().unwrap().is_none());
        let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let a = settings(&[(ENV_PAGE_TOKEN_KEY, key)])
            .page_tokens()
            .unwrap()
            .unwrap();
        let b = settings(&[(ENV_PAGE_TOKEN_KEY, key)])
            .page_tokens()
            .unwrap()
            .unwrap();
        // Two functions configured alike accept each other's tokens.
        let pos = tre_core::app::PagePosition::default();
        let token = a.seal("alice", "/api/workspaces", &pos);
        assert_eq!(b.open("alice", "/api/workspaces", &token).unwrap(), pos);
        assert!(settings(&[(ENV_PAGE_TOKEN_KEY, "not base64!")])
            .page_tokens()
            .is_err());
        // 31 bytes.
        let short = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==";
        assert!(settings(&[(ENV_PAGE_TOKEN_KEY, short)])
            .page_tokens()
            .is_err());
    }

    #[test]
    fn mail_needs_a_sender_and_the_console_or_is_off() {
        assert_eq!(settings(&[]).mail().unwrap(), None);
        // Blank is unset: notifications are only listed.
        let off = settings(&[(ENV_MAIL_FROM, " "), (ENV_CONSOLE_URL, "https://x.org/")]);
        assert_eq!(off.mail().unwrap(), None);
        let on = settings(&[
            (ENV_MAIL_FROM, "tre@example.org"),
            (ENV_CONSOLE_URL, "https://tre.example.org/console"),
        ]);
        assert_eq!(
            on.mail().unwrap(),
            Some(MailSettings {
                from: "tre@example.org".into(),
                console_url: "https://tre.example.org/console/".into(),
            })
        );
        let err = settings(&[(ENV_MAIL_FROM, "tre@example.org")])
            .mail()
            .unwrap_err();
        assert!(err.to_string().contains(ENV_CONSOLE_URL), "{err}");
        for bad in [
            "tre.example.org",
            "ftp://tre.example.org/",
            "https://",
            "https:///console/",
            "https://tre.example.org/#/",
            "https://tre.example.org/a b/",
        ] {
            let err = settings(&[(ENV_MAIL_FROM, "tre@example.org"), (ENV_CONSOLE_URL, bad)])
                .mail()
                .unwrap_err();
            assert!(err.to_string().contains(ENV_CONSOLE_URL), "{bad}: {err}");
        }
    }

    #[test]
    fn the_status_consumer_emails_when_configured_and_changes_ask_for_delivery() {
        let conf = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let base = [
            ("TRE_TABLE", "tre"),
            (
                "TRE_STATE_MACHINE_PREFIX",
                "arn:aws:states:eu-west-2:1:stateMachine:tre-",
            ),
        ];
        // Neither: only listed, delivered by the sweep.
        let app = status_consumer_app(&settings(&base), &conf).unwrap();
        assert!(app.mailer.is_none() && app.notify_queue.is_none());
        let with = |extra: &[(&str, &str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            settings(&vars)
        };
        let s = with(&[
            (
                "TRE_STATUS_QUEUE_URL",
                "https://sqs.eu-west-2.amazonaws.com/1/tre-status",
            ),
            (ENV_MAIL_FROM, "tre@example.org"),
            (ENV_CONSOLE_URL, "https://tre.example.org/console/"),
        ]);
        let app = status_consumer_app(&s, &conf).unwrap();
        assert!(app.mailer.is_some() && app.notify_queue.is_some());
        assert_eq!(app.console_url, "https://tre.example.org/console/");
        // An API function asks for delivery, and never sends mail itself.
        let api = app_from_settings(&s, &conf).unwrap();
        assert!(api.mailer.is_none() && api.notify_queue.is_some());
        let bad = with(&[
            (ENV_MAIL_FROM, "tre@example.org\r\nBcc: x@y"),
            (ENV_CONSOLE_URL, "https://tre.example.org/console/"),
        ]);
        let err = status_consumer_app(&bad, &conf)
            .err()
            .expect("a bad sender");
        assert!(err.to_string().contains(ENV_MAIL_FROM), "{err}");
        // What only the consumer reads cannot stop an API function.
        assert!(app_from_settings(&bad, &conf).is_ok());
    }

    #[test]
    fn what_is_wrong_is_a_configuration_error_where_it_is_used() {
        let s = settings(&[
            ("TRE_REGISTRY_TOKEN_KEY", "not base64!"),
            ("TRE_OIDC_GROUP_ROLES", "x"),
        ]);
        assert!(matches!(
            s.registry_token_key(),
            Err(WiringError::Config(_))
        ));
        assert!(matches!(s.claim_mapping(), Err(WiringError::Config(_))));
        let conf = aws_config::SdkConfig::builder().build();
        let err = app_from_settings(&settings(&[]), &conf)
            .err()
            .expect("no table");
        assert!(err.to_string().contains("TRE_TABLE"), "{err}");
    }
}
