//! Authorisation matrix: every route of the route table, called as every role, anonymously and
//! with every kind of bad token, compared with the authorisation rules (ARCHITECTURE.md) restated
//! here (independently of the code that enforces them).

use http::Method;
use serde_json::json;
use tre_api::routes::airlock::AirlockAction;
use tre_api::routes::audit::AuditAction;
use tre_api::routes::data_sources::DataSourceAction;
use tre_api::routes::identity::IdentityAction;
use tre_api::routes::resources::ResourceAction as R;
use tre_api::routes::templates::TemplateAction;
use tre_api::routes::users::UserAction;
use tre_api::routes::{route_table, Action, RouteSpec};
use tre_core::domain::ResourceKind;
use tre_e2e::{create, register_sample_templates, TestStack};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    Hidden,
    Unauthenticated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Owner,
    Researcher,
    Manager,
    NoRole,
}

impl Who {
    const ALL: [Who; 5] = [
        Who::Admin,
        Who::Owner,
        Who::Researcher,
        Who::Manager,
        Who::NoRole,
    ];
    fn user(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Owner => "owner",
            Who::Researcher => "researcher",
            Who::Manager => "airlock-manager",
            Who::NoRole => "norole",
        }
    }
}

/// The rules, restated. `in_b`: the route points into workspace B, where only the admin is
/// known; everyone else holds their role in workspace A only.
fn expected(route: &RouteSpec, who: Who, in_b: bool) -> Outcome {
    use Outcome::*;
    if who == Who::NoRole {
        return Forbidden;
    }
    if let Action::Airlock(a) = route.action {
        return airlock_expected(a, who, in_b);
    }
    if let Action::DataSources(d) = route.action {
        return data_source_expected(d, who, in_b);
    }
    // Any TRE user gets a token (what it allows is the registry's business) and may ask who
    // they are.
    if matches!(
        route.action,
        Action::Identity(IdentityAction::RegistryToken | IdentityAction::Me)
            | Action::Resources(R::MyOperations)
            | Action::Notifications(_)
    ) {
        return Allowed;
    }
    if who == Who::Admin {
        return Allowed;
    }
    // The whole audit trail is for TRE admins; a workspace's chain for its owners too.
    match route.action {
        Action::Audit(AuditAction::List | AuditAction::Chains) => return Forbidden,
        Action::Audit(AuditAction::Workspace | AuditAction::Reconcile) if in_b => return Hidden,
        Action::Audit(AuditAction::Workspace | AuditAction::Reconcile) if who == Who::Owner => {
            return Allowed
        }
        Action::Audit(AuditAction::Workspace | AuditAction::Reconcile) => return Forbidden,
        _ => {}
    }
    let write = route.method != Method::GET;
    if in_b {
        return Hidden;
    }
    match route.action {
        // Every member of a workspace may learn the scope to ask tokens for in it.
        Action::Resources(R::WorkspaceScopeId) => Allowed,
        // Templates are for every TRE user to read (a workspace's view, for its people) and
        // for TRE admins to register.
        Action::Templates(TemplateAction::Register(_) | TemplateAction::RegisterOfService) => {
            Forbidden
        }
        Action::Templates(_) => Allowed,
        // Who holds which role is managed (and seen) by TRE admins and the workspace's owners.
        Action::Users(_) => {
            if who == Who::Owner {
                Allowed
            } else {
                Forbidden
            }
        }
        a => {
            let kind = match a {
                Action::Resources(
                    R::List(k)
                    | R::Create(k)
                    | R::Get(k)
                    | R::Patch(k)
                    | R::Delete(k)
                    | R::InvokeAction(k)
                    | R::ListOperations(k)
                    | R::GetOperation(k)
                    | R::History(k),
                ) => k,
                _ => unreachable!("meta routes are not authenticated"),
            };
            let collection = matches!(a, Action::Resources(R::List(_) | R::Create(_)));
            match kind {
                ResourceKind::Workspace | ResourceKind::SharedService if write => Forbidden,
                ResourceKind::Workspace | ResourceKind::SharedService => Allowed,
                ResourceKind::WorkspaceService if !write => Allowed,
                ResourceKind::WorkspaceService if who == Who::Owner => Allowed,
                ResourceKind::WorkspaceService => Forbidden,
                ResourceKind::UserResource => match (who, collection, write) {
                    (_, true, false) => Allowed,
                    (Who::Owner | Who::Researcher, _, _) => Allowed,
                    (_, true, true) => Forbidden,
                    // The user resource belongs to the researcher: an airlock manager
                    // cannot even see it.
                    _ => Hidden,
                },
            }
        }
    }
}

