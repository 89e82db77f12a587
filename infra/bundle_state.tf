# Where bundles keep their state between actions (e.g. a Terraform backend of a workspace's
# resources): one bucket, named to every step as TRE_BUNDLE_STATE_BUCKET; the bundle-runner task
# may read and write it (a policy of its own, apart from what the runner's code needs).

resource "aws_s3_bucket" "bundle_state" {
  # checkov:skip=CKV_AWS_144:State is versioned in place; cross-region replication is a per-deployment choice.
  # checkov:skip=CKV_AWS_18:Only bundle-runner tasks reach it; enable CloudTrail data events account-wide to record object access.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to state changes.
  bucket = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-bundle-state"
  # Objects (and their old versions) go with the bucket only once deletion_protection is off.
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "bundle_state" {
  bucket = aws_s3_bucket.bundle_state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bundle_state" {
  bucket = aws_s3_bucket.bundle_state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tre.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "bundle_state" {
  bucket                  = aws_s3_bucket.bundle_state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "bundle_state" {
  bucket = aws_s3_bucket.bundle_state.id
  rule {
    id     = "old-state"
    status = "Enabled"
    filter {}
    # Earlier versions of a state file are how a broken apply is undone: keep them a while.
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "bundle_state_tls_only" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.bundle_state.arn, "${aws_s3_bucket.bundle_state.arn}/*"]
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
}

resource "aws_s3_bucket_policy" "bundle_state" {
  bucket = aws_s3_bucket.bundle_state.id
  policy = data.aws_iam_policy_document.bundle_state_tls_only.json
}

data "aws_iam_policy_document" "bundle_state_access" {
  statement {
    sid       = "StateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.bundle_state.arn}/*"]
  }
  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.bundle_state.arn]
  }
  statement {
    sid       = "StateEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "bundle_state" {
  name   = "bundle-state"
  role   = aws_iam_role.bundle_runner_task.id
  policy = data.aws_iam_policy_document.bundle_state_access.json
}
