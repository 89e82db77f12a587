#!/bin/sh
set -eu
dir="${TRE_STORAGE_ROOT:?}/workspaces/${TRE_WORKSPACE_ID:?}/services/$TRE_RESOURCE_ID"
case "$1" in
  create|configure)
    mkdir -p "$dir"
    printf 'image=%s\nname=%s\n' "$TRE_PARAM_IMAGE" "$TRE_PARAM_DISPLAY_NAME" > "$dir/service.properties"
    printf '{"service_path": "%s", "notebook_url": "https://notebooks.tre.localhost/%s"}' "$dir" "$TRE_RESOURCE_ID" > "$TRE_OUTPUTS_FILE"
    ;;
  remove) rm -rf "$dir" ;;
esac
