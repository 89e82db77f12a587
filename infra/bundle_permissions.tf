# What the AWS bundles (bundles/aws-*: workspace, notebooks, notebook, airlock-review, vms,
# linux-vm, package-mirror) may do through the bundle-runner task role: create, read, change and
# destroy what their Terraform modules declare (with the Describe/List/Get calls the provider
# refreshes them with), and not what they do not create. Scoped by the names the modules give
# where a policy can name the resource (tre-ws-<workspace id>..., tre-nb-<id>, tre-nbs-<id>,
# tre-vms-<id>...; an id is a lower-case UUID, matched below character by character), and by the
# tags the runner sets on everything a bundle creates (default_tags: tre:resource-id, and
# tre:workspace-id in a workspace) where it cannot: EC2 resources and KMS keys.
# tests/tests/infra_consistency.rs checks these statements against the resource types the modules
# use. Four managed policies: the grants do not fit in one (a managed policy holds 6,144
# characters) nor in the role's inline policies (10,240 in all).
#
# What tags can and cannot guarantee: "tagged tre:workspace-id" only says a bundle made it. The
# runner may tag what AWS makes untagged (a VPC's default security group, main route table and
# network ACL, endpoints' network interfaces): something else's untagged part of those types could
# be tagged and then changed too. The control plane's own resources (tagged tre:deployment by
# infra/versions.tf) are denied outright below.

locals {
  # A TRE id (lower-case UUID) in a resource pattern: `?` is exactly one character, so a pattern
  # never reaches another name that merely starts alike (name_prefix may itself be "tre-ws").
  bundle_id        = "????????-????-????-????-????????????"
  bundle_account   = data.aws_caller_identity.current.account_id
  bundle_region    = data.aws_region.current.name
  bundle_partition = data.aws_partition.current.partition
  bundle_ec2       = "arn:${local.bundle_partition}:ec2:${local.bundle_region}:${local.bundle_account}"
  bundle_iam       = "arn:${local.bundle_partition}:iam::${local.bundle_account}"
  bundle_kms       = "arn:${local.bundle_partition}:kms:${local.bundle_region}:${local.bundle_account}"
  # aws-workspace names everything tre-ws-<workspace id>.
  bundle_ws = "tre-ws-${local.bundle_id}"
  bundle_policies = {
    network  = data.aws_iam_policy_document.bundles_network.json
    identity = data.aws_iam_policy_document.bundles_identity.json
    data     = data.aws_iam_policy_document.bundles_data.json
    services = data.aws_iam_policy_document.bundles_services.json
  }
}

# ---------- EC2 (aws-workspace's network, aws-linux-vm's instance) and Route 53 ----------

