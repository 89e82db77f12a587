# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_resource_id" {
  type        = string
  description = "This VM's id (a UUID); the VM is named tre-vm-<id>."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_resource_id))
    error_message = "tre_resource_id must be a lower-case UUID (the TRE sets it)."
  }
}

variable "tre_tags" {
  type        = map(string)
  description = "Tags every resource carries."
}

variable "tre_workspace" {
  type        = any
  description = "The workspace's properties, with the outputs of aws-workspace."
  validation {
    condition = alltrue([for k in ["private_subnet_ids", "workloads_security_group_id", "kms_key_arn", "researcher_instance_profile_name"] :
    can(var.tre_workspace[k])])
    error_message = "tre_workspace must carry the outputs of an aws-workspace (private_subnet_ids, workloads_security_group_id, kms_key_arn, researcher_instance_profile_name): aws-linux-vm runs only in an aws-workspace."
  }
}

variable "tre_workspace_service" {
  type        = any
  description = "The parent service's properties, with the outputs of aws-vms."
  validation {
    condition     = can(var.tre_workspace_service.session_document_name)
    error_message = "tre_workspace_service must carry session_document_name: aws-linux-vm's parent service is aws-vms."
  }
}

# Bundle parameters.

variable "instance_type" {
  type        = string
  default     = "t3.medium"
  description = "The VM's instance type (x86_64); a change stops the VM, resizes it in place and starts it again if it was running."
  validation {
    condition     = contains(["t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge", "m6i.large", "m6i.xlarge", "m6i.2xlarge", "m6i.4xlarge", "r6i.large", "r6i.xlarge", "r6i.2xlarge", "c6i.large", "c6i.xlarge", "c6i.2xlarge"], var.instance_type)
    error_message = "instance_type must be one of t3.small, t3.medium, t3.large, t3.xlarge, t3.2xlarge, m6i.large, m6i.xlarge, m6i.2xlarge, m6i.4xlarge, r6i.large, r6i.xlarge, r6i.2xlarge, c6i.large, c6i.xlarge, c6i.2xlarge."
  }
}

variable "root_volume_size_gb" {
  type        = number
  default     = 30
  description = "Size of the encrypted root volume (GiB); it can grow in place, not shrink."
  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 2048 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "root_volume_size_gb must be a whole number from 8 to 2048."
  }
}

variable "ami_id" {
  type        = string
  default     = ""
  description = "The image to start from; empty: the latest Amazon Linux 2023 (x86_64) at install time."
  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id (ami-...) or empty."
  }
}

# Set by the start and stop actions (the runner keeps the last value for later upgrades).
variable "instance_state" {
  type        = string
  default     = "running"
  description = "running or stopped."
  validation {
    condition     = contains(["running", "stopped"], var.instance_state)
    error_message = "instance_state must be running or stopped."
  }
}
