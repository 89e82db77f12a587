output "domain_name" {
  description = "The CodeArtifact domain (aws-notebooks' package_mirror_domain)"
  value       = aws_codeartifact_domain.mirror.domain
}

output "domain_owner" {
  description = "The account owning the domain"
  value       = aws_codeartifact_domain.mirror.owner
}

output "pypi_repository_name" {
  description = "The PyPI mirror repository (aws-notebooks' package_mirror_repository)"
  value       = aws_codeartifact_repository.mirror["pypi"].repository
}

output "npm_repository_name" {
  description = "The npm mirror repository"
  value       = aws_codeartifact_repository.mirror["npm"].repository
}

output "pypi_endpoint" {
  description = "The PyPI repository's endpoint (pip needs a token: see pip_login_command)"
  value       = data.aws_codeartifact_repository_endpoint.mirror["pypi"].repository_endpoint
}

output "npm_endpoint" {
  description = "The npm repository's endpoint (npm needs a token: see npm_login_command)"
  value       = data.aws_codeartifact_repository_endpoint.mirror["npm"].repository_endpoint
}

output "pip_login_command" {
  description = "Points pip at the mirror for 12 hours (run inside a workspace)"
  value       = "aws codeartifact login --tool pip --domain ${aws_codeartifact_domain.mirror.domain} --domain-owner ${aws_codeartifact_domain.mirror.owner} --repository ${aws_codeartifact_repository.mirror["pypi"].repository}"
}

output "npm_login_command" {
  description = "Points npm at the mirror for 12 hours (run inside a workspace)"
  value       = "aws codeartifact login --tool npm --domain ${aws_codeartifact_domain.mirror.domain} --domain-owner ${aws_codeartifact_domain.mirror.owner} --repository ${aws_codeartifact_repository.mirror["npm"].repository}"
}

output "kms_key_arn" {
  description = "The key the domain's packages are encrypted with"
  value       = aws_kms_key.mirror.arn
}
