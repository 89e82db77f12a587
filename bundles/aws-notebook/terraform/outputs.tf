output "notebook_name" {
  description = "The SageMaker notebook instance"
  value       = aws_sagemaker_notebook_instance.notebook.name
}

output "notebook_arn" {
  description = "Its ARN"
  value       = aws_sagemaker_notebook_instance.notebook.arn
}

output "notebook_url" {
  description = "The notebook's host; open it with a presigned URL (open_command)"
  value       = aws_sagemaker_notebook_instance.notebook.url
}

output "open_command" {
  description = "Gives a sign-in URL valid for 5 minutes; from inside the workspace its host resolves to the workspace's notebook endpoint"
  value       = "aws sagemaker create-presigned-notebook-instance-url --notebook-instance-name ${aws_sagemaker_notebook_instance.notebook.name} --region ${local.region}"
}

output "notebook_endpoint_dns" {
  description = "The workspace's SageMaker notebook endpoint the notebook is reached through inside the workspace"
  value       = try(var.tre_workspace.notebook_endpoint_dns, "")
}

output "instance_type" {
  description = "The notebook's instance type"
  value       = aws_sagemaker_notebook_instance.notebook.instance_type
}
