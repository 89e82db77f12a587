# The OCI registry (services/registry) as a Fargate service: its storage is an S3 bucket, it is
# reached through an internet-facing Application Load Balancer that terminates TLS with an ACM
# certificate for var.registry_domain, and it shares a token key with the API (the token realm,
# GET /api/registry/token). The tasks run in the private subnets; only the load balancer sits in
# the public ones.

locals {
  registry_bucket = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-registry"
  registry_port   = 5000
  registry_url    = "https://${var.registry_domain}"
  # The registry's S3 calls (tre_registry::SDK_CALLS, checked by tests/tests/infra_consistency.rs).
  registry_iam_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:AbortMultipartUpload"]
}

# ---------- public subnets, for the load balancer only ----------

resource "aws_subnet" "public" {
  count                   = length(local.azs)
  vpc_id                  = aws_vpc.tre.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(aws_vpc.tre.cidr_block, 4, 8 + count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-public-${local.azs[count.index]}" }
}

resource "aws_internet_gateway" "tre" {
  vpc_id = aws_vpc.tre.id
  tags   = { Name = "${var.name_prefix}-tre" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.tre.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.tre.id
  }
  tags = { Name = "${var.name_prefix}-public" }
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# ---------- storage and the token key ----------

resource "aws_s3_bucket" "registry" {
  # checkov:skip=CKV_AWS_144:Images and bundles are rebuilt from their sources; a second region adds cost, not safety, by default. Enable replication per deployment if required.
  # checkov:skip=CKV_AWS_18:Every pull and push goes through the registry, whose requests the load balancer and the service log; S3 server access logs would repeat them.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to the registry's objects but the registry.
  bucket = local.registry_bucket
  # Objects (and their old versions) go with the bucket only once deletion_protection is off.
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "registry" {
  bucket = aws_s3_bucket.registry.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "registry" {
  bucket = aws_s3_bucket.registry.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tre.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "registry" {
  bucket                  = aws_s3_bucket.registry.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "registry" {
  bucket = aws_s3_bucket.registry.id
  rule {
    id     = "clean-up"
    status = "Enabled"
    filter {}
    # What `tre registry gc --delete` removes stays 30 days as non-current versions.
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "registry_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.registry.arn, "${aws_s3_bucket.registry.arn}/*"]
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

resource "aws_s3_bucket_policy" "registry" {
  bucket = aws_s3_bucket.registry.id
  policy = data.aws_iam_policy_document.registry_bucket.json
}

# The key that signs registry tokens: the API issues them, the registry verifies them. Secrets
# Manager draws it (44 letters and digits, which are valid base64 of 33 random bytes, ~262 bits);
# the draw is ephemeral and written to the secret write-only, so no plan ever carries a new one.
# The API reads the stored version back (the data source below), so every plan sees the same key;
# through it and the Lambdas' environment the key is in the state, which must stay encrypted.
# Rotation: raise var.registry_token_key_version and apply. That replaces the secret's version
# (a new draw), which changes the Lambdas' environment and the registry's task definition (it
# names the version) together; the registry service rolls onto the new key, and tokens signed
# with the old one expire within 5 minutes.
ephemeral "aws_secretsmanager_random_password" "registry_token_key" {
  password_length     = 44
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "registry_token_key" {
  # checkov:skip=CKV2_AWS_57:Rotation is a deliberate apply (var.registry_token_key_version, see above): the API and the registry must change keys together, which a rotation Lambda could not do.
  name       = "${var.name_prefix}/registry-token-key"
  kms_key_id = aws_kms_key.tre.arn
  # The key is drawn afresh by any new deployment: once deletion_protection is off, a destroyed
  # deployment's secret goes at once, so the same name_prefix can be deployed again.
  recovery_window_in_days = var.deletion_protection ? 30 : 0
}

resource "aws_secretsmanager_secret_version" "registry_token_key" {
  secret_id                = aws_secretsmanager_secret.registry_token_key.id
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.registry_token_key.random_password
  secret_string_wo_version = var.registry_token_key_version
}

data "aws_secretsmanager_secret_version" "registry_token_key" {
  secret_id  = aws_secretsmanager_secret.registry_token_key.id
  version_id = aws_secretsmanager_secret_version.registry_token_key.version_id
}

# ---------- the load balancer ----------

resource "aws_security_group" "registry_lb" {
  name        = "${var.name_prefix}-registry-lb"
  description = "Registry load balancer: HTTPS from the allowed networks, to the registry tasks"
  vpc_id      = aws_vpc.tre.id
  ingress {
    description = "HTTPS from the networks allowed to use the registry"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.registry_allowed_cidrs
  }
  egress {
    description = "To the registry tasks in the private subnets"
    from_port   = local.registry_port
    to_port     = local.registry_port
    protocol    = "tcp"
    cidr_blocks = aws_subnet.private[*].cidr_block
  }
}

resource "aws_security_group" "registry_tasks" {
  name        = "${var.name_prefix}-registry-tasks"
  description = "Registry tasks: from the load balancer and the bundle runners; HTTPS out to the endpoints and S3"
  vpc_id      = aws_vpc.tre.id
  ingress {
    description     = "From the load balancer, and from the bundle runners by its private name"
    from_port       = local.registry_port
    to_port         = local.registry_port
    protocol        = "tcp"
    security_groups = [aws_security_group.registry_lb.id, aws_security_group.tasks.id]
  }
  egress {
    description = "HTTPS to the interface endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.tre.cidr_block]
  }
  egress {
    description     = "HTTPS to the S3 gateway endpoint"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [for e in aws_vpc_endpoint.gateway : e.prefix_list_id]
  }
}

resource "aws_lb" "registry" {
  # checkov:skip=CKV_AWS_91:Access logs need a bucket writable by the regional ELB account with SSE-S3 only; the registry logs every request itself (CloudWatch). Add one if your policy requires it.
  # checkov:skip=CKV2_AWS_28:No WAF: every registry request carries a token the registry verifies; put one in front if your policy requires it everywhere.
  # checkov:skip=CKV2_AWS_20:There is no HTTP listener to redirect: the load balancer listens on HTTPS only.
  name                       = "${var.name_prefix}-registry"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.registry_lb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # Large layers upload in one request: give them time.
  idle_timeout = 600
}

resource "aws_lb_target_group" "registry" {
  # checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the tasks are reachable only from it, inside the VPC.
  name        = "${var.name_prefix}-registry"
  port        = local.registry_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.tre.id
  health_check {
    # /v2/ answers 401 with its token challenge to anyone without a token: that is healthy.
    path    = "/v2/"
    matcher = "200,401"
  }
}

resource "aws_lb_listener" "registry" {
  load_balancer_arn = aws_lb.registry.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.registry_certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.registry.arn
  }
}

# ---------- the service ----------

resource "aws_ecr_repository" "registry" {
  name                 = "${var.name_prefix}/registry"
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

resource "aws_cloudwatch_log_group" "registry" {
  name              = "/tre/${var.name_prefix}/registry"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

resource "aws_iam_role" "registry_execution" {
  name               = "${var.name_prefix}-registry-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "registry_execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.registry.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.registry.arn}:*"]
  }
  statement {
    sid       = "TokenKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.registry_token_key.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "registry_execution" {
  name   = "start-task"
  role   = aws_iam_role.registry_execution.id
  policy = data.aws_iam_policy_document.registry_execution.json
}

resource "aws_iam_role" "registry_task" {
  name               = "${var.name_prefix}-registry"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "registry_task" {
  statement {
    sid       = "Objects"
    actions   = [for a in local.registry_iam_actions : a if a != "s3:ListBucket"]
    resources = ["${aws_s3_bucket.registry.arn}/*"]
  }
  statement {
    sid       = "List"
    actions   = [for a in local.registry_iam_actions : a if a == "s3:ListBucket"]
    resources = [aws_s3_bucket.registry.arn]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.tre.arn]
  }
}

resource "aws_iam_role_policy" "registry_task" {
  name   = "least-privilege"
  role   = aws_iam_role.registry_task.id
  policy = data.aws_iam_policy_document.registry_task.json
}

resource "aws_ecs_task_definition" "registry" {
  family                   = "${var.name_prefix}-registry"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.registry_cpu
  memory                   = var.registry_memory
  execution_role_arn       = aws_iam_role.registry_execution.arn
  task_role_arn            = aws_iam_role.registry_task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "ARM64"
  }
  container_definitions = jsonencode([{
    name                   = "registry"
    image                  = "${aws_ecr_repository.registry.repository_url}:${var.registry_image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    portMappings           = [{ containerPort = local.registry_port, protocol = "tcp" }]
    environment = [
      { name = "TRE_REGISTRY_BUCKET", value = aws_s3_bucket.registry.bucket },
      { name = "TRE_REGISTRY_REALM", value = "${local.api_url}/api/registry/token" },
      { name = "TRE_REGISTRY_SERVICE", value = var.registry_service_name },
      { name = "TRE_REGISTRY_ADDR", value = "0.0.0.0:${local.registry_port}" },
      { name = "TRE_REGISTRY_REDIRECT_SECONDS", value = tostring(var.registry_redirect_seconds) },
      { name = "RUST_LOG", value = "info" },
    ]
    secrets = [
      # Pinned to the version (secret-arn:json-key:version-stage:version-id), so a rotation
      # changes this task definition and redeploys the service.
      { name = "TRE_REGISTRY_TOKEN_KEY", valueFrom = "${aws_secretsmanager_secret.registry_token_key.arn}:::${aws_secretsmanager_secret_version.registry_token_key.version_id}" },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.registry.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "registry"
      }
    }
  }])
}

resource "aws_ecs_service" "registry" {
  name            = "${var.name_prefix}-registry"
  cluster         = aws_ecs_cluster.tre.id
  task_definition = aws_ecs_task_definition.registry.arn
  desired_count   = var.registry_desired_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.registry_tasks.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.registry.arn
    container_name   = "registry"
    container_port   = local.registry_port
  }
  # Bundle runners in the private subnets (no route to the public load balancer) reach it here.
  service_registries {
    registry_arn = aws_service_discovery_service.registry.arn
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  depends_on = [aws_lb_listener.registry]
}

# ---------- the private name bundle runners use ----------

resource "aws_service_discovery_private_dns_namespace" "tre" {
  name = "${var.name_prefix}.tre.internal"
  vpc  = aws_vpc.tre.id
}

resource "aws_service_discovery_service" "registry" {
  name = "registry"
  dns_config {
    namespace_id = aws_service_discovery_private_dns_namespace.tre.id
    dns_records {
      ttl  = 10
      type = "A"
    }
    routing_policy = "MULTIVALUE"
  }
  health_check_custom_config {
    failure_threshold = 1
  }
}

locals {
  # The bundle runner maps the registry's public name to this (TRE_REGISTRY_MIRRORS).
  registry_internal_url = "http://registry.${aws_service_discovery_private_dns_namespace.tre.name}:${local.registry_port}"
}