data "aws_iam_policy_document" "bundles_network" {
  # checkov:skip=CKV_AWS_356:Only ec2:Describe* (read-only) is on "*": EC2 describe calls list, and take no resource to scope them to. Every write below names its resource type and is held by a tag.
  # Describe calls take no resource: every EC2 read of the provider's refreshes, the zones
  # (data.aws_availability_zones), the AMI and instance types of aws-linux-vm.
  statement {
    sid       = "Ec2Read"
    actions   = ["ec2:Describe*"]
    resources = ["*"]
  }
  # aws_vpc, aws_subnet, aws_route_table, aws_security_group, aws_vpc_endpoint, aws_flow_log and
  # aws_instance (with its volumes) pass the TRE's tags at creation (TagSpecifications): what is
  # created must carry tre:workspace-id.
  statement {
    sid     = "Ec2CreateTagged"
    actions = ["ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup", "ec2:CreateVpcEndpoint", "ec2:CreateFlowLogs", "ec2:RunInstances"]
    resources = [
      "${local.bundle_ec2}:vpc/*", "${local.bundle_ec2}:subnet/*", "${local.bundle_ec2}:route-table/*", "${local.bundle_ec2}:security-group/*",
      "${local.bundle_ec2}:vpc-endpoint/*", "${local.bundle_ec2}:vpc-flow-log/*", "${local.bundle_ec2}:instance/*", "${local.bundle_ec2}:volume/*",
    ]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/tre:workspace-id"
      values   = ["false"]
    }
  }
  # Tagging at creation is a CreateTags permission of its own.
  statement {
    sid     = "Ec2TagOnCreate"
    actions = ["ec2:CreateTags"]
    resources = [
      "${local.bundle_ec2}:vpc/*", "${local.bundle_ec2}:subnet/*", "${local.bundle_ec2}:route-table/*", "${local.bundle_ec2}:security-group/*",
      "${local.bundle_ec2}:vpc-endpoint/*", "${local.bundle_ec2}:vpc-flow-log/*", "${local.bundle_ec2}:instance/*", "${local.bundle_ec2}:volume/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateVpc", "CreateSubnet", "CreateRouteTable", "CreateSecurityGroup", "CreateVpcEndpoint", "CreateFlowLogs", "RunInstances"]
    }
    condition {
      test     = "Null"
      variable = "aws:RequestTag/tre:workspace-id"
      values   = ["false"]
    }
  }
  # Everything else on what a workspace bundle made, which carries tre:workspace-id: creating in
  # its VPC, subnets and security groups (the parents of the creations above, and the notebook's
  # network interface SageMaker makes in the workspace subnet), changing and deleting them, the
  # VM's type, volume size, metadata options and state (aws_instance, aws_ec2_instance_state),
  # the security groups' rules (aws_security_group, aws_default_security_group), tag updates.
  statement {
    sid = "Ec2ChangeTagged"
    actions = [
      "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup", "ec2:CreateVpcEndpoint", "ec2:CreateFlowLogs", "ec2:RunInstances", "ec2:CreateNetworkInterface",
      "ec2:ModifyVpcAttribute", "ec2:DeleteVpc", "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet",
      "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable", "ec2:DeleteRouteTable",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:ModifySecurityGroupRules", "ec2:DeleteSecurityGroup",
      "ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints", "ec2:DeleteFlowLogs",
      "ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances", "ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions",
      "ec2:ModifyInstanceCreditSpecification", "ec2:MonitorInstances", "ec2:UnmonitorInstances", "ec2:ModifyVolume", "ec2:ModifyNetworkInterfaceAttribute",
      "ec2:CreateTags", "ec2:DeleteTags",
    ]
    resources = [
      "${local.bundle_ec2}:vpc/*", "${local.bundle_ec2}:subnet/*", "${local.bundle_ec2}:route-table/*", "${local.bundle_ec2}:security-group/*",
      "${local.bundle_ec2}:vpc-endpoint/*", "${local.bundle_ec2}:vpc-flow-log/*", "${local.bundle_ec2}:instance/*", "${local.bundle_ec2}:volume/*",
    ]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/tre:workspace-id"
      values   = ["false"]
    }
  }
  # What AWS makes untagged with a VPC, an endpoint or an instance is tagged afterwards, one tag
  # per call (aws_default_security_group; aws_ec2_tag on the main route table, the default
  # network ACL, the endpoints' and the VM's network interfaces): only TRE tag keys, on those types.
  statement {
    sid       = "Ec2TagAwsMadeParts"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["${local.bundle_ec2}:network-interface/*", "${local.bundle_ec2}:security-group/*", "${local.bundle_ec2}:route-table/*", "${local.bundle_ec2}:network-acl/*"]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["tre:*", "Name"]
    }
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }
  # The parts of those requests that are not a bundle's to tag: the network interface an instance
  # is launched with (and the notebook's, in the workspace subnet), the AMI and its snapshot, the
  # AWS services the endpoints reach, the rules of a group, the S3 prefix list. Each of these
  # actions also names a subnet, security group, instance or endpoint the statements above check.
  statement {
    sid = "Ec2PartsOfTaggedRequests"
    actions = [
      "ec2:RunInstances", "ec2:CreateNetworkInterface", "ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
    ]
    resources = [
      "${local.bundle_ec2}:network-interface/*", "${local.bundle_ec2}:security-group-rule/*",
      "arn:${local.bundle_partition}:ec2:${local.bundle_region}::image/*", "arn:${local.bundle_partition}:ec2:${local.bundle_region}::snapshot/*",
      "arn:${local.bundle_partition}:ec2:${local.bundle_region}:*:vpc-endpoint-service/*", "arn:${local.bundle_partition}:ec2:${local.bundle_region}:*:prefix-list/*",
    ]
  }
  # SageMaker manages the notebook's network interface in the workspace subnet on the caller's
  # behalf (aws_sagemaker_notebook_instance): only through an AWS service, never called directly.
  statement {
    sid       = "NotebookNetworkInterfaces"
    actions   = ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterfacePermission", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteNetworkInterface"]
    resources = ["${local.bundle_ec2}:network-interface/*"]
    condition {
      test     = "Bool"
      variable = "aws:ViaAWSService"
      values   = ["true"]
    }
  }
  # Interface endpoints with private DNS associate the VPC with AWS's private hosted zone of the
  # service (aws_vpc_endpoint.interface, private_dns_enabled).
  statement {
    sid       = "PrivateDnsOfInterfaceEndpoints"
    actions   = ["route53:AssociateVPCWithHostedZone", "route53:DisassociateVPCFromHostedZone"]
    resources = ["arn:${local.bundle_partition}:route53:::hostedzone/*"]
  }
  # Never the control plane's own network (tagged tre:deployment): not even through a tag a
  # bundle could add to an untagged part of it.
  statement {
    sid       = "NotTheControlPlane"
    effect    = "Deny"
    actions   = ["ec2:Create*", "ec2:RunInstances", "ec2:Delete*", "ec2:Modify*", "ec2:Authorize*", "ec2:Revoke*", "ec2:Associate*", "ec2:Disassociate*", "ec2:Replace*", "ec2:TerminateInstances", "ec2:StopInstances"]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/tre:deployment"
      values   = ["false"]
    }
  }
}

