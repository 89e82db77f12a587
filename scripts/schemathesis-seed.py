#!/usr/bin/env python3
"""Seed a fresh `tre dev` stack for scripts/schemathesis and write, per sample user, the
schemathesis config naming seeded ids that user can see, so no operation starts at 404.

Usage: schemathesis-seed.py API ADMIN_TOKEN OUT_DIR ROLE=TOKEN...
(ROLE: owner, researcher, airlock-manager; each the sample user's token)

Expects the sample templates registered (scripts/schemathesis does it with `tre bundle register`).
Creates: a deployed workspace with the four sample users in its roles, a deployed workspace
service, user resource and shared service, two data sources uploaded, imported, approved and
bound to the workspace (the second for unbinding), one more service and shared service made from
templates with a custom action (the sample bundles of those kinds have none), for
`invoke-action` to reach; per requester (admin, owner, researcher) two draft airlock requests of
their own, one with a small file and a large one uploaded in parts; the researcher's own user
resource; a request in review for the airlock manager; and a second workspace where the airlock
manager is a researcher with a user resource of their own (an airlock manager cannot make one,
so the user-resource routes reach nothing of theirs in the first).

Writes into OUT_DIR: `schemathesis-ROLE.toml` for each role (the checks and that role's ids),
`tre_seed.json` and `tre_hooks.py`, schemathesis hooks that fit the parts of a valid body the
generic OpenAPI document cannot state (which templates are registered, each template's
parameters) to this stack, for valid cases only, and keep the seeded items usable for the runs
that follow (`TRE_FUZZ_ROLE` names the run's role).
"""

import json
import sys
import time
import urllib.error
import urllib.request

api, token, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
tokens = {"admin": token, **dict(a.split("=", 1) for a in sys.argv[4:])}
ROLES = ["admin", "owner", "researcher", "airlock-manager"]
missing = [r for r in ROLES if r not in tokens]
if missing:
    sys.exit(f"seed: no token for {', '.join(missing)}")


def call(method, path, body=None, headers=None, as_role="admin"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {tokens[as_role]}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"seed: {method} {path}: {e.code} {e.read().decode(errors='replace')}")
    return json.loads(raw) if raw else None


def deployed(path, key, as_role="admin"):
    """Waits until the resource at `path` is deployed; returns it."""
    for _ in range(300):
        item = call("GET", path, as_role=as_role)[key]
        status = item["deploymentStatus"]
        if status == "deployed":
            return item
        if status.endswith("failed"):
            sys.exit(f"seed: {path} is {status}")
        time.sleep(0.1)
    sys.exit(f"seed: {path} was not deployed in time")


def create(path, key, template, properties, as_role="admin"):
    made = call("POST", path, {"templateName": template, "properties": properties}, as_role=as_role)
    item = deployed(f"{path}/{made[key]['id']}", key, as_role)
    return item["id"], made["operation"]["id"]


ws, ws_op = create(
    "/api/workspaces", "workspace", "tre-workspace-base", {"display_name": "Seeded workspace"}
)
w = f"/api/workspaces/{ws}"
for principal, role in [
    ("dev-admin", "WorkspaceOwner"),
    ("dev-owner", "WorkspaceOwner"),
    ("dev-researcher", "WorkspaceResearcher"),
    ("dev-airlock-manager", "AirlockManager"),
]:
    call("POST", f"{w}/role-assignments", {"principalId": principal, "role": role})
# Removed by the fuzzing of DELETE .../role-assignments/{principalId}/{role}, not the sample users;
# one for each role's run (a removed assignment answers 404 for the runs after).
for role in ROLES:
    call(
        "POST",
        f"{w}/role-assignments",
        {"principalId": f"fuzz-removable-{role}", "role": "AirlockManager"},
    )

