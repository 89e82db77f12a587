# Set by the TRE's bundle runner (TF_VAR_tre_*).

variable "tre_workspace_id" {
  type        = string
  description = "The workspace's id (a UUID); names every resource of the workspace."
  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tre_workspace_id))
    error_message = "tre_workspace_id must be a lower-case UUID (the TRE sets it)."
  }
}

variable "tre_tags" {
  type        = map(string)
  description = "Tags every resource carries (tre:workspace-id, tre:resource-id, tre:template)."
  validation {
    condition     = contains(keys(var.tre_tags), "tre:workspace-id")
    error_message = "tre_tags must carry tre:workspace-id (the TRE sets it)."
  }
}

variable "tre_airlock" {
  type = object({
    workspace_data = object({ bucket = string, prefix = string })
    export_staging = object({ bucket = string, prefix = string })
  })
  description = "The airlock's stores for this workspace: researchers read workspace_data's prefix (imports) and write export_staging's prefix."
  validation {
    condition = alltrue([
      for s in [var.tre_airlock.workspace_data, var.tre_airlock.export_staging] :
      length(s.bucket) > 0 && can(regex("^[^*?]+/$", s.prefix))
    ])
    error_message = "tre_airlock stores need a bucket and a prefix ending in '/' without wildcards (the TRE sets them)."
  }
  # The other stages' buckets (in review) are named alike: <prefix>-<stage>.
  validation {
    condition     = endswith(var.tre_airlock.workspace_data.bucket, "-workspace-data")
    error_message = "tre_airlock.workspace_data.bucket must be named <airlock bucket prefix>-workspace-data (the TRE sets it)."
  }
}

# Bundle parameters (TF_VAR_<parameter name>).

variable "address_space" {
  type        = string
  default     = "10.20.0.0/16"
  description = "The workspace VPC's CIDR: a private (RFC 1918) network of /16 to /24."
  validation {
    condition = can(regex(
      "^(10\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|172\\.(1[6-9]|2[0-9]|3[01])|192\\.168)(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){2}/(1[6-9]|2[0-4])$",
      var.address_space
    )) && try(cidrhost(var.address_space, 0) == split("/", var.address_space)[0], false)
    error_message = "address_space must be a private network address (10/8, 172.16/12 or 192.168/16) with a prefix of /16 to /24, e.g. 10.20.0.0/16; the address must be the network's first (10.20.0.0/16, not 10.20.1.0/16)."
  }
}

variable "flow_log_retention_days" {
  type        = number
  default     = 365
  description = "Days the VPC flow logs are kept."
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of CloudWatch Logs' retention periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "delete_data_on_uninstall" {
  type        = bool
  default     = false
  description = "Whether uninstalling deletes the workspace bucket with its objects. Off: an uninstall fails while the bucket holds data. Turn it on with an upgrade first."
}

variable "airlock_import_review" {
  type        = bool
  default     = false
  description = "Whether this is an import review workspace: its S3 endpoint also lets the review environments it hosts read the imports in review (their own roles say which request; the researcher role reads none)."
}
