# The workspace bucket: researchers' shared storage, reachable only from the workspace's own
# network (its S3 gateway endpoint) and by the principal that deploys the workspace.

locals {
  # Bucket names are global: the full workspace id and the account make it unique.
  bucket_name = "${local.name}-${local.account}"
  # Who may still reach the bucket from outside the workspace network: the role running this
  # apply (the TRE's bundle runner), so that upgrades and the uninstall keep working.
  deployer_arn = data.aws_iam_session_context.deployer.issuer_arn
}

resource "aws_s3_bucket" "workspace" {
  # checkov:skip=CKV_AWS_144:Cross-region replication would copy research data to a second region, which a TRE's data governance forbids by default.
  # checkov:skip=CKV_AWS_18:Object access is recorded by CloudTrail data events, enabled account-wide by the deployer; server access logs would need a log bucket per workspace.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to objects of a workspace bucket.
  bucket        = local.bucket_name
  force_destroy = var.delete_data_on_uninstall
}

resource "aws_s3_bucket_ownership_controls" "workspace" {
  bucket = aws_s3_bucket.workspace.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "workspace" {
  bucket                  = aws_s3_bucket.workspace.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "workspace" {
  bucket = aws_s3_bucket.workspace.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "workspace" {
  bucket = aws_s3_bucket.workspace.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.workspace.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "workspace" {
  bucket = aws_s3_bucket.workspace.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    # Overwritten and deleted objects can be restored for 90 days.
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.workspace]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.workspace.arn, "${aws_s3_bucket.workspace.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "DenyOutsideTheWorkspaceNetwork"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.workspace.arn, "${aws_s3_bucket.workspace.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.s3.id]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.deployer_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "workspace" {
  bucket = aws_s3_bucket.workspace.id
  policy = data.aws_iam_policy_document.bucket.json
  # The public access block must be in place before a policy is judged public or not.
  depends_on = [aws_s3_bucket_public_access_block.workspace]
}
