output "lifecycle_config_name" {
  description = "The lifecycle configuration every notebook of this service starts with"
  value       = aws_sagemaker_notebook_instance_lifecycle_configuration.notebooks.name
}

output "lifecycle_config_arn" {
  description = "Its ARN"
  value       = aws_sagemaker_notebook_instance_lifecycle_configuration.notebooks.arn
}

output "notebook_subnet_id" {
  description = "The subnet notebooks are placed in (the workspace's first private subnet)"
  value       = local.subnet_ids[0]
}

output "notebook_security_group_id" {
  description = "The security group notebooks use (the workspace's workloads group)"
  value       = var.tre_workspace.workloads_security_group_id
}
