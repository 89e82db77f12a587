#!/usr/bin/env bash
# Benchmark of the local stack: API latency/throughput under load (vs a bare axum server) and
# the cold start of an API Lambda binary (vs a minimal lambda_runtime binary). Release builds.
# Usage: benches/run-api.sh [requests] [concurrency] [cold-start runs]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tre-cli -p tre-benches -p api-meta -p api-workspaces
bin="${CARGO_TARGET_DIR:-target}/release"
echo "== API under load (tre dev vs bare axum)"
"$bin"/api-load "$bin"/tre "$bin"/peer-http "${1:-4000}" "${2:-32}"
echo "== Lambda cold start (api-meta with events/api-meta/health.json)"
"$bin"/cold-start "$bin"/api-meta "$bin"/peer-lambda events/api-meta/health.json "${3:-20}"
