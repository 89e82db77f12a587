//! Template routes (served by the `api-templates` Lambda) and their handlers. Paths follow
//! Azure TRE: one collection per kind, user-resource templates also under their
//! workspace-service template, and a workspace's view of what its people may use.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use http::Method;
use serde::Deserialize;
use serde_json::json;
use tre_core::app::{Caller, RegisterTemplate};
use tre_core::domain::{ResourceKind, Template as DomainTemplate};

use crate::body::RawJson;
use crate::handlers::{param, params, ApiResult, Params};
use crate::problem::Problem;
use crate::router::ApiState;
use crate::routes::{Action, Builder, Reply, RouteGroup};
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

const VERSION_QUERY: (&str, bool, &str) = (
    "version",
    false,
    "A specific version instead of the current one",
);
const IS_UPDATE_QUERY: (&str, bool, &str) = (
    "is_update",
    false,
    "`true`: properties that cannot change after install carry `readOnly: true`",
);
const AUTHORIZED_ONLY_QUERY: (&str, bool, &str) = (
    "authorized_only",
    false,
    "`true`: only templates whose `authorizedRoles` the caller holds one of",
);

pub(crate) fn add(b: &mut Builder) {
    use TemplateAction as T;
    let g = RouteGroup::Templates;
    let tag = "templates";
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
        b.add(
            Action::Templates(T::List(kind)),
            Method::GET,
            base,
            g,
            format!("list{n}Templates"),
            format!("The current version of every {k} template"),
            tag,
            None,
            200,
            list.clone(),
        )
        .query = if matches!(kind, ResourceKind::Workspace | ResourceKind::SharedService) {
            vec![AUTHORIZED_ONLY_QUERY]
        } else {
            Vec::new()
        };
        b.add(
            Action::Templates(T::Register(kind)),
            Method::POST,
            base,
            g,
            format!("register{n}Template"),
            format!("Register a {k} template version, in Azure TRE's shape (`json_schema`) or ours (`parameters`) (TREAdmin)"),
            tag,
            Some("RegisterTemplate"),
            201,
            one.clone(),
        );
        b.add(
            Action::Templates(T::Get(kind)),
            Method::GET,
            format!("{base}/{{templateName}}"),
            g,
            format!("get{n}Template"),
            "A template: the current version, or `version`",
            tag,
            None,
            200,
            one.clone(),
        )
        .query = vec![IS_UPDATE_QUERY, VERSION_QUERY];
        b.add(
            Action::Templates(T::Versions(kind)),
            Method::GET,
            format!("{base}/{{templateName}}/versions"),
            g,
            format!("list{n}TemplateVersions"),
            "Every registered version of a template, oldest first",
            tag,
            None,
            200,
            versions.clone(),
        );
    }
    b.add(
        Action::Templates(T::ListOfService),
        Method::GET,
        NESTED,
        g,
        "listServiceUserResourceTemplates".into(),
        "The current user-resource templates of a workspace-service template",
        tag,
        None,
        200,
        list.clone(),
    );
    b.add(
        Action::Templates(T::RegisterOfService),
        Method::POST,
        NESTED,
        g,
        "registerServiceUserResourceTemplate".into(),
        "Register a user-resource template version under a workspace-service template (TREAdmin)",
        tag,
        Some("RegisterTemplate"),
        201,
        one.clone(),
    );
    b.add(
        Action::Templates(T::GetOfService),
        Method::GET,
        format!("{NESTED}/{{userResourceTemplateName}}"),
        g,
        "getServiceUserResourceTemplate".into(),
        "A user-resource template of a workspace-service template: the current version, or `version`",
        tag,
        None,
        200,
        one,
    )
    .query = vec![IS_UPDATE_QUERY, VERSION_QUERY];
    b.add(
        Action::Templates(T::VersionsOfService),
        Method::GET,
        format!("{NESTED}/{{userResourceTemplateName}}/versions"),
        g,
        "listServiceUserResourceTemplateVersions".into(),
        "Every registered version of a user-resource template, oldest first",
        tag,
        None,
        200,
        versions,
    );
    let in_ws = "/api/workspaces/{workspaceId}/workspace-service-templates";
    b.add(
        Action::Templates(T::ListInWorkspace),
        Method::GET,
        in_ws,
        g,
        "listWorkspaceServiceTemplatesInWorkspace".into(),
        "The workspace-service templates the caller may use in a workspace (its people and TRE admins)",
        tag,
        None,
        200,
        list.clone(),
    );
    b.add(
        Action::Templates(T::ListOfServiceInWorkspace),
        Method::GET,
        format!("{in_ws}/{{templateName}}/user-resource-templates"),
        g,
        "listUserResourceTemplatesInWorkspace".into(),
        "The user-resource templates of a workspace-service template the caller may use in a workspace",
        tag,
        None,
        200,
        list,
    );
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
        T::Get(k) => on(filter, move |s: S, c: C, p: Params, q: Q<GetQuery>| {
            get(k, s, c, p, q)
        }),
        T::Versions(k) => on(filter, move |s: S, c: C, p: Params| versions(k, s, c, p)),
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
    p: Params,
    q: Q<GetQuery>,
) -> ApiResult {
    let m = params(p)?;
    let q = query(q)?;
    let is_update = flag("is_update", q.is_update.as_deref())?;
    let t = s
        .app
        .get_template(&c, kind, param(&m, "templateName")?, q.version.as_deref())
        .await?;
    Ok(Json(Template::new(&t, is_update)).into_response())
}

async fn versions(kind: ResourceKind, State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .template_versions(&c, kind, param(&m, "templateName")?)
        .await?;
    all_versions(&items)
}

async fn list_of_service(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .list_user_resource_templates(&c, param(&m, "templateName")?)
        .await?;
    listed(&items)
}

async fn register_of_service(State(s): S, Extension(c): C, p: Params, body: RawJson) -> ApiResult {
    c.require_admin("register templates")?;
    let body: RegisterTemplate = body.parse()?;
    let m = params(p)?;
    let t = s
        .app
        .register_user_resource_template(&c, param(&m, "templateName")?, body)
        .await?;
    created(&t)
}

async fn get_of_service(State(s): S, Extension(c): C, p: Params, q: Q<GetQuery>) -> ApiResult {
    let m = params(p)?;
    let q = query(q)?;
    let is_update = flag("is_update", q.is_update.as_deref())?;
    let t = s
        .app
        .get_user_resource_template(
            &c,
            param(&m, "templateName")?,
            param(&m, "userResourceTemplateName")?,
            q.version.as_deref(),
        )
        .await?;
    Ok(Json(Template::new(&t, is_update)).into_response())
}

async fn versions_of_service(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .user_resource_template_versions(
            &c,
            param(&m, "templateName")?,
            param(&m, "userResourceTemplateName")?,
        )
        .await?;
    all_versions(&items)
}

async fn list_in_workspace(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .workspace_templates(&c, param(&m, "workspaceId")?, None)
        .await?;
    listed(&items)
}

async fn list_of_service_in_workspace(State(s): S, Extension(c): C, p: Params) -> ApiResult {
    let m = params(p)?;
    let items = s
        .app
        .workspace_templates(
            &c,
            param(&m, "workspaceId")?,
            Some(param(&m, "templateName")?),
        )
        .await?;
    listed(&items)
}
