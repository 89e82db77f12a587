#!/usr/bin/env bash
# Benchmarks of the local stack (release builds): API latency/throughput under load (vs a bare
# axum server), provisioning overhead and bursts (vs the bundle runner alone, one at a time and
# at the machine's ceiling), and the cold start of an API Lambda binary (vs a minimal
# lambda_runtime binary).
# Usage: benches/run-api.sh [requests] [concurrency] [cold-start runs] [sequential ops] [burst sizes, e.g. 100,1000]
# With TRE_BASELINE=<path to another tre binary> (e.g. built by benches/build-baseline.sh from an
# earlier commit), it first runs this build and that one side by side (benches/src/bin/api-compare.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tre-cli -p tre-benches -p api-meta -p api-workspaces
bin="${CARGO_TARGET_DIR:-target}/release"
if [ -n "${TRE_BASELINE:-}" ]; then
  echo "== This build (A) beside the baseline (B), alternating rounds"
  "$bin"/api-compare "$bin"/tre "$TRE_BASELINE" "${TRE_COMPARE_POSTS:-1000}" "${2:-32}" "${TRE_COMPARE_ROUNDS:-3}"
fi
echo "== API under load (tre dev vs bare axum)"
"$bin"/api-load "$bin"/tre "$bin"/peer-http "${1:-4000}" "${2:-32}"
echo "== Provisioning (tre dev, no-op bundle; peer: the bundle runner alone)"
"$bin"/provision "$bin"/tre "${4:-50}" "${5:-100,1000}"
echo "== Lambda cold start (api-meta with events/api-meta/health.json)"
"$bin"/cold-start "$bin"/api-meta "$bin"/peer-lambda events/api-meta/health.json "${3:-20}"
