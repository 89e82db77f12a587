# One customer-managed key encrypts the table, queues, logs and topics of this deployment.
resource "aws_kms_key" "tre" {
  description             = "${var.name_prefix} TRE control plane data"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "tre" {
  name          = "alias/${var.name_prefix}-tre"
  target_key_id = aws_kms_key.tre.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policies must name the key as "*" (the policy is attached to this key only).
  # checkov:skip=CKV_AWS_111:Key policies must name the key as "*" (the policy is attached to this key only).
  # checkov:skip=CKV_AWS_356:Key policies must name the key as "*" (the policy is attached to this key only).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "ServicesEncrypt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type = "Service"
      identifiers = [
        "logs.${data.aws_region.current.name}.amazonaws.com",
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "states.amazonaws.com",
        "events.amazonaws.com",
        "ecr.amazonaws.com",
      ]
    }
  }
  # The trail (audit.tf) encrypts its log files with this key: only for trails of this account,
  # and only this deployment's trail (the encryption context names it).
  statement {
    sid       = "CloudTrailEncrypts"
    actions   = ["kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = ["arn:${data.aws_partition.current.partition}:cloudtrail:*:${data.aws_caller_identity.current.account_id}:trail/*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "CloudTrailDescribesKey"
    actions   = ["kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
  }
}
