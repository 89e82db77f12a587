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
    error_message = "tre_workspace_id must be a lower-case UUID: aws-notebooks is a workspace service."
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
    condition = alltrue([for k in ["vpc_id", "private_subnet_ids", "workloads_security_group_id", "kms_key_arn", "bucket_name", "researcher_role_arn"] :
    can(var.tre_workspace[k])])
    error_message = "tre_workspace must carry the outputs of an aws-workspace (vpc_id, private_subnet_ids, workloads_security_group_id, kms_key_arn, bucket_name, researcher_role_arn): aws-notebooks runs only in an aws-workspace."
  }
}

# Bundle parameters.

variable "package_mirror_domain" {
  type        = string
  default     = ""
  description = "CodeArtifact domain of the TRE's package mirror (aws-package-mirror's domain_name); empty: pip is not configured."
  validation {
    condition     = can(regex("^([a-z][a-z0-9-]{1,48}[a-z0-9])?$", var.package_mirror_domain))
    error_message = "package_mirror_domain must be a CodeArtifact domain name (2-50 of a-z, 0-9, -) or empty."
  }
}

variable "package_mirror_repository" {
  type        = string
  default     = "pypi"
  description = "The mirror's PyPI repository (aws-package-mirror's pypi_repository_name)."
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$", var.package_mirror_repository))
    error_message = "package_mirror_repository must be a CodeArtifact repository name."
  }
}
