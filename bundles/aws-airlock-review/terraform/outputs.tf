output "notebook_name" {
  description = "The SageMaker notebook instance"
  value       = aws_sagemaker_notebook_instance.review.name
}

output "notebook_arn" {
  description = "Its ARN"
  value       = aws_sagemaker_notebook_instance.review.arn
}

output "notebook_url" {
  description = "The notebook's host; open it with a presigned URL (open_command)"
  value       = aws_sagemaker_notebook_instance.review.url
}

output "open_command" {
  description = "Gives a sign-in URL valid for 5 minutes; from inside the workspace its host resolves to the workspace's notebook endpoint"
  value       = "aws sagemaker create-presigned-notebook-instance-url --notebook-instance-name ${aws_sagemaker_notebook_instance.review.name} --region ${local.region}"
}

output "connection_uri" {
  description = "The AWS console page that signs the reviewer in to the notebook (what the TRE console links to)"
  value       = "https://${local.region}.console.aws.amazon.com/sagemaker/home?region=${local.region}#/notebook-instances/openNotebook/${aws_sagemaker_notebook_instance.review.name}?view=lab"
}

output "notebook_endpoint_dns" {
  description = "The workspace's SageMaker notebook endpoint the notebook is reached through inside the workspace"
  value       = try(var.tre_workspace.notebook_endpoint_dns, "")
}

output "role_arn" {
  description = "The notebook's role: read-only to the request's in-review files"
  value       = aws_iam_role.review.arn
}

output "review_files" {
  description = "The request's in-review files; a read-only copy is made in review/files at each start"
  value       = local.files
}

output "instance_type" {
  description = "The notebook's instance type"
  value       = aws_sagemaker_notebook_instance.review.instance_type
}