# ---------- IAM (aws-workspace's researcher and flow-log roles) ----------

data "aws_iam_policy_document" "bundles_identity" {
  # data.aws_iam_session_context (aws-workspace: the bucket policy lets its deployer in) looks up
  # the role behind the runner's session.
  statement {
    sid       = "ReadOwnRole"
    actions   = ["iam:GetRole"]
    resources = [aws_iam_role.bundle_runner_task.arn]
  }
  # aws_iam_role.researcher, aws_iam_role.flow_logs, aws-airlock-review's aws_iam_role.review
  # (tre-nb-<id>-review) and their inline policies (aws_iam_role_policy).
  statement {
    sid = "WorkspaceRoles"
    actions = [
      "iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRoleTags",
      "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:DeleteRole",
    ]
    resources = ["${local.bundle_iam}:role/${local.bundle_ws}-researcher", "${local.bundle_iam}:role/${local.bundle_ws}-flow-logs", "${local.bundle_iam}:role/tre-nb-${local.bundle_id}-review"]
  }
  statement {
    sid       = "CreateFlowLogsRole"
    actions   = ["iam:CreateRole"]
    resources = ["${local.bundle_iam}:role/${local.bundle_ws}-flow-logs"]
  }
  # The researcher role exists only with its permission boundary (the workspace's
  # tre-ws-<id>-researcher-boundary, which holds the same grants as the role's own policy). The
  # boundary caps the role whatever else is attached to it later (by hand, or by a policy of
  # var.bundle_policy_arns): it cannot reach beyond its workspace. It is no guard against the
  # runner itself, which writes the boundary policy (an upgrade must be able to change it); nor
  # does it limit what resource policies grant to a session of the role.
  statement {
    sid       = "ResearcherRoleOnlyWithBoundary"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    resources = ["${local.bundle_iam}:role/${local.bundle_ws}-researcher"]
    condition {
      test     = "StringLike"
      variable = "iam:PermissionsBoundary"
      values   = ["${local.bundle_iam}:policy/${local.bundle_ws}-researcher-boundary"]
    }
  }
  # An airlock review notebook's role, likewise only with its boundary (tre-nb-<id>-review-boundary).
  statement {
    sid       = "ReviewRoleOnlyWithBoundary"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    resources = ["${local.bundle_iam}:role/tre-nb-${local.bundle_id}-review"]
    condition {
      test     = "StringLike"
      variable = "iam:PermissionsBoundary"
      values   = ["${local.bundle_iam}:policy/tre-nb-${local.bundle_id}-review-boundary"]
    }
  }
  # aws_iam_policy.researcher_boundary and aws-airlock-review's aws_iam_policy.boundary (new
  # versions on upgrade, the oldest dropped past five).
  statement {
    sid = "ResearcherBoundaryPolicy"
    actions = [
      "iam:CreatePolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListPolicyTags", "iam:ListEntitiesForPolicy",
      "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:TagPolicy", "iam:UntagPolicy", "iam:DeletePolicy",
    ]
    resources = ["${local.bundle_iam}:policy/${local.bundle_ws}-researcher-boundary", "${local.bundle_iam}:policy/tre-nb-${local.bundle_id}-review-boundary"]
  }
  # aws_iam_instance_profile.researcher, for aws-linux-vm's instances.
  statement {
    sid = "ResearcherInstanceProfile"
    actions = [
      "iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:ListInstanceProfileTags", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile", "iam:UntagInstanceProfile", "iam:DeleteInstanceProfile",
    ]
    resources = ["${local.bundle_iam}:instance-profile/${local.bundle_ws}-researcher"]
  }
  # The researcher role goes to EC2 (its instance profile: AddRoleToInstanceProfile, and
  # aws-linux-vm's RunInstances) and SageMaker (aws-notebook's execution role) only.
  statement {
    sid       = "PassResearcherRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.bundle_iam}:role/${local.bundle_ws}-researcher"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com", "sagemaker.amazonaws.com"]
    }
  }
  # An airlock review notebook's role goes to SageMaker only (its notebook's execution role).
  statement {
    sid       = "PassReviewRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.bundle_iam}:role/tre-nb-${local.bundle_id}-review"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
  # The flow-log role goes to VPC Flow Logs only (aws_flow_log.workspace).
  statement {
    sid       = "PassFlowLogsRole"
    actions   = ["iam:PassRole"]
    resources = ["${local.bundle_iam}:role/${local.bundle_ws}-flow-logs"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["vpc-flow-logs.amazonaws.com"]
    }
  }
  # The runner never acts as a role it creates (a trust policy naming it would otherwise suffice).
  statement {
    sid       = "NeverAssumeWorkspaceRoles"
    effect    = "Deny"
    actions   = ["sts:AssumeRole"]
    resources = ["${local.bundle_iam}:role/tre-ws-*", "${local.bundle_iam}:role/tre-nb-*"]
  }
}

