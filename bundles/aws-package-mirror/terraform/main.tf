# The TRE's package mirror: a CodeArtifact domain (encrypted with a key of its own) with a PyPI and
# an npm repository, each pulling from the public registry on first use. Workspaces read it
# through their codeartifact.api/.repositories endpoints; nobody publishes to it.
#
# Deploy-time only: the AWS emulator the tests use (moto) has no CodeArtifact, so this bundle is
# checked by terraform validate, terraform fmt and checkov, not applied in tests.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  # Who may read: this account, or every account of the organization.
  readers = var.allowed_organization_id == "" ? {
    type        = "AWS"
    identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    org         = []
    } : {
    type        = "AWS"
    identifiers = ["*"]
    org         = [var.allowed_organization_id]
  }
  repositories = {
    pypi = "public:pypi"
    npm  = "public:npmjs"
  }
}

resource "aws_kms_key" "mirror" {
  description             = "TRE package mirror ${var.domain_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "mirror" {
  name          = "alias/tre-package-mirror-${var.domain_name}"
  target_key_id = aws_kms_key.mirror.key_id
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" is this key; the account-root statement is AWS's default key policy (use is delegated to IAM policies).
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" is this key, it cannot name its own ARN.
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key; only the account root (IAM) may manage it.
  # The account manages and uses the key through IAM policies; CodeArtifact uses it through
  # grants made by the principal that creates the domain.
  statement {
    sid       = "AccountThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
}

resource "aws_codeartifact_domain" "mirror" {
  domain         = var.domain_name
  encryption_key = aws_kms_key.mirror.arn
}

resource "aws_codeartifact_repository" "mirror" {
  for_each    = local.repositories
  repository  = each.key
  domain      = aws_codeartifact_domain.mirror.domain
  description = "Mirror of ${each.value} for the TRE's workspaces (read only)"
  external_connections {
    external_connection_name = each.value
  }
}

data "aws_iam_policy_document" "domain" {
  # checkov:skip=CKV_AWS_107:Handing out CodeArtifact read tokens (GetAuthorizationToken) to the TRE's workspaces is this policy's purpose; the repository policies let a token read, never publish.
  statement {
    sid       = "WorkspacesGetTokens"
    actions   = ["codeartifact:GetAuthorizationToken", "codeartifact:DescribeDomain", "codeartifact:ListRepositoriesInDomain"]
    resources = [aws_codeartifact_domain.mirror.arn]
    principals {
      type        = local.readers.type
      identifiers = local.readers.identifiers
    }
    dynamic "condition" {
      for_each = local.readers.org
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_codeartifact_domain_permissions_policy" "mirror" {
  domain          = aws_codeartifact_domain.mirror.domain
  policy_document = data.aws_iam_policy_document.domain.json
}

data "aws_iam_policy_document" "repository" {
  for_each = local.repositories
  statement {
    sid       = "WorkspacesRead"
    actions   = ["codeartifact:ReadFromRepository", "codeartifact:GetRepositoryEndpoint", "codeartifact:DescribeRepository", "codeartifact:DescribePackageVersion", "codeartifact:ListPackages", "codeartifact:ListPackageVersions", "codeartifact:ListPackageVersionAssets", "codeartifact:GetPackageVersionReadme"]
    resources = [aws_codeartifact_repository.mirror[each.key].arn]
    principals {
      type        = local.readers.type
      identifiers = local.readers.identifiers
    }
    dynamic "condition" {
      for_each = local.readers.org
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_codeartifact_repository_permissions_policy" "mirror" {
  for_each        = local.repositories
  domain          = aws_codeartifact_domain.mirror.domain
  repository      = aws_codeartifact_repository.mirror[each.key].repository
  policy_document = data.aws_iam_policy_document.repository[each.key].json
}

data "aws_codeartifact_repository_endpoint" "mirror" {
  for_each     = { pypi = "pypi", npm = "npm" }
  domain       = aws_codeartifact_domain.mirror.domain
  domain_owner = local.account
  repository   = aws_codeartifact_repository.mirror[each.key].repository
  format       = each.value
}
