#!/usr/bin/env python3
"""What a TRE workspace has in an AWS account, read back through the AWS APIs (boto3 only).

    aws_inventory.py --endpoint URL --region R --workspace-id ID
        One JSON document: the workspace's VPCs (CIDR, internet and NAT gateways, route tables,
        subnets, endpoints, flow logs), security groups, EC2 instances and their volumes,
        SageMaker notebook instances, buckets, KMS keys and IAM roles, and `tagged`: every
        resource still carrying the tag tre:workspace-id = ID.
    aws_inventory.py --endpoint URL --region R --all-tagged
        One JSON document: every resource carrying any tre:workspace-id tag.
    --lifecycle-config NAME (repeatable, with either)
        Adds `lifecycle_configs`: {NAME: the SageMaker notebook lifecycle configuration, or null
        when there is none} (SageMaker cannot list them by tag).

`tagged` lists what exists. What AWS keeps for a while after it was deleted (KMS keys pending
deletion, terminated instances) is listed apart, in `tagged_pending_deletion`, so "nothing is
left" reads `tagged == []`. EC2 resources that the tag index still names but EC2 no longer
describes (a deleted VPC's tags linger in moto) are listed, by ARN, in `stale_tags_ignored`.

Credentials come from the usual AWS environment. --endpoint may be left out for real AWS. An AWS
error ends the script with exit code 2 and a one-line message naming the call that failed.
"""

import argparse
import base64
import json
import sys

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

TAG = "tre:workspace-id"


class Failure(Exception):
    pass


class Aws:
    """boto3 clients that turn every AWS error into a Failure naming the call."""

    def __init__(self, endpoint, region):
        self.endpoint = endpoint
        self.region = region
        self._clients = {}
        self._config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"})

    def client(self, service):
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=self.region, endpoint_url=self.endpoint, config=self._config
            )
        return self._clients[service]

    def call(self, service, op, missing=(), **kwargs):
        """Call `op`; error codes in `missing` (the thing is not there) give None."""
        try:
            return getattr(self.client(service), op)(**kwargs)
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in missing:
                return None
            raise Failure(f"{service}.{op}({_short(kwargs)}) failed: {code}: {e.response.get('Error', {}).get('Message', e)}")
        except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as e:
            raise Failure(f"{service}.{op}({_short(kwargs)}) failed: {e}")

    def pages(self, service, op, key, **kwargs):
        """Every item under `key` of every page of `op`."""
        client = self.client(service)
        try:
            if client.can_paginate(op):
                for page in client.get_paginator(op).paginate(**kwargs):
                    yield from page.get(key, [])
            else:
                yield from getattr(client, op)(**kwargs).get(key, [])
        except botocore.exceptions.ClientError as e:
            err = e.response.get("Error", {})
            raise Failure(f"{service}.{op}({_short(kwargs)}) failed: {err.get('Code')}: {err.get('Message', e)}")
        except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as e:
            raise Failure(f"{service}.{op}({_short(kwargs)}) failed: {e}")


def _short(kwargs):
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) < 200 else text[:197] + "..."


def tag_dict(tags):
    """[{Key, Value}] (any capitalisation) or {k: v} -> {k: v}."""
    if tags is None:
        return {}
    if isinstance(tags, dict):
        return dict(tags)
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in tags}


def matches(tags, workspace_id):
    """The predicate: carries tre:workspace-id (= workspace_id, unless None: any value)."""
    if TAG not in tags:
        return False
    return workspace_id is None or tags[TAG] == workspace_id


def policy_json(doc):
    if doc is None:
        return None
    if isinstance(doc, str):
        from urllib.parse import unquote

        try:
            return json.loads(doc)
        except ValueError:
            return json.loads(unquote(doc))
    return doc


# ---------------------------------------------------------------------------------------------
# Everything tagged


