//! The OpenAPI 3.1 document, generated from the route table (paths) and from the Rust types
//! (component schemas, by utoipa), so it cannot drift from what the code does.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::routes::resources::COLLECTIONS;
use crate::routes::spec::Reply;
use crate::routes::{path_params, route_table, RouteSpec};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TRE control plane API",
        description = "Trusted Research Environment control plane: templates, workspaces, workspace services, user resources, shared services, operations, role assignments and the airlock."
    ),
    components(schemas(
        crate::wire::User,
        crate::wire::resource::Resource,
        crate::wire::resource::ResourceType,
        crate::wire::resource::HistoryItem,
        crate::wire::operation::Operation,
        crate::wire::operation::Step,
        tre_core::domain::version::AvailableUpgrade,
        tre_core::domain::ResourceKind,
        tre_core::domain::DeploymentStatus,
        crate::wire::template::Template,
        crate::wire::template::TemplateInfo,
        tre_core::domain::CustomAction,
        tre_core::domain::RoleAssignment,
        tre_core::domain::audit::AuditEvent,
        tre_core::domain::audit::AuditActor,
        tre_core::domain::audit::AuditOutcome,
        tre_core::domain::audit::RequestContext,
        crate::routes::audit::AuditChain,
        tre_core::domain::audit::Reconciliation,
        tre_core::domain::audit::Unaccounted,
        tre_core::domain::notification::ReceivedNotification,
        tre_core::domain::notification::Notification,
        tre_core::domain::notification::NotificationKind,
        tre_core::domain::notification::EmailDelivery,
        tre_core::domain::WorkspaceRole,
        tre_core::app::CreateResource,
        tre_core::app::PatchResource,
        tre_core::app::RegisterTemplate,
        tre_core::app::RegisterAzureTemplate,
        tre_core::app::RegisterOwnTemplate,
        tre_core::app::TemplateJsonSchema,
        tre_core::app::AssignRole,
        crate::wire::users::WorkspaceUser,
        crate::wire::users::Role,
        crate::wire::users::AssignableUser,
        crate::wire::users::UsersAssignment,
        tre_core::app::Me,
        tre_core::app::DataSource,
        tre_core::app::DataState,
        tre_core::app::DataFile,
        tre_core::app::DataReview,
        tre_core::app::ReviewDataSource,
        tre_core::app::BindDataSource,
        tre_core::app::AddDataSourceFile,
        tre_core::app::BoundDataSource,
        tre_core::domain::datasource::DataSourceSpec,
        tre_core::domain::datasource::DataSourceKind,
        tre_core::domain::datasource::Connection,
        tre_core::domain::datasource::ExportFormat,
        tre_core::domain::datasource::PublisherInfo,
        tre_core::app::WorkspaceRoles,
        tre_core::domain::TreRole,
        crate::wire::airlock::AirlockRequest,
        crate::wire::airlock::AirlockRequestWithAllowedUserActions,
        crate::wire::airlock::AirlockRequestList,
        crate::wire::airlock::HistoryItem,
        crate::wire::airlock::HistoryProperties,
        crate::wire::airlock::File,
        crate::wire::airlock::Review,
        crate::wire::airlock::ReviewDecision,
        crate::wire::airlock::AirlockLink,
        crate::wire::airlock::AirlockReviewEnvironment,
        tre_core::domain::airlock::ReviewUserResource,
        tre_core::domain::AirlockReviewOf,
        crate::wire::airlock::UploadForm,
        tre_core::domain::airlock::UserAction,
        tre_core::domain::airlock::RequestType,
        tre_core::domain::airlock::RequestStatus,
        tre_core::domain::airlock::ScanResult,
        tre_core::app::CreateAirlockRequest,
        tre_core::app::AddAirlockFile,
        tre_core::app::ReviewAirlockRequest,
        tre_core::app::RevokeAirlockRequest,
        tre_core::app::FileLink,
        tre_core::app::MultipartLinks,
        tre_core::app::PartLink,
        tre_core::app::CompleteAirlockFile,
        tre_core::app::CompletedPart,
        crate::problem::Problem,
        crate::routes::meta::Health,
        crate::routes::meta::ServiceHealth,
        crate::routes::meta::Metadata,
        crate::routes::resources::WorkspaceAuth,
    ))
)]
struct Components;

