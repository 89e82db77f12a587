# Optional custom domain of the API (var.api_domain with a regional ACM certificate). When set,
# the console, the registry's token realm and the api_url output use it.

resource "aws_apigatewayv2_domain_name" "api" {
  count       = var.api_domain != "" ? 1 : 0
  domain_name = var.api_domain
  domain_name_configuration {
    certificate_arn = var.api_certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "api" {
  count       = var.api_domain != "" ? 1 : 0
  api_id      = aws_apigatewayv2_api.tre.id
  domain_name = aws_apigatewayv2_domain_name.api[0].id
  stage       = aws_apigatewayv2_stage.default.id
}

locals {
  api_url = var.api_domain != "" ? "https://${var.api_domain}" : trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")
}
