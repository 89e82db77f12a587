# The workspace's own network: private subnets in two zones, no internet gateway, no NAT. AWS
# services are reached through VPC endpoints (endpoints.tf) only.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:Two zones are chosen at install (the first two by name of those needing no opt-in); the subnets ignore later changes of this list, so a new or impaired zone never moves them.
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  zones = slice(sort(data.aws_availability_zones.available.names), 0, 2)
}

resource "aws_vpc" "workspace" {
  # checkov:skip=CKV2_AWS_11:Flow logs are enabled, by aws_flow_log.workspace (flow_logs.tf).
  cidr_block           = var.address_space
  enable_dns_support   = true
  enable_dns_hostnames = true # needed for the endpoints' private DNS names
  tags = {
    Name = local.name
  }
}

# The default security group allows nothing (nothing uses it).
resource "aws_default_security_group" "workspace" {
  vpc_id = aws_vpc.workspace.id
  tags = {
    Name = "${local.name}-default-unused"
  }
}

resource "aws_subnet" "private" {
  count                   = length(local.zones)
  vpc_id                  = aws_vpc.workspace.id
  availability_zone       = local.zones[count.index]
  cidr_block              = cidrsubnet(var.address_space, 2, count.index)
  map_public_ip_on_launch = false
  tags = {
    Name = "${local.name}-private-${local.zones[count.index]}"
  }
  lifecycle {
    # The zones are fixed at install: a change of the zone list must not replace a subnet.
    ignore_changes = [availability_zone, tags["Name"]]
  }
}

# One route table per subnet with the VPC's local route and the S3 gateway endpoint's route only.
resource "aws_route_table" "private" {
  count  = length(local.zones)
  vpc_id = aws_vpc.workspace.id
  tags = {
    Name = "${local.name}-private-${local.zones[count.index]}"
  }
}

resource "aws_route_table_association" "private" {
  count          = length(local.zones)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "VPC interface endpoints of workspace ${var.tre_workspace_id}: HTTPS from the workspace VPC only"
  vpc_id      = aws_vpc.workspace.id
  ingress {
    description = "HTTPS from the workspace VPC"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [aws_vpc.workspace.cidr_block]
  }
  # No egress rule: endpoints answer, they never start connections.
  tags = {
    Name = "${local.name}-endpoints"
  }
}

resource "aws_security_group" "workloads" {
  name        = "${local.name}-workloads"
  description = "Workloads (VMs, notebooks) of workspace ${var.tre_workspace_id}: no inbound; HTTPS to the VPC endpoints and S3 only"
  vpc_id      = aws_vpc.workspace.id
  egress {
    description = "HTTPS to the VPC interface endpoints"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [aws_vpc.workspace.cidr_block]
  }
  egress {
    description     = "HTTPS to S3 through the gateway endpoint"
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    prefix_list_ids = [aws_vpc_endpoint.s3.prefix_list_id]
  }
  tags = {
    Name = "${local.name}-workloads"
  }
}

# What AWS made with the VPC carries the TRE's tags too (default_tags reach only what this module
# creates): its main route table (unused: every subnet has its own) and its default network ACL.
resource "aws_ec2_tag" "vpc_defaults" {
  for_each = {
    for t in setproduct(["main-route-table", "default-network-acl"], keys(var.tre_tags)) :
    "${t[0]}/${t[1]}" => { what = t[0], key = t[1] }
  }
  resource_id = each.value.what == "main-route-table" ? aws_vpc.workspace.main_route_table_id : aws_vpc.workspace.default_network_acl_id
  key         = each.value.key
  value       = var.tre_tags[each.value.key]
}