svc, svc_op = create(
    f"{w}/workspace-services", "workspaceService", "tre-service-notebook", {}
)
s = f"{w}/workspace-services/{svc}"
# Requests of the workspace are reviewed in review environments of its notebook service.
etag = call("GET", w)["workspace"]["_etag"]
review_config = {
    kind: {
        f"{kind}_vm_workspace_service_id": svc,
        f"{kind}_vm_user_resource_template_name": "tre-user-resource-airlock-review",
    }
    for kind in ("import", "export")
}
review_config["import"]["import_vm_workspace_id"] = ws
call(
    "PATCH",
    w,
    {"properties": {"airlock_review_config": review_config}},
    headers={"If-Match": etag},
)
for _ in range(300):
    status = call("GET", w)["workspace"]["deploymentStatus"]
    if status == "updated":
        break
    if status.endswith("failed"):
        sys.exit(f"seed: the workspace's review configuration: {status}")
    time.sleep(0.1)
else:
    sys.exit("seed: the workspace's review configuration was not applied in time")
ur, ur_op = create(f"{s}/user-resources", "userResource", "tre-user-resource-vm", {})
shared, shared_op = create(
    "/api/shared-services", "sharedService", "tre-shared-package-mirror", {}
)

def drafts(ws_path, as_role):
    """Two drafts of `as_role`'s own: one with a small file and a large one uploaded in parts (for
    `.../files/{fileName}/complete` to assemble), and one for the fuzzing to submit or cancel,
    so that the first stays a draft for the rest. Returns their ids and the upload's parts."""

    def new(kind):
        body = {"type": kind, "title": "Seeded request", "businessJustification": "Seed data"}
        return call("POST", f"{ws_path}/requests", body, as_role=as_role)["airlockRequest"]["id"]

    rid = new("import")
    files = f"{ws_path}/requests/{rid}/files"
    call("POST", files, {"name": "data.csv", "size": 10}, as_role=as_role)
    big = call("POST", files, {"name": "big.bin", "size": 64 * 1024 * 1024 + 1}, as_role=as_role)
    upload = {"uploadId": big["multipart"]["uploadId"], "parts": []}
    for part in big["multipart"]["parts"]:
        put = urllib.request.Request(part["url"], data=b"\0" * part["size"], method="PUT")
        with urllib.request.urlopen(put, timeout=60) as resp:
            upload["parts"].append({"partNumber": part["partNumber"], "etag": resp.headers["ETag"]})
    return rid, new("export"), upload


requests = {role: drafts(w, role) for role in ["admin", "owner", "researcher"]}

# The airlock manager's review queue: a researcher's request with an uploaded file, submitted.
def submitted(title):
    rid = call(
        "POST",
        f"{w}/requests",
        {"type": "import", "title": title, "businessJustification": "Seed data"},
        as_role="researcher",
    )["airlockRequest"]["id"]
    link = call(
        "POST", f"{w}/requests/{rid}/files", {"name": "data.csv", "size": 8}, as_role="researcher"
    )
    put = urllib.request.Request(link["url"], data=b"a,b\n1,2\n", method="PUT")
    with urllib.request.urlopen(put, timeout=30):
        pass
    call("POST", f"{w}/requests/{rid}/submit", as_role="researcher")
    for _ in range(300):
        view = call("GET", f"{w}/requests/{rid}", as_role="airlock-manager")
        state = view["airlockRequest"]["status"]
        if state == "in_review":
            return rid
        if state in ("failed", "blocked_by_scan"):
            sys.exit(f"seed: the request for review ended {state}")
        time.sleep(0.1)
    sys.exit("seed: the request for review did not reach review in time")


in_review = submitted("Seeded review")
# Another, only for the review environment routes: the run reviews `in_review`, and a decided
# request has no review environment.
in_review_env = submitted("Seeded review environment")
# The airlock manager's review environment for it.
call("POST", f"{w}/requests/{in_review_env}/review-user-resource", as_role="airlock-manager")
for _ in range(300):
    env = call("GET", f"{w}/requests/{in_review_env}/review-user-resource", as_role="airlock-manager")
    status = env["userResource"]["deploymentStatus"]
    if status == "deployed":
        break
    if status.endswith("failed"):
        sys.exit(f"seed: the review environment is {status}")
    time.sleep(0.1)
