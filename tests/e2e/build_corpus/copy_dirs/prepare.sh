#!/bin/sh
set -eu
mkdir -p dir/empty
chmod 750 dir/sub