/// Error statuses every authenticated route may answer with.
const ERROR_STATUSES: [(u16, &str); 11] = [
    (400, "The request is malformed or breaks a rule"),
    (401, "No valid bearer token"),
    (403, "The caller may not do this"),
    (404, "Not found, or not visible to the caller"),
    (
        409,
        "Conflicts with the current state (or the `etag` header is stale)",
    ),
    (412, "`If-Match` does not match the current etag"),
    (413, "The body is too large"),
    (415, "The body is not JSON"),
    (
        422,
        "The body is JSON without the expected fields and types",
    ),
    (428, "`If-Match` (or `etag`) is required"),
    (503, "A backing service is unavailable; nothing was changed"),
];

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn reply_schema(reply: &Reply) -> Option<Value> {
    match reply {
        Reply::Empty => None,
        Reply::Schema(name) => Some(schema_ref(name)),
        Reply::ListOf(key, name) => Some(json!({
            "type": "object",
            "required": [key],
            "properties": { *key: { "type": "array", "items": schema_ref(name) } }
        })),
        Reply::Wrapped(key, name) => Some(json!({
            "type": "object",
            "required": [key],
            "properties": { *key: schema_ref(name) }
        })),
        Reply::OperationAndResource(key) => Some(json!({
            "type": "object",
            "required": ["operation", key],
            "properties": { "operation": schema_ref("Operation"), *key: schema_ref("Resource") }
        })),
        Reply::ArrayOf(name) => Some(json!({ "type": "array", "items": schema_ref(name) })),
        Reply::OperationOnly => Some(json!({
            "type": "object",
            "required": ["operation"],
            "properties": { "operation": schema_ref("Operation") }
        })),
        Reply::AnyObject => Some(json!({ "type": "object" })),
    }
}

/// Template and custom action names, as `validate_template_name` takes them.
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9._-]{0,127}$";
/// Semantic versions, as `validate_version` takes them (at most 64 characters).
pub const VERSION_PATTERN: &str = r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$";
/// Text that must not be blank: at least one character that is not white space.
pub const NOT_BLANK: &str = r"\S";
/// A file name: one path segment without control characters (`.` and `..` are refused too).
pub const FILE_NAME_PATTERN: &str = r"^[^/\\\u0000-\u001f\u007f-\u009f]+$";
/// A principal (subject) id: not blank, no `#` (the key separator).
pub const PRINCIPAL_PATTERN: &str = r"^[^#]*[^#\s][^#]*$";

fn name_schema() -> Value {
    json!({ "type": "string", "pattern": NAME_PATTERN })
}

fn version_schema() -> Value {
    json!({ "type": "string", "pattern": VERSION_PATTERN, "maxLength": 64 })
}

fn file_name_schema() -> Value {
    // The limit is 255 bytes: 63 characters fit in it whatever they are.
    json!({ "type": "string", "pattern": FILE_NAME_PATTERN, "maxLength": 63, "not": { "enum": [".", ".."] } })
}

fn principal_schema() -> Value {
    // At most 256 bytes once trimmed (a longer one in characters that are several bytes each is
    // refused too).
    json!({ "type": "string", "pattern": PRINCIPAL_PATTERN, "minLength": 1, "maxLength": 256 })
}

/// The schema of a path parameter, by its name (every route names one kind of value alike).
fn path_schema(name: &str) -> Value {
    match name {
        "workspaceId" | "serviceId" | "userResourceId" | "sharedServiceId" | "operationId"
        | "requestId" | "dataSourceId" => json!({ "type": "string", "format": "uuid" }),
        "templateName" | "userResourceTemplateName" => name_schema(),
        "fileName" => file_name_schema(),
        "principalId" => principal_schema(),
        "role" => schema_ref("WorkspaceRole"),
        _ => json!({ "type": "string" }),
    }
}

