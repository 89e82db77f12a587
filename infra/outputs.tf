output "api_url" {
  description = "Base URL of the TRE API (append /api/...)."
  value       = aws_apigatewayv2_stage.default.invoke_url
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
