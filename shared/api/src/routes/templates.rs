//! Template routes (served by the `api-templates` Lambda) and their handlers. Paths follow
//! Azure TRE: one collection per kind, user-resource templates also under their
//! workspace-service template, and a workspace's view of what its people may use.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use tre_core::app::{Caller, RegisterTemplate};
use tre_core::domain::{ResourceKind, Template as DomainTemplate};

use super::spec::{QueryParam, Reply, Route, RouteGroup, Routes};
use crate::body::RawJson;
use crate::path::{
    ApiPath, ServiceTemplatePath, TemplatePath, WorkspacePath, WorkspaceTemplatePath,
};
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;
use crate::wire::template::{Template, TemplateInfo};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateAction {
    List(ResourceKind),
    Register(ResourceKind),
    Get(ResourceKind),
    Versions(ResourceKind),
    /// `/api/workspace-service-templates/{templateName}/user-resource-templates[...]`
    ListOfService,
    RegisterOfService,
    GetOfService,
    VersionsOfService,
    /// `/api/workspaces/{workspaceId}/workspace-service-templates`
    ListInWorkspace,
    /// `/api/workspaces/{workspaceId}/workspace-service-templates/{templateName}/user-resource-templates`
    ListOfServiceInWorkspace,
}

/// The collection of a kind's templates. `/api/user-resource-templates` is ours (every
/// user-resource template, whatever its service); Azure TRE has only the nested one.
pub fn template_base(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Workspace => "/api/workspace-templates",
        ResourceKind::WorkspaceService => "/api/workspace-service-templates",
        ResourceKind::UserResource => "/api/user-resource-templates",
        ResourceKind::SharedService => "/api/shared-service-templates",
    }
}

const NESTED: &str = "/api/workspace-service-templates/{templateName}/user-resource-templates";

const VERSION_QUERY: QueryParam = (
    "version",
    false,
    "A specific version instead of the current one",
);
const IS_UPDATE_QUERY: QueryParam = (
    "is_update",
    false,
    "`true`: properties that cannot change after install carry `readOnly: true`",
);
const AUTHORIZED_ONLY_QUERY: QueryParam = (
    "authorized_only",
    false,
    "`true`: only templates whose `authorizedRoles` the caller holds one of",
);

pub(crate) fn routes() -> Vec<Route<TemplateAction>> {
    use TemplateAction as T;
    let mut r = Routes::new(RouteGroup::Templates, "templates");
    let list = Reply::ListOf("templates", "TemplateInfo");
    let one = Reply::Schema("Template");
    let versions = Reply::ListOf("templates", "Template");
    for kind in ResourceKind::ALL {
        let base = template_base(kind);
        let n = match kind {
            ResourceKind::Workspace => "Workspace",
            ResourceKind::WorkspaceService => "WorkspaceService",
            ResourceKind::UserResource => "UserResource",
            ResourceKind::SharedService => "SharedService",
        };
        let k = kind.as_str().replace('_', "-");
        let listed = r
            .get(base, T::List(kind))
            .id(format!("list{n}Templates"))
            .summary(format!("The current version of every {k} template"))
            .answers(200, list.clone());
        if matches!(kind, ResourceKind::Workspace | ResourceKind::SharedService) {
            listed.query([AUTHORIZED_ONLY_QUERY]);
        }
        r.post(base, T::Register(kind))
            .id(format!("register{n}Template"))
            .summary(format!("Register a {k} template version, in Azure TRE's shape (`json_schema`) or ours (`parameters`) (TREAdmin)"))
            .body("RegisterTemplate")
            .answers(201, one.clone());
        r.get(format!("{base}/{{templateName}}"), T::Get(kind))
            .id(format!("get{n}Template"))
            .summary("A template: the current version, or `version`")
            .answers(200, one.clone())
            .query([IS_UPDATE_QUERY, VERSION_QUERY]);
        r.get(
            format!("{base}/{{templateName}}/versions"),
            T::Versions(kind),
        )
        .id(format!("list{n}TemplateVersions"))
        .summary("Every registered version of a template, oldest first")
        .answers(200, versions.clone());
    }
    r.get(NESTED, T::ListOfService)
        .id("listServiceUserResourceTemplates")
        .summary("The current user-resource templates of a workspace-service template")
        .answers(200, list.clone());
    r.post(NESTED, T::RegisterOfService)
        .id("registerServiceUserResourceTemplate")
        .summary("Register a user-resource template version under a workspace-service template (TREAdmin)")
        .body("RegisterTemplate")
        .answers(201, one.clone());
    r.get(format!("{NESTED}/{{userResourceTemplateName}}"), T::GetOfService)
        .id("getServiceUserResourceTemplate")
        .summary("A user-resource template of a workspace-service template: the current version, or `version`")
        .answers(200, one)
        .query([IS_UPDATE_QUERY, VERSION_QUERY]);
    r.get(
        format!("{NESTED}/{{userResourceTemplateName}}/versions"),
        T::VersionsOfService,
    )
    .id("listServiceUserResourceTemplateVersions")
    .summary("Every registered version of a user-resource template, oldest first")
    .answers(200, versions);
    let in_ws = "/api/workspaces/{workspaceId}/workspace-service-templates";
    r.get(in_ws, T::ListInWorkspace)
        .id("listWorkspaceServiceTemplatesInWorkspace")
        .summary("The workspace-service templates the caller may use in a workspace (its people and TRE admins)")
        .answers(200, list.clone());
    r.get(format!("{in_ws}/{{templateName}}/user-resource-templates"), T::ListOfServiceInWorkspace)
        .id("listUserResourceTemplatesInWorkspace")
        .summary("The user-resource templates of a workspace-service template the caller may use in a workspace")
        .answers(200, list);
    r.into_routes()
}

