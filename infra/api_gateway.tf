# HTTP API with a JWT authorizer. Routes come from api-routes.json, which is generated from the
# API's route table (`cargo run -p tre-cli -- routes > infra/api-routes.json`); a test fails when
# the file and the code disagree.
locals {
  api_routes = { for r in jsondecode(file("${path.module}/api-routes.json")).routes : r.routeKey => r }
}

resource "aws_apigatewayv2_api" "tre" {
  name          = "${var.name_prefix}-tre-api"
  protocol_type = "HTTP"
  description   = "TRE control plane API"
  # The console calls the API from its own origin; API Gateway answers the preflights.
  cors_configuration {
    allow_origins  = [trimsuffix(local.console_url, "/")]
    allow_methods  = ["GET", "POST", "PATCH", "DELETE"]
    allow_headers  = ["authorization", "content-type", "if-match"]
    expose_headers = ["etag", "location"]
    max_age        = 3600
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.tre.id
  name             = "oidc"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.oidc_issuer
    audience = [var.oidc_audience]
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each               = local.api_functions
  api_id                 = aws_apigatewayv2_api.tre.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "route" {
  # checkov:skip=CKV_AWS_309:GET /api/health and GET /api/openapi.json are public by design (load balancer probes, API discovery); every other route uses the JWT authorizer.
  for_each           = local.api_routes
  api_id             = aws_apigatewayv2_api.tre.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.function[each.value.function].id}"
  authorization_type = each.value.authenticated ? "JWT" : "NONE"
  authorizer_id      = each.value.authenticated ? aws_apigatewayv2_authorizer.jwt.id : null
}

resource "aws_lambda_permission" "api" {
  for_each      = local.api_functions
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.tre.execution_arn}/*/*"
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/tre/${var.name_prefix}/api-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.tre.id
  name        = "$default"
  auto_deploy = true
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      requestTime    = "$context.requestTime"
      routeKey       = "$context.routeKey"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latencyMs      = "$context.responseLatency"
      principal      = "$context.authorizer.claims.sub"
      error          = "$context.error.message"
    })
  }
  default_route_settings {
    throttling_burst_limit = 200
    throttling_rate_limit  = 100
  }
}
