output "api_url" {
  description = "Base URL of the TRE API (append /api/...)."
  value       = local.api_url
}

output "table_name" {
  description = "The DynamoDB table."
  value       = aws_dynamodb_table.tre.name
}

output "status_queue_url" {
  description = "The status queue the runners report to."
  value       = aws_sqs_queue.status.url
}

output "status_dead_letter_queue_url" {
  description = "Where status messages end after repeated failures (alarmed)."
  value       = aws_sqs_queue.status_dlq.url
}

output "state_machine_arns" {
  description = "The deployed state machines, by file name under statemachines/."
  value       = { for k, m in aws_sfn_state_machine.machine : k => m.arn }
}

output "bundle_runner_repository_url" {
  description = "Push the bundle-runner image here (tag = var.bundle_runner_image_tag)."
  value       = aws_ecr_repository.runner["bundle-runner"].repository_url
}

output "ecs_cluster_arn" {
  description = "The cluster bundle steps run in."
  value       = aws_ecs_cluster.tre.arn
}

output "airlock_runner_repository_url" {
  description = "Push the airlock-runner image here (tag = var.airlock_runner_image_tag)."
  value       = aws_ecr_repository.runner["airlock-runner"].repository_url
}

output "airlock_buckets" {
  description = "The airlock's stage buckets."
  value       = { for k, b in aws_s3_bucket.airlock : k => b.bucket }
}

output "console_url" {
  description = "The web console. Register it as a redirect URI of the console's client (console_client_id) at the identity provider."
  value       = local.console_url
}

output "registry_url" {
  description = "The OCI registry (tre bundle push, docker, skopeo, oras)."
  value       = local.registry_url
}

output "registry_load_balancer_dns_name" {
  description = "Point registry_domain (CNAME or alias) here."
  value       = aws_lb.registry.dns_name
}

output "registry_repository_url" {
  description = "Push the registry image here (tag = var.registry_image_tag)."
  value       = aws_ecr_repository.registry.repository_url
}

output "api_domain_target" {
  description = "Where api_domain's DNS record points (when api_domain is set)."
  value       = var.api_domain != "" ? aws_apigatewayv2_domain_name.api[0].domain_name_configuration[0].target_domain_name : null
}

output "bundle_state_bucket" {
  description = "Where bundles keep their state (TRE_BUNDLE_STATE_BUCKET in every step)."
  value       = aws_s3_bucket.bundle_state.bucket
}

output "audit_archive_bucket" {
  description = "Where audit events are archived (audit/<chain>/<sequence>.json), under Object Lock in compliance mode."
  value       = aws_s3_bucket.audit_archive.id
}

output "cloudtrail_bucket" {
  description = "Where the trail writes its log files (with enable_cloudtrail), under Object Lock in compliance mode."
  value       = var.enable_cloudtrail ? aws_s3_bucket.trail[0].id : null
}