else:
    sys.exit("seed: the review environment was not deployed in time")


def bound_source(name):
    """A data source uploaded, imported, approved and bound to the workspace."""
    source = call(
        "POST",
        "/api/datasources",
        {
            "kind": "Uploaded",
            "displayName": name,
            "project": "seed",
            "licence": "CC-BY-4.0",
            "publisher": {"organisation": "TRE", "contactName": "Dev", "contactRole": "Curator"},
        },
    )["id"]
    link = call("POST", f"/api/datasources/{source}/files", {"name": "data.csv"})
    put = urllib.request.Request(link["url"], data=b"a,b\n1,2\n", method="PUT")
    with urllib.request.urlopen(put, timeout=30):
        pass
    call("POST", f"/api/datasources/{source}/import")
    for _ in range(300):
        state = call("GET", f"/api/datasources/{source}")["dataState"]
        if state == "InReview":
            break
        if state == "Failed":
            sys.exit("seed: the data source's import failed")
        time.sleep(0.1)
    else:
        sys.exit("seed: the data source was not imported in time")
    call("POST", f"/api/datasources/{source}/review", {"decision": "approve", "comment": "Seed"})
    call("POST", f"{w}/datasources", {"dataSourceId": source})
    return source


source = bound_source("Seeded source")
# Unbound by the fuzzing of `DELETE .../datasources/{dataSourceId}` (again: it answers 204), so
# that `source` stays bound for the data-source link of every run.
unbound = bound_source("Seeded source to unbind")

# The researcher's own user resource (a researcher sees no other).
ur_r, ur_r_op = create(
    f"{s}/user-resources", "userResource", "tre-user-resource-vm", {}, as_role="researcher"
)
# The airlock manager's: in a second workspace, where they are a researcher.
ws_m, _ = create(
    "/api/workspaces", "workspace", "tre-workspace-base", {"display_name": "Seeded workspace 2"}
)
call(
    "POST",
    f"/api/workspaces/{ws_m}/role-assignments",
    {"principalId": "dev-airlock-manager", "role": "WorkspaceResearcher"},
)
svc_m, _ = create(
    f"/api/workspaces/{ws_m}/workspace-services", "workspaceService", "tre-service-notebook", {}
)
ur_m, ur_m_op = create(
    f"/api/workspaces/{ws_m}/workspace-services/{svc_m}/user-resources",
    "userResource",
    "tre-user-resource-vm",
    {},
    as_role="airlock-manager",
)


def with_action(kind, name, action):
    """Registers `name`'s current template again as `<name>-actions`, with a custom action.

    Its bundle has no such action, so an invoked action fails in the runner; the resources made
    from it are apart from the seeded tree, which stays deployed.
    """
    t = call("GET", f"/api/{kind}-templates/{name}")
    body = {
        "name": f"{name}-actions",
        "version": t["version"],
        "title": t.get("title"),
        "description": t.get("description", ""),
        "parameters": {
            "type": "object",
            "properties": t.get("properties", {}),
            "required": t.get("required", []),
        },
        "customActions": [{"name": action, "description": "Seeded for fuzzing"}],
        "bundle": t["bundle"],
    }
    call("POST", f"/api/{kind}-templates", body)
    return f"{name}-actions"


svc2, _ = create(
    f"{w}/workspace-services",
    "workspaceService",
    with_action("workspace-service", "tre-service-notebook", "check"),
    {},
)
shared2, _ = create(
    "/api/shared-services",
    "sharedService",
    with_action("shared-service", "tre-shared-package-mirror", "check"),
    {},
)


def template(kind, name):
    t = call("GET", f"/api/{kind}-templates/{name}")
    return {"properties": t.get("properties", {}), "required": t.get("required", [])}


