# Status messages from the runners; a message that fails maxReceiveCount times lands in the
# dead-letter queue, which raises an alarm.
resource "aws_sqs_queue" "status_dlq" {
  name                      = "${var.name_prefix}-status-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.tre.id
}

resource "aws_sqs_queue" "status" {
  name                       = "${var.name_prefix}-status"
  visibility_timeout_seconds = 180
  message_retention_seconds  = 345600
  kms_master_key_id          = aws_kms_key.tre.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.status_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.tre.id
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "status_dead_letters" {
  alarm_name          = "${var.name_prefix}-status-dead-letters"
  alarm_description   = "Status messages failed repeatedly and were dead-lettered: an operation may not have advanced."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.status_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