def collect_tagged(aws, account, workspace_id):
    """{arn: {arn, type, tags, found_by}} of every resource whose tags match."""
    found = {}

    def add(arn, rtype, tags, source):
        entry = found.setdefault(arn, {"arn": arn, "type": rtype, "tags": tags, "found_by": []})
        if source not in entry["found_by"]:
            entry["found_by"].append(source)

    # 1. The Resource Groups Tagging API: most services in one call.
    filters = [{"Key": TAG, "Values": [workspace_id]}] if workspace_id else [{"Key": TAG}]
    for r in aws.pages("resourcegroupstaggingapi", "get_resources", "ResourceTagMappingList", TagFilters=filters):
        tags = tag_dict(r.get("Tags"))
        if matches(tags, workspace_id):
            arn = r["ResourceARN"]
            add(arn, _type_from_arn(arn), tags, "tagging-api")

    # 2. EC2's own tag index (all EC2 resource types, e.g. VPC endpoints, which not every
    #    implementation of the tagging API lists).
    ec2_filters = [{"Name": "key", "Values": [TAG]}]
    if workspace_id:
        ec2_filters.append({"Name": "value", "Values": [workspace_id]})
    by_id = {}
    for t in aws.pages("ec2", "describe_tags", "Tags", Filters=ec2_filters):
        by_id.setdefault((t["ResourceId"], t["ResourceType"]), {})
    for rid, rtype in by_id:
        tags = {}
        for t in aws.pages("ec2", "describe_tags", "Tags", Filters=[{"Name": "resource-id", "Values": [rid]}]):
            tags[t["Key"]] = t["Value"]
        if matches(tags, workspace_id):
            arn = f"arn:aws:ec2:{aws.region}:{account}:{rtype}/{rid}"
            add(arn, f"ec2:{rtype}", tags, "ec2-describe-tags")

    # 3. IAM, which the tagging API does not cover.
    for role in aws.pages("iam", "list_roles", "Roles"):
        tags = tag_dict(list(aws.pages("iam", "list_role_tags", "Tags", RoleName=role["RoleName"])))
        if matches(tags, workspace_id):
            add(role["Arn"], "iam:role", tags, "iam")
    for pol in aws.pages("iam", "list_policies", "Policies", Scope="Local"):
        tags = tag_dict(list(aws.pages("iam", "list_policy_tags", "Tags", PolicyArn=pol["Arn"])))
        if matches(tags, workspace_id):
            add(pol["Arn"], "iam:policy", tags, "iam")
    for prof in aws.pages("iam", "list_instance_profiles", "InstanceProfiles"):
        got = aws.call("iam", "get_instance_profile", missing=("NoSuchEntity",), InstanceProfileName=prof["InstanceProfileName"])
        tags = tag_dict(got["InstanceProfile"].get("Tags")) if got else {}
        if matches(tags, workspace_id):
            add(prof["Arn"], "iam:instance-profile", tags, "iam")

    # 4. Buckets, one by one (cheap, and independent of the tagging API's S3 coverage).
    for b in aws.pages("s3", "list_buckets", "Buckets"):
        got = aws.call("s3", "get_bucket_tagging", missing=("NoSuchTagSet", "NoSuchBucket"), Bucket=b["Name"])
        tags = tag_dict(got["TagSet"]) if got else {}
        if matches(tags, workspace_id):
            add(f"arn:aws:s3:::{b['Name']}", "s3:bucket", tags, "s3")

    # 5. KMS keys, one by one (pending deletion keys keep their tags).
    for k in aws.pages("kms", "list_keys", "Keys"):
        tags = kms_tags(aws, k["KeyId"])
        if matches(tags, workspace_id):
            add(k["KeyArn"], "kms:key", tags, "kms")

    return found


def kms_tags(aws, key_id):
    return {t["TagKey"]: t["TagValue"] for t in aws.pages("kms", "list_resource_tags", "Tags", KeyId=key_id)}


def _type_from_arn(arn):
    parts = arn.split(":", 5)
    if parts[2] == "s3" and "/" not in parts[5]:
        return "s3:bucket"
    service, rest = parts[2], parts[5] if len(parts) > 5 else ""
    kind = rest.split("/", 1)[0].split(":", 1)[0]
    return f"{service}:{kind}" if kind else service


