# The researcher role: what the workspace's VMs (instance profile) and notebooks (execution role)
# act as. It reaches this workspace's bucket and key, its airlock prefixes, the TRE's package
# mirror (read only) and the AWS endpoints its agents need; nothing of any other workspace. A
# permission boundary holds it to that even if more policies were attached later.

data "aws_iam_policy_document" "researcher_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com", "sagemaker.amazonaws.com"]
    }
  }
}

locals {
  kms_key_arns_of_account = "arn:${local.partition}:kms:${local.region}:${local.account}:key/*"
  log_group_arn_prefix    = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group"
}

data "aws_iam_policy_document" "researcher" {
  statement {
    sid       = "WorkspaceBucketList"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.workspace.arn]
  }
  statement {
    sid = "WorkspaceBucketObjects"
    actions = [
      "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging",
      "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.workspace.arn}/*"]
  }
  statement {
    sid       = "WorkspaceKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey"]
    resources = [aws_kms_key.workspace.arn]
  }
  statement {
    sid       = "AirlockImportsRead"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.airlock_read.bucket}/${local.airlock_read.prefix}*"]
  }
  # Listing is of the workspace's own prefix only (a request without that prefix is refused).
  statement {
    sid       = "AirlockImportsList"
    actions   = ["s3:ListBucket"]
    resources = [local.airlock_read.bucket]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.airlock_read.prefix}*"]
    }
  }
  statement {
    sid       = "AirlockExportsWrite"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.airlock_write.bucket}/${local.airlock_write.prefix}*"]
  }
  # The airlock buckets are encrypted with the TRE's key: use it only through S3 and only for
  # these two buckets (bucket keys: the context is the bucket; without them, the object).
  statement {
    sid       = "AirlockEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arns_of_account]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values = [
        local.airlock_read.bucket, "${local.airlock_read.bucket}/${local.airlock_read.prefix}*",
        local.airlock_write.bucket, "${local.airlock_write.bucket}/${local.airlock_write.prefix}*",
      ]
    }
  }
  # Session Manager: the SSM agent on the workspace's VMs (these actions take no narrower resource
  # than the calling instance; the agent can only speak for the instance it runs on).
  statement {
    sid       = "SsmAgent"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account}:instance/*"]
  }
  statement {
    sid = "SsmAgentChannels"
    actions = [
      "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
      "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage", "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    ]
    resources = ["*"] # these actions have no resource type
  }
  # Logs of the workspace's workloads (e.g. Session Manager transcripts) and of its notebooks.
  statement {
    sid     = "WorkloadLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [
      "${local.log_group_arn_prefix}:${local.workload_log_prefix}/*",
      "${local.log_group_arn_prefix}:/aws/sagemaker/NotebookInstances:log-stream:*",
    ]
  }
  statement {
    sid       = "NotebookLogGroup"
    actions   = ["logs:CreateLogGroup"]
    resources = ["${local.log_group_arn_prefix}:/aws/sagemaker/NotebookInstances"]
  }
  # The SSM agent checks that its session log group exists and is encrypted; CloudWatch Logs
  # scopes this listing to no group.
  statement {
    sid       = "FindLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["${local.log_group_arn_prefix}:*"]
  }
  # The TRE's package mirror (CodeArtifact, aws-package-mirror): read packages, publish nothing.
  statement {
    sid       = "PackageMirrorToken"
    actions   = ["codeartifact:GetAuthorizationToken"]
    resources = ["arn:${local.partition}:codeartifact:${local.region}:${local.account}:domain/*"]
  }
  statement {
    sid       = "PackageMirrorRead"
    actions   = ["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"]
    resources = ["arn:${local.partition}:codeartifact:${local.region}:${local.account}:repository/*"]
  }
  statement {
    sid       = "PackageMirrorBearerToken"
    actions   = ["sts:GetServiceBearerToken"]
    resources = ["*"] # sts:GetServiceBearerToken has no resource type; limited to CodeArtifact below
    condition {
      test     = "StringEquals"
      variable = "sts:AWSServiceName"
      values   = ["codeartifact.amazonaws.com"]
    }
  }
}

# The ceiling: the same grants. Whatever else is attached to the role, it can do no more.
resource "aws_iam_policy" "researcher_boundary" {
  name        = "${local.name}-researcher-boundary"
  description = "Permission boundary of workspace ${var.tre_workspace_id}'s researcher role"
  policy      = data.aws_iam_policy_document.researcher.json
}

resource "aws_iam_role" "researcher" {
  name                 = "${local.name}-researcher"
  description          = "What the VMs and notebooks of workspace ${var.tre_workspace_id} act as"
  assume_role_policy   = data.aws_iam_policy_document.researcher_assume.json
  permissions_boundary = aws_iam_policy.researcher_boundary.arn
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "researcher" {
  name   = "workspace-access"
  role   = aws_iam_role.researcher.id
  policy = data.aws_iam_policy_document.researcher.json
}

resource "aws_iam_instance_profile" "researcher" {
  name = "${local.name}-researcher"
  role = aws_iam_role.researcher.name
}
