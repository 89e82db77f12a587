#!/usr/bin/env python3
"""Seed a fresh `tre dev` stack for scripts/schemathesis and write the schemathesis config naming
the seeded ids, so no operation starts at 404.

Usage: schemathesis-seed.py API ADMIN_TOKEN OUT_DIR

Expects the sample templates registered (scripts/schemathesis does it with `tre bundle register`).
Creates: a deployed workspace with the four sample users in its roles, a deployed workspace
service, user resource and shared service, an airlock request (a draft with one file), a data
source uploaded, imported, approved and bound to the workspace, and one more service and shared
service made from templates with a custom action (the sample bundles of those kinds have none),
for `invoke-action` to reach.

Writes into OUT_DIR: `schemathesis.toml` (the checks and the seeded ids) and `tre_hooks.py`,
schemathesis hooks that fit the parts of a valid body the generic OpenAPI document cannot state
(which templates are registered, each template's parameters) to this stack, for valid cases only.
"""

import json
import sys
import time
import urllib.error
import urllib.request

api, token, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
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


def deployed(path, key):
    """Waits until the resource at `path` is deployed; returns it."""
    for _ in range(300):
        item = call("GET", path)[key]
        status = item["deploymentStatus"]
        if status == "deployed":
            return item
        if status.endswith("failed"):
            sys.exit(f"seed: {path} is {status}")
        time.sleep(0.1)
    sys.exit(f"seed: {path} was not deployed in time")


def create(path, key, template, properties):
    made = call("POST", path, {"templateName": template, "properties": properties})
    item = deployed(f"{path}/{made[key]['id']}", key)
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
# Removed by the fuzzing of DELETE .../role-assignments/{principalId}/{role}, not the sample users.
call("POST", f"{w}/role-assignments", {"principalId": "fuzz-removable", "role": "AirlockManager"})

svc, svc_op = create(
    f"{w}/workspace-services", "workspaceService", "tre-service-notebook", {}
)
s = f"{w}/workspace-services/{svc}"
ur, ur_op = create(f"{s}/user-resources", "userResource", "tre-user-resource-vm", {})
shared, shared_op = create(
    "/api/shared-services", "sharedService", "tre-shared-package-mirror", {}
)

request = call(
    "POST",
    f"{w}/requests",
    {"type": "import", "title": "Seeded request", "businessJustification": "Seed data"},
)["airlockRequest"]["id"]
call("POST", f"{w}/requests/{request}/files", {"name": "data.csv", "size": 10})
# A large file, uploaded in parts, for `.../files/{fileName}/complete` to assemble.
big = call("POST", f"{w}/requests/{request}/files", {"name": "big.bin", "size": 64 * 1024 * 1024 + 1})
upload = {"uploadId": big["multipart"]["uploadId"], "parts": []}
for part in big["multipart"]["parts"]:
    put = urllib.request.Request(part["url"], data=b"\0" * part["size"], method="PUT")
    with urllib.request.urlopen(put, timeout=60) as resp:
        upload["parts"].append({"partNumber": part["partNumber"], "etag": resp.headers["ETag"]})
# Submitted or cancelled by the fuzzing, so that `request` stays a draft for the rest.
request2 = call(
    "POST",
    f"{w}/requests",
    {"type": "export", "title": "Seeded request", "businessJustification": "Seed data"},
)["airlockRequest"]["id"]

source = call(
    "POST",
    "/api/datasources",
    {
        "kind": "Uploaded",
        "displayName": "Seeded source",
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
call("POST", f"/api/datasources/{source}/review", {"decision": "approve", "comment": "Seed data"})
call("POST", f"{w}/datasources", {"dataSourceId": source})


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
    "seeded": [ws, svc, ur, shared, svc2, shared2],
    "dataSource": source,
    "upload": upload,
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
        # The one multipart upload in progress: its id and its parts' ETags.
        body.update(SEED["upload"])
    elif method == "POST" and path == "/api/workspaces/{workspaceId}/datasources" and body is not None:
        # Only a Completed source can be bound: the seeded one (binding twice changes nothing).
        body["dataSourceId"] = SEED["dataSource"]
    elif method == "POST" and path == "/api/user-resource-templates" and body is not None:
        parent = "json_schema" in body and "parentWorkspaceService" or "parentServiceTemplate"
        body[parent] = SEED["serviceTemplate"]
    return case
"""


def q(v):
    return json.dumps(v)


def operations(regex, params):
    lines = ["[[operations]]", f"include-path-regex = {q(regex)}", "[operations.parameters]"]
    lines += [f"{k} = {q(v)}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


config = "\n".join(
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
        f"userResourceId = {q(ur)}",
        f"sharedServiceId = {q(shared)}",
        f"requestId = {q(request)}",
        f"dataSourceId = {q(source)}",
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
            "^/api/workspaces/[^/]+/workspace-services/[^/]+/operations/", {"operationId": svc_op}
        ),
        operations("/user-resources/[^/]+/operations/", {"operationId": ur_op}),
        operations("^/api/shared-services/[^/]+/operations/", {"operationId": shared_op}),
        operations("/requests/[^/]+/(submit|cancel)$", {"requestId": request2}),
        operations("/files/[^/]+/complete$", {"fileName": "big.bin"}),
        operations(
            "/role-assignments/[^/]+/[^/]+$",
            {"principalId": "fuzz-removable", "role": "AirlockManager"},
        ),
        operations("^/api/workspaces/[^/]+/invoke-action$", {"action": "snapshot"}),
        operations("/user-resources/[^/]+/invoke-action$", {"action": "restart"}),
        operations(
            "^/api/workspaces/[^/]+/workspace-services/[^/]+/invoke-action$",
            {"serviceId": svc2, "action": "check"},
        ),
        operations(
            "^/api/shared-services/[^/]+/invoke-action$",
            {"sharedServiceId": shared2, "action": "check"},
        ),
        # The one route documented as answering 501 (review environments are not built): its
        # answer is checked against the document like every other, but a 5xx is its contract.
        "[[operations]]",
        'include-path-regex = "/review-user-resource$"',
        "checks.not_a_server_error.enabled = false",
        "",
    ]
)
with open(f"{out_dir}/schemathesis.toml", "w") as f:
    f.write(config)
with open(f"{out_dir}/tre_seed.json", "w") as f:
    json.dump(known, f)
with open(f"{out_dir}/tre_hooks.py", "w") as f:
    f.write(HOOKS)
