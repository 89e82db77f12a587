# Fargate tasks that run bundle actions (the bundle-runner). The state machine starts one task
# per step with ecs:runTask.sync; the task reports progress to the status queue itself.

resource "aws_ecs_cluster" "tre" {
  name = "${var.name_prefix}-tre"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecr_repository" "runner" {
  for_each             = toset(["bundle-runner", "airlock-runner"])
  name                 = "${var.name_prefix}/${each.key}"
  image_tag_mutability = "IMMUTABLE"
  # Pushed images go with the repository only once deletion_protection is off.
  force_delete = !var.deletion_protection
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.tre.arn
  }
}

resource "aws_ecr_lifecycle_policy" "runner" {
  for_each   = aws_ecr_repository.runner
  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 20 newest images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_cloudwatch_log_group" "runner" {
  for_each          = aws_ecr_repository.runner
  name              = "/${var.name_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# What ECS itself needs to start a runner's task: pull its image, write its logs.
resource "aws_iam_role" "runner_execution" {
  for_each           = aws_ecr_repository.runner
  name               = "${var.name_prefix}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "runner_execution" {
  for_each = aws_ecr_repository.runner
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [each.value.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.runner[each.key].arn}:*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "runner_execution" {
  for_each = aws_ecr_repository.runner
  name     = "start-task"
  role     = aws_iam_role.runner_execution[each.key].id
  policy   = data.aws_iam_policy_document.runner_execution[each.key].json
}

# What the runner's own code does (`SDK_CALLS` in services/bundle-runner, checked
# by tests/tests/infra_consistency.rs): read the resource, report to the status queue. What a
# bundle's steps do in the account is the deployer's choice: var.bundle_policy_arns.
resource "aws_iam_role" "bundle_runner_task" {
  name               = "${var.name_prefix}-bundle-runner"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

locals {
  bundle_runner_iam_actions = ["dynamodb:GetItem", "sqs:SendMessage"]
}

data "aws_iam_policy_document" "bundle_runner_task" {
  statement {
    sid       = "ReadResources"
    actions   = [for a in local.bundle_runner_iam_actions : a if startswith(a, "dynamodb:")]
    resources = [aws_dynamodb_table.tre.arn]
  }
  statement {
    sid       = "ReportStatus"
    actions   = [for a in local.bundle_runner_iam_actions : a if startswith(a, "sqs:")]
    resources = [aws_sqs_queue.status.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "bundle_runner_task" {
  name   = "least-privilege"
  role   = aws_iam_role.bundle_runner_task.id
  policy = data.aws_iam_policy_document.bundle_runner_task.json
}

resource "aws_iam_role_policy_attachment" "bundle" {
  for_each   = toset(var.bundle_policy_arns)
  role       = aws_iam_role.bundle_runner_task.name
  policy_arn = each.value
}

resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-tasks"
  description = "Fargate tasks: no inbound; HTTPS out to the VPC (endpoints, registry) and gateway prefixes"
  vpc_id      = aws_vpc.tre.id
  egress {
    description = "HTTPS inside the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.tre.cidr_block]
  }
  egress {
    description = "The registry by its private name (bundles)"
    from_port   = 5000
    to_port     = 5000
    protocol    = "tcp"
    cidr_blocks = aws_subnet.private[*].cidr_block
  }
  egress {
    description     = "HTTPS to S3 and DynamoDB gateway endpoints (image layers come from S3)"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [for e in aws_vpc_endpoint.gateway : e.prefix_list_id]
  }
  # Data source imports reach their source systems through the NAT gateway (datasource.tf),
  # only on the ports and networks the deployer names.
  dynamic "egress" {
    for_each = var.enable_nat_gateway && length(var.datasource_egress_cidrs) > 0 ? toset(var.datasource_egress_ports) : toset([])
    content {
      description = "Data source systems on port ${egress.value}"
      from_port   = egress.value
      to_port     = egress.value
      protocol    = "tcp"
      cidr_blocks = var.datasource_egress_cidrs
    }
  }
}

resource "aws_ecs_task_definition" "bundle_runner" {
  family                   = "${var.name_prefix}-bundle-runner"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.bundle_runner_cpu
  memory                   = var.bundle_runner_memory
  execution_role_arn       = aws_iam_role.runner_execution["bundle-runner"].arn
  task_role_arn            = aws_iam_role.bundle_runner_task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }
  volume {
    name = "work"
  }
  container_definitions = jsonencode([{
    # The state machine's container overrides name this container.
    name                   = "bundle-runner"
    image                  = "${aws_ecr_repository.runner["bundle-runner"].repository_url}:${var.bundle_runner_image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    # Bundles unpack and work in a temporary folder: the task's ephemeral storage.
    mountPoints = [{ sourceVolume = "work", containerPath = "/tmp", readOnly = false }]
    user        = "10001"
    environment = [
      { name = "TRE_TABLE", value = aws_dynamodb_table.tre.name },
      { name = "TRE_STATUS_QUEUE_URL", value = aws_sqs_queue.status.url },
      { name = "TRE_REGISTRY_MIRRORS", value = "${var.registry_domain}=${local.registry_internal_url}" },
      # Bundles keep state here (their steps inherit the runner's environment).
      { name = "TRE_BUNDLE_STATE_BUCKET", value = aws_s3_bucket.bundle_state.bucket },
      # The airlock's buckets (<prefix>-<stage>), passed to workspace bundles as tre_airlock.
      { name = "TRE_AIRLOCK_BUCKET_PREFIX", value = local.airlock_bucket_prefix },
      { name = "RUST_LOG", value = "info" },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.runner["bundle-runner"].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "step"
      }
    }
  }])
}
