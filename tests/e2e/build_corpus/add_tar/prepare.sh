#!/bin/sh
# Makes the archives ADD extracts: entries with modes, a symlink, a hard link, a
# directory and a file owned by a non-root uid.
set -eu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/top/sub"
echo one > "$stage/top/one.txt"
echo secret > "$stage/top/sub/private.txt"
chmod 600 "$stage/top/sub/private.txt"
chmod 750 "$stage/top/sub"
ln -s one.txt "$stage/top/link"
ln "$stage/top/one.txt" "$stage/top/hard.txt"
echo owned > "$stage/top/owned.txt"
chown 1001:1002 "$stage/top/owned.txt"
tar --sort=name --mtime=@1577836800 --numeric-owner -C "$stage" -cf plain.tar top
tar --sort=name --mtime=@1577836800 --numeric-owner -C "$stage" -czf comp.tar.gz top
tar --sort=name --mtime=@1577836800 --numeric-owner -C "$stage" -cJf comp.tar.xz top
echo "not a tar" > not-a-tar.tar