# What the hooks need to know: the templates registered for each kind, with their parameters.
known = {
    "workspace": {"tre-workspace-base": template("workspace", "tre-workspace-base")},
    "workspace-service": {
        "tre-service-notebook": template("workspace-service", "tre-service-notebook"),
    },
    "user-resource": {
        "tre-user-resource-vm": template(
            "workspace-service", "tre-service-notebook/user-resource-templates/tre-user-resource-vm"
        ),
    },
    "shared-service": {
        "tre-shared-package-mirror": template("shared-service", "tre-shared-package-mirror"),
    },
    "seeded": [ws, svc, ur, shared, svc2, shared2, ur_r, ws_m, svc_m, ur_m],
    "dataSource": source,
    # Each requester's multipart upload in progress; the airlock manager completes none.
    "upload": {role: r[2] for role, r in requests.items()},
    # The sample users: the fuzzing may give or take roles only of others, or the runs after
    # would act with other rights than their role's.
    "users": ["dev-admin", "dev-owner", "dev-researcher", "dev-airlock-manager"],
    "serviceTemplate": "tre-service-notebook",
    "templateNames": [
        "tre-workspace-base",
        "tre-service-notebook",
        "tre-user-resource-vm",
        "tre-shared-package-mirror",
        "tre-service-notebook-actions",
        "tre-shared-package-mirror-actions",
    ],
}


