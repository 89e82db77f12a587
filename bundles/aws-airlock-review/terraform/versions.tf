terraform {
  required_version = ">= 1.10"

  # The bundle runner fills in bucket, key, region, use_lockfile and encrypt.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

provider "aws" {
  default_tags {
    tags = var.tre_tags
  }
}
