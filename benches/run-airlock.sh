#!/usr/bin/env bash
# A large import through the whole airlock of `tre dev` (release build): throughput of each
# phase and the peak memory of every process, beside the machine's sha256 speed and a plain
# file copy measured in the same run. Needs about 3x the size in free disk space.
# Usage: benches/run-airlock.sh [size in MiB, default 2048]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tre-cli -p tre-benches
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin"/airlock-stream "$bin"/tre "${1:-2048}"
