# The airlock: one bucket per stage (objects move between them only by airlock-runner tasks),
# the airlock-runner task, and what its state machine needs. statemachines/airlock-review.asl.json
# is deployed by provisioning.tf with the others.

locals {
  airlock_stages        = ["import-staging", "import-in-review", "workspace-data", "export-staging", "export-in-review", "export-approved"]
  airlock_bucket_prefix = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-airlock"
  # Stages the API signs links for (uploads to staging; reads of review copies and approved exports).
  airlock_link_stages = ["import-staging", "export-staging", "import-in-review", "export-in-review", "export-approved"]
}

resource "aws_s3_bucket" "airlock" {
  # checkov:skip=CKV_AWS_144:Cross-region replication copies research data to a second region; a TRE's data governance usually forbids that by default. Enable it per deployment if required.
  # checkov:skip=CKV_AWS_18:Access to airlock objects is recorded by the API (who asked for which link) and by CloudTrail data events, which the deployer enables account-wide.
  # checkov:skip=CKV2_AWS_62:No event notifications: the airlock workflow, not S3 events, moves objects.
  for_each = toset(local.airlock_stages)
  bucket   = "${local.airlock_bucket_prefix}-${each.key}"
  # Objects (and their old versions) go with the bucket only once deletion_protection is off.
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "airlock" {
  for_each = toset(local.airlock_stages)
  bucket   = aws_s3_bucket.airlock[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "airlock" {
  for_each = toset(local.airlock_stages)
  bucket   = aws_s3_bucket.airlock[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tre.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "airlock" {
  for_each                = toset(local.airlock_stages)
  bucket                  = aws_s3_bucket.airlock[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "airlock" {
  for_each = toset(local.airlock_stages)
  bucket   = aws_s3_bucket.airlock[each.key].id
  rule {
    id     = "clean-up"
    status = "Enabled"
    filter {}
    # Deleted objects (rejected, blocked, moved on) are kept 30 days as non-current versions.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# The console uploads and downloads airlock files in the browser, straight to the buckets through
# the API's pre-signed links: staging takes PUT (single files and parts) and POST (the form
# upload); review copies and approved exports are read with GET/HEAD. ETag is exposed because
# the console completes an upload in parts from the parts' ETags.
locals {
  airlock_cors_methods = {
    "import-staging"   = ["PUT", "POST"]
    "export-staging"   = ["PUT", "POST"]
    "import-in-review" = ["GET", "HEAD"]
    "export-in-review" = ["GET", "HEAD"]
    "export-approved"  = ["GET", "HEAD"]
  }
  # The regional virtual-hosted endpoints the links point at (the console's connect-src).
  airlock_link_origins = [for s in local.airlock_link_stages : "https://${local.airlock_bucket_prefix}-${s}.s3.${data.aws_region.current.name}.amazonaws.com"]
}

resource "aws_s3_bucket_cors_configuration" "airlock" {
  for_each = local.airlock_cors_methods
  bucket   = aws_s3_bucket.airlock[each.key].id
  cors_rule {
    allowed_origins = [trimsuffix(local.console_url, "/")]
    allowed_methods = each.value
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "airlock_tls_only" {
  for_each = toset(local.airlock_stages)
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.airlock[each.key].arn, "${aws_s3_bucket.airlock[each.key].arn}/*"]
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

resource "aws_s3_bucket_policy" "airlock" {
  for_each = toset(local.airlock_stages)
  bucket   = aws_s3_bucket.airlock[each.key].id
  policy   = data.aws_iam_policy_document.airlock_tls_only[each.key].json
}

# What the runner's code does (SDK_CALLS in services/airlock-runner, checked by
# tests/tests/infra_consistency.rs): read the request, move objects between the stages, report.
resource "aws_iam_role" "airlock_runner_task" {
  name               = "${var.name_prefix}-airlock-runner"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

locals {
  airlock_runner_iam_actions = ["dynamodb:GetItem", "sqs:SendMessage", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListBucket", "secretsmanager:GetSecretValue"]
  # Data sources name their credentials' secrets; the runner may read only those under this prefix.
  datasource_secrets_arn = "arn:${data.aws_partition.current.partition}:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.name_prefix}/datasources/*"
}

data "aws_iam_policy_document" "airlock_runner_task" {
  statement {
    sid       = "ReadRequests"
    actions   = [for a in local.airlock_runner_iam_actions : a if startswith(a, "dynamodb:")]
    resources = [aws_dynamodb_table.tre.arn]
  }
  statement {
    sid       = "ReportStatus"
    actions   = [for a in local.airlock_runner_iam_actions : a if startswith(a, "sqs:")]
    resources = [aws_sqs_queue.status.arn]
  }
  statement {
    sid       = "MoveObjects"
    actions   = [for a in local.airlock_runner_iam_actions : a if startswith(a, "s3:") && a != "s3:ListBucket"]
    resources = [for b in aws_s3_bucket.airlock : "${b.arn}/*"]
  }
  # Data sources of type s3 are read with the runner's role: only from the buckets listed.
  dynamic "statement" {
    for_each = length(var.datasource_source_buckets) > 0 ? [1] : []
    content {
      sid       = "DataSourceBuckets"
      actions   = ["s3:GetObject"]
      resources = [for b in var.datasource_source_buckets : "arn:${data.aws_partition.current.partition}:s3:::${b}/*"]
    }
  }
  statement {
    sid       = "DataSourceCredentials"
    actions   = [for a in local.airlock_runner_iam_actions : a if startswith(a, "secretsmanager:")]
    resources = [local.datasource_secrets_arn]
  }
  statement {
    # Data source imports list what an earlier run left, to replace it.
    sid       = "ListStages"
    actions   = [for a in local.airlock_runner_iam_actions : a if a == "s3:ListBucket"]
    resources = [for b in aws_s3_bucket.airlock : b.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "airlock_runner_task" {
  name   = "least-privilege"
  role   = aws_iam_role.airlock_runner_task.id
  policy = data.aws_iam_policy_document.airlock_runner_task.json
}

locals {
  # ClamAV runs beside the runner when an image is given (it needs memory for its signatures).
  clamav = var.clamav_image != ""
  airlock_runner_container = {
    # The state machine's container overrides name this container.
    name                   = "airlock-runner"
    image                  = "${aws_ecr_repository.runner["airlock-runner"].repository_url}:${var.airlock_runner_image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    environment = concat([
      { name = "TRE_TABLE", value = aws_dynamodb_table.tre.name },
      { name = "TRE_STATUS_QUEUE_URL", value = aws_sqs_queue.status.url },
      { name = "TRE_AIRLOCK_BUCKET_PREFIX", value = local.airlock_bucket_prefix },
      { name = "RUST_LOG", value = "info" },
    ], local.clamav ? [{ name = "TRE_CLAMD_ADDRESS", value = "127.0.0.1:3310" }] : [])
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.runner["airlock-runner"].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "step"
      }
    }
  }
  clamd_container = {
    name      = "clamd"
    image     = var.clamav_image
    essential = true
    # clamd must be up (signatures loaded) before the runner streams anything to it.
    healthCheck = {
      command     = ["CMD-SHELL", "clamdscan --ping 1 || exit 1"]
      interval    = 10
      retries     = 30
      startPeriod = 120
      timeout     = 5
    }
    environment = [
      # The largest stream clamd accepts: files above it are blocked (the adapter fails closed).
      { name = "CLAMD_CONF_StreamMaxLength", value = "4000M" },
      { name = "CLAMD_CONF_TCPSocket", value = "3310" },
      { name = "CLAMD_CONF_TCPAddr", value = "127.0.0.1" },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.runner["airlock-runner"].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "clamd"
      }
    }
  }
}

resource "aws_ecs_task_definition" "airlock_runner" {
  # checkov:skip=CKV_AWS_336:The optional clamd sidecar (var.clamav_image) writes its signature database at start; the runner's own root filesystem is read-only.
  family                   = "${var.name_prefix}-airlock-runner"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.clamav ? 1024 : 512
  memory                   = local.clamav ? 4096 : 1024
  execution_role_arn       = aws_iam_role.runner_execution["airlock-runner"].arn
  task_role_arn            = aws_iam_role.airlock_runner_task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }
  container_definitions = jsonencode(concat(
    [merge(local.airlock_runner_container, { for k, v in { dependsOn = [{ containerName = "clamd", condition = "HEALTHY" }] } : k => v if local.clamav })],
    local.clamav ? [local.clamd_container] : [],
  ))
}
