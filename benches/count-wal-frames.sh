#!/usr/bin/env bash
# Count what a POST /api/workspaces costs the embedded store: WAL frames (pages) written and
# commits, per POST, over N sequential POSTs of the no-op workspace (its provisioning included),
# read off the writes of a running `tre dev` with strace (Debian's package). Counts vary far less
# with the machine's load than times do (only group commit's batching moves them a little), so
# two builds compare directly.
# Usage: benches/count-wal-frames.sh <tre binary> [POSTs, default 100]
set -euo pipefail
tre="$(realpath "${1:?usage: benches/count-wal-frames.sh <tre binary> [POSTs]}")"
n="${2:-100}"
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 2; }
data="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
api="http://127.0.0.1:$port"
"$tre" dev --quiet --registry-addr 127.0.0.1:0 --addr "127.0.0.1:$port" --data-dir "$data" \
  >"$data.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data" "$data.log" "$data.strace"' EXIT
for _ in $(seq 240); do curl -sf -o /dev/null "$api/api/health" && break; sleep 0.5; done
token="$("$tre" token admin --api "$api" --data-dir "$data")"
post() { curl -sf -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
post "$api/api/workspace-templates" -d '{"name": "bench-ws", "version": "1.0.0", "parameters":
  {"type": "object", "properties": {"display_name": {"type": "string", "updateable": true}}}}'
create() { post "$api/api/workspaces" -d '{"templateName": "bench-ws", "properties": {"display_name": "bench"}}'; }
for _ in $(seq 20); do create; done # warm up
sleep 1
# -xx: the 24-byte frame headers in hex (page number, then the database size on a commit frame).
strace -xx -s 8 -y -f -p "$pid" -e trace=pwrite64 -o "$data.strace" 2>/dev/null &
tracer=$!
sleep 1
for _ in $(seq "$n"); do create; done
sleep 2 # let the last provisioning finish
kill "$tracer"
wait "$tracer" 2>/dev/null || true
python3 - "$data.strace" "$n" <<'PY'
import re, sys
frames = commits = 0
wal = r"\x2d\x77\x61\x6c"  # "-wal", as strace -xx prints the path
for line in open(sys.argv[1]):
    m = re.search(r'pwrite64\(\d+<((?:\\x[0-9a-f]{2})+)>, "((?:\\x[0-9a-f]{2})+)"\.*, 24,', line)
    if m and m.group(1).endswith(wal):
        header = bytes(int(x, 16) for x in re.findall(r'\\x([0-9a-f]{2})', m.group(2)))
        frames += 1
        commits += int.from_bytes(header[4:8], "big") != 0
n = int(sys.argv[2])
print(f"WAL frames per POST {frames / n:.1f}, commits per POST {commits / n:.2f} ({n} POSTs)")
PY
