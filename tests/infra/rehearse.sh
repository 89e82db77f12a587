#!/usr/bin/env bash
# Rehearses the whole of infra/ against a moto server on loopback: init (offline, local state),
# validate, apply with infra/terraform.tfvars.example, a plan that must report no changes, a
# plan of a registry token key rotation, the teardown (apply with deletion_protection = false,
# then destroy), and a read-back through the AWS APIs that nothing is left. Prints each phase's
# duration. Nothing is written to the working tree: infra/ is copied into a temporary folder with
# tests/infra/moto_override.tf beside it.
#
# Environment (all optional):
#   MOTO_PORT        port of the moto server this script starts (default 5321; must be free)
#   TF_PLUGIN_MIRROR folder holding registry.terraform.io/hashicorp/aws (default /opt/tf-plugins)
#   TF_PLUGIN_CACHE  provider cache (default /tmp/tf-plugin-cache; init then links, not copies)
#   READBACK_JSON    where to write the applied Lambdas and their roles (default <work>/readback.json)
#   KEEP_WORK=1      keep the temporary folder (state, logs) at the end
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=$ROOT/.venv
PORT=${MOTO_PORT:-5321}
ENDPOINT=http://127.0.0.1:$PORT
WORK=$(mktemp -d /tmp/tre-infra-rehearsal.XXXXXX)
READBACK_JSON=${READBACK_JSON:-$WORK/readback.json}
MOTO_PID=

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then # what went wrong, from the logs of the phase that failed
    grep -h -A12 '^Error' "$WORK"/*.log 2>/dev/null | head -80 >&2 || true
    grep -h -A3 'Traceback\|Error:' "$WORK/moto.log" 2>/dev/null | tail -20 >&2 || true
  fi
  echo "== durations${RESOURCES:+ ($RESOURCES resources applied)}" >&2
  printf '%s\n' "${TIMINGS[@]}" >&2
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

declare -a TIMINGS=()
RESOURCES=
phase() { # phase <name> <command...>: runs the command, records its duration
  local name=$1 start end
  shift
  echo "== $name" >&2
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  TIMINGS+=("$(printf '%-14s %6.1f s' "$name" "$(echo "$end - $start" | bc)")")
}

# ---------- the environment every step gets ----------
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=eu-west-2
export AWS_ENDPOINT_URL=$ENDPOINT # for the aws CLI and boto3 read-backs (Terraform: the override)
mkdir -p "${TF_PLUGIN_CACHE:-/tmp/tf-plugin-cache}"
cat >"$WORK/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path = "${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
  }
}
plugin_cache_dir = "${TF_PLUGIN_CACHE:-/tmp/tf-plugin-cache}"
EOF
export TF_CLI_CONFIG_FILE=$WORK/terraformrc TF_IN_AUTOMATION=1 TF_INPUT=0
AWS="$VENV/bin/aws --endpoint-url $ENDPOINT"

# ---------- 1. moto ----------
start_moto() {
  # MOTO_IAM_LOAD_MANAGED_POLICIES: AWS managed policies exist (AWSLambdaVPCAccessExecutionRole).
  MOTO_PORT=$PORT MOTO_IAM_LOAD_MANAGED_POLICIES=true \
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "$ENDPOINT/moto-api/" && break
    sleep 0.1
  done
  curl -sf -o /dev/null "$ENDPOINT/moto-api/"
  # CloudFront distributions are Deployed at once (moto's default keeps them InProgress for a
  # read, which the provider waits out on create and again on delete).
  curl -sf -X POST "$ENDPOINT/moto-api/state-manager/set-transition" -H 'Content-Type: application/json' \
    -d '{"model_name": "cloudfront::distribution", "transition": {"progression": "immediate"}}' >/dev/null
}

# ---------- 2. what the tfvars example names but a rehearsal must make ----------
fixtures() {
  # The registry's certificate: a self-signed one for registry_domain, imported into ACM.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=registry.tre.example.org \
    -addext subjectAltName=DNS:registry.tre.example.org \
    -keyout "$WORK/registry.key" -out "$WORK/registry.crt" 2>/dev/null
  CERT_ARN=$($AWS acm import-certificate --certificate "fileb://$WORK/registry.crt" \
    --private-key "fileb://$WORK/registry.key" --query CertificateArn --output text)
  # Stand-in Lambda zips: <dir>/<function>/bootstrap.zip holding a file `bootstrap`.
  mkdir -p "$WORK/lambda"
  printf '#!/bin/sh\nexit 0\n' >"$WORK/bootstrap"
  chmod +x "$WORK/bootstrap"
  for f in "$ROOT"/functions/*/; do
    f=$(basename "$f")
    mkdir -p "$WORK/lambda/$f"
    (cd "$WORK" && zip -qX "lambda/$f/bootstrap.zip" bootstrap)
  done
  # infra/ with the override beside it; console/ and statemachines/ where infra/ looks (../).
  mkdir -p "$WORK/tree/infra"
  cp "$ROOT"/infra/*.tf "$ROOT"/infra/*.json "$ROOT"/infra/terraform.tfvars.example "$WORK/tree/infra/"
  ln -s "$ROOT/console" "$WORK/tree/console"
  ln -s "$ROOT/statemachines" "$WORK/tree/statemachines"
  sed "s#MOTO_ENDPOINT#$ENDPOINT#g" "$ROOT/tests/infra/moto_override.tf" >"$WORK/tree/infra/moto_override.tf"
}

phase moto start_moto
phase fixtures fixtures
cd "$WORK/tree/infra"
# GuardDuty is off by default (an account usually has its detector); the rehearsal turns it on
# to apply and read back the detector and its S3 protection too.
VARS=(-var-file=terraform.tfvars.example -var "lambda_artifacts_dir=$WORK/lambda" -var "registry_certificate_arn=$CERT_ARN" -var enable_guardduty=true)
# The provider waits out fixed delays (lifecycle rules: 55 s; load balancer: 60 s); many at once.
PAR=-parallelism=64

# ---------- 3. Terraform ----------
phase init terraform init -input=false -no-color >"$WORK/init.log"
phase validate terraform validate -no-color
phase apply terraform apply $PAR -auto-approve -no-color "${VARS[@]}" >"$WORK/apply.log"
grep -E '^Apply complete' "$WORK/apply.log"
RESOURCES=$(terraform state list | grep -vc '^data\.')
echo "resources in state: $RESOURCES"

plan_no_changes() {
  local rc=0
  terraform plan $PAR -detailed-exitcode -no-color "${VARS[@]}" >"$WORK/plan.log" || rc=$?
  if [ "$rc" != 0 ]; then
    grep -E '^  # |^Plan:|^Error' "$WORK/plan.log" || true
    echo "plan after apply: exit $rc (0 = no changes)" >&2
    return 1
  fi
  grep -E '^No changes' "$WORK/plan.log"
}
phase plan plan_no_changes

# ---------- 4. read-back of what was applied ----------
readback() {
  # tests/infra/rehearsal.py: shared with the Rust test (tests/tests/infra_rehearsal.rs).
  "$VENV/bin/python" "$ROOT/tests/infra/rehearsal.py" deployed --redact >"$READBACK_JSON"
  "$VENV/bin/python" - "$READBACK_JSON" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
for name, f in out["functions"].items():
    c = f["configuration"]
    print(f"{name}: handler={c['Handler']} runtime={c['Runtime']} role={c['Role']}")
    print(f"  env: {', '.join(sorted(c['Environment']['Variables']))}")
    print(f"  inline: {', '.join(f['role']['inline_policies'])}; attached: {', '.join(f['role']['attached_policies'])}")
EOF
  echo "read-back written to $READBACK_JSON"
}
phase readback readback

# Rotating the registry token key (registry.tf) replaces the secret's version and, with it,
# changes every Lambda's environment and the registry's task definition.
rotation_plan() {
  local rc=0
  terraform plan $PAR -detailed-exitcode -no-color "${VARS[@]}" -var registry_token_key_version=2 >"$WORK/rotate.log" || rc=$?
  [ "$rc" = 2 ]
  grep -q '# aws_secretsmanager_secret_version.registry_token_key must be replaced' "$WORK/rotate.log"
  grep -q '# aws_ecs_task_definition.registry must be replaced' "$WORK/rotate.log"
  for f in "$ROOT"/functions/*/; do
    grep -q "# aws_lambda_function.function\[\"$(basename "$f")\"\] will be updated in-place" "$WORK/rotate.log"
  done
  grep -E '^Plan:' "$WORK/rotate.log"
}
phase rotation-plan rotation_plan

