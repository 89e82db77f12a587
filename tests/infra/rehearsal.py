"""What the infrastructure rehearsal asks of the AWS APIs besides Terraform, through boto3 (the
Rust test and tests/infra/rehearse.sh share it: one list of what must be gone after a destroy).
The endpoint, region and credentials come from the environment (AWS_ENDPOINT_URL...).

  rehearsal.py import-certificate CERT KEY   ACM ImportCertificate; prints the ARN
  rehearsal.py lambda-zips DIR NAME...       stand-in <DIR>/<NAME>/bootstrap.zip (a `bootstrap`)
  rehearsal.py deployed [--redact]           JSON: every Lambda as read back (configuration, its
                                             role's inline and attached policy documents) and the
                                             ECS task definitions' task roles
  rehearsal.py audit FUNCTION TRAIL BUCKET... JSON: the audit trail's parts the workspace has
                                             no SDK crate for: FUNCTION's event source mappings,
                                             the trail TRAIL (status, event selectors), the
                                             GuardDuty detectors with their features; and the
                                             BUCKETs' versioning (see audit)
  rehearsal.py trail-gap NAME                after a destroy: delete the trail NAME by name if moto
                                             kept it (see trail_gap); prints what it did
  rehearsal.py leftovers                     JSON: {what: [ids]} of everything still there
"""

import json
import os
import sys
import zipfile

import boto3


def import_certificate(cert, key):
    acm = boto3.client("acm")
    with open(cert, "rb") as c, open(key, "rb") as k:
        print(acm.import_certificate(Certificate=c.read(), PrivateKey=k.read())["CertificateArn"])


def lambda_zips(out, names):
    for name in names:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        with zipfile.ZipFile(os.path.join(out, name, "bootstrap.zip"), "w") as z:
            info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16  # executable, as the Lambda runtime runs it
            z.writestr(info, "#!/bin/sh\nexit 0\n")


def role(iam, arn):
    """A role's inline policies and attached policies, each with its document."""
    name = arn.rsplit("/", 1)[1]
    inline = {
        n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
        for n in iam.list_role_policies(RoleName=name)["PolicyNames"]
    }
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    documents = {}
    for p in attached:
        version = iam.get_policy(PolicyArn=p)["Policy"]["DefaultVersionId"]
        documents[p] = iam.get_policy_version(PolicyArn=p, VersionId=version)["PolicyVersion"]["Document"]
    return {
        "name": name,
        "arn": arn,
        "inline_policies": inline,
        "attached_policies": attached,
        "attached_policy_documents": documents,
    }


def deployed(redact):
    lam, iam, sm, ecs = (boto3.client(s) for s in ("lambda", "iam", "secretsmanager", "ecs"))
    out = {"functions": {}, "task_definitions": {}}
    secret = sm.get_secret_value(SecretId="tre/registry-token-key")
    for f in sorted(lam.list_functions()["Functions"], key=lambda f: f["FunctionName"]):
        c = lam.get_function_configuration(FunctionName=f["FunctionName"])
        env = c.get("Environment", {}).get("Variables", {})
        key = env.get("TRE_REGISTRY_TOKEN_KEY")
        # The API's key is the one in Secrets Manager (the registry's).
        if key != secret["SecretString"]:
            raise SystemExit(f"{f['FunctionName']}: TRE_REGISTRY_TOKEN_KEY differs from the secret")
        if redact:
            env["TRE_REGISTRY_TOKEN_KEY"] = f"<redacted: the secret's value, {len(key)} characters>"
        for k in ("ResponseMetadata", "LastModified", "CodeSha256", "RevisionId"):
            c.pop(k, None)
        out["functions"][f["FunctionName"]] = {"configuration": c, "role": role(iam, c["Role"])}
    for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        entry = {"arn": td["taskDefinitionArn"], "containers": [c["name"] for c in td["containerDefinitions"]]}
        if td.get("taskRoleArn"):
            entry["task_role"] = role(iam, td["taskRoleArn"])
        out["task_definitions"][td["family"]] = entry
    # The registry's task definition reads the same secret version.
    td = ecs.describe_task_definition(taskDefinition="tre-registry")["taskDefinition"]
    value_from = td["containerDefinitions"][0]["secrets"][0]["valueFrom"]
    if value_from != f"{secret['ARN']}:::{secret['VersionId']}":
        raise SystemExit(f"the registry reads {value_from}, not the secret's current version")
    out["registry_token_key_value_from"] = value_from
    # Scheduled EventBridge rules and what they send where.
    events = boto3.client("events")
    out["schedules"] = {}
    for r in events.list_rules()["Rules"]:
        if not r.get("ScheduleExpression"):
            continue
        targets = events.list_targets_by_rule(Rule=r["Name"])["Targets"]
        out["schedules"][r["Name"]] = {
            "schedule": r["ScheduleExpression"],
            "state": r.get("State"),
            "targets": [{"arn": t["Arn"], "input": t.get("Input")} for t in targets],
        }
    json.dump(out, sys.stdout, indent=2, sort_keys=True, default=str)


