# The audit trail's long-term keeping, and the AWS security services beside it.
#
# Audit events are items of the table (sk AUDIT#<seq>, written once, never changed). The
# table's stream (dynamodb.tf) feeds the audit-archive Lambda (lambda.tf), which copies each
# event's body to audit/<chain>/<seq>.json here: versioned, Object Lock in compliance mode, so no
# one (root included) can delete or overwrite an archived version before its retention ends.
# CloudTrail records management events and object-level (data) events of the airlock, workspace
# and archive buckets into a bucket of its own, locked alike. GuardDuty is optional: an account
# usually has its detector already.

locals {
  audit_archive_bucket = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-audit-archive"
  trail_bucket         = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-cloudtrail"
  trail_name           = "${var.name_prefix}-tre"
  # Built, not read from the trail: the key policy (kms.tf) names it, and the trail uses the key.
  trail_arn = "arn:${data.aws_partition.current.partition}:cloudtrail:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:trail/${local.trail_name}"
  # Object-level events of these buckets are recorded: the airlock's stages, every workspace's
  # bucket (bundles/aws-workspace names them tre-ws-<workspace id>-<account>) and the archive.
  trail_data_arn_prefixes = concat(
    [for stage in local.airlock_stages : "${aws_s3_bucket.airlock[stage].arn}/"],
    ["arn:${data.aws_partition.current.partition}:s3:::tre-ws-", "${aws_s3_bucket.audit_archive.arn}/"],
  )
  # What the event source mapping reads with the audit-archive function's role (iam.tf).
  stream_read_actions = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
}

# ---------- the archive bucket ----------

resource "aws_s3_bucket" "audit_archive" {
  # checkov:skip=CKV_AWS_144:Cross-region replication would copy the audit trail (names of people and data) to a second region, which a TRE's data governance usually forbids; enable it per deployment if required.
  # checkov:skip=CKV_AWS_18:Object-level access to the archive is recorded by the trail's data events (aws_cloudtrail.tre), which name this bucket.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to archived events.
  bucket              = local.audit_archive_bucket
  object_lock_enabled = true
  # Locked versions cannot be deleted before their retention ends, by force_destroy or anyone:
  # while the archive holds any, it outlives a destroy (remove it from the state to tear down).
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.audit_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit_archive]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tre.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "audit_archive" {
  bucket                  = aws_s3_bucket.audit_archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  rule {
    # Events are written once and kept: nothing expires; only abandoned uploads are cleaned up.
    id     = "clean-up"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "audit_archive_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.audit_archive.arn, "${aws_s3_bucket.audit_archive.arn}/*"]
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

resource "aws_s3_bucket_policy" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  policy = data.aws_iam_policy_document.audit_archive_bucket.json
}

# Archiving that failed every retry (a broken event, or other bytes already archived under its
# key: tampering) leaves the record's position in the function's failure queue: alarmed. The
# events stay in the table, so they can be archived again once the cause is fixed.
resource "aws_cloudwatch_metric_alarm" "audit_archive_failures" {
  alarm_name          = "${var.name_prefix}-audit-archive-failures"
  alarm_description   = "Audit events could not be archived after every retry (see the audit-archive function's logs: a TAMPERING error means the archive holds other bytes for an event)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.function_dlq["audit-archive"].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

# ---------- CloudTrail ----------

resource "aws_s3_bucket" "trail" {
  # checkov:skip=CKV_AWS_144:Cross-region replication would copy the account's activity to a second region, which a TRE's data governance usually forbids; enable it per deployment if required.
  # checkov:skip=CKV_AWS_18:This bucket holds the access records themselves; logging access to it into itself would loop, and the trail's own log file validation shows any change.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to log files.
  count               = var.enable_cloudtrail ? 1 : 0
  bucket              = local.trail_bucket
  object_lock_enabled = true
  # As the archive: locked log files outlive a destroy until their retention ends.
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.cloudtrail_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.trail]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tre.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count                   = var.enable_cloudtrail ? 1 : 0
  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  rule {
    id     = "clean-up"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# CloudTrail's documented bucket policy, held to this trail (aws:SourceArn), and TLS only.
data "aws_iam_policy_document" "trail_bucket" {
  count = var.enable_cloudtrail ? 1 : 0
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.trail[0].arn, "${aws_s3_bucket.trail[0].arn}/*"]
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
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.trail[0].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.trail[0].arn}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "trail" {
  count  = var.enable_cloudtrail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail_bucket[0].json
}

resource "aws_cloudtrail" "tre" {
  # checkov:skip=CKV_AWS_252:No SNS topic per log file: the files are read from the locked bucket, and alarms come from the TRE's own metrics.
  # checkov:skip=CKV2_AWS_10:CloudWatch Logs delivery is left to the account's security tooling (often an organisation trail); the locked bucket is the record.
  count                         = var.enable_cloudtrail ? 1 : 0
  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true
  kms_key_id                    = aws_kms_key.tre.arn

  advanced_event_selector {
    name = "Management events"
    field_selector {
      field  = "eventCategory"
      equals = ["Management"]
    }
  }

  advanced_event_selector {
    name = "Objects of the airlock, workspace and audit archive buckets"
    field_selector {
      field  = "eventCategory"
      equals = ["Data"]
    }
    field_selector {
      field  = "resources.type"
      equals = ["AWS::S3::Object"]
    }
    field_selector {
      field       = "resources.ARN"
      starts_with = local.trail_data_arn_prefixes
    }
  }

  # CloudTrail checks at creation that it may write to the bucket.
  depends_on = [aws_s3_bucket_policy.trail]
}

# ---------- GuardDuty ----------

resource "aws_guardduty_detector" "tre" {
  # checkov:skip=CKV2_AWS_3:A detector of this account and region; organisation-wide GuardDuty is configured from the organisation's delegated administrator, not by a TRE.
  count                        = var.enable_guardduty ? 1 : 0
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
}

# S3 protection: GuardDuty watches object-level API activity of the account's buckets.
resource "aws_guardduty_detector_feature" "s3" {
  count       = var.enable_guardduty && var.enable_guardduty_s3_protection ? 1 : 0
  detector_id = aws_guardduty_detector.tre[0].id
  name        = "S3_DATA_EVENTS"
  status      = "ENABLED"
}
