#!/bin/sh
# Links in the context: a hard link pair and symlinks (relative, absolute, dangling,
# to a directory).
set -eu
ln ctx/hard1 ctx/hard2
ln -s target.txt ctx/symlink
ln -s /etc/hostname ctx/abs-link
ln -s nowhere ctx/dangling
ln -s dir ctx/dirlink
