#!/usr/bin/env bash
# Writes an OCI image layout (image-spec v1.1 "image-layout.md") at $1 holding one
# image index, tagged $2, that references two platform manifests (linux/amd64 and
# linux/arm64). Each platform has its own config and its own small gzip layer, so the
# copy test sees six distinct blobs plus the index. Everything is built from local
# files: no network, no base image. Output is deterministic for a given busybox.
#
# Usage: make_oci_layout.sh LAYOUT_DIR TAG
# Prints the index digest (sha256:...) on stdout.
set -euo pipefail

layout=${1:?layout dir}
tag=${2:?tag}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$layout/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

# put_blob FILE -> prints "sha256:HEX SIZE" and stores FILE under blobs/sha256/HEX.
put_blob() {
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  cp "$1" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

manifests=""
for arch in amd64 arm64; do
  root="$work/rootfs-$arch"
  mkdir -p "$root/etc"
  printf 'drydock e2e %s layer\n' "$arch" > "$root/etc/drydock-e2e"
  # Fixed owner, mode and mtime so the layer bytes do not depend on the checkout.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
      -C "$root" -cf "$work/layer-$arch.tar" etc
  gzip -n -9 -c "$work/layer-$arch.tar" > "$work/layer-$arch.tar.gz"
  diff_id="sha256:$(sha256sum "$work/layer-$arch.tar" | cut -d' ' -f1)"
  read -r layer_digest layer_size < <(put_blob "$work/layer-$arch.tar.gz")

  printf '{"architecture":"%s","os":"linux","config":{"Env":["E2E_ARCH=%s"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
      "$arch" "$arch" "$diff_id" > "$work/config-$arch.json"
  read -r config_digest config_size < <(put_blob "$work/config-$arch.json")

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
      "$config_digest" "$config_size" "$layer_digest" "$layer_size" > "$work/manifest-$arch.json"
  read -r manifest_digest manifest_size < <(put_blob "$work/manifest-$arch.json")

  entry=$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}' \
      "$manifest_digest" "$manifest_size" "$arch")
  manifests="${manifests:+$manifests,}$entry"
done

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
    "$manifests" > "$work/index.json"
read -r index_digest index_size < <(put_blob "$work/index.json")

# The layout's own index.json points at the image index under the given tag.
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$index_digest" "$index_size" "$tag" > "$layout/index.json"

echo "$index_digest"
