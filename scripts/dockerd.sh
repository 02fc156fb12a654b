#!/usr/bin/env bash
# Start a Docker daemon for the docker engine when none answers: in the background, no systemd,
# experimental features on (the engine squashes each image's own steps into one layer with them).
# Idempotent. Run as root after scripts/setup.sh (which installs Debian's docker.io).
set -euo pipefail

sock=/var/run/docker.sock
log_file=/var/log/containergen-dockerd.log

answers() { docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  experimental=$(docker -H "unix://$sock" version --format '{{.Server.Experimental}}')
  printf '[dockerd] daemon already running (experimental: %s)\n' "$experimental"
  if [[ $experimental != true ]]; then
    # A packaged service (systemd starts docker.io on install): left as it is. Without squash the
    # docker engine makes one layer per RUN group and COPY/ADD; "experimental": true in
    # /etc/docker/daemon.json and a restart give one layer per image.
    echo "[dockerd] no squash on this daemon: see docs/docker-engine.md"
  fi
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
