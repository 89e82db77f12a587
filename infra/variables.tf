variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-2"
}

variable "name_prefix" {
  description = "Prefix of every resource name (lower case, digits and dashes)."
  type        = string
  default     = "tre"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 2-21 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "availability_zone_suffixes" {
  description = "Availability zones for the private subnets, as suffixes of the region (two or more)."
  type        = list(string)
  default     = ["a", "b"]
}

variable "oidc_issuer" {
  description = "OIDC issuer URL of the identity provider (e.g. https://keycloak.example.org/realms/tre or a Cognito user pool issuer)."
  type        = string
}

variable "oidc_audience" {
  description = "Audience (client id) the API's access tokens are issued for."
  type        = string
}

variable "oidc_roles_claim" {
  description = "Claim path holding TRE role names (e.g. roles, or realm_access.roles for Keycloak)."
  type        = string
  default     = "roles"
}

variable "oidc_groups_claim" {
  description = "Claim path holding group names (e.g. groups, or cognito:groups)."
  type        = string
  default     = "groups"
}

variable "oidc_group_roles" {
  description = "Optional group-to-role mapping, e.g. tre-admins=TREAdmin,tre-users=TREUser."
  type        = string
  default     = ""
}

variable "lambda_artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip as produced by `cargo lambda build --release --arm64 --output-format zip`."
  type        = string
  default     = "../target/lambda"
}

variable "log_retention_days" {
  description = "Retention of every log group, in days (a year by default: audit trails of a TRE are kept)."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to operational alarms (dead letters, errors)."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Guard the deployment's data against terraform destroy: the table and the registry's load balancer have deletion protection, and the buckets and image repositories refuse to go while they hold objects or images. To tear a deployment down, apply with false first, then destroy (with false)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "bundle_runner_image_tag" {
  description = "Tag of the bundle-runner image pushed to its ECR repository (tags are immutable: use the release version; see services/bundle-runner/Dockerfile)."
  type        = string
}

variable "bundle_runner_cpu" {
  description = "Fargate CPU units of a bundle step's task."
  type        = number
  default     = 512
}

variable "bundle_runner_memory" {
  description = "Fargate memory (MiB) of a bundle step's task."
  type        = number
  default     = 1024
}

variable "bundle_policy_arns" {
  description = "IAM policies the bundles' steps need in this account (what your bundles deploy); none by default."
  type        = list(string)
  default     = []
}

variable "airlock_runner_image_tag" {
  description = "Tag of the airlock-runner image pushed to its ECR repository (see services/airlock-runner/Dockerfile)."
  type        = string
}

variable "clamav_image" {
  description = "An image running clamd (e.g. clamav/clamav, mirrored to your ECR) to scan airlock files beside the policy scanner; empty: the policy scanner only. It downloads signatures at start, so the tasks need a route to the ClamAV mirrors or a mirror of your own."
  type        = string
  default     = ""
}

variable "console_client_id" {
  description = "OAuth client id of the web console at the identity provider (a public client: authorization code with PKCE, no secret). Its redirect URI is the console_url output."
  type        = string
}

variable "console_scope" {
  description = "Scopes the console asks for when it signs users in."
  type        = string
  default     = "openid profile email"
}

variable "console_domain" {
  description = "Optional custom domain of the console (e.g. tre.example.org); needs console_certificate_arn."
  type        = string
  default     = ""
}

variable "console_certificate_arn" {
  description = "ACM certificate (in us-east-1, as CloudFront requires) for console_domain."
  type        = string
  default     = ""
  validation {
    condition     = var.console_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.console_certificate_arn))
    error_message = "console_certificate_arn must be an ACM certificate in us-east-1 (CloudFront's region)."
  }
}

variable "registry_domain" {
  description = "DNS name of the OCI registry (point it at the registry_load_balancer_dns_name output), e.g. registry.tre.example.org."
  type        = string
}

variable "registry_certificate_arn" {
  description = "ACM certificate for registry_domain, in the deployment's region (the load balancer terminates TLS with it)."
  type        = string
}

