# Least privilege per function: only the actions its adapters call, on its resources only.
# The mapping from SDK operation to IAM action lives in code (a test checks this file against it).
locals {
  table_actions = {
    read  = ["dynamodb:GetItem", "dynamodb:Query"]
    write = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
  }
  state_machine_arn_pattern = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.name_prefix}-*"
  execution_arn_pattern     = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:execution:${var.name_prefix}-*"
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

  statement {
    sid       = "Table"
    actions   = local.table_actions[each.value.table]
    resources = [aws_dynamodb_table.tre.arn, "${aws_dynamodb_table.tre.arn}/index/*"]
  }

  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.tre.arn]
  }

  dynamic "statement" {
    for_each = each.value.kind == "sqs" ? [1] : []
    content {
      sid       = "ConsumeStatusQueue"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [aws_sqs_queue.status.arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.workflows ? [1] : []
    content {
      sid       = "StartWorkflows"
      actions   = ["states:StartExecution"]
      resources = [local.state_machine_arn_pattern]
    }
  }

  dynamic "statement" {
    for_each = each.value.workflows ? [1] : []
    content {
      sid       = "ReadWorkflows"
      actions   = ["states:DescribeExecution"]
      resources = [local.execution_arn_pattern]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}