type S = State<ApiState>;
type C = Extension<Caller>;
type Q<T> = Result<Query<T>, QueryRejection>;

pub(crate) fn method_router(
    action: TemplateAction,
    filter: MethodFilter,
) -> MethodRouter<ApiState> {
    use TemplateAction as T;
    match action {
        T::List(k) => on(filter, move |s: S, c: C, q: Q<ListQuery>| list(k, s, c, q)),
        T::Register(k) => on(filter, move |s: S, c: C, b: RawJson| register(k, s, c, b)),
        T::Get(k) => on(
            filter,
            move |s: S, c: C, p: ApiPath<TemplatePath>, q: Q<GetQuery>| get(k, s, c, p, q),
        ),
        T::Versions(k) => on(filter, move |s: S, c: C, p: ApiPath<TemplatePath>| {
            versions(k, s, c, p)
        }),
        T::ListOfService => on(filter, list_of_service),
        T::RegisterOfService => on(filter, register_of_service),
        T::GetOfService => on(filter, get_of_service),
        T::VersionsOfService => on(filter, versions_of_service),
        T::ListInWorkspace => on(filter, list_in_workspace),
        T::ListOfServiceInWorkspace => on(filter, list_of_service_in_workspace),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    authorized_only: Option<String>,
}

#[derive(Deserialize)]
struct GetQuery {
    version: Option<String>,
    is_update: Option<String>,
}

/// A query flag: `true`/`false` in any case (and `1`/`0`), absent meaning false.
fn flag(name: &str, value: Option<&str>) -> Result<bool, Problem> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("query: `{name}` must be true or false, not `{other}`"),
        )),
    }
}

fn query<T>(q: Q<T>) -> Result<T, Problem> {
    q.map(|Query(q)| q)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("query: {e}")))
}

fn listed(templates: &[DomainTemplate]) -> ApiResult {
    let items: Vec<TemplateInfo> = templates.iter().map(TemplateInfo::from).collect();
    Ok(Json(json!({ "templates": items })).into_response())
}

fn all_versions(templates: &[DomainTemplate]) -> ApiResult {
    let items: Vec<Template> = templates.iter().map(|t| Template::new(t, false)).collect();
    Ok(Json(json!({ "templates": items })).into_response())
}

fn created(t: &DomainTemplate) -> ApiResult {
    Ok((StatusCode::CREATED, Json(Template::new(t, false))).into_response())
}

async fn list(kind: ResourceKind, State(s): S, Extension(c): C, q: Q<ListQuery>) -> ApiResult {
    let q = query(q)?;
    let mut items = s.app.list_templates(&c, kind).await?;
    if flag("authorized_only", q.authorized_only.as_deref())? {
        items = s.app.authorized_for(&c, items);
    }
    listed(&items)
}

async fn register(kind: ResourceKind, State(s): S, Extension(c): C, body: RawJson) -> ApiResult {
    c.require_admin("register templates")?;
    created(&s.app.register_template(&c, kind, body.parse()?).await?)
}

async fn get(
    kind: ResourceKind,
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<TemplatePath>,
    q: Q<GetQuery>,
) -> ApiResult {
    let q = query(q)?;
    let is_update = flag("is_update", q.is_update.as_deref())?;
    let t = s
        .app
        .get_template(&c, kind, &p.template_name, q.version.as_deref())
        .await?;
    Ok(Json(Template::new(&t, is_update)).into_response())
}

async fn versions(
    kind: ResourceKind,
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<TemplatePath>,
) -> ApiResult {
    let items = s.app.template_versions(&c, kind, &p.template_name).await?;
    all_versions(&items)
}

async fn list_of_service(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<TemplatePath>,
) -> ApiResult {
    let items = s
        .app
        .list_user_resource_templates(&c, &p.template_name)
        .await?;
    listed(&items)
}

async fn register_of_service(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<TemplatePath>,
    body: RawJson,
) -> ApiResult {
    c.require_admin("register templates")?;
    let body: RegisterTemplate = body.parse()?;
    let t = s
        .app
        .register_user_resource_template(&c, &p.template_name, body)
        .await?;
    created(&t)
}

async fn get_of_service(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<ServiceTemplatePath>,
    q: Q<GetQuery>,
) -> ApiResult {
    let q = query(q)?;
    let is_update = flag("is_update", q.is_update.as_deref())?;
    let t = s
        .app
        .get_user_resource_template(
            &c,
            &p.template_name,
            &p.user_resource_template_name,
            q.version.as_deref(),
        )
        .await?;
    Ok(Json(Template::new(&t, is_update)).into_response())
}

async fn versions_of_service(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<ServiceTemplatePath>,
) -> ApiResult {
    let items = s
        .app
        .user_resource_template_versions(&c, &p.template_name, &p.user_resource_template_name)
        .await?;
    all_versions(&items)
}

async fn list_in_workspace(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspacePath>,
) -> ApiResult {
    let items = s.app.workspace_templates(&c, &p.workspace_id, None).await?;
    listed(&items)
}

async fn list_of_service_in_workspace(
    State(s): S,
    Extension(c): C,
    ApiPath(p): ApiPath<WorkspaceTemplatePath>,
) -> ApiResult {
    let items = s
        .app
        .workspace_templates(&c, &p.workspace_id, Some(&p.template_name))
        .await?;
    listed(&items)
}
