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
}