def audit(function, trail, buckets):
    lam, ct, gd = (boto3.client(s) for s in ("lambda", "cloudtrail", "guardduty"))
    # Every mapping, then those of FUNCTION: moto 5.2.5 filters ListEventSourceMappings by the
    # FunctionName as the mapping was created with (the provider passes the ARN), so a filter by
    # name finds none.
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    out = {"event_source_mappings": [m for m in mappings if m["FunctionArn"].endswith(f":function:{function}")]}
    out["trails"] = ct.describe_trails(trailNameList=[trail])["trailList"]
    if out["trails"]:
        out["trail_status"] = ct.get_trail_status(Name=trail)
        selectors = ct.get_event_selectors(TrailName=trail)
        out["event_selectors"] = selectors.get("EventSelectors", [])
        out["advanced_event_selectors"] = selectors.get("AdvancedEventSelectors", [])
    out["guardduty_detectors"] = {d: gd.get_detector(DetectorId=d) for d in gd.list_detectors()["DetectorIds"]}
    for d in out["guardduty_detectors"].values():
        d.pop("ResponseMetadata", None)
    # GetBucketVersioning through boto3: moto 5.2.5 answers it with the root element
    # GetBucketVersioningResponse instead of S3's VersioningConfiguration, which boto3 accepts and
    # the Rust SDK refuses ("expected VersioningConfiguration").
    s3 = boto3.client("s3")
    out["versioning"] = {b: s3.get_bucket_versioning(Bucket=b).get("Status") for b in buckets}
    for k in ("trail_status",):
        if k in out:
            out[k].pop("ResponseMetadata", None)
    json.dump(out, sys.stdout, indent=2, sort_keys=True, default=str)


def trail_gap(name):
    """moto 5.2.5's DeleteTrail ignores a trail named by its ARN (CloudTrailBackend.delete_trail
    looks the argument up among the trails' names only, and answers success either way); the
    provider deletes aws_cloudtrail by its id, the ARN. So after a destroy moto still lists the
    trail: delete it by name, saying so, before the check that nothing is left. Once moto deletes
    by ARN there is nothing to do here."""
    ct = boto3.client("cloudtrail")
    left = [t for t in ct.describe_trails(trailNameList=[name])["trailList"] if t["Name"] == name]
    if left:
        ct.delete_trail(Name=name)
        print(f"moto kept trail {name} after DeleteTrail by ARN (moto 5.2.5); deleted it by name")
    else:
        print(f"trail {name} is gone")


