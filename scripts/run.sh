#!/usr/bin/env bash
# Set up this machine (idempotent) and run the main job on the embedded default image set:
# start the local TLS registry, build the default images, publish them, and smoke-deploy what was
# published (CONTAINERGEN_SMOKE=0 skips the smoke deploy).
# Extra arguments go to ansible-playbook (e.g. -e '{"image_build_include": ["keystone"]}').
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
work_dir=${CONTAINERGEN_WORK_DIR:-/var/tmp/containergen}
secrets=${CONTAINERGEN_SECRETS:-/etc/containergen/secrets.yml}
mkdir -p "$work_dir"

# Registry credentials: generated once, kept in a 0600 file, passed by path (never on argv).
if [ ! -s "$secrets" ]; then
  install -d -m 0750 "$(dirname "$secrets")"
  (umask 077 && python3 - "$secrets" <<'PY'
import secrets, sys
password = secrets.token_urlsafe(24)
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write("---\nregistry_users:\n  - name: containergen\n    password: %s\n" % password)
PY
  )
  echo "[run] registry credentials written to $secrets (mode 0600)"
fi

: > "$work_dir/progress.log"
# One line per image as it finishes, while the playbook runs.
tail -n 0 -F "$work_dir/progress.log" 2>/dev/null | sed -u 's/^/  progress: /' &
tail_pid=$!
trap 'kill $tail_pid 2>/dev/null || true' EXIT
smoke=()
if [ "${CONTAINERGEN_SMOKE:-1}" = 0 ]; then
  smoke=(-e '{"smoke_deploy": false}')
fi
ansible-playbook containergen.images.site -e "@$secrets" -e "image_build_work_dir=$work_dir" "${smoke[@]}" "$@"
