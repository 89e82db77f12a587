# What the notebooks of a workspace share: a lifecycle configuration that runs at each start. It
# writes a note on where data and packages are and, when the TRE's package mirror is named, points
# pip at it (a 12-hour CodeArtifact token, renewed at each start). It changes nothing else.

locals {
  subnet_ids = try(jsondecode(var.tre_workspace.private_subnet_ids), var.tre_workspace.private_subnet_ids)
  on_start = templatefile("${path.module}/on-start.sh.tftpl", {
    workspace_id   = var.tre_workspace_id
    bucket_name    = var.tre_workspace.bucket_name
    mirror_domain  = var.package_mirror_domain
    mirror_repo    = var.package_mirror_repository
    mirror_account = split(":", var.tre_workspace.kms_key_arn)[4]
  })
}

resource "aws_sagemaker_notebook_instance_lifecycle_configuration" "notebooks" {
  name     = "tre-nbs-${var.tre_resource_id}"
  on_start = base64encode(local.on_start)
}
