#!/usr/bin/env bash
# Start a Docker daemon for the docker engine when none answers: in the background, no systemd,
# experimental features on (the engine squashes each image's own steps into one layer with them).
# Idempotent. Run as root after scripts/setup.sh (which installs Debian's docker.io).
set -euo pipefail

sock=/var/run/docker.sock
log_file=/var/log/containergen-dockerd.log

answers() { docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  printf '[dockerd] daemon already running (experimental: %s)\n' \
    "$(docker -H "unix://$sock" version --format '{{.Server.Experimental}}')"
  exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "[dockerd] dockerd not installed: run scripts/setup.sh" >&2
  exit 1
fi
setsid dockerd --experimental >>"$log_file" 2>&1 < /dev/null &
for _ in $(seq 60); do
  answers && { echo "[dockerd] started (log: $log_file)"; exit 0; }
  sleep 1
done
echo "[dockerd] did not answer on $sock within 60 s; see $log_file" >&2
tail -n 20 "$log_file" >&2
exit 1