# ---------- S3, KMS, CloudWatch Logs (aws-workspace, aws-vms, aws-package-mirror) ----------

data "aws_iam_policy_document" "bundles_data" {
  # aws_s3_bucket.workspace (tre-ws-<id>-<account>) and its configuration resources; the
  # provider reads every bucket setting back (s3:GetBucket* and the other Get* below).
  statement {
    sid = "WorkspaceBuckets"
    actions = [
      "s3:CreateBucket", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucket*", "s3:GetAccelerateConfiguration", "s3:GetLifecycleConfiguration",
      "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration", "s3:PutBucketTagging", "s3:PutBucketOwnershipControls", "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket",
    ]
    resources = ["arn:${local.bundle_partition}:s3:::${local.bundle_ws}-${local.bundle_account}"]
  }
  # An uninstall with delete_data_on_uninstall (force_destroy) deletes every object version
  # first. No object is ever read.
  statement {
    sid       = "EmptyWorkspaceBucket"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["arn:${local.bundle_partition}:s3:::${local.bundle_ws}-${local.bundle_account}/*"]
  }
  # aws_kms_key.workspace and aws_kms_key.mirror are created with the TRE's tags (CreateKey's
  # Tags, which also need TagResource on no particular key); only TRE tag keys.
  statement {
    sid       = "CreateTaggedKeys"
    actions   = ["kms:CreateKey", "kms:TagResource"]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/tre:resource-id"
      values   = ["false"]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["tre:*"]
    }
  }
  # Managing those keys (policy, rotation, description, deletion, tags, the key side of their
  # aliases): keys tagged tre:resource-id, as the package mirror's key has no workspace.
  statement {
    sid = "ManageTaggedKeys"
    actions = [
      "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:DisableKeyRotation",
      "kms:UpdateKeyDescription", "kms:EnableKey", "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
      "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
    ]
    resources = ["${local.bundle_kms}:key/*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/tre:resource-id"
      values   = ["false"]
    }
  }
  # The alias side (aws_kms_alias: alias/tre-ws-<id>, alias/tre-package-mirror-<domain>); aliases
  # carry no tags.
  statement {
    sid       = "BundleKeyAliases"
    actions   = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
    resources = ["${local.bundle_kms}:alias/${local.bundle_ws}", "${local.bundle_kms}:alias/tre-package-mirror-*"]
  }
  # aws_kms_alias reads aliases by listing them (no resource).
  statement {
    sid       = "ListAliases"
    actions   = ["kms:ListAliases"]
    resources = ["*"]
  }
  # The services a bundle hands a key to use it as the caller when they create what it encrypts:
  # EC2 (the VM's root volume, at RunInstances and StartInstances), SageMaker (the notebook's
  # volume), CodeArtifact (the mirror's domain).
  statement {
    sid       = "TaggedKeysThroughServices"
    actions   = ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = ["${local.bundle_kms}:key/*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/tre:resource-id"
      values   = ["false"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${local.bundle_region}.amazonaws.com", "sagemaker.${local.bundle_region}.amazonaws.com", "codeartifact.${local.bundle_region}.amazonaws.com"]
    }
  }
  # Never the control plane's key (tagged tre:deployment), even if a bundle tagged it.
  statement {
    sid       = "NotTheControlPlaneKey"
    effect    = "Deny"
    actions   = ["kms:TagResource", "kms:UntagResource", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation", "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/tre:deployment"
      values   = ["false"]
    }
  }
  # aws_cloudwatch_log_group: aws-workspace's flow logs and aws-vms' session logs, both under
  # /tre/tre-ws-<workspace id>/ and encrypted with the workspace key.
  statement {
    sid = "WorkspaceLogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
      "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:DeleteLogGroup",
    ]
    resources = ["arn:${local.bundle_partition}:logs:${local.bundle_region}:${local.bundle_account}:log-group:/tre/${local.bundle_ws}/*"]
  }
  # The provider finds a log group by listing, which CloudWatch Logs scopes to no group.
  statement {
    sid       = "FindLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.bundle_partition}:logs:${local.bundle_region}:${local.bundle_account}:log-group:*"]
  }
}

