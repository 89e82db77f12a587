terraform {
  required_version = ">= 1.10"

  # The bundle runner fills in bucket, key (<resource id>/<step name>.tfstate), region,
  # use_lockfile and encrypt.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

# Region and credentials come from the runner's environment.
provider "aws" {
  default_tags {
    tags = var.tre_tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# The role (not the session) that runs this apply: the one principal besides the workspace's own
# network that the bucket policy lets in, so that later upgrades and the uninstall still work.
data "aws_iam_session_context" "deployer" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  name      = "tre-ws-${var.tre_workspace_id}"
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  # Log groups of this workspace; workloads (VM session logs...) write under workloads/.
  log_prefix          = "/tre/${local.name}"
  workload_log_prefix = "${local.log_prefix}/workloads"
}
