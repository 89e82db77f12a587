#!/usr/bin/env python3
"""Seed a fresh `tre dev` stack for scripts/schemathesis and write the schemathesis config naming
the seeded ids, so no operation starts at 404.

Usage: schemathesis-seed.py API ADMIN_TOKEN CONFIG_OUT

Expects the sample templates registered (scripts/schemathesis does it with `tre bundle register`).
Creates: a deployed workspace with the four sample users in its roles, a deployed workspace
service, user resource and shared service, an airlock request (a draft with one file) and a data
source (with one file named for upload; it is not imported, so not bound to the workspace: only a
Completed source can be).
"""

import json
import sys
import time
import urllib.error
import urllib.request

api, token, out = sys.argv[1], sys.argv[2], sys.argv[3]


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
call("POST", f"/api/datasources/{source}/files", {"name": "data.csv"})


def q(v):
    return json.dumps(v)


def operations(regex, params):
    lines = ["[[operations]]", f"include-path-regex = {q(regex)}", "[operations.parameters]"]
    lines += [f"{k} = {q(v)}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


config = "\n".join(
    [
        # The checks: no 5xx, every response as documented.
        "[checks]",
        "enabled = false",
        "not_a_server_error.enabled = true",
        "response_schema_conformance.enabled = true",
        "",
        "[parameters]",
        f"workspaceId = {q(ws)}",
        f"serviceId = {q(svc)}",
        f"userResourceId = {q(ur)}",
        f"sharedServiceId = {q(shared)}",
        f"requestId = {q(request)}",
        f"dataSourceId = {q(source)}",
        'fileName = "data.csv"',
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
        # The one route documented as answering 501 (review environments are not built): its
        # answer is checked against the document like every other, but a 5xx is its contract.
        "[[operations]]",
        'include-path-regex = "/review-user-resource$"',
        "checks.not_a_server_error.enabled = false",
        "",
    ]
)
with open(out, "w") as f:
    f.write(config)
