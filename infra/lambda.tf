# One Lambda per function crate under functions/. Each gets its own log group, its own role
# with only the actions its code calls (see iam.tf), and its own environment.
locals {
  # Function crate name => what it needs. A test checks the keys against functions/ and each
  # iam_actions list against the SDK operations the function's adapters call.
  functions = {
    "api-meta" = {
      kind        = "api"
      description = "API: health and the OpenAPI document"
      iam_actions = ["dynamodb:GetItem"]
    }
    "api-templates" = {
      kind        = "api"
      description = "API: template registration and lookup"
      iam_actions = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    }
    "api-workspaces" = {
      kind        = "api"
      description = "API: workspaces, workspace services, user resources, role assignments"
      iam_actions = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "states:StartExecution", "states:DescribeExecution"]
    }
    "api-shared-services" = {
      kind        = "api"
      description = "API: shared services"
      iam_actions = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "states:StartExecution", "states:DescribeExecution"]
    }
    "api-airlock" = {
      kind        = "api"
      description = "API: airlock requests, their files' links, review"
      iam_actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "states:StartExecution", "states:SendTaskSuccess", "s3:GetObject", "s3:PutObject", "sqs:SendMessage"]
    }
    "status-consumer" = {
      kind        = "sqs"
      description = "Applies runner status messages from the status queue"
      iam_actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility", "sqs:SendMessage", "states:DescribeExecution", "states:SendTaskSuccess", "states:StartExecution", "ses:SendEmail"]
    }
    "audit-archive" = {
      # Fed by the table's stream: its role also reads the stream (local.stream_read_actions),
      # and its S3 actions apply to the archive bucket only (iam.tf).
      kind        = "stream"
      description = "Copies audit events from the table's stream to the Object Lock archive bucket"
      iam_actions = ["s3:GetObject", "s3:PutObject"]
    }
  }
  api_functions = { for k, v in local.functions : k => v if v.kind == "api" }

  # Environment every function gets. A test checks that every variable the code reads is here.
  common_env = {
    RUST_LOG                  = "info"
    TRE_TABLE                 = aws_dynamodb_table.tre.name
    TRE_STATE_MACHINE_PREFIX  = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.name_prefix}-"
    TRE_OIDC_ISSUER           = var.oidc_issuer
    TRE_OIDC_AUDIENCE         = var.oidc_audience
    TRE_OIDC_ROLES_CLAIM      = var.oidc_roles_claim
    TRE_OIDC_GROUP_ROLES      = var.oidc_group_roles
    TRE_OIDC_GROUPS_CLAIM     = var.oidc_groups_claim
    TRE_STATUS_QUEUE_URL      = aws_sqs_queue.status.url
    TRE_AIRLOCK_BUCKET_PREFIX = local.airlock_bucket_prefix
    # The registry token realm's signing key, as stored in Secrets Manager for the registry
    # tasks (registry.tf); the environment is encrypted with the deployment's KMS key.
    TRE_REGISTRY_TOKEN_KEY = data.aws_secretsmanager_secret_version.registry_token_key.secret_string
    TRE_REGISTRY_SERVICE   = var.registry_service_name
    # Signs list pages' continuation tokens: one key for every instance of every API function.
    TRE_PAGE_TOKEN_KEY = data.aws_secretsmanager_secret_version.page_token_key.secret_string
  }

  # What one function reads besides common_env (tre_lambda::FUNCTION_ENV_VARS; a test checks).
  function_env = {
    "audit-archive" = {
      TRE_AUDIT_ARCHIVE_BUCKET = aws_s3_bucket.audit_archive.id
    }
    "status-consumer" = {
      # Blank: notifications are only listed (GET /api/notifications), not emailed.
      TRE_MAIL_FROM   = var.notification_sender
      TRE_CONSOLE_URL = local.console_url
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

resource "aws_sqs_queue" "function_dlq" {
  for_each          = local.functions
  name              = "${var.name_prefix}-${each.key}-dlq"
  kms_master_key_id = aws_kms_key.tre.id
}

resource "aws_lambda_function" "function" {
  # checkov:skip=CKV_AWS_272:Code signing needs a signing profile in the deployer's account; the zips are built reproducibly by cargo lambda in CI.
  for_each         = local.functions
  function_name    = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  filename         = "${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip")
  memory_size      = 256
  timeout          = 29
  kms_key_arn      = aws_kms_key.tre.arn
  # Bounds the blast radius of a flood; raise it with the account's concurrency quota.
  reserved_concurrent_executions = 50

  environment {
    variables = merge(local.common_env, try(local.function_env[each.key], {}))
  }

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.lambda.id]
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.function_dlq[each.key].arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  depends_on = [aws_iam_role_policy.function]
}

# The status consumer reads the status queue; failed messages are reported per item, retried,
# and dead-lettered after the queue's maxReceiveCount.
resource "aws_lambda_event_source_mapping" "status" {
  event_source_arn        = aws_sqs_queue.status.arn
  function_name           = aws_lambda_function.function["status-consumer"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}

# The audit archive reads the table's stream: only inserts of audit events reach it (the filter),
# in order per shard. A record it cannot archive is reported by its sequence number and retried
# from there; after the last retry its position goes to the function's failure queue (alarmed,
# audit.tf) and the shard moves on. The events themselves stay in the table.
resource "aws_lambda_event_source_mapping" "audit_archive" {
  event_source_arn               = aws_dynamodb_table.tre.stream_arn
  function_name                  = aws_lambda_function.function["audit-archive"].arn
  starting_position              = "TRIM_HORIZON"
  batch_size                     = 100
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = 10

  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT"]
        dynamodb  = { Keys = { sk = { S = [{ prefix = "AUDIT#" }] } } }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.function_dlq["audit-archive"].arn
    }
  }
}

# The key that signs list pages' continuation tokens, drawn like the registry's token key
# (registry.tf): 44 letters and digits, valid base64 of 33 random bytes, written write-only.
# A new version (raise the number below) only ends the walks in progress: clients start again.
ephemeral "aws_secretsmanager_random_password" "page_token_key" {
  password_length     = 44
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "page_token_key" {
  # checkov:skip=CKV2_AWS_57:Rotation is a deliberate apply (raise secret_string_wo_version): every API function must change keys at once, which a rotation Lambda could not do.
  name                    = "${var.name_prefix}/page-token-key"
  kms_key_id              = aws_kms_key.tre.arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0
}

resource "aws_secretsmanager_secret_version" "page_token_key" {
  secret_id                = aws_secretsmanager_secret.page_token_key.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.page_token_key.random_password
  secret_string_wo_version = 1
}

data "aws_secretsmanager_secret_version" "page_token_key" {
  secret_id  = aws_secretsmanager_secret.page_token_key.id
  version_id = aws_secretsmanager_secret_version.page_token_key.version_id
}
