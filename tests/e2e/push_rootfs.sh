#!/usr/bin/env bash
# Pushes a root filesystem tar as a one-layer image, the way a base image such as
# debian:bookworm-slim is made: the tar itself is the layer (uncompressed, media type
# application/vnd.oci.image.layer.v1.tar, so its digest is its diff_id), with a config
# that sets PATH and CMD ["bash"] as Debian's images do. Plain distribution API calls:
# the blob is streamed from the file (POST, then PUT ?digest=), then config and manifest.
#
# Usage: push_rootfs.sh BASE_URL REPO TAG ROOTFS.tar     (BASE_URL like http://127.0.0.1:5000)
# Prints the manifest digest (sha256:...) on stdout.
set -euo pipefail

base=${1:?base url}
repo=${2:?repository}
tag=${3:?tag}
rootfs=${4:?rootfs tar}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# upload FILE: a monolithic upload (distribution-spec "POST then PUT"), streamed with -T.
upload() {
  local file=$1 digest status location
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  status=$(curl -sS -o /dev/null -D "$work/headers" -w '%{http_code}' -X POST \
    "$base/v2/$repo/blobs/uploads/")
  [ "$status" = 202 ] || { echo "POST blobs/uploads/ -> $status" >&2; exit 1; }
  location=$(tr -d '\r' <"$work/headers" | sed -n 's/^[Ll]ocation: *//p' | head -n 1)
  case "$location" in /*) location="$base$location" ;; esac
  case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
  status=$(curl -sS -o "$work/reply" -w '%{http_code}' -T "$file" \
    -H 'Content-Type: application/octet-stream' "$location")
  [ "$status" = 201 ] || { echo "PUT $file -> $status: $(cat "$work/reply")" >&2; exit 1; }
  echo "$digest $(stat -c %s "$file")"
}

# Command substitutions, not < <(...): set -e must see a failed upload.
layer=$(upload "$rootfs")
read -r layer_digest layer_size <<<"$layer"
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"push_rootfs.sh %s"}]}' \
  "$layer_digest" "$(basename "$rootfs")" >"$work/config.json"
config=$(upload "$work/config.json")
read -r config_digest config_size <<<"$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
status=$(curl -sS -o "$work/reply" -w '%{http_code}' -X PUT \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$work/manifest.json" "$base/v2/$repo/manifests/$tag")
[ "$status" = 201 ] || { echo "PUT manifest -> $status: $(cat "$work/reply")" >&2; exit 1; }
echo "sha256:$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
