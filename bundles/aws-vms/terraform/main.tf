# What the VMs of a workspace share: the Session Manager preferences researchers connect with
# (a session document: transcripts streamed to a log group encrypted with the workspace key, an
# idle timeout) and that log group.

locals {
  name = "tre-vms-${var.tre_resource_id}"
}

resource "aws_cloudwatch_log_group" "sessions" {
  name              = "${var.tre_workspace.workload_log_prefix}/ssm-sessions-${var.tre_resource_id}"
  retention_in_days = var.session_log_retention_days
  kms_key_id        = var.tre_workspace.kms_key_arn
}

resource "aws_ssm_document" "session" {
  name            = "${local.name}-session"
  document_type   = "Session"
  document_format = "JSON"
  content = jsonencode({
    schemaVersion = "1.0"
    description   = "Sessions on the VMs of TRE workspace ${var.tre_workspace_id}: transcripts to ${aws_cloudwatch_log_group.sessions.name}"
    sessionType   = "Standard_Stream"
    inputs = {
      cloudWatchLogGroupName      = aws_cloudwatch_log_group.sessions.name
      cloudWatchEncryptionEnabled = true
      cloudWatchStreamingEnabled  = true
      s3BucketName                = ""
      s3EncryptionEnabled         = true
      idleSessionTimeout          = tostring(var.idle_session_timeout_minutes)
      runAsEnabled                = false
      shellProfile = {
        linux   = "cd ~ && exec bash -l"
        windows = ""
      }
    }
  })
}
