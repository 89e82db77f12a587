//! AWS calls per API operation and per status message, counted at the SDK (an interceptor on
//! the adapters' clients, `tre_aws::CallCounter`) while the Lambdas' routers and the status
//! consumer run on the AWS adapters against moto server. The budgets are asserted: calls are
//! counted, not timed, so this is a test. With `--nocapture` it prints the Markdown table
//! README's "AWS calls per operation" shows:
//!
//! `cargo test -p tre-e2e --test aws_calls -- --nocapture`

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::Method;
use serde_json::{json, Value};
use tower::ServiceExt;
use tre_api::routes::Reply;
use tre_api::RouteSpec;
use tre_aws::{CallCounter, CallTally};

const TABLE: &str = "tre";
const BUCKETS: &str = "tre-airlock";

/// How many items the measured lists return (at least): enough that a per-item cost shows.
const LISTED: u64 = 3;

/// DynamoDB calls that read: `GetItem`, `Query` and `BatchGetItem` (one call, however many
/// keys). Every other DynamoDB call writes (or scans, which is refused).
fn dynamo_reads(t: &CallTally) -> u64 {
    t.calls("DynamoDB", "GetItem")
        + t.calls("DynamoDB", "Query")
        + t.calls("DynamoDB", "BatchGetItem")
}

/// What a row is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Budget {
    /// A read of one thing: at most 2 DynamoDB calls, nothing else.
    Read,
    /// A list of `n` items: at most 2 DynamoDB calls plus one per item returned (O(page)).
    List(u64),
    /// A create or any other change: at most one DynamoDB write call (one transaction or one
    /// conditional put/delete), one Step Functions call and 3 DynamoDB reads.
    Change,
    /// A status message: at most one DynamoDB write call, one Step Functions call and 3 reads.
    Message,
    /// A read that hands out a link or a token: a read's 2 DynamoDB calls, plus the audit event
    /// recorded before it is handed out (one write, and the read of its chain's head); and
    /// `GET /api/me`, which records who signed in the first time a process sees them.
    Issue,
    /// An audit chain held against its `n` records: the chain read page by page (one page
    /// here), each kind of record listed (the user resources once per service), and the
    /// workspace itself: at most 4 DynamoDB reads plus one per record, nothing written.
    Reconcile(u64),
}

impl Budget {
    fn describe(&self) -> String {
        match self {
            Budget::Read => "read: ≤ 2 DynamoDB".into(),
            Budget::List(n) => format!("list of {n}: ≤ 2 + {n} DynamoDB"),
            Budget::Change => "change: ≤ 1 write + 1 SFN + 3 reads".into(),
            Budget::Message => "message: ≤ 1 write + 1 SFN + 3 reads".into(),
            Budget::Issue => "issue: ≤ 3 reads + 1 write (its audit event, or the profile)".into(),
            Budget::Reconcile(n) => format!("reconciliation of {n} records: ≤ 4 + {n} DynamoDB"),
        }
    }

    /// Why the tally breaks the budget, if it does.
    fn check(&self, t: &CallTally) -> Option<String> {
        let scans = t.calls("DynamoDB", "Scan");
        if scans > 0 {
            return Some(format!("{scans} Scan(s): nothing may scan the table"));
        }
        let ddb = t.service("DynamoDB");
        let reads = dynamo_reads(t);
        let writes = ddb - reads;
        let sfn = t.service("SFN");
        let (max_reads, max_writes, max_sfn) = match self {
            Budget::Read => {
                return (ddb > 2 || writes > 0 || sfn > 0).then(|| {
                    format!("a read makes {ddb} DynamoDB calls ({writes} writes), {sfn} SFN")
                })
            }
            Budget::List(n) => {
                return (ddb > 2 + n || writes > 0 || sfn > 0).then(|| {
                    format!("a list of {n} makes {ddb} DynamoDB calls ({writes} writes), {sfn} SFN")
                })
            }
            Budget::Reconcile(n) => {
                return (ddb > 4 + n || writes > 0 || sfn > 0).then(|| {
                    format!("a reconciliation of {n} records makes {ddb} DynamoDB calls ({writes} writes), {sfn} SFN")
                })
            }
            Budget::Change => (3, 1, 1),
            Budget::Message => (3, 1, 1),
            Budget::Issue => (3, 1, 0),
        };
        (reads > max_reads || writes > max_writes || sfn > max_sfn).then(|| {
            format!("{reads} reads (≤ {max_reads}), {writes} writes (≤ {max_writes}), {sfn} SFN calls (≤ {max_sfn})")
        })
    }
}

// A change reads its path, the caller's roles, its secrets and its workspace's data-source
// bindings summary (the steps' parameters) in one batch, then every template it needs (its own,
// a version it moves to, the current copy that lists the versions for `availableUpgrades`, those
// of what it cascades to) in a second. A change that cascades (disabling or deleting a workspace
// or service) also finds what is under it: a query of its own before the templates' batch.

/// Operations known to exceed their budget, with the most DynamoDB calls they may make until
/// fixed and why. The write and Step Functions parts of their budgets still hold. A known
/// overrun that grows fails the test; one that fits its budget again fails it too, so this
/// list only shrinks.
const KNOWN_OVERRUNS: &[(&str, u64, &str)] = &[];

/// The known overrun a row falls under: its own label first (a case of a route), then its
/// route.
fn known_overrun(what: &str) -> Option<(&'static str, u64, &'static str)> {
    let route = what.split(" (").next().unwrap_or(what);
    KNOWN_OVERRUNS
        .iter()
        .find(|(r, _, _)| *r == what)
        .or_else(|| KNOWN_OVERRUNS.iter().find(|(r, _, _)| *r == route))
        .map(|(r, n, why)| (*r, *n, *why))
}

