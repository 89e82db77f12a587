# The web console: the static files of console/static on a private S3 bucket, served by
# CloudFront (origin access control, HTTPS only, strict security headers), with the config.json
# that points the pages at the API and the OIDC issuer. Register `console_url` as a redirect URI
# of the console's client in the identity provider.

locals {
  console_dir = "${path.module}/../console/static"
  console_content_types = {
    html = "text/html; charset=utf-8"
    js   = "text/javascript; charset=utf-8"
    css  = "text/css; charset=utf-8"
    json = "application/json"
  }
  console_custom_domain = var.console_domain != ""
  console_host          = local.console_custom_domain ? var.console_domain : aws_cloudfront_distribution.console.domain_name
  console_url           = "https://${local.console_host}/"
  # Pages call the API (its execute-api host; a cycle forbids naming the API itself here, since
  # the API's CORS names the console), the issuer's token endpoint, and the airlock buckets the
  # file links point at.
  oidc_origin      = regex("^https?://[^/]+", var.oidc_issuer)
  console_connects = "'self' https://*.execute-api.${data.aws_region.current.name}.amazonaws.com ${var.api_domain != "" ? "https://${var.api_domain} " : ""}${local.oidc_origin} ${join(" ", local.airlock_link_origins)}"
}

resource "aws_s3_bucket" "console" {
  # checkov:skip=CKV_AWS_144:The console's page code is rebuilt from the repository by terraform apply; a replica adds nothing.
  # checkov:skip=CKV_AWS_18:Reads come only through CloudFront; its requests are what matter and the distribution is where to log them.
  # checkov:skip=CKV2_AWS_62:No event notifications: nothing reacts to the console's files changing.
  # checkov:skip=CKV_AWS_145:The bucket holds the console's public page code, no data; SSE-S3 lets CloudFront's origin access control read it without a KMS grant.
  bucket        = "${var.name_prefix}-${data.aws_caller_identity.current.account_id}-console"
  force_destroy = true
}

resource "aws_s3_bucket_versioning" "console" {
  bucket = aws_s3_bucket.console.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "console" {
  bucket                  = aws_s3_bucket.console.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "console_bucket" {
  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.console.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.console.arn]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.console.arn, "${aws_s3_bucket.console.arn}/*"]
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

resource "aws_s3_bucket_policy" "console" {
  bucket = aws_s3_bucket.console.id
  policy = data.aws_iam_policy_document.console_bucket.json
}

resource "aws_s3_object" "console_file" {
  for_each     = fileset(local.console_dir, "*")
  bucket       = aws_s3_bucket.console.id
  key          = each.key
  source       = "${local.console_dir}/${each.key}"
  etag         = filemd5("${local.console_dir}/${each.key}")
  content_type = local.console_content_types[reverse(split(".", each.key))[0]]
}

# The same fields the local stack serves (tre_console::ConsoleConfig; checked by
# tests/tests/infra_consistency.rs).
resource "aws_s3_object" "console_config" {
  bucket       = aws_s3_bucket.console.id
  key          = "config.json"
  content_type = local.console_content_types["json"]
  content = jsonencode({
    apiUrl      = local.api_url
    issuer      = var.oidc_issuer
    clientId    = var.console_client_id
    scope       = var.console_scope
    redirectUri = local.console_url
  })
}

resource "aws_cloudfront_origin_access_control" "console" {
  name                              = "${var.name_prefix}-tre-console"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "console" {
  name = "${var.name_prefix}-tre-console"
  security_headers_config {
    content_security_policy {
      content_security_policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src ${local.console_connects}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
      override                = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

data "aws_cloudfront_cache_policy" "caching_disabled" {
  # The pages are a few kilobytes and change with each apply: always fetched fresh.
  name = "Managed-CachingDisabled"
}

resource "aws_cloudfront_distribution" "console" {
  # checkov:skip=CKV_AWS_68:The console is static page code; every action is an API call with the user's token, which the API checks. Put a WAF in front if your policy requires one everywhere.
  # checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68).
  # checkov:skip=CKV_AWS_86:Access logs need a log bucket with ACLs enabled; the API's access log records every action the console takes.
  # checkov:skip=CKV_AWS_310:One origin: S3 is the failover for nothing.
  # checkov:skip=CKV_AWS_374:Researchers sign in from wherever their organisation allows; restrict at the identity provider.
  # checkov:skip=CKV_AWS_174:With the default CloudFront certificate AWS fixes the protocol floor; set console_domain and console_certificate_arn to get TLSv1.2_2021.
  # checkov:skip=CKV2_AWS_42:A custom certificate needs a custom domain, which is optional (console_domain).
  enabled             = true
  comment             = "${var.name_prefix} TRE console"
  default_root_object = "index.html"
  price_class         = "PriceClass_100"
  http_version        = "http2and3"
  aliases             = local.console_custom_domain ? [var.console_domain] : []

  origin {
    origin_id                = "console"
    domain_name              = aws_s3_bucket.console.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.console.id
  }

  default_cache_behavior {
    target_origin_id           = "console"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.console.id
    compress                   = true
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.console_custom_domain
    acm_certificate_arn            = local.console_custom_domain ? var.console_certificate_arn : null
    ssl_support_method             = local.console_custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.console_custom_domain ? "TLSv1.2_2021" : "TLSv1"
  }
}