HOOKS = r"""
# Written by scripts/schemathesis-seed.py. Valid (positive) cases only: fits what the generic
# document cannot state to this stack (registered template names, each template's parameters,
# the parent of a user-resource template), leaves every other generated value as it is, and keeps
# the seeded items enabled (PATCH `isEnabled: false` is walked on items the stateful phase makes).
import json
import os
import re

import schemathesis
from hypothesis.internal import lambda_sources
from schemathesis import GenerationMode

# Hypothesis parses a module's source to describe a lambda (for its messages only); deep in a
# large body's strategy, CPython 3.11.7's parser can fail there with "SystemError: AST
# constructor recursion depth mismatch", which would end the operation's run. The description
# is cosmetic: go without it then.
_describe = lambda_sources._lambda_description


def _description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _description

with open(os.path.join(os.path.dirname(__file__), "tre_seed.json")) as f:
    SEED = json.load(f)
ROLE = os.environ["TRE_FUZZ_ROLE"]

KINDS = [
    (re.compile(r"^/api/workspaces$"), "workspace"),
    (re.compile(r"/workspace-services$"), "workspace-service"),
    (re.compile(r"/user-resources$"), "user-resource"),
    (re.compile(r"^/api/shared-services$"), "shared-service"),
]
ITEMS = [
    (re.compile(r"^/api/workspaces/\{workspaceId\}$"), "workspace", "workspaceId"),
    (re.compile(r"/workspace-services/\{serviceId\}$"), "workspace-service", "serviceId"),
    (re.compile(r"/user-resources/\{userResourceId\}$"), "user-resource", "userResourceId"),
    (re.compile(r"^/api/shared-services/\{sharedServiceId\}$"), "shared-service", "sharedServiceId"),
]


def fit(value, schema):
    # A generated value the parameter's schema takes, or None.
    t = schema.get("type", "string")
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    if t == "string":
        return value if isinstance(value, str) else None
    if t == "boolean":
        return value if isinstance(value, bool) else None
    if t in ("integer", "number"):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def parameters(template, given, only_updateable):
    props = template["properties"]
    out = {}
    for name, value in (given or {}).items():
        schema = props.get(name)
        if not isinstance(schema, dict) or (only_updateable and not schema.get("updateable")):
            continue
        if schema.get("readOnly") or schema.get("sensitive"):
            continue
        v = fit(value, schema)
        if v is not None:
            out[name] = v
    if not only_updateable:
        for name in template["required"]:
            if name not in out:
                schema = props.get(name, {})
                out[name] = schema.get("default", schema.get("enum", ["seeded"])[0])
    return out


@schemathesis.hook
def map_case(ctx, case):
    # No case may register a new current version of a seeded template (schemathesis reuses the
    # names it saw in the config): the hooks and the seeded items rely on their parameters.
    if case.method.upper() == "POST" and case.operation.path.endswith("-templates"):
        if isinstance(case.body, dict) and case.body.get("name") in SEED["templateNames"]:
            case.body["name"] += "-fuzz"
    meta = case.meta
    # Tells valid cases from the others in the HAR report, where the acceptance is measured.
    mode = "none" if meta is None else meta.generation.mode.value
    case.headers = {**(case.headers or {}), "X-Fuzz-Mode": mode}
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    # A page token is valid only as a list's `nextLink` gave it.
    if isinstance(case.query, dict):
        case.query.pop("page_token", None)
    path, method = case.operation.path, case.method.upper()
    body = case.body if isinstance(case.body, dict) else None
    if method == "POST" and body is not None and "templateName" in body:
        for rx, kind in KINDS:
            if rx.search(path):
                templates = SEED[kind]
                if body.get("templateName") not in templates:
                    body["templateName"] = next(iter(templates))
                body.pop("templateVersion", None)
                template = templates[body["templateName"]]
                body["properties"] = parameters(template, body.get("properties"), False)
    elif method == "PATCH" and body is not None:
        for rx, kind, param in ITEMS:
            if rx.search(path):
                template = next(iter(SEED[kind].values()))
                if "properties" in body:
                    body["properties"] = parameters(template, body["properties"], True)
                body.pop("templateVersion", None)
                if (case.path_parameters or {}).get(param) in SEED["seeded"]:
                    body["isEnabled"] = True
                if not body:
                    body["isEnabled"] = True
                case.headers = {**(case.headers or {}), "If-Match": "*"}
                case.headers.pop("etag", None)
    elif method == "POST" and path.endswith("/files/{fileName}/complete") and body is not None:
        # The run's own multipart upload in progress (the airlock manager has none): its id and
        # its parts' ETags.
        body.update(SEED["upload"].get(ROLE, SEED["upload"]["admin"]))
    elif method == "POST" and path == "/api/workspaces/{workspaceId}/datasources" and body is not None:
        # Only a Completed source can be bound: the seeded one (binding twice changes nothing).
        body["dataSourceId"] = SEED["dataSource"]
    elif method == "POST" and path == "/api/user-resource-templates" and body is not None:
        parent = "json_schema" in body and "parentWorkspaceService" or "parentServiceTemplate"
        body[parent] = SEED["serviceTemplate"]
    return case


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # Every case, in every phase and mode, as sent: the seeded items and the sample users' roles
    # must outlive this run for the runs after it (a negative case may still carry a valid body,
    # and the stateful phase fills bodies after `map_case`).
    path, method = case.operation.path, case.method.upper()
    body = case.body if isinstance(case.body, dict) else None
    params = case.path_parameters or {}
    if method == "PATCH" and body is not None and body.get("isEnabled") is False:
        if any(v in SEED["seeded"] for v in params.values()):
            body["isEnabled"] = True
    removable = f"fuzz-removable-{ROLE}"
    users = SEED["users"]
    if path.endswith("/role-assignments/{principalId}/{role}"):
        if params.get("principalId") in users:
            params["principalId"] = removable
    elif path.endswith("/role-assignments"):
        if body is not None and body.get("principalId") in users:
            body["principalId"] = removable
    elif path.endswith("/users/assign"):
        if isinstance(case.query, dict) and case.query.get("user_id") in users:
            case.query["user_id"] = removable
        if body is not None and isinstance(body.get("user_ids"), list):
            body["user_ids"] = [removable if u in users else u for u in body["user_ids"]]
"""


def q(v):
    return json.dumps(v)