struct Row {
    what: String,
    budget: Budget,
    tally: CallTally,
}

struct Harness {
    _moto: tre_testkit::moto::MotoServer,
    counter: CallCounter,
    app: tre_core::app::App,
    settings: tre_lambda::Settings,
    routes: Vec<RouteSpec>,
    rows: Vec<Row>,
    messages: u64,
    /// Uncounted: for what the test does as the engine would.
    sfn: aws_sdk_sfn::Client,
    prefix: String,
}

/// An answer: status, `ETag`, JSON body.
struct Answer {
    etag: Option<String>,
    body: Value,
}

fn claims(user: &str) -> Value {
    let roles = if user == "dev-admin" {
        "[TREAdmin TREUser]"
    } else {
        "[TREUser]"
    };
    json!({"sub": user, "name": user, "roles": roles, "iss": "https://issuer.example.org", "aud": "tre-api"})
}

const ADMIN: &str = "dev-admin";
const OWNER: &str = "dev-owner";
const RESEARCHER: &str = "dev-researcher";
const MANAGER: &str = "dev-airlock-manager";

/// The route a concrete path is served by: same method and length, literal segments equal,
/// the most literal segments winning (`/requests` before `/{requestId}`).
fn route_for<'a>(routes: &'a [RouteSpec], method: &Method, path: &str) -> &'a RouteSpec {
    let segs: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .filter(|r| r.method == method)
        .filter_map(|r| {
            let rs: Vec<&str> = r.path.split('/').collect();
            if rs.len() != segs.len() {
                return None;
            }
            let mut literal = 0;
            for (a, b) in rs.iter().zip(&segs) {
                if a.starts_with('{') {
                    continue;
                }
                if a != b {
                    return None;
                }
                literal += 1;
            }
            Some((literal, r))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no route for {method} {path}"))
}

fn route_key(r: &RouteSpec) -> String {
    format!("{} {}", r.method, r.path)
}

impl Harness {
    async fn start() -> Self {
        let moto = tre_testkit::moto::MotoServer::start().await.expect("moto");
        let conf = moto.sdk_config().await;
        // Setting up the account is not measured: plain clients.
        let ddb = aws_sdk_dynamodb::Client::new(&conf);
        tre_aws::create_table_if_missing(&ddb, TABLE)
            .await
            .expect("table");
        let sfn = aws_sdk_sfn::Client::new(&conf);
        let definition =
            json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
        let mut prefix = String::new();
        for name in [
            tre_core::app::RESOURCE_ACTION_STATE_MACHINE,
            tre_core::app::AIRLOCK_STATE_MACHINE,
            tre_core::app::DATASOURCE_STATE_MACHINE,
        ] {
            let created = sfn
                .create_state_machine()
                .name(format!("tre-{name}"))
                .definition(definition.to_string())
                .role_arn("arn:aws:iam::123456789012:role/tre-states")
                .send()
                .await
                .expect("state machine");
            prefix = created
                .state_machine_arn()
                .trim_end_matches(name)
                .to_string();
        }
        for stage in tre_core::domain::airlock::Stage::ALL {
            moto.create_bucket(&format!("{BUCKETS}-{}", stage.as_str()))
                .await
                .expect("bucket");
        }
        // The adapters as `tre_lambda::app_from_settings` wires them, on counting clients.
        let counter = CallCounter::new();
        let app = tre_core::app::App::new(
            Arc::new(tre_aws::DynamoTable::new(counter.dynamodb(&conf), TABLE)),
            Arc::new(tre_aws::SfnWorkflows::new(
                counter.sfn(&conf),
                prefix.clone(),
            )),
        )
        .with_airlock(tre_aws::airlock_storage_on(
            &conf,
            BUCKETS,
            counter.s3(&conf, false),
        ));
        Self {
            _moto: moto,
            counter,
            app,
            settings: tre_lambda::Settings::default(),
            routes: tre_api::route_table(),
            rows: Vec::new(),
            messages: 0,
            sfn,
            prefix,
        }
    }

    /// One API call through its Lambda's router, as API Gateway delivers it; `expect` is the
    /// status it must answer (`None`: the route's success status). Counted under its route.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        user: Option<&str>,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        if_match: Option<&str>,
        expect: Option<u16>,
        note: &str,
    ) -> Answer {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let route = route_for(&self.routes, &method, path).clone();
        let mut headers = json!({"accept": "application/json", "host": "api.example.org",
                                 "content-type": "application/json"});
        if let Some(e) = if_match {
            headers["if-match"] = json!(e);
        }
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut context = json!({"accountId": "123456789012", "apiId": "api", "domainName": "api.example.org",
            "http": {"method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "test"},
            "requestId": "r", "routeKey": route_key(&route), "stage": "$default", "time": "01/Dec/2026:10:00:00 +0000", "timeEpoch": 1_795_514_400_000u64});
        if let Some(u) = user {
            context["authorizer"] = json!({"jwt": {"claims": claims(u), "scopes": null}});
        }
        let event = json!({"version": "2.0", "routeKey": route_key(&route), "rawPath": path, "rawQueryString": query,
            "headers": headers, "queryStringParameters": params, "requestContext": context, "isBase64Encoded": false,
            "body": body.map(|b| b.to_string())});
        let req = lambda_http::request::from_str(&event.to_string()).expect("event");
        let req = req.map(|b| tre_api::Body::from(b.to_vec()));
        let router =
            tre_lambda::api_router(route.group, self.app.clone(), &self.settings).expect("router");
        self.counter.take();
        let resp = router.oneshot(req).await.expect("infallible");
        let tally = self.counter.take();
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let want = expect.unwrap_or(route.success);
        assert_eq!(status, want, "{method} {path_and_query}: {body}");
        let budget = budget_of(&route, &body);
        let mut what = route_key(&route);
        if !note.is_empty() {
            what = format!("{what} ({note})");
        }
        self.rows.push(Row {
            what,
            budget,
            tally,
        });
        Answer { etag, body }
    }

    async fn get(&mut self, user: &str, path: &str) -> Answer {
        self.call(Some(user), Method::GET, path, None, None, None, "")
            .await
    }

    async fn get_as(&mut self, user: &str, path: &str, note: &str) -> Answer {
        self.call(Some(user), Method::GET, path, None, None, None, note)
            .await
    }

    async fn post(&mut self, user: &str, path: &str, body: Value) -> Answer {
        self.call(Some(user), Method::POST, path, Some(body), None, None, "")
            .await
    }

    /// One status-queue message through the status consumer, counted under `what`.
    async fn message(&mut self, what: &str, body: Value) {
        self.messages += 1;
        let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(json!({
            "Records": [{"messageId": format!("m{}", self.messages), "body": body.to_string(),
                          "eventSource": "aws:sqs"}]
        }))
        .expect("sqs event");
        self.counter.take();
        let resp = tre_lambda::status::handle_batch(&self.app, event).await;
        let tally = self.counter.take();
        assert!(
            resp.batch_item_failures.is_empty(),
            "status message `{what}` was not applied: {body}"
        );
        self.rows.push(Row {
            what: format!("message: {what}"),
            budget: Budget::Message,
            tally,
        });
    }

    /// Run an operation's steps to success through status messages (`running`, then
    /// `succeeded`), as the bundle runner reports them.
    async fn settle(&mut self, op: &Value, outputs: Value) {
        let steps = op["steps"].as_array().cloned().unwrap_or_default();
        assert!(!steps.is_empty(), "an operation without steps: {op}");
        for (i, step) in steps.iter().enumerate() {
            for (n, status) in [(1, "running"), (2, "succeeded")] {
                let msg = json!({"operationId": op["id"], "stepId": step["id"],
                    "resourceId": step["resourceId"], "operationResourceId": op["resourceId"],
                    "status": status, "message": "", "outputs": if n == 2 { outputs.clone() } else { json!({}) },
                    "sequence": n});
                let what = format!(
                    "status \"{status}\" of a step of \"{}\"{}",
                    op["action"].as_str().unwrap_or(""),
                    if steps.len() > 1 {
                        format!(" ({} of {})", i + 1, steps.len())
                    } else {
                        String::new()
                    }
                );
                self.message(&what, msg).await;
            }
        }
    }

    /// Create a resource (`POST base`) and deploy it; its id.
    async fn create(&mut self, base: &str, template: &str, name: &str) -> String {
        let a = self
            .post(
                ADMIN,
                base,
                json!({"templateName": template, "properties": {"display_name": name}}),
            )
            .await;
        let op = a.body["operation"].clone();
        self.settle(&op, json!({"url": "https://example.org"}))
            .await;
        op["resourceId"].as_str().expect("resource id").to_string()
    }

    /// PATCH with the current ETag; the new operation.
    async fn patch(&mut self, user: &str, item: &str, body: Value, note: &str) -> Value {
        let etag = self.get(user, item).await.etag.expect("etag");
        self.call(
            Some(user),
            Method::PATCH,
            item,
            Some(body),
            Some(&etag),
            None,
            note,
        )
        .await
        .body["operation"]
            .clone()
    }
}

/// A list's budget counts the items it returned.
fn budget_of(route: &RouteSpec, body: &Value) -> Budget {
    let len = |v: &Value| v.as_array().map(|a| a.len() as u64).unwrap_or(0);
    if route.path.ends_with("/link")
        || route.path == "/api/registry/token"
        || route.path == "/api/me"
    {
        return Budget::Issue;
    }
    if route.path.ends_with("/reconciliation") {
        return Budget::Reconcile(body["records"].as_u64().unwrap_or(0));
    }
    match (&route.method, &route.reply) {
        (&Method::GET, Reply::ListOf(key, _)) => Budget::List(len(&body[*key])),
        (&Method::GET, Reply::ArrayOf(_)) => Budget::List(len(body)),
        (&Method::GET, _) => Budget::Read,
        _ => Budget::Change,
    }
}

fn template(name: &str, extra: Value) -> Value {
    let mut t = json!({"name": name, "version": "1.0.0", "title": name, "description": "measured",
        "parameters": {"type": "object", "required": ["display_name"], "properties": {
            "display_name": {"type": "string", "minLength": 1, "updateable": true},
            "description": {"type": "string", "default": "", "updateable": true}},
            "additionalProperties": false},
        "customActions": [{"name": "restart", "description": "Restart"}]});
    if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
        t.extend(e.clone());
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_per_operation_stay_within_their_budgets() {
    let mut h = Harness::start().await;

    // Meta.
    h.call(None, Method::GET, "/api/health", None, None, None, "")
        .await;
    h.call(None, Method::GET, "/api/.metadata", None, None, None, "")
        .await;
    h.call(None, Method::GET, "/api/openapi.json", None, None, None, "")
        .await;

    // Templates: LISTED of each kind, so lists show their per-item cost.
    for i in 0..LISTED {
        let sfx = if i == 0 {
            String::new()
        } else {
            format!("-{i}")
        };
        h.post(
            ADMIN,
            "/api/workspace-templates",
            template(&format!("ws{sfx}"), json!({})),
        )
        .await;
        h.post(
            ADMIN,
            "/api/workspace-service-templates",
            template(&format!("svc{sfx}"), json!({})),
        )
        .await;
        h.post(
            ADMIN,
            "/api/workspace-service-templates/svc/user-resource-templates",
            template(&format!("ur{sfx}"), json!({})),
        )
        .await;
        h.post(
            ADMIN,
            "/api/shared-service-templates",
            template(&format!("shared{sfx}"), json!({})),
        )
        .await;
        h.post(
            ADMIN,
            "/api/user-resource-templates",
            template(
                &format!("ur-flat{sfx}"),
                json!({"parentServiceTemplate": "svc"}),
            ),
        )
        .await;
    }
    // Later versions, so the version lists have several.
    for v in ["1.1.0", "1.2.0"] {
        let mut t = template("ws", json!({}));
        t["version"] = json!(v);
        h.post(ADMIN, "/api/workspace-templates", t).await;
        for (base, name) in [
            ("/api/workspace-service-templates", "svc"),
            (
                "/api/workspace-service-templates/svc/user-resource-templates",
                "ur",
            ),
            ("/api/shared-service-templates", "shared"),
            ("/api/user-resource-templates", "ur-flat"),
        ] {
            let mut t = template(name, json!({}));
            t["version"] = json!(v);
            if name == "ur-flat" {
                t["parentServiceTemplate"] = json!("svc");
            }
            h.post(ADMIN, base, t).await;
        }
    }
    for kind in [
        "workspace",
        "workspace-service",
        "user-resource",
        "shared-service",
    ] {
        let name = match kind {
            "workspace" => "ws",
            "workspace-service" => "svc",
            "user-resource" => "ur-flat",
            _ => "shared",
        };
        h.get(ADMIN, &format!("/api/{kind}-templates")).await;
        h.get(ADMIN, &format!("/api/{kind}-templates/{name}")).await;
        h.get(ADMIN, &format!("/api/{kind}-templates/{name}/versions"))
            .await;
    }
    h.get(
        ADMIN,
        "/api/workspace-service-templates/svc/user-resource-templates",
    )
    .await;
    h.get(
        ADMIN,
        "/api/workspace-service-templates/svc/user-resource-templates/ur",
    )
    .await;
    h.get(
        ADMIN,
        "/api/workspace-service-templates/svc/user-resource-templates/ur/versions",
    )
    .await;

    // Workspaces, deployed through status messages.
    let mut workspaces = Vec::new();
    for i in 0..LISTED {
        workspaces.push(
            h.create("/api/workspaces", "ws", &format!("Study {i}"))
                .await,
        );
    }
    let ws = workspaces[0].clone();
    let wsp = format!("/api/workspaces/{ws}");
    for (user, role) in [
        (OWNER, "WorkspaceOwner"),
        (RESEARCHER, "WorkspaceResearcher"),
        (MANAGER, "AirlockManager"),
    ] {
        h.post(
            ADMIN,
            &format!("{wsp}/role-assignments"),
            json!({"principalId": user, "role": role}),
        )
        .await;
    }
    h.get_as(ADMIN, "/api/workspaces", "TREAdmin").await;
    h.get_as(RESEARCHER, "/api/workspaces", "researcher in 1")
        .await;
    h.get_as(ADMIN, &wsp, "TREAdmin").await;
    h.get_as(RESEARCHER, &wsp, "researcher").await;
    h.get(RESEARCHER, &format!("{wsp}/scopeid")).await;
    h.get(
        OWNER,
        &format!("/api/workspaces/{ws}/workspace-service-templates"),
    )
    .await;
    h.get(
        OWNER,
        &format!("/api/workspaces/{ws}/workspace-service-templates/svc/user-resource-templates"),
    )
    .await;

    // Workspace services and user resources, LISTED of each under the first.
    let mut services = Vec::new();
    for i in 0..LISTED {
        services.push(
            h.create(
                &format!("{wsp}/workspace-services"),
                "svc",
                &format!("Service {i}"),
            )
            .await,
        );
    }
    let svcp = format!("{wsp}/workspace-services/{}", services[0]);
    let mut users = Vec::new();
    for i in 0..LISTED {
        users.push(
            h.create(
                &format!("{svcp}/user-resources"),
                "ur",
                &format!("Notebook {i}"),
            )
            .await,
        );
    }
    let urp = format!("{svcp}/user-resources/{}", users[0]);
    let mut shared = Vec::new();
    for i in 0..LISTED {
        shared.push(
            h.create("/api/shared-services", "shared", &format!("Mirror {i}"))
                .await,
        );
    }
    let shp = format!("/api/shared-services/{}", shared[0]);

    // Every item route of every collection: get, update, action, operations, history.
    for (item, list, user) in [
        (wsp.clone(), "/api/workspaces".to_string(), ADMIN),
        (svcp.clone(), format!("{wsp}/workspace-services"), OWNER),
        (urp.clone(), format!("{svcp}/user-resources"), OWNER),
        (shp.clone(), "/api/shared-services".to_string(), ADMIN),
    ] {
        h.get(user, &list).await;
        h.get(user, &item).await;
        let op = h
            .patch(
                user,
                &item,
                json!({"properties": {"description": "changed"}}),
                "",
            )
            .await;
        h.settle(&op, json!({})).await;
        let a = h
            .call(
                Some(user),
                Method::POST,
                &format!("{item}/invoke-action?action=restart"),
                None,
                None,
                None,
                "",
            )
            .await;
        let op = a.body["operation"].clone();
        h.settle(&op, json!({})).await;
        let ops = h.get(user, &format!("{item}/operations")).await;
        let opid = ops.body["operations"][0]["id"]
            .as_str()
            .expect("an operation")
            .to_string();
        h.get(user, &format!("{item}/operations/{opid}")).await;
        h.get(user, &format!("{item}/history")).await;
    }
    // Three operations in flight, then the caller's unfinished ones: read from their index.
    let mut running = Vec::new();
    for u in users.iter().skip(1).take(3) {
        let item = format!("{svcp}/user-resources/{u}");
        running.push(
            h.patch(
                ADMIN,
                &item,
                json!({"properties": {"description": "in flight"}}),
                "",
            )
            .await,
        );
    }
    let open = h.get(ADMIN, "/api/operations").await;
    let listed: Vec<&str> = open.body["operations"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["id"].as_str()).collect())
        .unwrap_or_default();
    let started: Vec<&str> = running.iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(
        listed, started,
        "the caller's unfinished operations, oldest first"
    );
    for op in &running {
        h.settle(op, json!({})).await;
    }
    let open = h.get_as(ADMIN, "/api/operations", "all ended").await;
    assert_eq!(
        open.body["operations"],
        json!([]),
        "ended operations leave the list"
    );
    h.get(RESEARCHER, "/api/me").await;
    h.get(RESEARCHER, "/api/notifications").await;
    h.get(ADMIN, "/api/audit?page_size=3").await;
    h.get(ADMIN, "/api/audit/chains?page_size=3").await;
    h.get(ADMIN, &format!("/api/audit/chains/{ws}/reconciliation"))
        .await;
    h.get(ADMIN, &format!("/api/workspaces/{ws}/audit?page_size=3"))
        .await;
    h.call(
        Some(RESEARCHER),
        Method::GET,
        "/api/registry/token?service=tre-registry",
        None,
        None,
        Some(404),
        "no registry deployed",
    )
    .await;

    // Workspace users and roles.
    h.get(OWNER, &format!("{wsp}/role-assignments")).await;
    h.get(OWNER, &format!("{wsp}/users")).await;
    h.get(OWNER, &format!("{wsp}/roles")).await;
    h.get(OWNER, &format!("{wsp}/assignable-users?filter=dev"))
        .await;
    h.post(
        OWNER,
        &format!("{wsp}/users/assign"),
        json!({"role_id": "WorkspaceResearcher", "user_ids": ["dev-extra-1", "dev-extra-2"]}),
    )
    .await;
    h.call(
        Some(OWNER),
        Method::DELETE,
        &format!("{wsp}/users/assign?user_id=dev-extra-1&role_id=WorkspaceResearcher"),
        None,
        None,
        None,
        "",
    )
    .await;
    h.call(
        Some(OWNER),
        Method::DELETE,
        &format!("{wsp}/role-assignments/dev-extra-2/WorkspaceResearcher"),
        None,
        None,
        None,
        "",
    )
    .await;

    // The airlock: an import through review to approval, then revoked; a second cancelled.
    let reqs = format!("{wsp}/requests");
    let a = h
        .post(
            RESEARCHER,
            &reqs,
            json!({"type": "import", "title": "Cohort", "businessJustification": "study"}),
        )
        .await;
    let rid = a.body["airlockRequest"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let rp = format!("{reqs}/{rid}");
    let link = h
        .post(RESEARCHER, &format!("{rp}/files"), json!({"name": "a.csv"}))
        .await;
    let put = reqwest::Client::new()
        .put(link.body["url"].as_str().expect("url"))
        .body("x,y\n1,2\n")
        .send()
        .await
        .expect("upload");
    assert!(put.status().is_success(), "upload: {}", put.status());
    h.get_as(RESEARCHER, &format!("{rp}/link"), "draft: upload form")
        .await;
    let big = h
        .post(
            RESEARCHER,
            &format!("{rp}/files"),
            json!({"name": "big.bin", "size": 200u64 << 20}),
        )
        .await;
    // Its first part only (S3 takes a last part of any size): enough to complete the upload.
    let part = reqwest::Client::new()
        .put(
            big.body["multipart"]["parts"][0]["url"]
                .as_str()
                .expect("part url"),
        )
        .body("part one")
        .send()
        .await
        .expect("part upload");
    assert!(part.status().is_success(), "part: {}", part.status());
    let part_etag = part
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("part etag")
        .to_string();
    h.post(
        RESEARCHER,
        &format!("{rp}/files/big.bin/complete"),
        json!({"uploadId": big.body["multipart"]["uploadId"], "parts": [{"partNumber": 1, "etag": part_etag}]}),
    )
    .await;
    // A file named and then taken off the draft again.
    h.post(
        RESEARCHER,
        &format!("{rp}/files"),
        json!({"name": "gone.csv", "size": 8}),
    )
    .await;
    h.call(
        Some(RESEARCHER),
        Method::DELETE,
        &format!("{rp}/files/gone.csv"),
        None,
        None,
        None,
        "",
    )
    .await;
    h.post(RESEARCHER, &format!("{rp}/submit"), json!({})).await;
    let files = json!([{"name": "a.csv", "size": 8, "sha256": "0".repeat(64)}]);
    h.message(
        "airlockStatus \"scanned\"",
        json!({"airlockStatus": {"requestId": rid, "workspaceId": ws, "event": "scanned",
            "files": files, "scan": {"verdict": "clean", "findings": [], "scanners": ["policy"]}, "sequence": 1}}),
    )
    .await;
    h.message(
        "airlockReview (review step opened)",
        json!({"airlockReview": {"requestId": rid, "workspaceId": ws, "taskToken": "token-1"}}),
    )
    .await;
    h.get_as(MANAGER, &rp, "in review").await;
    h.get_as(MANAGER, &format!("{rp}/link"), "in review: read links")
        .await;
    h.get(MANAGER, &format!("{rp}/files/a.csv/link")).await;
    h.get(MANAGER, "/api/airlock/review-queue").await;
    // This workspace reviews through links: the route says so, having read what it must.
    h.call(
        Some(MANAGER),
        Method::POST,
        &format!("{rp}/review-user-resource"),
        None,
        None,
        Some(422),
        "no review configuration",
    )
    .await;
    h.call(
        Some(MANAGER),
        Method::GET,
        &format!("{rp}/review-user-resource"),
        None,
        None,
        Some(404),
        "none yet",
    )
    .await;
    h.post(
        MANAGER,
        &format!("{rp}/review"),
        json!({"approval": true, "decisionExplanation": "fine"}),
    )
    .await;
    h.message(
        "airlockStatus \"finished\"",
        json!({"airlockStatus": {"requestId": rid, "workspaceId": ws, "event": "finished",
            "files": files, "sequence": 2}}),
    )
    .await;
    h.post(
        MANAGER,
        &format!("{rp}/revoke"),
        json!({"reason": "consent withdrawn"}),
    )
    .await;
    for _ in 1..LISTED {
        h.post(
            RESEARCHER,
            &reqs,
            json!({"type": "export", "title": "Results", "businessJustification": "paper"}),
        )
        .await;
    }
    let listed = h.get(RESEARCHER, &reqs).await;
    let other = listed.body["airlockRequests"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .map(|r| r["airlockRequest"]["id"].as_str().unwrap_or_default())
                .find(|id| *id != rid)
                .map(str::to_string)
        })
        .expect("a second request");
    h.post(RESEARCHER, &format!("{reqs}/{other}/cancel"), json!({}))
        .await;
    h.get(RESEARCHER, "/api/requests").await;

    // Data sources: registered, imported (its report), reviewed, bound, read, unbound.
    let mut sources = Vec::new();
    for i in 0..LISTED {
        let a = h
            .post(
                ADMIN,
                "/api/datasources",
                json!({"kind": "Uploaded", "displayName": format!("Survey {i}"), "project": "Cohort study",
                    "licence": "OGL-UK-3.0",
                    "publisher": {"organisation": "Example Trust", "contactName": "C. Analyst", "contactRole": "Analyst"}}),
            )
            .await;
        sources.push(a.body["id"].as_str().expect("id").to_string());
    }
    let ds = sources[0].clone();
    h.get(ADMIN, "/api/datasources").await;
    h.get(ADMIN, &format!("/api/datasources/{ds}")).await;
    h.post(
        ADMIN,
        &format!("/api/datasources/{ds}/files"),
        json!({"name": "survey.csv"}),
    )
    .await;
    let started = h
        .post(ADMIN, &format!("/api/datasources/{ds}/import"), json!({}))
        .await;
    let run = started.body["run"].as_u64().unwrap_or(1);
    h.message(
        "dataSourceStatus \"imported\"",
        json!({"dataSourceStatus": {"dataSourceId": ds, "run": run, "outcome": "imported",
            "files": [{"name": "survey.csv", "size": 8, "sha256": "0".repeat(64), "encodingFormat": "text/csv"}]}}),
    )
    .await;
    h.post(
        ADMIN,
        &format!("/api/datasources/{ds}/review"),
        json!({"decision": "approve", "comment": "matches"}),
    )
    .await;
    h.post(
        ADMIN,
        &format!("{wsp}/datasources"),
        json!({"dataSourceId": ds}),
    )
    .await;
    h.get(RESEARCHER, &format!("{wsp}/datasources")).await;
    h.get(
        RESEARCHER,
        &format!("{wsp}/datasources/{ds}/link?file=survey.csv"),
    )
    .await;
    h.call(
        Some(ADMIN),
        Method::DELETE,
        &format!("{wsp}/datasources/{ds}"),
        None,
        None,
        None,
        "",
    )
    .await;

    // Disable and delete, deepest first: a user resource, a service, a shared service and a
    // workspace with its children; the engine's end-of-execution report last.
    for item in [
        format!("{svcp}/user-resources/{}", users[1]),
        format!("{wsp}/workspace-services/{}", services[1]),
        format!("/api/shared-services/{}", shared[1]),
        format!("/api/workspaces/{}", workspaces[1]),
    ] {
        let op = h
            .patch(ADMIN, &item, json!({"isEnabled": false}), "disable")
            .await;
        h.settle(&op, json!({})).await;
        let a = h
            .call(Some(ADMIN), Method::DELETE, &item, None, None, None, "")
            .await;
        let op = a.body["operation"].clone();
        h.settle(&op, json!({})).await;
    }
    // Disabling a service with user resources: one pipeline, a step per resource.
    let op = h
        .patch(
            ADMIN,
            &svcp,
            json!({"isEnabled": false}),
            "disable, with its user resources",
        )
        .await;
    assert!(op["steps"].as_array().map_or(0, Vec::len) > 1, "{op}");
    h.settle(&op, json!({})).await;

    // A workflow that ended without its steps reporting (stopped here): the engine's report
    // fails what is unfinished.
    let a = h
        .post(
            ADMIN,
            "/api/workspaces",
            json!({"templateName": "ws", "properties": {"display_name": "Stopped"}}),
        )
        .await;
    let opid = a.body["operation"]["id"].as_str().expect("id").to_string();
    let arn = format!(
        "{}{}:{opid}",
        h.prefix.replace(":stateMachine:", ":execution:"),
        tre_core::app::RESOURCE_ACTION_STATE_MACHINE
    );
    h.sfn
        .stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("stop");
    h.message(
        "executionEnded \"ABORTED\"",
        json!({"executionEnded": {"executionArn": arn, "status": "ABORTED"}}),
    )
    .await;

    report(&h);
}

fn report(h: &Harness) {
    // Every route of the table was measured.
    let measured: BTreeSet<String> = h
        .rows
        .iter()
        .map(|r| r.what.split(" (").next().unwrap_or_default().to_string())
        .collect();
    let missing: Vec<String> = h
        .routes
        .iter()
        .map(route_key)
        .filter(|k| !measured.contains(k))
        .collect();

    // One line per operation: the most calls seen (rows of the same operation differ by data).
    let mut worst: BTreeMap<String, (Budget, CallTally)> = BTreeMap::new();
    let mut order = Vec::new();
    for r in &h.rows {
        match worst.get(&r.what) {
            Some((_, t)) if t.total() >= r.tally.total() => {}
            _ => {
                if !worst.contains_key(&r.what) {
                    order.push(r.what.clone());
                }
                worst.insert(r.what.clone(), (r.budget, r.tally.clone()));
            }
        }
    }
    let mut table = String::from(
        "| operation | DynamoDB reads | DynamoDB writes | Step Functions | S3 | calls (service:action×n) | budget |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut over = Vec::new();
    // Known overruns seen, and whether any of their rows still breaks its budget.
    let mut known_seen: BTreeMap<String, bool> = BTreeMap::new();
    for what in &order {
        let (budget, t) = &worst[what];
        let reads = dynamo_reads(t);
        let ddb = t.service("DynamoDB");
        let breach = budget.check(t);
        let mut verdict = budget.describe();
        match (known_overrun(what), &breach) {
            (Some((key, ceiling, why)), Some(b)) => {
                known_seen.insert(key.to_string(), true);
                // Only the read part may be over; nothing may grow.
                let writes = ddb - reads;
                if ddb > ceiling || writes > 1 || t.service("SFN") > 1 || b.contains("Scan") {
                    over.push(format!(
                        "{what}: {b}, beyond its known ceiling of {ceiling} DynamoDB calls — {t}"
                    ));
                }
                verdict = format!("**over** ({why})");
            }
            (Some((key, _, _)), None) => {
                known_seen.entry(key.to_string()).or_insert(false);
            }
            (None, Some(b)) => over.push(format!("{what}: {b} — {t}")),
            (None, None) => {}
        }
        table.push_str(&format!(
            "| `{what}` | {reads} | {} | {} | {} | {t} | {verdict} |\n",
            ddb - reads,
            t.service("SFN"),
            t.service("S3"),
        ));
        assert_eq!(
            t.retries(),
            0,
            "{what}: retried against a local server: {t}"
        );
    }
    for (route, _, _) in KNOWN_OVERRUNS {
        match known_seen.get(*route) {
            Some(true) => {}
            Some(false) => over.push(format!(
                "{route}: within its budget now: take it out of KNOWN_OVERRUNS"
            )),
            None => over.push(format!("{route}: in KNOWN_OVERRUNS but not measured")),
        }
    }
    println!("{table}");
    assert!(
        over.is_empty(),
        "operations over their AWS call budget:\n{}",
        over.join("\n")
    );
    assert!(
        missing.is_empty(),
        "routes not measured: {}",
        missing.join(", ")
    );
}

/// A create finds the template's current version in its one batch read (a copy kept beside the
/// versions, moved in the same transaction as the `current` flag); a template whose copy is
/// missing (registered before it existed) is still found, by its versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_reads_the_current_template_in_its_batch() {
    use tre_core::ports::{Condition, Key, Table};
    let mut h = Harness::start().await;
    // Uncounted: to remove the copy as an older registration would have left it.
    let raw = tre_aws::DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&h._moto.sdk_config().await),
        TABLE,
    );
    let copy = Key::new("TEMPLATE#workspace#wt", "CURRENT");
    let register = |version: &str, current: bool| {
        template("wt", json!({"version": version, "current": current}))
    };
    fn created_version(a: &Answer) -> String {
        a.body["workspace"]["templateVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    /// A workspace of `wt`: the version it got and the DynamoDB reads it took.
    async fn create(h: &mut Harness) -> (String, u64) {
        let a = h
            .post(
                ADMIN,
                "/api/workspaces",
                json!({"templateName": "wt", "properties": {"display_name": "x"}}),
            )
            .await;
        let t = h.rows.last().map(|r| r.tally.clone()).expect("counted");
        (created_version(&a), dynamo_reads(&t))
    }
    h.post(ADMIN, "/api/workspace-templates", register("1.0.0", true))
        .await;
    h.post(ADMIN, "/api/workspace-templates", register("1.1.0", false))
        .await;
    h.post(ADMIN, "/api/workspace-templates", register("2.0.0", true))
        .await;
    let (version, reads) = create(&mut h).await;
    assert_eq!(version, "2.0.0", "the current version is used");
    assert!(reads <= 3, "a create reads at most 3 times, not {reads}");

    // As if 2.0.0 had been registered before copies were kept.
    raw.delete(&copy, Condition::Exists)
        .await
        .expect("delete copy");
    let (version, _) = create(&mut h).await;
    assert_eq!(version, "2.0.0", "found by its versions without a copy");
    // A version that is not current leaves the (missing) copy alone ...
    h.post(ADMIN, "/api/workspace-templates", register("2.1.0", false))
        .await;
    assert!(raw.get(&copy).await.expect("get").is_none());
    let (version, _) = create(&mut h).await;
    assert_eq!(version, "2.0.0");
    // ... and a new current version writes it again.
    h.post(ADMIN, "/api/workspace-templates", register("3.0.0", true))
        .await;
    let stored = raw.get(&copy).await.expect("get").expect("copy");
    assert_eq!(stored.body["version"], json!("3.0.0"));
    let (version, reads) = create(&mut h).await;
    assert_eq!(version, "3.0.0");
    assert!(reads <= 3, "a create reads at most 3 times, not {reads}");
    // Asking for a version reads that version, current or not.
    let a = h
        .post(
            ADMIN,
            "/api/workspaces",
            json!({"templateName": "wt", "templateVersion": "1.1.0", "properties": {"display_name": "y"}}),
        )
        .await;
    assert_eq!(created_version(&a), "1.1.0");
}

/// A change's answer lists `availableUpgrades` from the current copy read in its batch (the
/// copy lists every registered version, current or not); they are the ones a GET finds by
/// querying the versions, and a copy from before the list existed falls back to that query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_answers_the_upgrades_its_template_has() {
    use tre_core::ports::{Condition, Key, Table};
    let mut h = Harness::start().await;
    // Uncounted: to strip the copy's list as an older registration would have left it.
    let raw = tre_aws::DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&h._moto.sdk_config().await),
        TABLE,
    );
    let copy = Key::new("TEMPLATE#workspace#ut", "CURRENT");
    let register = |version: &str, current: bool| {
        template("ut", json!({"version": version, "current": current}))
    };
    h.post(ADMIN, "/api/workspace-templates", register("1.0.0", true))
        .await;
    let ws = h.create("/api/workspaces", "ut", "u").await;
    let item = format!("/api/workspaces/{ws}");
    /// A custom action's answer: its upgrades and the DynamoDB reads it took; then the
    /// operation is settled so the next change may run.
    async fn act(h: &mut Harness, item: &str) -> (Value, u64) {
        let path = format!("{item}/invoke-action?action=restart");
        let a = h
            .call(Some(ADMIN), Method::POST, &path, None, None, None, "")
            .await;
        let reads = h
            .rows
            .last()
            .map(|r| dynamo_reads(&r.tally))
            .expect("counted");
        h.settle(&a.body["operation"], json!({})).await;
        (a.body["workspace"]["availableUpgrades"].clone(), reads)
    }
    let (ups, reads) = act(&mut h, &item).await;
    assert_eq!(ups, json!([]));
    assert!(reads <= 3, "a change reads at most 3 times, not {reads}");

    // Versions that are not current still show, and so does a new current one.
    h.post(ADMIN, "/api/workspace-templates", register("1.1.0", false))
        .await;
    h.post(ADMIN, "/api/workspace-templates", register("2.0.0", true))
        .await;
    h.post(ADMIN, "/api/workspace-templates", register("1.2.0", false))
        .await;
    let want = json!([
        {"version": "1.1.0", "forceUpdateRequired": false},
        {"version": "1.2.0", "forceUpdateRequired": false},
        {"version": "2.0.0", "forceUpdateRequired": true},
    ]);
    let (ups, reads) = act(&mut h, &item).await;
    assert_eq!(ups, want, "from the copy");
    assert!(reads <= 3, "a change reads at most 3 times, not {reads}");
    let got = h.get(ADMIN, &item).await;
    assert_eq!(
        got.body["workspace"]["availableUpgrades"], want,
        "as a GET finds them"
    );

    // A PATCH to another version answers that version's upgrades.
    let op = h
        .patch(
            ADMIN,
            &item,
            json!({"templateVersion": "1.2.0"}),
            "to 1.2.0",
        )
        .await;
    let answer = h.rows.last().map(|r| r.tally.clone()).expect("counted");
    assert!(dynamo_reads(&answer) <= 3, "{answer}");
    h.settle(&op, json!({})).await;
    let (ups, _) = act(&mut h, &item).await;
    assert_eq!(
        ups,
        json!([{"version": "2.0.0", "forceUpdateRequired": true}])
    );

    // A copy without the list: the versions are queried, with the same answer.
    let stored = raw.get(&copy).await.expect("get").expect("copy");
    let mut body = stored.body.clone();
    body.as_object_mut()
        .expect("object")
        .remove("registeredVersions")
        .expect("the copy lists the versions");
    raw.put(&copy, None, &body, Condition::Version(stored.version))
        .await
        .expect("strip the list");
    h.post(ADMIN, "/api/workspace-templates", register("1.3.0", false))
        .await;
    let stored = raw.get(&copy).await.expect("get").expect("copy");
    assert!(
        stored.body.get("registeredVersions").is_none(),
        "left alone"
    );
    let (ups, _) = act(&mut h, &item).await;
    assert_eq!(
        ups,
        json!([
            {"version": "1.3.0", "forceUpdateRequired": false},
            {"version": "2.0.0", "forceUpdateRequired": true},
        ])
    );
}
