# Least privilege per function: only the actions its adapters call, on its resources only.
# The mapping from SDK operation to IAM action lives in code (a test checks this file against it).
locals {
  state_machine_arn_pattern = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.name_prefix}-*"
  execution_arn_pattern     = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:execution:${var.name_prefix}-*"
  # Each function's actions, grouped by the resources they apply to.
  function_actions = {
    for name, f in local.functions : name => {
      table      = [for a in f.iam_actions : a if startswith(a, "dynamodb:")]
      start      = [for a in f.iam_actions : a if a == "states:StartExecution"]
      executions = [for a in f.iam_actions : a if a == "states:DescribeExecution"]
      tasks      = [for a in f.iam_actions : a if startswith(a, "states:SendTask")]
      queue      = [for a in f.iam_actions : a if startswith(a, "sqs:")]
      mail       = [for a in f.iam_actions : a if startswith(a, "ses:")]
      # S3 actions of the API go to the airlock's buckets; those of the stream function (the
      # audit archive) to the archive bucket only.
      objects = [for a in f.iam_actions : a if startswith(a, "s3:") && f.kind != "stream"]
      archive = [for a in f.iam_actions : a if startswith(a, "s3:") && f.kind == "stream"]
      stream  = f.kind == "stream" ? local.stream_read_actions : []
    }
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "function_vpc" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions.
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.function_dlq[each.key].arn]
  }

  dynamic "statement" {
    for_each = length(local.function_actions[each.key].table) > 0 ? [1] : []
    content {
      sid       = "Table"
      actions   = local.function_actions[each.key].table
      resources = [aws_dynamodb_table.tre.arn, "${aws_dynamodb_table.tre.arn}/index/*"]
    }
  }

  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.tre.arn]
  }

  dynamic "statement" {
    for_each = length(local.function_actions[each.key].queue) > 0 ? [1] : []
    content {
      sid       = "ConsumeStatusQueue"
      actions   = local.function_actions[each.key].queue
      resources = [aws_sqs_queue.status.arn]
    }
  }

  dynamic "statement" {
    for_each = length(local.function_actions[each.key].start) > 0 ? [1] : []
    content {
      sid       = "StartWorkflows"
      actions   = local.function_actions[each.key].start
      resources = [local.state_machine_arn_pattern]
    }
  }

  dynamic "statement" {
    for_each = length(local.function_actions[each.key].executions) > 0 ? [1] : []
    content {
      sid       = "ReadWorkflows"
      actions   = local.function_actions[each.key].executions
      resources = [local.execution_arn_pattern]
    }
  }

  dynamic "statement" {
    # Upload links put into the staging stages only.
    for_each = contains(local.function_actions[each.key].objects, "s3:PutObject") ? [1] : []
    content {
      sid       = "AirlockUploads"
      actions   = ["s3:PutObject"]
      resources = [for stage in ["import-staging", "export-staging"] : "${aws_s3_bucket.airlock[stage].arn}/*"]
    }
  }

  dynamic "statement" {
    # Submission checks staging; reviewers read review copies, requesters approved exports.
    for_each = contains(local.function_actions[each.key].objects, "s3:GetObject") ? [1] : []
    content {
      sid       = "AirlockReads"
      actions   = ["s3:GetObject"]
      resources = [for stage in ["import-staging", "export-staging", "import-in-review", "export-in-review", "export-approved"] : "${aws_s3_bucket.airlock[stage].arn}/*"]
    }
  }

  dynamic "statement" {
    # Notification email, from the configured sender only. In SES's sandbox the recipients'
    # identities are checked against this policy too, hence every identity of the account.
    for_each = length(local.function_actions[each.key].mail) > 0 ? [1] : []
    content {
      sid       = "SendNotificationEmail"
      actions   = local.function_actions[each.key].mail
      resources = ["arn:${data.aws_partition.current.partition}:ses:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:identity/*"]
      condition {
        test     = "StringEquals"
        variable = "ses:FromAddress"
        # No sender: nothing may be sent (the code sends nothing then either).
        values = [var.notification_sender == "" ? "nobody@invalid" : var.notification_sender]
      }
    }
  }

  dynamic "statement" {
    # The event source mapping reads the table's stream with the function's role.
    for_each = length(local.function_actions[each.key].stream) > 0 ? [1] : []
    content {
      sid       = "ReadTableStream"
      actions   = local.function_actions[each.key].stream
      resources = [aws_dynamodb_table.tre.stream_arn]
    }
  }

  dynamic "statement" {
    # Audit events are written under audit/ of the archive bucket (and read back on redelivery).
    for_each = length(local.function_actions[each.key].archive) > 0 ? [1] : []
    content {
      sid       = "ArchiveAuditEvents"
      actions   = local.function_actions[each.key].archive
      resources = ["${aws_s3_bucket.audit_archive.arn}/audit/*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.function_actions[each.key].tasks) > 0 ? [1] : []
    content {
      sid       = "CompleteTasks"
      actions   = local.function_actions[each.key].tasks
      resources = ["*"] # Task tokens have no resource-level permissions.
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}