/// The airlock's rules, restated. Each call acts on a fresh draft the researcher opened in A.
/// The data of a workspace is for its own people: a TREAdmin without a role there sees none.
/// An allowed call may still be refused by the draft's status (409) or its content (400).
fn airlock_expected(a: AirlockAction, who: Who, in_b: bool) -> Outcome {
    use AirlockAction as L;
    use Outcome::*;
    if matches!(a, L::ReviewQueue | L::MyRequests) {
        return Allowed;
    }
    if who == Who::Admin || in_b {
        return Hidden;
    }
    let allow = |ok: bool| if ok { Allowed } else { Forbidden };
    match a {
        L::List | L::Get => Allowed,
        L::Create => allow(matches!(who, Who::Owner | Who::Researcher)),
        L::AddFile | L::CompleteFile | L::RemoveFile | L::Submit => allow(who == Who::Researcher),
        L::Cancel => allow(matches!(who, Who::Owner | Who::Researcher)),
        // Nothing of a draft can be read through a link; only its requester uploads to it.
        L::DownloadLink => Forbidden,
        L::Link => allow(who == Who::Researcher),
        L::Review | L::Revoke | L::ReviewUserResource => allow(who == Who::Manager),
        // Others are refused; the manager may ask, but has none for a fresh draft (404).
        L::GetReviewUserResource if who == Who::Manager => Hidden,
        L::GetReviewUserResource => Forbidden,
        L::ReviewQueue | L::MyRequests => Allowed,
    }
}

/// A request id where the caller has no business (workspace B, or anonymous calls).
const NO_REQUEST: &str = "00000000-0000-4000-8000-000000000000";

fn classify(status: u16) -> Outcome {
    match status {
        401 => Outcome::Unauthenticated,
        403 => Outcome::Forbidden,
        404 => Outcome::Hidden,
        s if s < 500 => Outcome::Allowed,
        s => panic!("server error {s}"),
    }
}

struct Ids {
    ws: String,
    svc: String,
    ur: String,
    op_ws: String,
    op_svc: String,
    op_ur: String,
    /// A registered data source (they are TRE-wide: the same in both fixtures).
    ds: String,
}

