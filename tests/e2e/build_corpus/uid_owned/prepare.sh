#!/bin/sh
# A context file owned by a non-root uid, and a tar whose entries are.
set -eu
chown 1234:5678 owned.txt
chmod 640 owned.txt
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/dir"
echo in-tar > "$stage/dir/file"
chown -R 2345:6789 "$stage/dir"
tar --numeric-owner --mtime=@1577836800 -C "$stage" -cf owned.tar dir