/// The schema of a query parameter, by its name (the route table gives names and descriptions;
/// what the handlers parse them into is stated here).
fn query_schema(name: &str) -> Value {
    match name {
        "authorized_only" | "is_update" | "order_ascending" | "airlock_manager" => {
            json!({ "type": "boolean" })
        }
        "maxResultCount" => json!({ "type": "integer", "minimum": 1, "maximum": 100 }),
        crate::paging::PAGE_SIZE_PARAM => {
            json!({ "type": "integer", "minimum": 1, "maximum": tre_core::app::MAX_PAGE_SIZE })
        }
        "type" => schema_ref("RequestType"),
        "status" => schema_ref("RequestStatus"),
        "order_by" => json!({
            "type": "string",
            "enum": ["createdWhen", "updatedWhen", "title", "type", "status", "createdBy.name"]
        }),
        "version" => version_schema(),
        "action" => name_schema(),
        "role_id" => schema_ref("WorkspaceRole"),
        "user_id" => principal_schema(),
        "file" => file_name_schema(),
        _ => json!({ "type": "string" }),
    }
}

fn operation(spec: &RouteSpec) -> Value {
    let mut parameters: Vec<Value> = path_params(&spec.path)
        .into_iter()
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": path_schema(p) }))
        .collect();
    for (name, required, description) in &spec.query {
        parameters.push(json!({
            "name": name, "in": "query", "required": required, "description": description,
            "schema": query_schema(name)
        }));
    }
    if spec.if_match {
        parameters.push(json!({
            "name": "If-Match", "in": "header", "required": false,
            "description": "The `ETag` of the last GET, or `*` (this or `etag` is required: 428 without either; 412 when stale)",
            "schema": { "type": "string" }
        }));
        parameters.push(json!({
            "name": "etag", "in": "header", "required": false,
            "description": "Azure TRE's form: the `_etag` of the last GET, or `*` (409 when stale)",
            "schema": { "type": "string" }
        }));
    }

    let mut responses = Map::new();
    // A route whose only answer is an error (one not built yet) answers it as a problem.
    let (description, media) = if spec.success >= 400 {
        ("Not available yet", "application/problem+json")
    } else {
        ("Success", "application/json")
    };
    let mut ok = json!({ "description": description });
    if let Some(schema) = reply_schema(&spec.reply) {
        ok["content"] = json!({ media: { "schema": schema } });
    }
    responses.insert(spec.success.to_string(), ok);
    let problem = json!({ "application/problem+json": { "schema": schema_ref("Problem") } });
    if spec.authenticated {
        for (code, description) in ERROR_STATUSES {
            responses.insert(
                code.to_string(),
                json!({ "description": description, "content": problem }),
            );
        }
    } else {
        responses.insert(
            "503".into(),
            json!({ "description": "Unavailable", "content": problem }),
        );
    }
    // Unknown routes and methods answer with problems too.
    responses.insert(
        "404".into(),
        json!({ "description": "Not found", "content": problem }),
    );
    responses.insert(
        "405".into(),
        json!({ "description": "Method not allowed", "content": problem }),
    );

    let mut op = json!({
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": parameters,
        "responses": responses,
        "security": if spec.authenticated { json!([{ "bearer": [] }]) } else { json!([]) },
    });
    if let Some(req) = spec.request {
        let name = match req {
            "RegisterTemplate" => registration_schema_name(&spec.path),
            other => other.to_string(),
        };
        op["requestBody"] = json!({
            "required": !spec.request_optional,
            "content": { "application/json": { "schema": schema_ref(&name) } }
        });
    }
    op
}

/// Template registration takes the same two shapes at every route, but what `resourceType`
/// and the parent may be depends on the route: each route gets its own schema.
fn registration_schema_name(path: &str) -> String {
    let kind = registration_kind(path);
    let nested = path.contains("{templateName}");
    format!(
        "Register{}Template{}",
        kind.split('-')
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect::<String>(),
        if nested { "InService" } else { "" }
    )
}

fn registration_kind(path: &str) -> &'static str {
    if path.ends_with("user-resource-templates") {
        "user-resource"
    } else if path.ends_with("workspace-service-templates") {
        "workspace-service"
    } else if path.ends_with("shared-service-templates") {
        "shared-service"
    } else {
        "workspace"
    }
}

/// Merges `extra` into the schema of `field` of component `schema` (a no-op when either is
/// missing, which the document tests catch).
fn refine(schemas: &mut Map<String, Value>, schema: &str, field: &str, extra: Value) {
    let Some(target) = schemas
        .get_mut(schema)
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut(field))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Value::Object(extra) = extra {
        target.extend(extra);
    }
}

fn text(max: usize) -> Value {
    json!({ "type": "string", "pattern": NOT_BLANK, "maxLength": max })
}