# How to ask EC2 whether a resource still exists: (operation, result key, id parameter, error
# codes meaning "no such resource"). EC2's tag index (DescribeTags) and the tagging API may still
# name a resource a while after it was deleted (moto keeps such tags for ever).
EC2_LOOKUP = {
    "vpc": ("describe_vpcs", "Vpcs", "VpcIds", ("InvalidVpcID.NotFound",)),
    "subnet": ("describe_subnets", "Subnets", "SubnetIds", ("InvalidSubnetID.NotFound",)),
    "security-group": ("describe_security_groups", "SecurityGroups", "GroupIds", ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")),
    "route-table": ("describe_route_tables", "RouteTables", "RouteTableIds", ("InvalidRouteTableID.NotFound",)),
    "vpc-endpoint": ("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointIds", ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")),
    "network-interface": ("describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceIds", ("InvalidNetworkInterfaceID.NotFound",)),
    "volume": ("describe_volumes", "Volumes", "VolumeIds", ("InvalidVolume.NotFound",)),
    "internet-gateway": ("describe_internet_gateways", "InternetGateways", "InternetGatewayIds", ("InvalidInternetGatewayID.NotFound",)),
    "natgateway": ("describe_nat_gateways", "NatGateways", "NatGatewayIds", ("NatGatewayNotFound", "InvalidNatGatewayID.NotFound")),
    "vpc-flow-log": ("describe_flow_logs", "FlowLogs", "FlowLogIds", ("InvalidFlowLogId.NotFound",)),
    "flow-logs": ("describe_flow_logs", "FlowLogs", "FlowLogIds", ("InvalidFlowLogId.NotFound",)),
}
GONE_STATES = {"deleted", "deleting", "Deleted", "Deleting"}


def ec2_exists(aws, kind, rid):
    lookup = EC2_LOOKUP.get(kind)
    if lookup is None:
        return True  # a type this script does not look up: trust the tag index
    op, key, param, missing = lookup
    got = aws.call("ec2", op, missing=missing, **{param: [rid]})
    return any(item.get("State") not in GONE_STATES for item in (got or {}).get(key, []))


def split_pending(aws, tagged):
    """(still there, kept by AWS after deletion: KMS keys pending deletion and terminated
    instances, tags of EC2 resources that no longer exist)."""
    live, pending, stale = [], [], []
    for entry in sorted(tagged.values(), key=lambda e: e["arn"]):
        state = None
        if entry["type"] == "kms:key":
            meta = aws.call("kms", "describe_key", missing=("NotFoundException",), KeyId=entry["arn"])
            state = meta["KeyMetadata"]["KeyState"] if meta else "Gone"
            entry["state"] = state
            if state in ("PendingDeletion", "PendingReplicaDeletion", "Gone"):
                pending.append(entry)
                continue
        elif entry["type"] == "ec2:instance":
            iid = entry["arn"].rsplit("/", 1)[1]
            res = aws.call("ec2", "describe_instances", missing=("InvalidInstanceID.NotFound",), InstanceIds=[iid])
            insts = [i for r in (res or {}).get("Reservations", []) for i in r["Instances"]]
            state = insts[0]["State"]["Name"] if insts else "gone"
            entry["state"] = state
            if state in ("terminated", "gone"):
                pending.append(entry)
                continue
        elif entry["type"].startswith("ec2:"):
            kind, rid = entry["arn"].split(":", 5)[5].split("/", 1)
            if not ec2_exists(aws, kind, rid):
                stale.append(entry["arn"])
                continue
        live.append(entry)
    return live, pending, stale


# ---------------------------------------------------------------------------------------------
# The workspace in detail


def rules(perms):
    out = []
    for p in perms:
        out.append({
            "protocol": p.get("IpProtocol"),
            "from_port": p.get("FromPort"),
            "to_port": p.get("ToPort"),
            "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])],
            "ipv6_cidrs": [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])],
            "prefix_lists": [r["PrefixListId"] for r in p.get("PrefixListIds", [])],
            "security_groups": [r["GroupId"] for r in p.get("UserIdGroupPairs", [])],
            "descriptions": sorted({r.get("Description") for k in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs") for r in p.get(k, []) if r.get("Description")}),
        })
    return out


def vpcs_of(aws, workspace_id):
    vpcs = []
    for v in aws.pages("ec2", "describe_vpcs", "Vpcs", Filters=[{"Name": f"tag:{TAG}", "Values": [workspace_id]}]):
        vid = v["VpcId"]
        vf = [{"Name": "vpc-id", "Values": [vid]}]
        igws = list(aws.pages("ec2", "describe_internet_gateways", "InternetGateways", Filters=[{"Name": "attachment.vpc-id", "Values": [vid]}]))
        nats = [n for n in aws.pages("ec2", "describe_nat_gateways", "NatGateways", Filters=vf) if n.get("State") not in ("deleted",)]
        rts = []
        for rt in aws.pages("ec2", "describe_route_tables", "RouteTables", Filters=vf):
            routes = []
            for r in rt.get("Routes", []):
                dest = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or r.get("DestinationPrefixListId")
                target = next((r[k] for k in ("GatewayId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId", "InstanceId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId") if r.get(k)), None)
                routes.append({"destination": dest, "target": target, "state": r.get("State")})
            rts.append({
                "id": rt["RouteTableId"],
                "main": any(a.get("Main") for a in rt.get("Associations", [])),
                "subnet_ids": sorted(a["SubnetId"] for a in rt.get("Associations", []) if a.get("SubnetId")),
                "routes": routes,
            })
        subnets = [{
            "id": s["SubnetId"],
            "cidr": s["CidrBlock"],
            "availability_zone": s["AvailabilityZone"],
            "map_public_ip_on_launch": s.get("MapPublicIpOnLaunch", False),
        } for s in aws.pages("ec2", "describe_subnets", "Subnets", Filters=vf)]
        endpoints = [{
            "id": e["VpcEndpointId"],
            "service_name": e["ServiceName"],
            "type": e["VpcEndpointType"],
            "state": e.get("State"),
            "private_dns_enabled": e.get("PrivateDnsEnabled"),
            "subnet_ids": sorted(e.get("SubnetIds", [])),
            "security_group_ids": sorted(g["GroupId"] for g in e.get("Groups", [])),
            "route_table_ids": sorted(e.get("RouteTableIds", [])),
            "network_interface_ids": sorted(e.get("NetworkInterfaceIds", [])),
            "policy": policy_json(e.get("PolicyDocument")),
        } for e in aws.pages("ec2", "describe_vpc_endpoints", "VpcEndpoints", Filters=vf)]
        flow_logs = [{
            "id": f["FlowLogId"],
            "traffic_type": f.get("TrafficType"),
            "destination_type": f.get("LogDestinationType"),
            "destination": f.get("LogDestination") or f.get("LogGroupName"),
            "log_group_name": f.get("LogGroupName"),
            "iam_role_arn": f.get("DeliverLogsPermissionArn"),
            "status": f.get("FlowLogStatus"),
        } for f in aws.pages("ec2", "describe_flow_logs", "FlowLogs", Filters=[{"Name": "resource-id", "Values": [vid]}])]
        vpcs.append({
            "id": vid,
            "cidr": v["CidrBlock"],
            "tags": tag_dict(v.get("Tags")),
            "internet_gateways": [g["InternetGatewayId"] for g in igws],
            "nat_gateways": [{"id": n["NatGatewayId"], "state": n.get("State")} for n in nats],
            "route_tables": rts,
            "subnets": subnets,
            "vpc_endpoints": endpoints,
            "flow_logs": flow_logs,
        })
    return vpcs


def security_groups_of(aws, vpc_ids):
    if not vpc_ids:
        return []
    return [{
        "id": g["GroupId"],
        "name": g["GroupName"],
        "vpc_id": g.get("VpcId"),
        "description": g.get("Description"),
        "tags": tag_dict(g.get("Tags")),
        "ingress": rules(g.get("IpPermissions", [])),
        "egress": rules(g.get("IpPermissionsEgress", [])),
    } for g in aws.pages("ec2", "describe_security_groups", "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": vpc_ids}])]