async fn workspace_fixture(t: &TestStack, admin: &str) -> Ids {
    let ws = create(t, "/api/workspaces", admin, "ws-base", "ws").await;
    let svc_path = format!("/api/workspaces/{ws}/workspace-services");
    let svc = create(t, &svc_path, admin, "svc-notebook", "svc").await;
    let ur_path = format!("{svc_path}/{svc}/user-resources");
    let ur = create(t, &ur_path, admin, "ur-vm", "vm").await;
    let op = |path: String| async move {
        let v = t.get(&format!("{path}/operations"), admin).await;
        v.body["operations"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Ids {
        op_ws: op(format!("/api/workspaces/{ws}")).await,
        op_svc: op(format!("{svc_path}/{svc}")).await,
        op_ur: op(format!("{ur_path}/{ur}")).await,
        ws,
        svc,
        ur,
        ds: String::new(),
    }
}

fn fill(route: &RouteSpec, ids: &Ids, shared: &str, op_shared: &str, who: &str) -> String {
    let op = match route.action {
        Action::Resources(R::GetOperation(ResourceKind::Workspace)) => &ids.op_ws,
        Action::Resources(R::GetOperation(ResourceKind::WorkspaceService)) => &ids.op_svc,
        Action::Resources(R::GetOperation(ResourceKind::UserResource)) => &ids.op_ur,
        _ => op_shared,
    };
    let template = match route.action {
        Action::Templates(TemplateAction::Get(k) | TemplateAction::Versions(k)) => match k {
            ResourceKind::Workspace => "ws-base",
            ResourceKind::WorkspaceService => "svc-notebook",
            ResourceKind::UserResource => "ur-vm",
            ResourceKind::SharedService => "shared-mirror",
        },
        // The nested routes' `{templateName}` is the workspace-service template.
        Action::Templates(_) => "svc-notebook",
        _ => "",
    };
    let mut path = route
        .path
        .replace("{workspaceId}", &ids.ws)
        .replace("{chain}", &ids.ws)
        .replace("{serviceId}", &ids.svc)
        .replace("{userResourceId}", &ids.ur)
        .replace("{sharedServiceId}", shared)
        .replace("{operationId}", op)
        .replace("{templateName}", template)
        .replace("{userResourceTemplateName}", "ur-vm")
        .replace("{principalId}", &format!("victim-{who}"))
        .replace("{role}", "WorkspaceResearcher")
        .replace("{requestId}", NO_REQUEST)
        .replace("{fileName}", "data.csv")
        .replace("{dataSourceId}", &ids.ds);
    // Only the required query parameters; optional ones are left out.
    let mut query = Vec::new();
    for (name, required, _) in &route.query {
        if *required {
            let value = match *name {
                "user_id" => format!("unassign-victim-{who}"),
                "role_id" => "WorkspaceResearcher".to_string(),
                _ => "restart".to_string(),
            };
            query.push(format!("{name}={value}"));
        }
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

fn body_for(route: &RouteSpec, ids: &Ids, who: &str, n: usize) -> Option<serde_json::Value> {
    let template = |k: ResourceKind| match k {
        ResourceKind::Workspace => "ws-base",
        ResourceKind::WorkspaceService => "svc-notebook",
        ResourceKind::UserResource => "ur-vm",
        ResourceKind::SharedService => "shared-mirror",
    };
    match route.action {
        Action::Templates(TemplateAction::Register(_) | TemplateAction::RegisterOfService) => {
            Some(json!({
                "name": format!("t-{who}-{n}"), "version": "1.0.0",
                "parameters": {"type": "object", "properties": {}}
            }))
        }
        Action::Resources(R::Create(k)) => {
            Some(json!({"templateName": template(k), "properties": {"display_name": "x"}}))
        }
        Action::Resources(R::Patch(_)) => Some(json!({"properties": {"display_name": "renamed"}})),
        Action::Users(UserAction::Assign) => {
            Some(json!({"principalId": format!("extra-{who}-{n}"), "role": "AirlockManager"}))
        }
        Action::Users(UserAction::AssignUsers) => {
            Some(json!({"role_id": "AirlockManager", "user_ids": [format!("extra-{who}-{n}")]}))
        }
        Action::DataSources(DataSourceAction::Register) => Some(data_source_body(who, n)),
        Action::DataSources(DataSourceAction::Bind) => Some(json!({"dataSourceId": ids.ds})),
        Action::DataSources(DataSourceAction::AddFile) => Some(json!({"name": "data.csv"})),
        Action::DataSources(DataSourceAction::Review) => {
            Some(json!({"decision": "approve", "comment": "matrix"}))
        }
        Action::Airlock(AirlockAction::Create) => Some(
            json!({"type": "import", "title": format!("t-{who}-{n}"), "businessJustification": "matrix"}),
        ),
        Action::Airlock(AirlockAction::AddFile) => Some(json!({"name": "data.csv"})),
        Action::Airlock(AirlockAction::CompleteFile) => {
            Some(json!({"uploadId": "none", "parts": []}))
        }
        Action::Airlock(AirlockAction::Review) => {
            Some(json!({"approval": true, "decisionExplanation": "matrix"}))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_as_every_caller() {
    let t = TestStack::start().await.expect("stack starts");
    let admin = t.token("admin");
    register_sample_templates(&t, &admin).await;

    let a = workspace_fixture(&t, &admin).await;
    let b = workspace_fixture(&t, &admin).await;
    for (ws, who, role) in [
        (&a.ws, "dev-owner", "WorkspaceOwner"),
        (&a.ws, "dev-researcher", "WorkspaceResearcher"),
        (&a.ws, "dev-airlock-manager", "AirlockManager"),
    ] {
        t.post_ok(
            &format!("/api/workspaces/{ws}/role-assignments"),
            &admin,
            &json!({"principalId": who, "role": role}),
            201,
        )
        .await;
    }
    // A's user resource under test belongs to the researcher, who can create it only now
    // that they hold a role in A.
    let ur_path = format!(
        "/api/workspaces/{}/workspace-services/{}/user-resources",
        a.ws, a.svc
    );
    let ur = create(&t, &ur_path, &t.token("researcher"), "ur-vm", "mine").await;
    let ds = t
        .post_ok(
            "/api/datasources",
            &admin,
            &data_source_body("fixture", 0),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let b = Ids {
        ds: ds.clone(),
        ..b
    };
    let a = Ids {
        ds,
        op_ur: t
            .get(&format!("{ur_path}/{ur}/operations"), &admin)
            .await
            .body["operations"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ur,
        ..a
    };
    // Every caller gets a "victim" assignment to try to remove, in both workspaces, one for
    // each route that removes.
    for who in Who::ALL {
        for ws in [&a.ws, &b.ws] {
            for victim in ["victim", "unassign-victim"] {
                t.post_ok(
                    &format!("/api/workspaces/{ws}/role-assignments"),
                    &admin,
                    &json!({"principalId": format!("{victim}-{}", who.user()), "role": "WorkspaceResearcher"}),
                    201,
                )
                .await;
            }
        }
    }
    let shared = create(&t, "/api/shared-services", &admin, "shared-mirror", "m").await;
    let op_shared = t
        .get(&format!("/api/shared-services/{shared}/operations"), &admin)
        .await
        .body["operations"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let bad_tokens = tre_e2e::bad_tokens(&t);
    let routes: Vec<RouteSpec> = route_table()
        .into_iter()
        .filter(|r| r.authenticated)
        .collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, route) in routes.iter().enumerate() {
        let targets: Vec<(&Ids, bool)> =
            if route.path.contains("{workspaceId}") || route.path.contains("{chain}") {
                vec![(&a, false), (&b, true)]
            } else {
                vec![(&a, false)]
            };
        for (ids, in_b) in targets {
            for who in Who::ALL {
                let token = t.token(who.user());
                let mut path = fill(route, ids, &shared, &op_shared, who.user());
                if route.path.contains("{requestId}") && !in_b {
                    let draft = t
                        .post_ok(
                            &format!("/api/workspaces/{}/requests", a.ws),
                            &t.token("researcher"),
                            &json!({"type": "export", "title": "matrix", "businessJustification": "matrix"}),
                            201,
                        )
                        .await;
                    let id = draft["airlockRequest"]["id"].as_str().unwrap_or_default();
                    path = path.replace(NO_REQUEST, id);
                }
                let body = body_for(route, ids, who.user(), n);
                let if_match = route.if_match.then_some("\"999\"");
                let r = t
                    .call(
                        route.method.clone(),
                        &path,
                        Some(&token),
                        body.as_ref(),
                        if_match,
                    )
                    .await;
                let got = classify(r.status);
                let want = expected(route, who, in_b);
                checked += 1;
                if got != want {
                    failures.push(format!(
                        "{} {path} as {who:?}: expected {want:?}, got {} {}",
                        route.method, r.status, r.body
                    ));
                }
            }
            // Anonymous and every bad token kind: 401, and nothing else learned.
            let path = fill(route, ids, &shared, &op_shared, "nobody");
            let body = body_for(route, ids, "nobody", n);
            let mut attempts: Vec<(String, Option<String>)> = vec![("anonymous".into(), None)];
            attempts.extend(bad_tokens.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
            for (kind, token) in attempts {
                let r = t
                    .call(
                        route.method.clone(),
                        &path,
                        token.as_deref(),
                        body.as_ref(),
                        None,
                    )
                    .await;
                checked += 1;
                if r.status != 401 {
                    failures.push(format!(
                        "{} {path} with {kind}: expected 401, got {}",
                        route.method, r.status
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 500, "the matrix ran only {checked} checks");
}

/// Data sources are TRE-wide and managed by TRE admins; a workspace's people see what is bound
/// to it. The fixture's source is not bound anywhere, so no one gets a link to it.
fn data_source_expected(d: DataSourceAction, who: Who, in_b: bool) -> Outcome {
    use DataSourceAction as D;
    use Outcome::*;
    match d {
        D::Link => Hidden,
        D::ListBound if who == Who::Admin => Allowed,
        D::ListBound if in_b => Hidden,
        D::ListBound => Allowed,
        _ if who == Who::Admin => Allowed,
        _ => Forbidden,
    }
}

fn data_source_body(who: &str, n: usize) -> serde_json::Value {
    json!({
        "kind": "Import", "displayName": format!("ds-{who}-{n}"), "project": "matrix",
        "licence": "CC-BY-4.0",
        "publisher": {"organisation": "o", "contactName": "n", "contactRole": "r"},
        "connection": {"type": "https", "baseUrl": "https://data.example.org/"},
        "objects": ["a.csv"]
    })
}
