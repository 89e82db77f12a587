# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_resource_id" {
  type        = string
  description = "This service's id (a UUID)."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_resource_id))
    error_message = "tre_resource_id must be a lower-case UUID (the TRE sets it)."
  }
}

variable "tre_workspace_id" {
  type        = string
  description = "The workspace's id (a UUID)."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_workspace_id))
    error_message = "tre_workspace_id must be a lower-case UUID: aws-vms is a workspace service."
  }
}

variable "tre_tags" {
  type        = map(string)
  description = "Tags every resource carries."
}

variable "tre_workspace" {
  type        = any
  description = "The parent workspace's properties, with the outputs of aws-workspace."
  validation {
    condition = alltrue([for k in ["private_subnet_ids", "workloads_security_group_id", "kms_key_arn", "researcher_instance_profile_name", "workload_log_prefix"] :
    can(var.tre_workspace[k])])
    error_message = "tre_workspace must carry the outputs of an aws-workspace (private_subnet_ids, workloads_security_group_id, kms_key_arn, researcher_instance_profile_name, workload_log_prefix): aws-vms runs only in an aws-workspace."
  }
}

# Bundle parameters.

variable "idle_session_timeout_minutes" {
  type        = number
  default     = 20
  description = "Minutes without input after which Session Manager ends a session."
  validation {
    condition     = var.idle_session_timeout_minutes >= 1 && var.idle_session_timeout_minutes <= 60 && floor(var.idle_session_timeout_minutes) == var.idle_session_timeout_minutes
    error_message = "idle_session_timeout_minutes must be a whole number from 1 to 60."
  }
}

variable "session_log_retention_days" {
  type        = number
  default     = 365
  description = "Days the session transcripts are kept."
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.session_log_retention_days)
    error_message = "session_log_retention_days must be one of CloudWatch Logs' retention periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}
