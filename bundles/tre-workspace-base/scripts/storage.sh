#!/bin/sh
# Workspace storage on the local machine: a folder per workspace under TRE_STORAGE_ROOT.
set -eu
root="${TRE_STORAGE_ROOT:?TRE_STORAGE_ROOT is not set}"
dir="$root/workspaces/$TRE_RESOURCE_ID"
case "$1" in
  create)
    mkdir -p "$dir/shared" "$dir/users"
    # The storage key is sensitive: it reaches the step, never the API or the logs.
    [ -n "${TRE_PARAM_STORAGE_KEY:-}" ] && printf '%s' "$TRE_PARAM_STORAGE_KEY" > "$dir/.key" && chmod 600 "$dir/.key"
    printf '{"storage_path": "%s"}' "$dir" > "$TRE_OUTPUTS_FILE"
    ;;
  metadata)
    [ -d "$dir" ] || { echo "storage folder $dir is missing" >&2; exit 3; }
    printf 'name=%s\nquota_gb=%s\n' "$TRE_PARAM_DISPLAY_NAME" "$TRE_PARAM_STORAGE_QUOTA_GB" > "$dir/workspace.properties"
    # The data sources bound to the workspace, read-only (where a real bundle would mount them).
    printf '%s' "${TRE_PARAM_TRE_DATASOURCES:-[]}" > "$dir/datasources.json"
    printf '{"storage_path": "%s"}' "$dir" > "$TRE_OUTPUTS_FILE"
    ;;
  snapshot)
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    mkdir -p "$dir/snapshots"
    ls -R "$dir/shared" > "$dir/snapshots/$now.txt"
    printf '{"last_snapshot": "%s"}' "$now" > "$TRE_OUTPUTS_FILE"
    ;;
  remove)
    rm -rf "$dir"
    ;;
  *) echo "unknown command $1" >&2; exit 2 ;;
esac