/// Relative object paths: segments that do not start with `.` (so never `.` or `..`).
const OBJECT_PATH_PATTERN: &str = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$";
/// Host names (literal addresses must be globally routable, which a pattern cannot say; names
/// are checked when the import resolves them).
const HOST_NAME: &str =
    r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,20}[a-z0-9])?)*\.[a-z]{2,10}";
const SQL_IDENTIFIER: &str = "[A-Za-z_][A-Za-z0-9_]{0,62}";

/// The request bodies' rules that the Rust types alone do not show (lengths, patterns, the
/// shapes a data source may take): the validators in the core enforce the same, and the tests
/// check both agree.
fn refine_requests(schemas: &mut Map<String, Value>) {
    refine(schemas, "CreateResource", "templateName", name_schema());
    refine(
        schemas,
        "CreateResource",
        "templateVersion",
        version_schema(),
    );
    // Nulls mean "absent" and a PATCH that changes nothing is refused: documented as at least
    // one field, none of them null.
    if let Some(patch) = schemas.get_mut("PatchResource") {
        patch["minProperties"] = json!(1);
        patch["properties"]["properties"] = json!({ "type": "object", "description": "Only properties the template marks `updateable` may change." });
        patch["properties"]["isEnabled"] = json!({ "type": "boolean" });
        patch["properties"]["templateVersion"] = version_schema();
    }
    refine(schemas, "AssignRole", "principalId", principal_schema());
    refine(
        schemas,
        "UsersAssignment",
        "role_id",
        schema_ref("WorkspaceRole"),
    );
    refine(
        schemas,
        "UsersAssignment",
        "user_ids",
        json!({ "items": principal_schema(), "minItems": 1, "maxItems": 25 }),
    );
    refine(schemas, "AddDataSourceFile", "name", file_name_schema());
    refine(schemas, "ReviewDataSource", "comment", text(4000));
    refine(
        schemas,
        "BindDataSource",
        "dataSourceId",
        json!({ "format": "uuid" }),
    );
    refine(schemas, "CreateAirlockRequest", "title", text(200));
    refine(
        schemas,
        "CreateAirlockRequest",
        "businessJustification",
        text(4000),
    );
    refine(schemas, "AddAirlockFile", "name", file_name_schema());
    // 10,000 parts of at most 5 GiB.
    refine(
        schemas,
        "AddAirlockFile",
        "size",
        json!({ "maximum": 53_687_091_200_000_u64 }),
    );
    refine(
        schemas,
        "CompletedPart",
        "partNumber",
        json!({ "minimum": 1, "maximum": 10_000 }),
    );
    refine(
        schemas,
        "ReviewAirlockRequest",
        "decisionExplanation",
        text(4000),
    );
    refine(
        schemas,
        "RevokeAirlockRequest",
        "reason",
        json!({ "maxLength": 4000 }),
    );
    for field in ["organisation", "contactName", "contactRole"] {
        refine(schemas, "PublisherInfo", field, text(200));
    }
    refine_data_source(schemas);
    for kind in [
        "workspace",
        "workspace-service",
        "shared-service",
        "user-resource",
    ] {
        for nested in [false, true] {
            if nested && kind != "user-resource" {
                continue;
            }
            let path = if nested {
                "/api/workspace-service-templates/{templateName}/user-resource-templates"
                    .to_string()
            } else {
                format!("/api/{kind}-templates")
            };
            if let Some(schema) = registration_schema(schemas, kind, nested) {
                schemas.insert(registration_schema_name(&path), schema);
            }
        }
    }
}

