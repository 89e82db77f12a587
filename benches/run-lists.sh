#!/usr/bin/env bash
# List pages at scale (release builds): N workspaces (each with a service and a user resource)
# seeded into the embedded store, then served by `tre dev`; first-page p99 of GET
# /api/workspaces for an admin and for a researcher holding one role, and a full walk of all
# pages, each side by side with the same on 100 workspaces (the peer, in the same run).
# Usage: benches/run-lists.sh [workspace counts, e.g. 100,10000] [requests per figure]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p tre-cli -p tre-benches
bin="${CARGO_TARGET_DIR:-target}/release"
echo "== List pages (tre dev on a seeded embedded store; peer: the same lists on 100 workspaces)"
"$bin"/list-pages "$bin"/tre "${1:-100,10000}" "${2:-300}"
