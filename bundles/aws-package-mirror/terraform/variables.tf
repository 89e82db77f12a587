# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_resource_id" {
  type        = string
  description = "This shared service's id (a UUID)."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_resource_id))
    error_message = "tre_resource_id must be a lower-case UUID (the TRE sets it)."
  }
}

variable "tre_tags" {
  type        = map(string)
  description = "Tags every resource carries."
}

# Bundle parameters.

variable "domain_name" {
  type        = string
  default     = "tre-packages"
  description = "The CodeArtifact domain (unique in the account and region)."
  validation {
    condition     = can(regex("^tre-[a-z0-9-]{0,45}[a-z0-9]$", var.domain_name))
    error_message = "domain_name must start with tre- (the bundle runner may manage only those domains), then up to 46 characters of a-z, 0-9 and -."
  }
}

variable "allowed_organization_id" {
  type        = string
  default     = ""
  description = "An AWS Organizations id (o-...) whose accounts may read the mirror; empty: this account only."
  validation {
    condition     = var.allowed_organization_id == "" || can(regex("^o-[a-z0-9]{10,32}$", var.allowed_organization_id))
    error_message = "allowed_organization_id must be an organization id (o-...) or empty."
  }
}