/// `DataSourceSpec` as the two shapes it may take: `Uploaded` (no connection, objects or
/// credentials) and `Import` (one of the three connections, with what each needs).
fn refine_data_source(schemas: &mut Map<String, Value>) {
    let Some(spec) = schemas.get_mut("DataSourceSpec") else {
        return;
    };
    let props = &mut spec["properties"];
    props["displayName"] = text(200);
    props["project"] = text(200);
    props["description"] = json!({ "type": "string", "maxLength": 4000 });
    // SPDX identifiers (an https URL is taken too).
    props["licence"] = json!({ "type": "string", "pattern": "^[A-Za-z0-9.+-]{1,100}$" });
    props["credentialsSecret"] =
        json!({ "type": "string", "pattern": "^[A-Za-z0-9/_+=.@-]{1,512}$" });
    let objects = json!({
        "type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": true,
        "items": { "type": "string", "pattern": OBJECT_PATH_PATTERN, "maxLength": 1024 }
    });
    let https = json!({
        "type": "object", "additionalProperties": false, "required": ["type", "baseUrl"],
        "properties": {
            "type": { "enum": ["https"] },
            "baseUrl": { "type": "string", "pattern": format!("^https://{HOST_NAME}(/[A-Za-z0-9._~-]+)*/?$") }
        }
    });
    let s3 = json!({
        "type": "object", "additionalProperties": false, "required": ["type", "bucket", "prefix"],
        "properties": {
            "type": { "enum": ["s3"] },
            "bucket": { "type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" },
            "prefix": { "type": "string", "pattern": r"^([A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*/?)?$" }
        }
    });
    let postgres = json!({
        "type": "object", "additionalProperties": false,
        "required": ["type", "host", "port", "database", "user", "table", "format"],
        "properties": {
            "type": { "enum": ["postgres"] },
            "host": { "type": "string", "pattern": format!("^{HOST_NAME}$") },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
            "database": { "type": "string", "pattern": format!("^{SQL_IDENTIFIER}$") },
            "user": { "type": "string", "pattern": format!("^{SQL_IDENTIFIER}$") },
            "table": { "type": "string", "pattern": format!(r"^{SQL_IDENTIFIER}(\.{SQL_IDENTIFIER})?$") },
            "format": schema_ref("ExportFormat"),
            "caCertificate": { "type": "string", "pattern": "-----BEGIN CERTIFICATE-----", "maxLength": 65536 }
        }
    });
    spec["oneOf"] = json!([
        {
            "description": "Filled through the upload flow",
            "properties": {
                "kind": { "enum": ["Uploaded"] },
                "connection": { "type": "null" },
                "credentialsSecret": { "type": "null" },
                "objects": { "type": "array", "maxItems": 0 }
            }
        },
        {
            "description": "Fetched over HTTPS",
            "required": ["connection", "objects"],
            "properties": { "kind": { "enum": ["Import"] }, "connection": https, "objects": objects.clone() }
        },
        {
            "description": "Fetched from S3 with the runner's own role",
            "required": ["connection", "objects"],
            "properties": {
                "kind": { "enum": ["Import"] }, "connection": s3, "objects": objects,
                "credentialsSecret": { "type": "null" }
            }
        },
        {
            "description": "One PostgreSQL table, exported whole",
            "required": ["connection"],
            "properties": {
                "kind": { "enum": ["Import"] }, "connection": postgres,
                "objects": { "type": "array", "maxItems": 0 }
            }
        }
    ]);
}