variable "registry_allowed_cidrs" {
  description = "Networks that may reach the registry's load balancer (HTTPS). Every request still needs a token."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "registry_image_tag" {
  description = "Tag of the registry image pushed to the registry ECR repository."
  type        = string
}

variable "registry_service_name" {
  description = "The registry's name in its tokens (the `service` of its challenges)."
  type        = string
  default     = "tre-registry"
}

variable "registry_redirect_seconds" {
  description = "When above 0, blob pulls are redirected to pre-signed S3 links of this lifetime (clients then need a route to S3); 0 streams them through the registry."
  type        = number
  default     = 0
}

variable "registry_token_key_version" {
  description = "Generation of the registry token key: raise it (and apply) to rotate the key the API and the registry share."
  type        = number
  default     = 1
}

variable "registry_cpu" {
  description = "CPU units of a registry task."
  type        = number
  default     = 512
}

variable "registry_memory" {
  description = "Memory (MiB) of a registry task."
  type        = number
  default     = 1024
}

variable "registry_desired_count" {
  description = "Registry tasks to run (2 for one per zone)."
  type        = number
  default     = 2
}

variable "api_domain" {
  description = "Optional custom domain of the API (e.g. api.tre.example.org); point it at the api_domain_target output."
  type        = string
  default     = ""
}

variable "api_certificate_arn" {
  description = "ACM certificate for api_domain, in the deployment's region."
  type        = string
  default     = ""
}

variable "datasource_source_buckets" {
  description = "S3 buckets data sources of type s3 may be imported from (the airlock runner may read their objects, nothing else)."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "Give the private subnets a NAT gateway, so data source imports reach systems outside AWS (≈ $33 per month plus data)."
  type        = bool
  default     = false
}

variable "datasource_egress_cidrs" {
  description = "Networks data source imports may connect to (with enable_nat_gateway)."
  type        = list(string)
  default     = []
}

variable "datasource_egress_ports" {
  description = "Ports data source imports may connect to (https, PostgreSQL)."
  type        = list(number)
  default     = [443, 5432]
}

variable "review_sweep_minutes" {
  description = "How often (minutes) airlock review environments whose request left review are looked for and removed, if their removal at the decision was cut short or failed."
  type        = number
  default     = 5
  validation {
    condition     = var.review_sweep_minutes >= 1 && var.review_sweep_minutes <= 60 && floor(var.review_sweep_minutes) == var.review_sweep_minutes
    error_message = "review_sweep_minutes must be a whole number from 1 to 60."
  }
}

variable "audit_retention_days" {
  description = "Days every archived audit event is kept under Object Lock in compliance mode (no one, the account's root included, can delete or change it sooner; it cannot be shortened for what is archived). Seven years by default."
  type        = number
  default     = 2555
  validation {
    condition     = var.audit_retention_days > 0 && floor(var.audit_retention_days) == var.audit_retention_days
    error_message = "audit_retention_days must be a whole number of days above 0."
  }
}

variable "enable_cloudtrail" {
  description = "Create a CloudTrail trail (all regions, log file validation) of management events and the object-level events of the airlock, workspace and audit archive buckets, into a bucket of its own under Object Lock."
  type        = bool
  default     = true
}

variable "cloudtrail_retention_days" {
  description = "Days every CloudTrail log file is kept under Object Lock in compliance mode (with enable_cloudtrail). Seven years by default."
  type        = number
  default     = 2555
  validation {
    condition     = var.cloudtrail_retention_days > 0 && floor(var.cloudtrail_retention_days) == var.cloudtrail_retention_days
    error_message = "cloudtrail_retention_days must be a whole number of days above 0."
  }
}

variable "enable_guardduty" {
  description = "Create a GuardDuty detector in this account and region. Off by default: an account has at most one per region, usually made by its security team or organisation."
  type        = bool
  default     = false
}

variable "enable_guardduty_s3_protection" {
  description = "With enable_guardduty: turn on GuardDuty's S3 protection (S3_DATA_EVENTS) on the detector."
  type        = bool
  default     = true
}

variable "notification_sender" {
  description = "Address notification email is sent from: an SES email identity this deployment creates (the address must confirm SES's verification mail before anything is sent). Empty: notifications are only listed in the API and the console, never emailed."
  type        = string
  default     = ""
  validation {
    condition     = var.notification_sender == "" || can(regex("^[^\\s<>,;\"@]+@[^\\s<>,;\"@]+$", var.notification_sender))
    error_message = "notification_sender must be empty or one plain address (local@domain)."
  }
}