def operations(regex, params):
    lines = ["[[operations]]", f"include-path-regex = {q(regex)}", "[operations.parameters]"]
    lines += [f"{k} = {q(v)}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def config_for(role):
    """The checks and the ids `role` can see. Of the `[[operations]]` entries matching an
    operation the first that sets `parameters` wins (they are not merged), so each names every
    id it changes."""
    request, request2, _ = requests.get(role, (in_review, in_review, None))
    # The airlock manager's user resource is in the second workspace.
    if role == "airlock-manager":
        mine = {"workspaceId": ws_m, "serviceId": svc_m, "userResourceId": ur_m}
        ur_op_ = ur_m_op
    else:
        mine = {"userResourceId": ur_r if role == "researcher" else ur}
        ur_op_ = ur_r_op if role == "researcher" else ur_op
    return "\n".join(
        [
            # The checks: no 5xx, every response as documented, no 2xx without a valid token.
            "[checks]",
            "enabled = false",
            "not_a_server_error.enabled = true",
            "response_schema_conformance.enabled = true",
            "ignored_auth.enabled = true",
            "",
            "[parameters]",
            f"workspaceId = {q(ws)}",
            f"serviceId = {q(svc)}",
            f"userResourceId = {q(mine['userResourceId'])}",
            f"sharedServiceId = {q(shared)}",
            f"requestId = {q(request)}",
            f"dataSourceId = {q(source)}",
            # An audit chain: the seeded workspace's (its owners and admins may reconcile it).
            f"chain = {q(ws)}",
            'fileName = "data.csv"',
            'file = "data.csv"',
            'principalId = "dev-researcher"',
            'role = "WorkspaceResearcher"',
            "",
            operations("^/api/workspace-templates/", {"templateName": "tre-workspace-base"}),
            operations(
                "^/api/(workspaces/[^/]+/)?workspace-service-templates/",
                {
                    "templateName": "tre-service-notebook",
                    "userResourceTemplateName": "tre-user-resource-vm",
                },
            ),
            operations("^/api/user-resource-templates/", {"templateName": "tre-user-resource-vm"}),
            operations(
                "^/api/shared-service-templates/", {"templateName": "tre-shared-package-mirror"}
            ),
            operations("^/api/workspaces/[^/]+/operations/", {"operationId": ws_op}),
            operations(
                "^/api/workspaces/[^/]+/workspace-services/[^/]+/operations/",
                {"operationId": svc_op},
            ),
            operations("/user-resources/[^/]+/operations/", {**mine, "operationId": ur_op_}),
            operations("/user-resources/[^/]+/invoke-action$", {**mine, "action": "restart"}),
            operations("/user-resources(/|$)", mine),
            operations("^/api/shared-services/[^/]+/operations/", {"operationId": shared_op}),
            operations("/requests/[^/]+/(submit|cancel)$", {"requestId": request2}),
            operations(
                "/requests/[^/]+/review-user-resource$",
                {"requestId": in_review_env if role == "airlock-manager" else request},
            ),
            operations("/files/[^/]+/complete$", {"fileName": "big.bin"}),
            operations(
                "/role-assignments/[^/]+/[^/]+$",
                {"principalId": f"fuzz-removable-{role}", "role": "AirlockManager"},
            ),
            operations(
                "^/api/workspaces/[^/]+/datasources/[^/]+$", {"dataSourceId": unbound}
            ),
            operations("^/api/workspaces/[^/]+/invoke-action$", {"action": "snapshot"}),
            operations(
                "^/api/workspaces/[^/]+/workspace-services/[^/]+/invoke-action$",
                {"serviceId": svc2, "action": "check"},
            ),
            operations(
                "^/api/shared-services/[^/]+/invoke-action$",
                {"sharedServiceId": shared2, "action": "check"},
            ),
            "",
        ]
    )


for role in ROLES:
    with open(f"{out_dir}/schemathesis-{role}.toml", "w") as f:
        f.write(config_for(role))
with open(f"{out_dir}/tre_seed.json", "w") as f:
    json.dump(known, f)
with open(f"{out_dir}/tre_hooks.py", "w") as f:
    f.write(HOOKS)
