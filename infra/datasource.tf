# Egress for data source imports: the airlock runner fetches from systems outside AWS's APIs
# (https servers, PostgreSQL). The private subnets have no route out by default; with
# enable_nat_gateway one NAT gateway (in the first public subnet) gives them one, and the tasks'
# security group opens only datasource_egress_ports to datasource_egress_cidrs.

resource "aws_eip" "nat" {
  count  = var.enable_nat_gateway ? 1 : 0
  domain = "vpc"
  tags   = { Name = "${var.name_prefix}-nat" }
}

resource "aws_nat_gateway" "tre" {
  count         = var.enable_nat_gateway ? 1 : 0
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = { Name = "${var.name_prefix}-nat" }
  depends_on    = [aws_internet_gateway.tre]
}

resource "aws_route" "private_egress" {
  count                  = var.enable_nat_gateway ? 1 : 0
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.tre[0].id
}
