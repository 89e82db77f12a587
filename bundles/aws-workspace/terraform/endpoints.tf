# How a workspace without internet reaches AWS: interface endpoints with private DNS for the
# services its workloads use, and an S3 gateway endpoint on the route tables.

locals {
  interface_endpoints = {
    ssm                       = "com.amazonaws.${local.region}.ssm"
    ssmmessages               = "com.amazonaws.${local.region}.ssmmessages"
    ec2messages               = "com.amazonaws.${local.region}.ec2messages"
    kms                       = "com.amazonaws.${local.region}.kms"
    logs                      = "com.amazonaws.${local.region}.logs"
    sts                       = "com.amazonaws.${local.region}.sts"
    sagemaker-api             = "com.amazonaws.${local.region}.sagemaker.api"
    sagemaker-runtime         = "com.amazonaws.${local.region}.sagemaker.runtime"
    sagemaker-notebook        = "aws.sagemaker.${local.region}.notebook"
    codeartifact-api          = "com.amazonaws.${local.region}.codeartifact.api"
    codeartifact-repositories = "com.amazonaws.${local.region}.codeartifact.repositories"
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = aws_vpc.workspace.id
  service_name        = each.value
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  tags = {
    Name = "${local.name}-${each.key}"
  }
}

# The endpoints' network interfaces are created by AWS and get no tags of their own: tag them
# here (one interface per endpoint and subnet).
resource "aws_ec2_tag" "endpoint_interfaces" {
  for_each = {
    for t in setproduct(keys(local.interface_endpoints), range(length(local.zones)), keys(var.tre_tags)) :
    "${t[0]}/${t[1]}/${t[2]}" => { endpoint = t[0], index = t[1], key = t[2] }
  }
  resource_id = sort(aws_vpc_endpoint.interface[each.value.endpoint].network_interface_ids)[each.value.index]
  key         = each.value.key
  value       = var.tre_tags[each.value.key]
}

# S3 through the route tables. Its policy lets the workspace reach only its own bucket, its
# airlock prefixes, and the AWS-owned buckets the SSM agent and Amazon Linux's package
# repositories live in: with other credentials, nothing can be copied to another bucket. Review
# environments (aws-airlock-review) may also read this workspace's exports in review and, in an
# import review workspace, the imports in review: read only, and each environment's own role
# narrows it to its one request (the researcher role grants none of it).
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.workspace.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  policy            = data.aws_iam_policy_document.s3_endpoint.json
  tags = {
    Name = "${local.name}-s3"
  }
}

locals {
  bucket_arn = "arn:${local.partition}:s3:::${local.bucket_name}"
  airlock_read = {
    bucket = "arn:${local.partition}:s3:::${var.tre_airlock.workspace_data.bucket}"
    prefix = var.tre_airlock.workspace_data.prefix
  }
  airlock_write = {
    bucket = "arn:${local.partition}:s3:::${var.tre_airlock.export_staging.bucket}"
    prefix = var.tre_airlock.export_staging.prefix
  }
  airlock_bucket_prefix = trimsuffix(var.tre_airlock.workspace_data.bucket, "-workspace-data")
  export_in_review = {
    bucket = "arn:${local.partition}:s3:::${local.airlock_bucket_prefix}-export-in-review"
    prefix = "${var.tre_workspace_id}/"
  }
  import_in_review_bucket = "arn:${local.partition}:s3:::${local.airlock_bucket_prefix}-import-in-review"
  # SSM agent and patching (docs: "SSM Agent communications with AWS managed S3 buckets"),
  # Amazon Linux 2023 package repositories.
  aws_owned_buckets = [
    "amazon-ssm-${local.region}",
    "amazon-ssm-packages-${local.region}",
    "${local.region}-birdwatcher-prod",
    "aws-ssm-distributor-file-${local.region}",
    "aws-ssm-document-attachments-${local.region}",
    "patch-baseline-snapshot-${local.region}",
    "aws-patchmanager-macos-${local.region}",
    "al2023-repos-${local.region}-de612dc2",
  ]
}

data "aws_iam_policy_document" "s3_endpoint" {
  statement {
    sid       = "WorkspaceBucket"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
  statement {
    sid       = "AirlockList"
    actions   = ["s3:ListBucket"]
    resources = [local.airlock_read.bucket, local.airlock_write.bucket]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.airlock_read.prefix}*", "${local.airlock_write.prefix}*"]
    }
  }
  statement {
    sid       = "AirlockObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.airlock_read.bucket}/${local.airlock_read.prefix}*", "${local.airlock_write.bucket}/${local.airlock_write.prefix}*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
  statement {
    sid       = "ExportsInReviewList"
    actions   = ["s3:ListBucket"]
    resources = [local.export_in_review.bucket]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.export_in_review.prefix}*"]
    }
  }
  statement {
    sid       = "ExportsInReviewRead"
    actions   = ["s3:GetObject"]
    resources = ["${local.export_in_review.bucket}/${local.export_in_review.prefix}*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
  dynamic "statement" {
    for_each = var.airlock_import_review ? [local.import_in_review_bucket] : []
    content {
      sid       = "ImportsInReviewRead"
      actions   = ["s3:ListBucket", "s3:GetObject"]
      resources = [statement.value, "${statement.value}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
    }
  }
  statement {
    sid       = "AwsOwnedReadOnly"
    actions   = ["s3:GetObject"]
    resources = [for b in local.aws_owned_buckets : "arn:${local.partition}:s3:::${b}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}
