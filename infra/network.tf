# A VPC with private subnets (and public ones holding only the registry's load balancer, in
# registry.tf).
# Lambdas and Fargate tasks reach AWS APIs through VPC endpoints, so no NAT gateway is needed.
data "aws_availability_zones" "available" {
  state = "available"
  # Name the zones explicitly, so subnets never move when AWS adds a zone.
  filter {
    name   = "zone-name"
    values = [for s in var.availability_zone_suffixes : "${var.region}${s}"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
  interface_endpoints = toset([
    "states", "sqs", "logs", "kms", "sts", "ecr.api", "ecr.dkr", "secretsmanager",
  ])
}

resource "aws_vpc" "tre" {
  cidr_block           = "10.40.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name_prefix}-tre" }
}

# Deny everything on the default security group: nothing may use it by accident.
resource "aws_default_security_group" "deny_all" {
  vpc_id = aws_vpc.tre.id
}

resource "aws_subnet" "private" {
  count             = length(local.azs)
  vpc_id            = aws_vpc.tre.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(aws_vpc.tre.cidr_block, 4, count.index)
  tags              = { Name = "${var.name_prefix}-private-${local.azs[count.index]}" }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.tre.id
  tags   = { Name = "${var.name_prefix}-private" }
}

resource "aws_route_table_association" "private" {
  count          = length(aws_subnet.private)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "gateway" {
  for_each          = toset(["s3", "dynamodb"])
  vpc_id            = aws_vpc.tre.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name_prefix}-endpoints"
  description = "HTTPS from inside the VPC to the interface endpoints"
  vpc_id      = aws_vpc.tre.id
  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.tre.cidr_block]
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = aws_vpc.tre.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
}

resource "aws_security_group" "lambda" {
  name        = "${var.name_prefix}-lambda"
  description = "Lambdas: no inbound; HTTPS out to the VPC endpoints and gateway prefixes"
  vpc_id      = aws_vpc.tre.id
  egress {
    description = "HTTPS to the interface endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.tre.cidr_block]
  }
  egress {
    description     = "HTTPS to S3 and DynamoDB gateway endpoints"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [for e in aws_vpc_endpoint.gateway : e.prefix_list_id]
  }
}

resource "aws_flow_log" "vpc" {
  vpc_id               = aws_vpc.tre.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/tre/${var.name_prefix}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.tre.arn
}

resource "aws_iam_role" "flow_logs" {
  name = "${var.name_prefix}-vpc-flow-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow.arn}:*"
    }]
  })
}