/// The registration schema of one route: both shapes with names, versions, custom actions and
/// bundle references as the API takes them, `resourceType` limited to the route's kind, and the
/// parent as the route needs it (required on the flat user-resource route, from the path on
/// the nested one, refused elsewhere).
fn registration_schema(schemas: &Map<String, Value>, kind: &str, nested: bool) -> Option<Value> {
    let custom_actions = json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {
                    "type": "string", "pattern": NAME_PATTERN,
                    "description": "Not `install`, `upgrade` or `uninstall` (the standard actions)"
                },
                "description": { "type": "string" }
            }
        }
    });
    let bundle = json!({ "type": "string", "pattern": "^.+@sha256:[0-9a-f]{64}$" });
    // Any JSON Schema is taken for a parameter; the document states the keywords templates use
    // (a client sending others gets them checked as JSON Schema).
    let parameter = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "type": { "enum": ["string", "integer", "number", "boolean"] },
            "title": { "type": "string" },
            "description": { "type": "string" },
            "updateable": { "type": "boolean" },
            "sensitive": { "type": "boolean" }
        }
    });
    let parameters = json!({ "type": "object", "additionalProperties": parameter });
    let flat_user_resource = kind == "user-resource" && !nested;

    let mut own = schemas.get("RegisterOwnTemplate")?.clone();
    let p = &mut own["properties"];
    p["name"] = name_schema();
    p["version"] = version_schema();
    p["customActions"] = custom_actions.clone();
    p["bundle"] = bundle.clone();
    p["current"] = json!({ "type": "boolean" });
    p["parameters"] = json!({
        "type": "object",
        "description": "JSON Schema (object) of the parameters.",
        "required": ["type"],
        "properties": {
            "type": { "const": "object" },
            "properties": parameters.clone(),
            "required": { "type": "array", "items": { "type": "string" }, "minItems": 1, "uniqueItems": true }
        }
    });
    let mut azure = schemas.get("RegisterAzureTemplate")?.clone();
    let a = &mut azure["properties"];
    a["name"] = name_schema();
    a["version"] = version_schema();
    a["customActions"] = custom_actions;
    a["bundle"] = bundle;
    a["resourceType"] = json!({ "enum": [kind] });
    a["json_schema"] = json!({
        "type": "object",
        "required": ["title", "description", "properties"],
        "properties": {
            "title": { "type": "string" },
            "description": { "type": "string" },
            "properties": parameters,
            "required": { "type": "array", "items": { "type": "string" } },
            "authorizedRoles": { "type": "array", "items": { "type": "string" } },
            "uiSchema": { "type": "object" },
            "pipeline": {
                "type": "object",
                "description": "Per action, its steps: each with a distinct `stepId` (Azure TRE's other step fields are kept too)",
                "additionalProperties": {
                    "type": "array",
                    "uniqueItems": true,
                    "items": {
                        "type": "object", "required": ["stepId"], "additionalProperties": false,
                        "properties": { "stepId": { "type": "string" } }
                    }
                }
            },
            "allOf": { "type": "array", "items": { "type": "object" } }
        }
    });
    for (schema, parent) in [
        (&mut own, "parentServiceTemplate"),
        (&mut azure, "parentWorkspaceService"),
    ] {
        let props = schema["properties"].as_object_mut()?;
        if flat_user_resource {
            props.insert(parent.into(), name_schema());
            let required = schema["required"].as_array_mut()?;
            required.push(json!(parent));
        } else {
            props.remove(parent);
        }
    }
    Some(json!({
        "description": format!("Register a {kind} template, in Azure TRE's shape (with `json_schema`) or ours (with `parameters`)."),
        "oneOf": [own, azure]
    }))
}

/// Merges a schema utoipa writes as `allOf` (a struct with a `#[serde(flatten)]` field) into one
/// object: the flattened struct may refuse unknown fields (`additionalProperties: false`) as a
/// request body, which inside an `allOf` would refuse the outer struct's own fields too.
fn merge_flattened(schemas: &mut Map<String, Value>) {
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(parts) = schemas[&name]
            .get("allOf")
            .and_then(Value::as_array)
            .cloned()
        else {
            continue;
        };
        let mut properties = Map::new();
        let mut required: Vec<Value> = Vec::new();
        let mut merged = true;
        for part in &parts {
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(r) => match r
                    .strip_prefix("#/components/schemas/")
                    .and_then(|n| schemas.get(n))
                {
                    Some(target) => target.clone(),
                    None => {
                        merged = false;
                        break;
                    }
                },
                None => part.clone(),
            };
            if part.get("properties").is_none() || part.get("allOf").is_some() {
                merged = false;
                break;
            }
            if let Some(props) = part["properties"].as_object() {
                properties.extend(props.clone());
            }
            if let Some(req) = part.get("required").and_then(Value::as_array) {
                required.extend(req.iter().cloned());
            }
        }
        if !merged {
            continue;
        }
        let mut schema =
            json!({ "type": "object", "properties": properties, "required": required });
        if let Some(description) = schemas[&name].get("description") {
            schema["description"] = description.clone();
        }
        schemas.insert(name, schema);
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(Components::openapi()).unwrap_or_else(|_| json!({}));
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        merge_flattened(schemas);
        refine_requests(schemas);
    }
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let mut paths = Map::new();
    for spec in route_table() {
        let entry = paths.entry(spec.path.clone()).or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_lowercase()] = operation(&spec);
    }
    add_links(&mut paths, &route_table());
    doc["paths"] = Value::Object(paths);
    doc["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
    });
    doc
}

