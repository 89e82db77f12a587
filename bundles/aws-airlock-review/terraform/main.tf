# An airlock reviewer's SageMaker notebook, locked down like aws-notebook (workspace subnet, no
# direct internet, no root, IMDSv2 only, the workspace key on its volume) but acting as a role of
# its own: the workspace's researcher role would give the reviewer the workspace's data, and a
# researcher's role must never read files still in review. This role may only read the one
# request's in-review prefix; the notebook's volume is the reviewer's only writable space.

locals {
  subnet_ids = try(jsondecode(var.tre_workspace.private_subnet_ids), var.tre_workspace.private_subnet_ids)
  # SageMaker reports the key as it was given: the key id, as in the provider's own tests.
  kms_key_id = element(split("/", var.tre_workspace.kms_key_arn), 1)
  region     = split(":", var.tre_workspace.kms_key_arn)[3]
  account    = split(":", var.tre_workspace.kms_key_arn)[4]
  partition  = split(":", var.tre_workspace.kms_key_arn)[1]
  # Named as the TRE names every notebook (tre-nb-<id>) and notebook lifecycle configuration
  # (tre-nbs-<id>): the bundle runner's permissions are scoped by those names.
  name           = "tre-nb-${var.tre_resource_id}"
  lifecycle_name = "tre-nbs-${var.tre_resource_id}"
  role_name      = "${local.name}-review"

  review      = var.tre_airlock_review
  bucket_arn  = "arn:${local.partition}:s3:::${local.review.in_review.bucket}"
  files       = "s3://${local.review.in_review.bucket}/${local.review.in_review.prefix}"
  is_import   = local.review.request_type == "import"
  log_group   = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/NotebookInstances"
  import_host = try(tobool(var.tre_workspace.airlock_import_review), false)
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "review" {
  # Listing is of the request's own prefix only (a request without that prefix is refused).
  statement {
    sid       = "InReviewList"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.review.in_review.prefix}*"]
    }
  }
  statement {
    sid       = "InReviewRead"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/${local.review.in_review.prefix}*"]
  }
  # The airlock buckets are encrypted with the TRE's key: decrypt only through S3 and only for
  # this bucket (bucket keys: the context is the bucket; without them, the object). S3 asks KMS
  # only for objects the statements above already let the role read.
  statement {
    sid       = "InReviewDecrypt"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:${local.region}:${local.account}:key/*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.bucket_arn, "${local.bucket_arn}/${local.review.in_review.prefix}*"]
    }
  }
  # The notebook's own logs (its start-up script's output), nothing else of CloudWatch Logs.
  statement {
    sid       = "NotebookLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.log_group}:log-stream:${local.name}/*"]
  }
  statement {
    sid       = "NotebookLogGroup"
    actions   = ["logs:CreateLogGroup"]
    resources = [local.log_group]
  }
}

# The ceiling: the same grants. Whatever else is attached to the role, it can do no more.
resource "aws_iam_policy" "boundary" {
  name        = "${local.role_name}-boundary"
  description = "Permission boundary of airlock review notebook ${local.name} (request ${local.review.request_id})"
  policy      = data.aws_iam_policy_document.review.json
}

resource "aws_iam_role" "review" {
  name                 = local.role_name
  description          = "Airlock review of request ${local.review.request_id}: reads its in-review files only"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = aws_iam_policy.boundary.arn
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "review" {
  name   = "read-request-in-review"
  role   = aws_iam_role.review.id
  policy = data.aws_iam_policy_document.review.json
}

# At each start: a note on what is reviewed, and a read-only copy of the request's files in the
# notebook's home (in the background: a start must finish within 5 minutes).
resource "aws_sagemaker_notebook_instance_lifecycle_configuration" "review" {
  name = local.lifecycle_name
  on_start = base64encode(templatefile("${path.module}/on-start.sh.tftpl", {
    request_id   = local.review.request_id
    request_type = local.review.request_type
    workspace_id = local.review.workspace_id
    files        = local.files
    region       = local.region
  }))
}

resource "aws_sagemaker_notebook_instance" "review" {
  name                   = local.name
  instance_type          = var.instance_type
  volume_size            = var.volume_size_gb
  role_arn               = aws_iam_role.review.arn
  subnet_id              = local.subnet_ids[0]
  security_groups        = [var.tre_workspace.workloads_security_group_id]
  kms_key_id             = local.kms_key_id
  direct_internet_access = "Disabled"
  root_access            = "Disabled"
  lifecycle_config_name  = aws_sagemaker_notebook_instance_lifecycle_configuration.review.name
  instance_metadata_service_configuration {
    minimum_instance_metadata_service_version = "2"
  }
  tags = {
    Name = local.name
  }
  # The workspace's S3 endpoint is the notebook's only way to the files: it lets an export's own
  # workspace through to its prefix, and an import review workspace to the imports in review.
  lifecycle {
    precondition {
      condition     = local.is_import ? local.import_host : var.tre_workspace_id == local.review.workspace_id
      error_message = local.is_import ? "An import is reviewed in an import review workspace: set airlock_import_review on the aws-workspace that hosts the review service." : "An export is reviewed in its own workspace: the review service must be in workspace ${local.review.workspace_id}."
    }
  }
  # The policy must be on the role before the notebook starts and runs its lifecycle script.
  depends_on = [aws_iam_role_policy.review]
}
