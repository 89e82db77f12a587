# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_resource_id" {
  type        = string
  description = "This review environment's id (a UUID); the notebook is named tre-nb-<id>, its role tre-nb-<id>-review."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_resource_id))
    error_message = "tre_resource_id must be a lower-case UUID (the TRE sets it)."
  }
}

variable "tre_workspace_id" {
  type        = string
  description = "The hosting workspace's id (a UUID)."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_workspace_id))
    error_message = "tre_workspace_id must be a lower-case UUID: aws-airlock-review runs in a workspace."
  }
}

variable "tre_tags" {
  type        = map(string)
  description = "Tags every resource carries."
}

variable "tre_workspace" {
  type        = any
  description = "The hosting workspace's properties, with the outputs of aws-workspace."
  validation {
    condition = alltrue([for k in ["private_subnet_ids", "workloads_security_group_id", "kms_key_arn"] :
    can(var.tre_workspace[k])])
    error_message = "tre_workspace must carry the outputs of an aws-workspace (private_subnet_ids, workloads_security_group_id, kms_key_arn): aws-airlock-review runs only in an aws-workspace."
  }
}

# Typed `any` so that a missing or partial value fails with this message rather than a type error.
variable "tre_airlock_review" {
  type        = any
  default     = null
  description = "The request under review (request_id, request_type, workspace_id, in_review = {bucket, prefix}); set by the TRE only on review environments."
  validation {
    condition = (
      can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_airlock_review.request_id)) &&
      can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_airlock_review.workspace_id)) &&
      try(contains(["import", "export"], var.tre_airlock_review.request_type), false) &&
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.tre_airlock_review.in_review.bucket)) &&
      try(endswith(var.tre_airlock_review.in_review.bucket, "-${var.tre_airlock_review.request_type}-in-review"), false) &&
      # Exactly the request's prefix: no wildcard, nothing wider than <workspace>/<request>/.
      try(var.tre_airlock_review.in_review.prefix == "${var.tre_airlock_review.workspace_id}/${var.tre_airlock_review.request_id}/", false)
    )
    error_message = "tre_airlock_review is missing or incomplete: aws-airlock-review is a review environment, deployed only by the TRE's review route (POST .../requests/{id}/review-user-resource), which sets request_id, request_type (import or export), workspace_id and in_review = {bucket = <prefix>-<type>-in-review, prefix = <workspace id>/<request id>/}."
  }
}

# Bundle parameters.

variable "instance_type" {
  type        = string
  default     = "ml.t3.medium"
  description = "The notebook's instance type."
  validation {
    condition     = contains(["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge"], var.instance_type)
    error_message = "instance_type must be one of ml.t3.medium, ml.t3.large, ml.t3.xlarge."
  }
}

variable "volume_size_gb" {
  type        = number
  default     = 20
  description = "Size of the notebook's ML storage volume (GiB), the reviewer's scratch space; it can grow, not shrink."
  validation {
    condition     = var.volume_size_gb >= 5 && var.volume_size_gb <= 1024 && floor(var.volume_size_gb) == var.volume_size_gb
    error_message = "volume_size_gb must be a whole number from 5 to 1024."
  }
}
