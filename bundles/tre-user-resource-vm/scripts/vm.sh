#!/bin/sh
set -eu
dir="${TRE_STORAGE_ROOT:?}/workspaces/${TRE_WORKSPACE_ID:?}/services/${TRE_PARENT_SERVICE_ID:?}/vms/$TRE_RESOURCE_ID"
case "$1" in
  create)
    mkdir -p "$dir"
    printf '%s\n' "$TRE_PARAM_SIZE" > "$dir/size"
    printf '{"vm_path": "%s", "size": "%s"}' "$dir" "$TRE_PARAM_SIZE" > "$TRE_OUTPUTS_FILE"
    ;;
  restart)
    # A real VM takes a while to come back; the delay lets tests interrupt a running action.
    sleep "${TRE_PARAM_RESTART_DELAY_SECONDS:-0}"
    date -u +%s > "$dir/restarted-at"
    printf '{"restarted_at": "%s"}' "$(cat "$dir/restarted-at")" > "$TRE_OUTPUTS_FILE"
    ;;
  remove) rm -rf "$dir" ;;
esac
