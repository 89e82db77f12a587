# The state machines of statemachines/, deployed unchanged: templatestring fills their ${...}
# placeholders with the ARNs of what this configuration creates. The files are valid JSON as
# committed, so a placeholder standing for a JSON value (a list; its name ends in _json) is
# written as a string, "${name_json}", whose quotes are dropped before it is filled. A test
# checks that every ASL file is deployed here with exactly the placeholders it uses.

locals {
  state_machines = {
    "resource-action" = {
      file = "${path.module}/../statemachines/resource-action.asl.json"
      vars = {
        status_queue_url                  = aws_sqs_queue.status.url
        cluster_arn                       = aws_ecs_cluster.tre.arn
        bundle_runner_task_definition_arn = aws_ecs_task_definition.bundle_runner.arn_without_revision
        private_subnet_ids_json           = jsonencode(aws_subnet.private[*].id)
        task_security_group_ids_json      = jsonencode([aws_security_group.tasks.id])
      }
    }
    "datasource-import" = {
      file = "${path.module}/../statemachines/datasource-import.asl.json"
      vars = {
        status_queue_url                   = aws_sqs_queue.status.url
        cluster_arn                        = aws_ecs_cluster.tre.arn
        airlock_runner_task_definition_arn = aws_ecs_task_definition.airlock_runner.arn_without_revision
        private_subnet_ids_json            = jsonencode(aws_subnet.private[*].id)
        task_security_group_ids_json       = jsonencode([aws_security_group.tasks.id])
      }
    }
    "airlock-review" = {
      file = "${path.module}/../statemachines/airlock-review.asl.json"
      vars = {
        status_queue_url                   = aws_sqs_queue.status.url
        cluster_arn                        = aws_ecs_cluster.tre.arn
        airlock_runner_task_definition_arn = aws_ecs_task_definition.airlock_runner.arn_without_revision
        private_subnet_ids_json            = jsonencode(aws_subnet.private[*].id)
        task_security_group_ids_json       = jsonencode([aws_security_group.tasks.id])
      }
    }
  }
  # Each file with the quotes around its JSON-valued placeholders dropped (templatestring takes
  # its template only by reference).
  state_machine_templates = {
    for name, m in local.state_machines :
    name => replace(file(m.file), "/\"(\\$\\{[a-z_]+_json\\})\"/", "$1")
  }
  # The IAM actions each service integration of an ASL Task needs (a test checks every
  # Resource of every ASL file is in this table and allowed below).
  integration_actions = {
    "arn:aws:states:::ecs:runTask.sync"                 = ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "events:PutTargets", "events:PutRule", "events:DescribeRule"]
    "arn:aws:states:::sqs:sendMessage"                  = ["sqs:SendMessage"]
    "arn:aws:states:::sqs:sendMessage.waitForTaskToken" = ["sqs:SendMessage"]
  }
}

resource "aws_cloudwatch_log_group" "states" {
  name              = "/aws/vendedlogs/states/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "states" {
  name               = "${var.name_prefix}-states"
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "states" {
  statement {
    sid       = "RunBundleSteps"
    actions   = ["ecs:RunTask"]
    resources = flatten([for td in [aws_ecs_task_definition.bundle_runner, aws_ecs_task_definition.airlock_runner] : [td.arn_without_revision, "${td.arn_without_revision}:*"]])
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.tre.arn]
    }
  }
  statement {
    sid       = "WatchBundleSteps"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks"]
    resources = ["arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:task/${aws_ecs_cluster.tre.name}/*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = concat([for r in aws_iam_role.runner_execution : r.arn], [aws_iam_role.bundle_runner_task.arn, aws_iam_role.airlock_runner_task.arn])
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    # How .sync learns that a task stopped: a rule Step Functions manages for itself.
    sid       = "SyncTaskEvents"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }
  statement {
    sid       = "ReportStatus"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.status.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tre.arn]
  }
  statement {
    # Log delivery and X-Ray have no resource-level permissions.
    sid = "LogsAndTraces"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
      "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "least-privilege"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

resource "aws_sfn_state_machine" "machine" {
  # checkov:skip=CKV_AWS_285:Execution data (inputs carry resource parameters) stays in the execution history, encrypted with the deployment's key; the logs record errors only.
  for_each   = local.state_machines
  name       = "${var.name_prefix}-${each.key}"
  role_arn   = aws_iam_role.states.arn
  definition = templatestring(local.state_machine_templates[each.key], each.value.vars)
  type       = "STANDARD"

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.states.arn}:*"
    include_execution_data = false # inputs carry resource parameters; keep them out of logs
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = aws_kms_key.tre.arn
    kms_data_key_reuse_period_seconds = 300
  }

  depends_on = [aws_iam_role_policy.states]
}

# An execution that ends badly without reporting it (timed out, aborted, failed where no
# Catch saw it) must not leave its operation running: EventBridge forwards its end to the
# status queue as an `executionEnded` message, and the status consumer fails what is left.
resource "aws_cloudwatch_event_rule" "execution_ended" {
  name        = "${var.name_prefix}-execution-ended"
  description = "TRE workflows that ended in any way but success"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for m in aws_sfn_state_machine.machine : m.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_ended" {
  rule = aws_cloudwatch_event_rule.execution_ended.name
  arn  = aws_sqs_queue.status.arn
  input_transformer {
    input_paths = {
      arn    = "$.detail.executionArn"
      status = "$.detail.status"
    }
    input_template = "{\"executionEnded\": {\"executionArn\": <arn>, \"status\": <status>}}"
  }
}

# Review environments must not outlive their airlock request: the status consumer removes those
# whose request left review when it is decided, and this schedule makes it look again for any
# whose removal was cut short or failed (retried until each is gone).
resource "aws_cloudwatch_event_rule" "review_sweep" {
  name                = "${var.name_prefix}-review-sweep"
  description         = "Remove airlock review environments whose request left review"
  schedule_expression = "rate(${var.review_sweep_minutes} ${var.review_sweep_minutes == 1 ? "minute" : "minutes"})"
}

resource "aws_cloudwatch_event_target" "review_sweep" {
  rule  = aws_cloudwatch_event_rule.review_sweep.name
  arn   = aws_sqs_queue.status.arn
  input = jsonencode({ sweepReviewEnvironments = {} })
}

data "aws_iam_policy_document" "status_queue" {
  statement {
    sid       = "WorkflowEnds"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.status.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.execution_ended.arn, aws_cloudwatch_event_rule.review_sweep.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "status" {
  queue_url = aws_sqs_queue.status.id
  policy    = data.aws_iam_policy_document.status_queue.json
}
