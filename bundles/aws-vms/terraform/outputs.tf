output "session_document_name" {
  description = "The Session Manager document researchers connect to the VMs with (--document-name)"
  value       = aws_ssm_document.session.name
}

output "session_log_group_name" {
  description = "Where the session transcripts go"
  value       = aws_cloudwatch_log_group.sessions.name
}