def instances_of(aws, workspace_id):
    out = []
    for r in aws.pages("ec2", "describe_instances", "Reservations", Filters=[{"Name": f"tag:{TAG}", "Values": [workspace_id]}]):
        for i in r["Instances"]:
            vol_ids = [b["Ebs"]["VolumeId"] for b in i.get("BlockDeviceMappings", []) if b.get("Ebs")]
            volumes = []
            if vol_ids:
                for v in aws.pages("ec2", "describe_volumes", "Volumes", VolumeIds=vol_ids):
                    volumes.append({
                        "id": v["VolumeId"],
                        "device": next((a.get("Device") for a in v.get("Attachments", [])), None),
                        "encrypted": v.get("Encrypted"),
                        "kms_key_id": v.get("KmsKeyId"),
                        "size_gb": v.get("Size"),
                        "type": v.get("VolumeType"),
                        "tags": tag_dict(v.get("Tags")),
                    })
            mo = i.get("MetadataOptions", {})
            out.append({
                "id": i["InstanceId"],
                "state": i["State"]["Name"],
                "instance_type": i.get("InstanceType"),
                "image_id": i.get("ImageId"),
                "subnet_id": i.get("SubnetId"),
                "vpc_id": i.get("VpcId"),
                "security_group_ids": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])),
                "public_ip": i.get("PublicIpAddress"),
                "key_name": i.get("KeyName"),
                "instance_profile_arn": i.get("IamInstanceProfile", {}).get("Arn"),
                "metadata_options": {
                    "http_tokens": mo.get("HttpTokens"),
                    "http_endpoint": mo.get("HttpEndpoint"),
                    "http_put_response_hop_limit": mo.get("HttpPutResponseHopLimit"),
                    "instance_metadata_tags": mo.get("InstanceMetadataTags"),
                },
                "network_interfaces": [{
                    "id": n["NetworkInterfaceId"],
                    "public_ip": n.get("Association", {}).get("PublicIp"),
                } for n in i.get("NetworkInterfaces", [])],
                "volumes": volumes,
                "tags": tag_dict(i.get("Tags")),
            })
    return out


