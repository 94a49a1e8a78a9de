#!/usr/bin/env bash
# Makes sure a Docker daemon answers. If `docker info` fails, starts
#   dockerd --iptables=false --bridge=none --storage-driver=vfs
# detached from the caller (own session, stdio to a log file) and waits for it.
# The daemon is deliberately left running afterwards, so later tests and runs reuse it.
#
# Usage: ensure_dockerd.sh   Environment: DOCKER (client binary), DRYDOCK_E2E_DOCKERD_LOG.
set -euo pipefail

docker=${DOCKER:-docker}
log=${DRYDOCK_E2E_DOCKERD_LOG:-/tmp/drydock-e2e-dockerd.log}

if "$docker" info >/dev/null 2>&1; then
  exit 0
fi

if ! pgrep -x dockerd >/dev/null; then
  command -v dockerd >/dev/null || { echo "dockerd not installed (scripts/deps)" >&2; exit 1; }
  echo "starting dockerd, log: $log"
  # No bridge and no iptables: the sandbox has no network to give containers, and the
  # tests only need the daemon to reach registries on loopback. vfs works everywhere.
  setsid dockerd --iptables=false --bridge=none --storage-driver=vfs \
    >"$log" 2>&1 </dev/null &
fi

for _ in $(seq 120); do
  if "$docker" info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 60 s; last log lines:" >&2
tail -n 30 "$log" >&2 || true
exit 1
