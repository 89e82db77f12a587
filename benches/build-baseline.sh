#!/usr/bin/env bash
# Build the `tre` binary of an earlier commit (release), to run beside this build with
# `TRE_BASELINE=<printed path> benches/run-api.sh`. The commit is checked out in a temporary
# worktree and built in a target directory of its own, so this tree's build is untouched.
# Usage: benches/build-baseline.sh <commit> [target dir, default target/baseline]
set -euo pipefail
cd "$(dirname "$0")/.."
commit="${1:?usage: benches/build-baseline.sh <commit> [target dir]}"
target="$(realpath -m "${2:-target/baseline}")"
work="$(mktemp -d)"
trap 'git worktree remove --force "$work" >/dev/null 2>&1 || rm -rf "$work"' EXIT
git worktree add --detach --quiet "$work" "$commit"
(cd "$work" && CARGO_TARGET_DIR="$target" cargo build --release --quiet -p tre-cli)
echo "$target/release/tre"