def notebooks_of(aws, workspace_id):
    out = []
    for nb in aws.pages("sagemaker", "list_notebook_instances", "NotebookInstances"):
        d = aws.call("sagemaker", "describe_notebook_instance", NotebookInstanceName=nb["NotebookInstanceName"])
        tags = tag_dict(list(aws.pages("sagemaker", "list_tags", "Tags", ResourceArn=d["NotebookInstanceArn"])))
        if not matches(tags, workspace_id):
            continue
        out.append({
            "name": d["NotebookInstanceName"],
            "arn": d["NotebookInstanceArn"],
            "status": d.get("NotebookInstanceStatus"),
            "instance_type": d.get("InstanceType"),
            "subnet_id": d.get("SubnetId"),
            "security_groups": sorted(d.get("SecurityGroups", [])),
            "direct_internet_access": d.get("DirectInternetAccess"),
            "root_access": d.get("RootAccess"),
            "kms_key_id": d.get("KmsKeyId"),
            "role_arn": d.get("RoleArn"),
            "volume_size_gb": d.get("VolumeSizeInGB"),
            "lifecycle_config_name": d.get("NotebookInstanceLifecycleConfigName"),
            "minimum_imds_version": d.get("InstanceMetadataServiceConfiguration", {}).get("MinimumInstanceMetadataServiceVersion"),
            "url": d.get("Url"),
            "tags": tags,
        })
    return out


