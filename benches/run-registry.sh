#!/usr/bin/env bash
# Our OCI registry beside CNCF Distribution (Debian's docker-registry) on the same machine and
# disk in the same run: push and pull throughput of a large blob and of many small ones, peak
# RSS, and the machine's sha256 speed as the ceiling. Needs docker-registry installed
# (apt-get install docker-registry) and about 3x the large blob's size in free disk space.
# Usage: benches/run-registry.sh [large blob MiB, default 1024] [small blobs, default 1000] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
distribution=$(command -v docker-registry || true)
[ -n "$distribution" ] || { echo "docker-registry not found: apt-get install docker-registry" >&2; exit 1; }
cargo build --release --quiet -p tre-registry -p tre-benches
bin="${CARGO_TARGET_DIR:-target}/release"
TMPDIR="${TMPDIR:-$PWD/target}" "$bin"/registry-bench "$bin"/tre-registry "$distribution" "${1:-1024}" "${2:-1000}" "${3:-3}"
