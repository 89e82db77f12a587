# Notification email (see README "Notifications"): the sender's SES identity, when one is set.
# SES mails the address a verification link; nothing is sent before someone follows it.
resource "aws_sesv2_email_identity" "notification" {
  count          = var.notification_sender != "" ? 1 : 0
  email_identity = var.notification_sender
}