# ---------- SageMaker, SSM, CodeArtifact (aws-notebooks, aws-notebook, aws-vms, aws-linux-vm,
# aws-package-mirror) ----------

data "aws_iam_policy_document" "bundles_services" {
  # aws-notebook's and aws-airlock-review's instances (tre-nb-<id>): only without direct internet
  # access and root.
  statement {
    sid       = "CreateClosedNotebooks"
    actions   = ["sagemaker:CreateNotebookInstance"]
    resources = ["arn:${local.bundle_partition}:sagemaker:${local.bundle_region}:${local.bundle_account}:notebook-instance/tre-nb-${local.bundle_id}"]
    condition {
      test     = "StringEquals"
      variable = "sagemaker:DirectInternetAccess"
      values   = ["Disabled"]
    }
    condition {
      test     = "StringEquals"
      variable = "sagemaker:RootAccess"
      values   = ["Disabled"]
    }
  }
  # Its refresh, tags, type and volume changes (the provider stops it, updates, starts it again),
  # deletion, and the bundle's start and stop actions (scripts/notebook-state.sh).
  statement {
    sid = "Notebooks"
    actions = [
      "sagemaker:DescribeNotebookInstance", "sagemaker:ListTags", "sagemaker:AddTags", "sagemaker:DeleteTags",
      "sagemaker:StartNotebookInstance", "sagemaker:StopNotebookInstance", "sagemaker:DeleteNotebookInstance",
    ]
    resources = ["arn:${local.bundle_partition}:sagemaker:${local.bundle_region}:${local.bundle_account}:notebook-instance/tre-nb-${local.bundle_id}"]
  }
  statement {
    sid       = "UpdateClosedNotebooks"
    actions   = ["sagemaker:UpdateNotebookInstance"]
    resources = ["arn:${local.bundle_partition}:sagemaker:${local.bundle_region}:${local.bundle_account}:notebook-instance/tre-nb-${local.bundle_id}"]
    condition {
      test     = "StringEqualsIfExists"
      variable = "sagemaker:RootAccess"
      values   = ["Disabled"]
    }
  }
  # aws-notebooks' and aws-airlock-review's lifecycle configurations (tre-nbs-<id>).
  statement {
    sid = "NotebookLifecycleConfigs"
    actions = [
      "sagemaker:CreateNotebookInstanceLifecycleConfig", "sagemaker:DescribeNotebookInstanceLifecycleConfig", "sagemaker:UpdateNotebookInstanceLifecycleConfig",
      "sagemaker:DeleteNotebookInstanceLifecycleConfig", "sagemaker:ListTags", "sagemaker:AddTags", "sagemaker:DeleteTags",
    ]
    resources = ["arn:${local.bundle_partition}:sagemaker:${local.bundle_region}:${local.bundle_account}:notebook-instance-lifecycle-config/tre-nbs-${local.bundle_id}"]
  }
  # aws-vms' Session Manager document (tre-vms-<id>-session).
  statement {
    sid = "SessionDocuments"
    actions = [
      "ssm:CreateDocument", "ssm:DescribeDocument", "ssm:GetDocument", "ssm:DescribeDocumentPermission", "ssm:ListDocumentVersions", "ssm:ListTagsForResource",
      "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:DeleteDocument",
    ]
    resources = ["arn:${local.bundle_partition}:ssm:${local.bundle_region}:${local.bundle_account}:document/tre-vms-${local.bundle_id}-session"]
  }
  # aws-linux-vm's image when none is named: Amazon Linux 2023's public parameter.
  statement {
    sid       = "AmazonLinuxImageParameter"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.bundle_partition}:ssm:${local.bundle_region}:*:parameter/aws/service/ami-amazon-linux-latest/*"]
  }
  # aws-package-mirror's CodeArtifact domain (its domain_name, tre-packages by default: tre-*) with
  # its permissions policy, its repositories with theirs, and their endpoints (data source).
  statement {
    sid = "PackageMirrorDomain"
    actions = [
      "codeartifact:CreateDomain", "codeartifact:DescribeDomain", "codeartifact:CreateRepository", "codeartifact:GetDomainPermissionsPolicy",
      "codeartifact:PutDomainPermissionsPolicy", "codeartifact:DeleteDomainPermissionsPolicy", "codeartifact:ListTagsForResource",
      "codeartifact:TagResource", "codeartifact:UntagResource", "codeartifact:DeleteDomain",
    ]
    resources = ["arn:${local.bundle_partition}:codeartifact:${local.bundle_region}:${local.bundle_account}:domain/tre-*"]
  }
  statement {
    sid = "PackageMirrorRepositories"
    actions = [
      "codeartifact:CreateRepository", "codeartifact:DescribeRepository", "codeartifact:UpdateRepository", "codeartifact:AssociateExternalConnection",
      "codeartifact:DisassociateExternalConnection", "codeartifact:GetRepositoryPermissionsPolicy", "codeartifact:PutRepositoryPermissionsPolicy",
      "codeartifact:DeleteRepositoryPermissionsPolicy", "codeartifact:GetRepositoryEndpoint", "codeartifact:ListTagsForResource",
      "codeartifact:TagResource", "codeartifact:UntagResource", "codeartifact:DeleteRepository",
    ]
    resources = ["arn:${local.bundle_partition}:codeartifact:${local.bundle_region}:${local.bundle_account}:repository/tre-*/*"]
  }
}

resource "aws_iam_policy" "bundle_permissions" {
  for_each    = local.bundle_policies
  name        = "${var.name_prefix}-bundles-${each.key}"
  description = "What the AWS bundles deploy through the bundle runner (${each.key}); infra/bundle_permissions.tf"
  policy      = each.value
}

resource "aws_iam_role_policy_attachment" "bundle_permissions" {
  for_each   = aws_iam_policy.bundle_permissions
  role       = aws_iam_role.bundle_runner_task.name
  policy_arn = each.value.arn
}
