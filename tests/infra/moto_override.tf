# Test-only: rehearses infra/ against a moto server (tests/infra/rehearse.sh copies this file next
# to a copy of infra/ and replaces MOTO_ENDPOINT with the server's URL). Terraform merges
# *_override.tf files into the configuration; nothing here belongs in infra/ itself (infra/.gitignore
# keeps override files out of it). Every service infra/ uses is named below; the script also sets
# AWS_ENDPOINT_URL (which provider 5.100 honours too), so a service added later still goes to moto.

provider "aws" {
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  # Few attempts: an operation moto lacks errors within seconds instead of being retried for
  # minutes; but more than one, because moto serves requests on threads and some of its
  # handlers are not safe beside each other: under this apply's parallelism AttachRolePolicy
  # once answered 500 while policies were being created (IAM iterates its policy dict unlocked).
  max_retries = 3

  endpoints {
    acm              = "MOTO_ENDPOINT"
    apigatewayv2     = "MOTO_ENDPOINT"
    cloudfront       = "MOTO_ENDPOINT"
    cloudtrail       = "MOTO_ENDPOINT"
    cloudwatch       = "MOTO_ENDPOINT"
    dynamodb         = "MOTO_ENDPOINT"
    ec2              = "MOTO_ENDPOINT"
    ecr              = "MOTO_ENDPOINT"
    ecs              = "MOTO_ENDPOINT"
    elbv2            = "MOTO_ENDPOINT"
    events           = "MOTO_ENDPOINT"
    guardduty        = "MOTO_ENDPOINT"
    iam              = "MOTO_ENDPOINT"
    kms              = "MOTO_ENDPOINT"
    lambda           = "MOTO_ENDPOINT"
    logs             = "MOTO_ENDPOINT"
    s3               = "MOTO_ENDPOINT"
    secretsmanager   = "MOTO_ENDPOINT"
    servicediscovery = "MOTO_ENDPOINT"
    sfn              = "MOTO_ENDPOINT"
    sns              = "MOTO_ENDPOINT"
    sqs              = "MOTO_ENDPOINT"
    sts              = "MOTO_ENDPOINT"
  }
}

# ---------- exclusions: what moto 5.2.5 lacks ----------

# moto has no CloudFront cache policies (ListCachePolicies answers 404), so the managed
# policy cannot be looked up...
data "aws_cloudfront_cache_policy" "caching_disabled" {
  count = 0
}

# ...nor response headers policies (CreateResponseHeadersPolicy).
resource "aws_cloudfront_response_headers_policy" "console" {
  count = 0
}

resource "aws_cloudfront_distribution" "console" {
  # The same behaviour without the two policies: Managed-CachingDisabled by its fixed, documented
  # id (the same in every account), and no response headers policy.
  default_cache_behavior {
    target_origin_id       = "console"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    compress               = true
  }
  lifecycle {
    # moto reads back a default forwarded_values (AWS: none with a cache policy), no
    # origin_access_control_id on the origin, and ssl_support_method "sni-only" with the default
    # certificate (AWS: none).
    ignore_changes = [default_cache_behavior, origin, viewer_certificate]
  }
}

# moto evaluates bucket policies on object requests without any request context and takes a
# statement whose condition it cannot confirm as a denial, even a Deny statement (which then
# should not apply): moto.iam.access_control.IAMPolicyStatement._check_conditions. With the
# TLS-only statement (Deny unless aws:SecureTransport) every PutObject/GetObject/DeleteObject on
# the console bucket got 403, so its files could not be uploaded, read back or deleted. The other
# buckets' identical policies are applied (Terraform puts no objects in them).
resource "aws_s3_bucket_policy" "console" {
  count = 0
}

# The provider validates a definition (ValidateStateMachineDefinition) before creating or updating
# a state machine; moto answers 500. With no machines, the execution-ended rule names none.
resource "aws_sfn_state_machine" "machine" {
  for_each = {}
}

resource "aws_cloudwatch_event_rule" "execution_ended" {
  # Without the machines the rule's list of them would be empty, which EventBridge refuses; name
  # the ARNs the machines would have (the same pattern a real deployment gets).
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for k in keys(local.state_machines) : "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.name_prefix}-${k}"]
    }
  })
}

# ---------- attributes moto does not read back as AWS does (perpetual diffs in moto only) ----------

resource "aws_sqs_queue" "status" {
  lifecycle {
    # moto re-serialises the redrive policy with spaces ({"a": 1}); AWS returns it as sent.
    ignore_changes = [redrive_policy]
  }
}

resource "aws_lambda_function" "function" {
  lifecycle {
    # moto's GetFunction returns neither DeadLetterConfig nor LoggingConfig.
    ignore_changes = [dead_letter_config, logging_config]
  }
}

resource "aws_ecs_service" "registry" {
  lifecycle {
    # moto's DescribeServices returns no availabilityZoneRebalancing (the provider plans DISABLED).
    ignore_changes = [availability_zone_rebalancing]
  }
}
