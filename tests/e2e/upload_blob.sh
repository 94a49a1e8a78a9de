#!/usr/bin/env bash
# Uploads FILE as a blob of REPO with a plain two-step upload (POST, then PUT with
# ?digest=; distribution-spec "Pushing a blob monolithically"), deliberately without a
# cross-repository mount, so the server must receive the bytes again.
#
# Usage: upload_blob.sh BASE_URL REPO FILE     (BASE_URL like http://127.0.0.1:5000)
# Prints the HTTP status of the final PUT; exits non-zero on any other failure.
set -euo pipefail

base=${1:?base url}
repo=${2:?repository}
file=${3:?file}
digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"

headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
status=$(curl -sS -o /dev/null -D "$headers" -w '%{http_code}' -X POST \
  "$base/v2/$repo/blobs/uploads/")
if [ "$status" != 202 ]; then
  echo "POST $base/v2/$repo/blobs/uploads/ -> $status" >&2
  cat "$headers" >&2
  exit 1
fi
location=$(tr -d '\r' < "$headers" | sed -n 's/^[Ll]ocation: *//p' | head -n 1)
case "$location" in
  http://* | https://*) ;;
  /*) location="$base$location" ;;
  *) echo "POST returned no usable Location: '$location'" >&2; exit 1 ;;
esac
case "$location" in
  *\?*) location="$location&digest=$digest" ;;
  *) location="$location?digest=$digest" ;;
esac
curl -sS -o /dev/stderr -w '%{http_code}\n' -X PUT \
  -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location"
