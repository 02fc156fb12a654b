#!/usr/bin/env bash
# Set up this machine (idempotent) and run the main job on the embedded default image set.
# Extra arguments go to ansible-playbook (e.g. -e '{"image_build_include": ["keystone"]}').
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
work_dir=${CONTAINERGEN_WORK_DIR:-/var/tmp/containergen}
mkdir -p "$work_dir"
: > "$work_dir/progress.log"
# One line per image as it finishes, while the playbook runs.
tail -n 0 -F "$work_dir/progress.log" 2>/dev/null | sed -u 's/^/  progress: /' &
tail_pid=$!
trap 'kill $tail_pid 2>/dev/null || true' EXIT
ansible-playbook containergen.images.build -e "image_build_work_dir=$work_dir" "$@"
