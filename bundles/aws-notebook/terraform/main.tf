# A researcher's SageMaker notebook in the workspace's first private subnet: no direct internet
# access, no root, IMDSv2 only, its storage volume encrypted with the workspace key, acting as the
# workspace's researcher role. Start and stop are custom actions (scripts/notebook-state.sh):
# Terraform has no attribute for a notebook's state, and leaves it as it finds it.

locals {
  subnet_ids = try(jsondecode(var.tre_workspace.private_subnet_ids), var.tre_workspace.private_subnet_ids)
  # SageMaker reports the key as it was given: the key id, as in the provider's own tests.
  kms_key_id = element(split("/", var.tre_workspace.kms_key_arn), 1)
  region     = split(":", var.tre_workspace.kms_key_arn)[3]
  name       = "tre-nb-${var.tre_resource_id}"
}

resource "aws_sagemaker_notebook_instance" "notebook" {
  # checkov:skip=CKV2_AWS_68:The role is the workspace's researcher role (aws-workspace), scoped to the workspace and held by a permission boundary; it is not in this module for the check to follow.
  name                   = local.name
  instance_type          = var.instance_type
  volume_size            = var.volume_size_gb
  role_arn               = var.tre_workspace.researcher_role_arn
  subnet_id              = local.subnet_ids[0]
  security_groups        = [var.tre_workspace.workloads_security_group_id]
  kms_key_id             = local.kms_key_id
  direct_internet_access = "Disabled"
  root_access            = "Disabled"
  lifecycle_config_name  = var.tre_workspace_service.lifecycle_config_name
  instance_metadata_service_configuration {
    minimum_instance_metadata_service_version = "2"
  }
  tags = {
    Name = local.name
  }
}