def leftovers():
    c = boto3.client
    left = {}

    def check(what, items):
        items = list(items)
        if items:
            left[what] = items

    ec2 = c("ec2")
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]}
    check("vpcs", [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]])
    check("subnets", [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default_vpcs])
    check("security groups", [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["VpcId"] not in default_vpcs])
    check("route tables", [r["RouteTableId"] for r in ec2.describe_route_tables()["RouteTables"] if r["VpcId"] not in default_vpcs])
    check("internet gateways", [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"] if not {a["VpcId"] for a in g.get("Attachments", [])} <= default_vpcs])
    check("vpc endpoints", [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"] != "deleted"])
    check("elastic ips", [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]])
    check("nat gateways", [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting")])
    check("flow logs", [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]])
    check("buckets", [b["Name"] for b in c("s3").list_buckets()["Buckets"]])
    check("tables", c("dynamodb").list_tables()["TableNames"])
    check("queues", c("sqs").list_queues().get("QueueUrls", []))
    check("topics", [t["TopicArn"] for t in c("sns").list_topics()["Topics"]])
    check("state machines", [m["stateMachineArn"] for m in c("stepfunctions").list_state_machines()["stateMachines"]])
    lam = c("lambda")
    check("functions", [f["FunctionName"] for f in lam.list_functions()["Functions"]])
    check("event source mappings", [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]])
    check("trails", [t["Name"] for t in c("cloudtrail").describe_trails()["trailList"]])
    check("guardduty detectors", c("guardduty").list_detectors()["DetectorIds"])
    iam = c("iam")
    check("roles", [r["RoleName"] for r in iam.list_roles()["Roles"]])
    check("customer managed policies", [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]])
    kms = c("kms")
    # moto stands in for AWS managed keys (alias/aws/...) with keys of its own ("Default key").
    aws_managed = {a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/") and "TargetKeyId" in a}
    keys = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"] if k["KeyId"] not in aws_managed]
    check("kms keys not pending deletion", [f"{k['KeyId']} ({k.get('Description')})" for k in keys if k["KeyState"] != "PendingDeletion"])
    check("kms aliases", [a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")])
    check("secrets", [s["Name"] for s in c("secretsmanager").list_secrets(IncludePlannedDeletion=True)["SecretList"] if "DeletedDate" not in s])
    ecs = c("ecs")
    check("ecs clusters", [a for a in ecs.list_clusters()["clusterArns"] if ecs.describe_clusters(clusters=[a])["clusters"][0]["status"] == "ACTIVE"])
    check("active task definitions", ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"])
    check("ecr repositories", [r["repositoryName"] for r in c("ecr").describe_repositories()["repositories"]])
    elb = c("elbv2")
    check("load balancers", [l["LoadBalancerArn"] for l in elb.describe_load_balancers()["LoadBalancers"]])
    check("target groups", [t["TargetGroupArn"] for t in elb.describe_target_groups()["TargetGroups"]])
    check("log groups", [g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]])
    check("alarms", [a["AlarmName"] for a in c("cloudwatch").describe_alarms()["MetricAlarms"]])
    check("event rules", [r["Name"] for r in c("events").list_rules()["Rules"]])
    apigw = c("apigatewayv2")
    check("http apis", [a["ApiId"] for a in apigw.get_apis()["Items"]])
    check("api domains", [d["DomainName"] for d in apigw.get_domain_names()["Items"]])
    cf = c("cloudfront")
    check("distributions", [d["Id"] for d in cf.list_distributions()["DistributionList"].get("Items", [])])
    check("origin access controls", [o["Id"] for o in cf.list_origin_access_controls()["OriginAccessControlList"].get("Items", [])])
    sd = c("servicediscovery")
    check("namespaces", [n["Id"] for n in sd.list_namespaces()["Namespaces"]])
    check("discovery services", [s["Id"] for s in sd.list_services()["Services"]])
    json.dump(left, sys.stdout, indent=2, sort_keys=True)


def main(argv):
    match argv:
        case ["import-certificate", cert, key]:
            import_certificate(cert, key)
        case ["lambda-zips", out, *names] if names:
            lambda_zips(out, names)
        case ["deployed", *flags] if set(flags) <= {"--redact"}:
            deployed("--redact" in flags)
        case ["audit", function, trail, *buckets]:
            audit(function, trail, buckets)
        case ["trail-gap", name]:
            trail_gap(name)
        case ["leftovers"]:
            leftovers()
        case _:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
