#!/bin/sh
set -eu
dir="${TRE_STORAGE_ROOT:?}/shared-services/$TRE_RESOURCE_ID"
case "$1" in
  create)
    mkdir -p "$dir"
    printf 'upstream=%s\n' "$TRE_PARAM_UPSTREAM" > "$dir/mirror.properties"
    printf '{"mirror_path": "%s"}' "$dir" > "$TRE_OUTPUTS_FILE"
    ;;
  remove) rm -rf "$dir" ;;
esac