# ---------- 5. teardown ----------
# As in a real account: turn deletion protection off (apply), then destroy. The state was just
# refreshed by the plans above, so neither refreshes it again.
phase unprotect terraform apply $PAR -refresh=false -auto-approve -no-color "${VARS[@]}" -var deletion_protection=false >"$WORK/unprotect.log"
grep -E '^Apply complete' "$WORK/unprotect.log"
# moto 5.2.5 answers 500 when it deletes a key holding a delete marker in a bucket whose
# versioning is suspended (FakeDeleteMarker has no dispose()): that happens when the console's
# files are deleted (leaving delete markers) before its bucket's versioning resource is destroyed
# (suspending it), an order Terraform leaves open. Suspending it first makes the order fixed.
phase destroy-1 terraform destroy $PAR -refresh=false -auto-approve -no-color "${VARS[@]}" -var deletion_protection=false \
  -target=aws_s3_bucket_versioning.console >"$WORK/destroy-1.log"
phase destroy terraform destroy $PAR -refresh=false -auto-approve -no-color "${VARS[@]}" -var deletion_protection=false >"$WORK/destroy.log"
grep -E '^Destroy complete' "$WORK/destroy.log"
[ -z "$(terraform state list)" ]

leftovers() {
  local left
  # moto 5.2.5 ignores DeleteTrail by ARN, which is how the provider deletes the trail
  # (tests/infra/rehearsal.py trail_gap says more): delete it by name first.
  "$VENV/bin/python" "$ROOT/tests/infra/rehearsal.py" trail-gap tre-tre
  left=$("$VENV/bin/python" "$ROOT/tests/infra/rehearsal.py" leftovers)
  if [ "$left" != "{}" ]; then
    echo "left behind after destroy: $left" >&2
    return 1
  fi
  echo "nothing left behind"
}
phase leftovers leftovers
