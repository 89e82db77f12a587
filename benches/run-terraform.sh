#!/usr/bin/env bash
# What the TRE adds to a Terraform deployment: bundles/aws-workspace deployed through `tre dev`
# (release build) against moto server, beside a plain `terraform init` + `apply` of the same
# module in the same run. Needs Terraform on PATH, TRE_TERRAFORM_PLUGIN_DIR (a provider mirror;
# scripts/test finds one) and moto server in .venv (scripts/test installs it).
# Usage: benches/run-terraform.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TRE_TERRAFORM_PLUGIN_DIR:?set TRE_TERRAFORM_PLUGIN_DIR to the folder holding registry.terraform.io/hashicorp/aws}"
export TRE_MOTO_SERVER="${TRE_MOTO_SERVER:-$PWD/.venv/bin/moto_server}"
cargo build --release --quiet -p tre-cli -p tre-benches
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin"/terraform-deploy "$bin"/tre "${1:-3}"
