#!/usr/bin/env bash
# Writes a tiny busybox root filesystem tar, for `docker import` / `podman import`, made
# from the host's busybox-static: no network and no base image needed.
#
# Usage: make_rootfs.sh OUT.tar [APPLET...]   (default applets: sh ls echo cat)
set -euo pipefail

out=${1:?output tar}
shift
applets=("$@")
[ ${#applets[@]} -gt 0 ] || applets=(sh ls echo cat)
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "$busybox missing (install busybox-static)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"  # mktemp's 0700 would become the image's /, closed to non-root users
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in "${applets[@]}"; do
  ln -s busybox "$root/bin/$applet"
done
echo "drydock-e2e" > "$root/etc/hostname"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$root" -cf "$out" .
