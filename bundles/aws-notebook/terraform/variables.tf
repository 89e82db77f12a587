# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_resource_id" {
  type        = string
  description = "This notebook's id (a UUID); the notebook is named tre-nb-<id>."
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
    condition = alltrue([for k in ["private_subnet_ids", "workloads_security_group_id", "kms_key_arn", "researcher_role_arn"] :
    can(var.tre_workspace[k])])
    error_message = "tre_workspace must carry the outputs of an aws-workspace (private_subnet_ids, workloads_security_group_id, kms_key_arn, researcher_role_arn): aws-notebook runs only in an aws-workspace."
  }
}

variable "tre_workspace_service" {
  type        = any
  description = "The parent service's properties, with the outputs of aws-notebooks."
  validation {
    condition     = can(var.tre_workspace_service.lifecycle_config_name)
    error_message = "tre_workspace_service must carry lifecycle_config_name: aws-notebook's parent service is aws-notebooks."
  }
}

# Bundle parameters.

variable "instance_type" {
  type        = string
  default     = "ml.t3.medium"
  description = "The notebook's instance type; a change stops the notebook, resizes it and starts it again if it was running."
  validation {
    condition     = contains(["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge", "ml.t3.2xlarge", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.c5.xlarge", "ml.c5.2xlarge"], var.instance_type)
    error_message = "instance_type must be one of ml.t3.medium, ml.t3.large, ml.t3.xlarge, ml.t3.2xlarge, ml.m5.xlarge, ml.m5.2xlarge, ml.m5.4xlarge, ml.c5.xlarge, ml.c5.2xlarge."
  }
}

variable "volume_size_gb" {
  type        = number
  default     = 20
  description = "Size of the notebook's ML storage volume (GiB); it can grow, not shrink."
  validation {
    condition     = var.volume_size_gb >= 5 && var.volume_size_gb <= 1024 && floor(var.volume_size_gb) == var.volume_size_gb
    error_message = "volume_size_gb must be a whole number from 5 to 1024."
  }
}