/// Where the value of an item's path parameter comes from in the answer to the request that
/// made the item (`base` is the path it was made at).
fn created_value(base: &str, param: &str) -> Option<String> {
    if let Some(c) = COLLECTIONS.iter().find(|c| c.item_param == param) {
        return Some(format!("$response.body#/{}/id", c.item_key));
    }
    Some(match param {
        "requestId" => "$response.body#/airlockRequest/id".into(),
        "dataSourceId" if base.starts_with("/api/workspaces/") => {
            "$response.body#/dataSourceId".into()
        }
        "dataSourceId" => "$response.body#/id".into(),
        "templateName" | "userResourceTemplateName" => "$response.body#/name".into(),
        "principalId" => "$request.body#/principalId".into(),
        "role" => "$request.body#/role".into(),
        "fileName" => "$request.body#/name".into(),
        _ => return None,
    })
}

/// OpenAPI links from every operation that makes something (a `POST` to a collection) to every
/// operation on what it made and below it (reads, updates, deletes, actions, operations,
/// children), and from updates and deletes to the item's reads: a stateful client (schemathesis)
/// walks create, read, update, act, disable, delete with the ids the API answered.
fn add_links(paths: &mut Map<String, Value>, routes: &[RouteSpec]) {
    let op_of = |spec: &RouteSpec| spec.method.as_str().to_lowercase();
    for maker in routes
        .iter()
        .filter(|r| r.method == http::Method::POST && r.success < 300 && !r.path.ends_with('}'))
    {
        let prefix = format!("{}/{{", maker.path);
        let Some(param) = routes
            .iter()
            .filter_map(|r| r.path.strip_prefix(&prefix))
            .find_map(|rest| rest.split('}').next())
        else {
            continue;
        };
        let Some(made) = created_value(&maker.path, param) else {
            continue;
        };
        let mut links = Map::new();
        for target in routes.iter().filter(|r| r.path.starts_with(&prefix)) {
            let mut parameters = Map::new();
            for p in path_params(&target.path) {
                if path_params(&maker.path).contains(&p) {
                    parameters.insert(format!("path.{p}"), json!(format!("$request.path.{p}")));
                } else if p == param {
                    parameters.insert(format!("path.{p}"), json!(made));
                } else if p == "operationId"
                    && matches!(maker.reply, Reply::OperationAndResource(_))
                {
                    parameters.insert(
                        "path.operationId".into(),
                        json!("$response.body#/operation/id"),
                    );
                } else if p == "role" && param == "principalId" {
                    parameters.insert("path.role".into(), json!("$request.body#/role"));
                }
            }
            if target.if_match {
                // Any current version: the item changes as its install runs.
                parameters.insert("header.If-Match".into(), json!("*"));
            }
            links.insert(
                target.operation_id.clone(),
                json!({ "operationId": target.operation_id, "parameters": parameters }),
            );
        }
        let status = maker.success.to_string();
        if let Some(response) = paths
            .get_mut(&maker.path)
            .and_then(|p| p.get_mut(op_of(maker)))
            .and_then(|o| o["responses"].get_mut(&status))
        {
            response["links"] = Value::Object(links);
        }
    }
    // After an update or a delete: read the item and the operation that was started.
    for changer in routes.iter().filter(|r| {
        (r.method == http::Method::PATCH || r.method == http::Method::DELETE)
            && matches!(
                r.reply,
                Reply::OperationAndResource(_) | Reply::OperationOnly
            )
    }) {
        let mut links = Map::new();
        for target in routes.iter().filter(|r| {
            r.method == http::Method::GET
                && (r.path == changer.path
                    || r.path == format!("{}/operations/{{operationId}}", changer.path))
        }) {
            let mut parameters = Map::new();
            for p in path_params(&target.path) {
                let value = if p == "operationId" {
                    "$response.body#/operation/id".to_string()
                } else {
                    format!("$request.path.{p}")
                };
                parameters.insert(format!("path.{p}"), json!(value));
            }
            links.insert(
                target.operation_id.clone(),
                json!({ "operationId": target.operation_id, "parameters": parameters }),
            );
        }
        let status = changer.success.to_string();
        if let Some(response) = paths
            .get_mut(&changer.path)
            .and_then(|p| p.get_mut(op_of(changer)))
            .and_then(|o| o["responses"].get_mut(&status))
        {
            response["links"] = Value::Object(links);
        }
    }
}

/// The document as served, rendered once, when first asked for: a Lambda that is never asked
/// does not pay for it before its first answer (its cold start).
static RENDERED: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not render the OpenAPI document");
        "{}".into()
    })
});

/// `GET /api/openapi.json`
pub(crate) async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        RENDERED.as_str(),
    )
        .into_response()
}
