# A researcher's Linux VM in the workspace's first private subnet: no public address, no key pair
# and no inbound rule (Session Manager only), IMDSv2 only with a hop limit of 1, its root volume
# encrypted with the workspace key, acting as the workspace's researcher role.

data "aws_region" "current" {}

# Amazon Linux 2023's public parameter; read only when no image is named.
data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  subnet_ids = try(jsondecode(var.tre_workspace.private_subnet_ids), var.tre_workspace.private_subnet_ids)
  ami_id     = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  name       = "tre-vm-${var.tre_resource_id}"
  burstable  = startswith(var.instance_type, "t")
}

resource "aws_instance" "vm" {
  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_ids[0]
  vpc_security_group_ids      = [var.tre_workspace.workloads_security_group_id]
  iam_instance_profile        = var.tre_workspace.researcher_instance_profile_name
  associate_public_ip_address = false
  ebs_optimized               = true
  monitoring                  = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    kms_key_id            = var.tre_workspace.kms_key_arn
    delete_on_termination = true
  }

  # Burstable types bill CPU above their baseline when "unlimited" (AWS's default for T3):
  # keep them at their baseline instead.
  dynamic "credit_specification" {
    for_each = local.burstable ? [1] : []
    content {
      cpu_credits = "standard"
    }
  }

  # Volumes created at launch carry the TRE's tags too (default_tags reach only the instance).
  volume_tags = merge(var.tre_tags, { Name = local.name })

  tags = {
    Name = local.name
  }

  lifecycle {
    # A newer Amazon Linux release must not replace a researcher's VM at the next upgrade.
    ignore_changes = [ami]
  }
}

# The instance's network interface, made at launch, gets no tags from default_tags: tag it here.
resource "aws_ec2_tag" "interface" {
  for_each    = var.tre_tags
  resource_id = aws_instance.vm.primary_network_interface_id
  key         = each.key
  value       = each.value
}

resource "aws_ec2_instance_state" "vm" {
  instance_id = aws_instance.vm.id
  state       = var.instance_state

  lifecycle {
    # A change of instance type stops, resizes and starts the instance (the provider always starts
    # it again): set the wanted state anew after it, so that an upgrade of a stopped VM leaves it
    # stopped.
    replace_triggered_by = [aws_instance.vm.instance_type]
  }
}
