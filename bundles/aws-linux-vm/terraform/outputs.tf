output "instance_id" {
  description = "The EC2 instance"
  value       = aws_instance.vm.id
}

output "connect_command" {
  description = "How to open a shell on the VM (Session Manager; needs the AWS CLI's session-manager-plugin)"
  value       = "aws ssm start-session --target ${aws_instance.vm.id} --document-name ${var.tre_workspace_service.session_document_name} --region ${data.aws_region.current.name}"
}

output "private_ip" {
  description = "The VM's address inside the workspace network"
  value       = aws_instance.vm.private_ip
}

output "instance_type" {
  description = "The instance type"
  value       = aws_instance.vm.instance_type
}

output "instance_state" {
  description = "running or stopped"
  value       = aws_ec2_instance_state.vm.state
}

output "ami_id" {
  description = "The image the VM started from"
  value       = aws_instance.vm.ami
}
