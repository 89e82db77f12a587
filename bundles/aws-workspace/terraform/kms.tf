# The workspace's own key: its bucket, its flow logs, its VMs' and notebooks' volumes.

resource "aws_kms_key" "workspace" {
  description             = "Workspace ${var.tre_workspace_id}: storage, logs and volumes"
  enable_key_rotation     = true # yearly, AWS's default period
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "workspace" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.workspace.key_id
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" is this key; the account-root statement is AWS's default key policy (use is delegated to IAM policies).
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" is this key, it cannot name its own ARN.
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key; only the account root (IAM) may manage it.
  # The account manages and uses the key through IAM policies (the bundle runner, the
  # workspace's researcher role): without this the key could become unmanageable.
  statement {
    sid       = "AccountThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  # CloudWatch Logs encrypts this workspace's log groups (flow logs, session logs) with it.
  statement {
    sid       = "CloudWatchLogsOfThisWorkspace"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.log_prefix}/*"]
    }
  }
}
