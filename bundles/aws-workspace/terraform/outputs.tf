# What the workspace's services and user resources build on (they get these as
# var.tre_workspace.<name>).

output "vpc_id" {
  description = "The workspace VPC"
  value       = aws_vpc.workspace.id
}

output "vpc_cidr" {
  description = "The workspace VPC's CIDR"
  value       = aws_vpc.workspace.cidr_block
}

output "private_subnet_ids" {
  description = "The private subnets, one per availability zone"
  value       = aws_subnet.private[*].id
}

output "availability_zones" {
  description = "The zones of private_subnet_ids, in the same order"
  value       = aws_subnet.private[*].availability_zone
}

output "workloads_security_group_id" {
  description = "The security group for VMs and notebooks: no inbound, HTTPS to the endpoints and S3 only"
  value       = aws_security_group.workloads.id
}

output "endpoints_security_group_id" {
  description = "The security group of the interface endpoints"
  value       = aws_security_group.endpoints.id
}

output "s3_endpoint_id" {
  description = "The S3 gateway endpoint: the only network the workspace bucket accepts"
  value       = aws_vpc_endpoint.s3.id
}

output "notebook_endpoint_dns" {
  description = "DNS name of the SageMaker notebook endpoint inside the VPC"
  value       = try(aws_vpc_endpoint.interface["sagemaker-notebook"].dns_entry[0].dns_name, "")
}

output "kms_key_arn" {
  description = "The workspace key"
  value       = aws_kms_key.workspace.arn
}

output "bucket_name" {
  description = "The workspace bucket"
  value       = aws_s3_bucket.workspace.id
}

output "researcher_role_arn" {
  description = "The role VMs and notebooks act as"
  value       = aws_iam_role.researcher.arn
}

output "researcher_role_name" {
  description = "Name of researcher_role_arn"
  value       = aws_iam_role.researcher.name
}

output "researcher_instance_profile_name" {
  description = "The instance profile of the researcher role, for VMs"
  value       = aws_iam_instance_profile.researcher.name
}

output "workload_log_prefix" {
  description = "Log groups under this prefix are encrypted with the workspace key and writable by the researcher role"
  value       = local.workload_log_prefix
}

output "flow_log_group_name" {
  description = "The VPC flow logs' log group"
  value       = aws_cloudwatch_log_group.flow_logs.name
}