def buckets_of(aws, workspace_id):
    out = []
    for b in aws.pages("s3", "list_buckets", "Buckets"):
        name = b["Name"]
        got = aws.call("s3", "get_bucket_tagging", missing=("NoSuchTagSet", "NoSuchBucket"), Bucket=name)
        tags = tag_dict(got["TagSet"]) if got else {}
        if not matches(tags, workspace_id):
            continue
        enc = aws.call("s3", "get_bucket_encryption", missing=("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name)
        ver = aws.call("s3", "get_bucket_versioning", Bucket=name)
        pab = aws.call("s3", "get_public_access_block", missing=("NoSuchPublicAccessBlockConfiguration",), Bucket=name)
        pol = aws.call("s3", "get_bucket_policy", missing=("NoSuchBucketPolicy",), Bucket=name)
        own = aws.call("s3", "get_bucket_ownership_controls", missing=("OwnershipControlsNotFoundError",), Bucket=name)
        out.append({
            "name": name,
            "encryption": [{
                "sse_algorithm": r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm"),
                "kms_key_id": r.get("ApplyServerSideEncryptionByDefault", {}).get("KMSMasterKeyID"),
                "bucket_key_enabled": r.get("BucketKeyEnabled"),
            } for r in (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])],
            "versioning": (ver or {}).get("Status"),
            "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
            "policy": policy_json(pol["Policy"]) if pol else None,
            "object_ownership": [r.get("ObjectOwnership") for r in (own or {}).get("OwnershipControls", {}).get("Rules", [])],
            "tags": tags,
        })
    return out


def kms_keys_of(aws, workspace_id):
    out = []
    for k in aws.pages("kms", "list_keys", "Keys"):
        tags = kms_tags(aws, k["KeyId"])
        if not matches(tags, workspace_id):
            continue
        meta = aws.call("kms", "describe_key", KeyId=k["KeyId"])["KeyMetadata"]
        rot = None
        if meta["KeyState"] not in ("PendingDeletion",):
            r = aws.call("kms", "get_key_rotation_status", KeyId=k["KeyId"])
            rot = r.get("KeyRotationEnabled")
        pol = aws.call("kms", "get_key_policy", KeyId=k["KeyId"], PolicyName="default")
        aliases = [a["AliasName"] for a in aws.pages("kms", "list_aliases", "Aliases", KeyId=k["KeyId"])]
        out.append({
            "arn": meta["Arn"],
            "state": meta["KeyState"],
            "rotation_enabled": rot,
            "deletion_date": str(meta["DeletionDate"]) if meta.get("DeletionDate") else None,
            "aliases": aliases,
            "policy": policy_json(pol.get("Policy")),
            "tags": tags,
        })
    return out


def lifecycle_configs_of(aws, names):
    out = {}
    for name in names:
        d = aws.call("sagemaker", "describe_notebook_instance_lifecycle_config", missing=("ValidationException", "ResourceNotFound"), NotebookInstanceLifecycleConfigName=name)
        out[name] = None if d is None else {
            "arn": d.get("NotebookInstanceLifecycleConfigArn"),
            # The scripts as text (the API holds them base64-encoded).
            "on_start": [base64.b64decode(h.get("Content", "")).decode("utf-8", "replace") for h in d.get("OnStart", [])],
        }
    return out


def policy_document(aws, arn):
    pol = aws.call("iam", "get_policy", missing=("NoSuchEntity",), PolicyArn=arn)
    if not pol:
        return None
    ver = aws.call("iam", "get_policy_version", PolicyArn=arn, VersionId=pol["Policy"]["DefaultVersionId"])
    return policy_json(ver["PolicyVersion"]["Document"])


def roles_of(aws, workspace_id):
    out = []
    for role in aws.pages("iam", "list_roles", "Roles"):
        name = role["RoleName"]
        tags = tag_dict(list(aws.pages("iam", "list_role_tags", "Tags", RoleName=name)))
        if not matches(tags, workspace_id):
            continue
        full = aws.call("iam", "get_role", RoleName=name)["Role"]
        inline = {}
        for pname in aws.pages("iam", "list_role_policies", "PolicyNames", RoleName=name):
            inline[pname] = policy_json(aws.call("iam", "get_role_policy", RoleName=name, PolicyName=pname)["PolicyDocument"])
        attached = {}
        for a in aws.pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            attached[a["PolicyArn"]] = policy_document(aws, a["PolicyArn"])
        boundary = full.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        profiles = [p["InstanceProfileName"] for p in aws.pages("iam", "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)]
        out.append({
            "name": name,
            "arn": full["Arn"],
            "assume_role_policy": policy_json(full.get("AssumeRolePolicyDocument")),
            "inline_policies": inline,
            "attached_policies": attached,
            "permissions_boundary_arn": boundary,
            "permissions_boundary": policy_document(aws, boundary) if boundary else None,
            "instance_profiles": profiles,
            "tags": tags,
        })
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="AWS endpoint URL (e.g. a moto server); default: real AWS")
    ap.add_argument("--region", required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--workspace-id", help="describe this workspace")
    mode.add_argument("--all-tagged", action="store_true", help="list everything carrying any tre:workspace-id tag")
    ap.add_argument("--lifecycle-config", action="append", default=[], metavar="NAME", help="also describe this notebook lifecycle configuration")
    args = ap.parse_args(argv)

    aws = Aws(args.endpoint, args.region)
    try:
        account = aws.call("sts", "get_caller_identity")["Account"]
        tagged, pending, stale = split_pending(aws, collect_tagged(aws, account, args.workspace_id))
        if args.all_tagged:
            doc = {
                "region": args.region,
                "account": account,
                "tagged": tagged,
                "tagged_pending_deletion": pending,
                "stale_tags_ignored": stale,
                "workspaces": sorted({e["tags"][TAG] for e in tagged}),
            }
        else:
            ws = args.workspace_id
            vpcs = vpcs_of(aws, ws)
            doc = {
                "workspace_id": ws,
                "region": args.region,
                "account": account,
                "vpcs": vpcs,
                "security_groups": security_groups_of(aws, [v["id"] for v in vpcs]),
                "instances": instances_of(aws, ws),
                "notebook_instances": notebooks_of(aws, ws),
                "buckets": buckets_of(aws, ws),
                "kms_keys": kms_keys_of(aws, ws),
                "iam_roles": roles_of(aws, ws),
                "tagged": tagged,
                "tagged_pending_deletion": pending,
                "stale_tags_ignored": stale,
            }
        if args.lifecycle_config:
            doc["lifecycle_configs"] = lifecycle_configs_of(aws, args.lifecycle_config)
    except Failure as e:
        print(f"aws_inventory: {e}", file=sys.stderr)
        return 2
    json.dump(doc, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
