#!/bin/sh
# A local review environment: a read-only copy of one airlock request's in-review files (the
# runner hands over a copy of exactly those) and a page listing them with their checksums.
set -eu
dir="${TRE_STORAGE_ROOT:?}/workspaces/${TRE_WORKSPACE_ID:?}/services/${TRE_PARENT_SERVICE_ID:?}/reviews/${TRE_RESOURCE_ID:?}"

remove() {
  if [ -e "$dir" ]; then
    chmod -R u+w "$dir"
    rm -rf "$dir"
  fi
}

html() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

case "$1" in
  create)
    : "${TRE_AIRLOCK_REVIEW_REQUEST_ID:?this template is only deployed by the airlock review route (POST .../requests/{id}/review-user-resource)}"
    src="${TRE_AIRLOCK_REVIEW_FILES:?the runner gave no copy of the request's files}"
    remove
    mkdir -p "$dir/files"
    find "$src" -mindepth 1 -maxdepth 1 -type f -exec cp {} "$dir/files/" \;
    count=0
    rows=""
    for f in "$dir/files"/*; do
      [ -f "$f" ] || continue
      count=$((count + 1))
      name=$(basename "$f" | html)
      size=$(wc -c <"$f" | tr -d ' ')
      rows="$rows<tr><td><a href=\"files/$name\">$name</a></td><td>$size</td><td><code>$(sha256 "$f")</code></td></tr>"
    done
    request=$(printf '%s' "$TRE_AIRLOCK_REVIEW_REQUEST_ID" | html)
    kind=$(printf '%s' "${TRE_AIRLOCK_REVIEW_TYPE:-}" | html)
    cat >"$dir/index.html" <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>Airlock review of $request</title></head>
<body><h1>Airlock review: $kind request $request</h1>
<p>A read-only copy of the request's files. Decide in the TRE console.</p>
<table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>$rows</table></body></html>
HTML
    # Nothing here may be changed: the reviewer reads, the airlock decides.
    chmod 0444 "$dir/index.html"
    find "$dir/files" -type f -exec chmod 0444 {} \;
    chmod 0555 "$dir/files" "$dir"
    printf '{"review_path": "%s", "connection_uri": "file://%s/index.html", "file_count": %s}' "$dir/files" "$dir" "$count" >"$TRE_OUTPUTS_FILE"
    ;;
  remove) remove ;;
esac
