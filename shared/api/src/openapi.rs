//! The OpenAPI 3.1 document, generated from the route table (paths) and from the Rust types
//! (component schemas, by utoipa), so it cannot drift from what the code does.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::routes::{path_params, route_table, Reply, RouteSpec};

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
        crate::handlers::Health,
        crate::handlers::ServiceHealth,
        crate::handlers::Metadata,
        crate::handlers::WorkspaceAuth,
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

fn operation(spec: &RouteSpec) -> Value {
    let mut parameters: Vec<Value> = path_params(&spec.path)
        .into_iter()
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    for (name, required, description) in &spec.query {
        parameters.push(json!({
            "name": name, "in": "query", "required": required, "description": description,
            "schema": { "type": "string" }
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
        op["requestBody"] = json!({
            "required": !spec.request_optional,
            "content": { "application/json": { "schema": schema_ref(req) } }
        });
    }
    op
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
    }
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let mut paths = Map::new();
    for spec in route_table() {
        let entry = paths.entry(spec.path.clone()).or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_lowercase()] = operation(&spec);
    }
    doc["paths"] = Value::Object(paths);
    doc["components"]["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
    });
    doc
}
