#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection on a machine without get-pip.py downloads or docker
# (see docs/environment.md, section "ansible-test sanity").
#
#   bash scripts/sanity.sh [extra `ansible-test sanity` arguments, e.g. --test pep8]
#
# Needs `bash scripts/setup.sh` first (.venv with ansible-core/ansible-test). Every sanity test runs in a
# virtualenv that ansible-test builds and caches under ~/.ansible/test (--venv), so the project .venv is
# never modified. Exits non-zero if any sanity test fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
log() { printf '[sanity] %s\n' "$*"; }

# One run at a time: they share the copy of the collection under .cache/sanity.
mkdir -p "$repo/.cache"
exec 9>"$repo/.cache/sanity.lock"
if ! flock -n 9; then
  log "another scripts/sanity.sh is running; waiting for it"
  flock 9
fi

if [ ! -x .venv/bin/ansible-test ]; then
  echo "[sanity] .venv/bin/ansible-test missing: run 'bash scripts/setup.sh' first" >&2
  exit 2
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh

# 1. ansible-test bootstraps pip in each virtualenv it creates with get-pip.py from ci-files.testing.ansible.com,
#    which is unreachable here. It first looks for ~/.ansible/test/cache/get_pip_<version>.py: put a stand-in
#    there that bootstraps pip with ensurepip, then installs the requested pip from the configured index.
# ansible-test itself says which Pythons it supports and which pip it bootstraps for each.
read -r -a pythons < <(python -c 'from ansible_test._util.target.common.constants import REMOTE_ONLY_PYTHON_VERSIONS as R, CONTROLLER_PYTHON_VERSIONS as C; print(*R, *C)')
read -r -a pip_versions < <(python - "${pythons[@]}" <<'EOF'
import sys
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(*sorted({get_venv_packages(SimpleNamespace(version=v))['pip'] for v in sys.argv[1:]}))
EOF
)
if ! ((${#pythons[@]})) || ! ((${#pip_versions[@]})); then
  echo "[sanity] could not read the supported Pythons / pip versions from ansible-test" >&2
  exit 2
fi
stand_in=$(cat <<'EOF'
# Stand-in for get-pip.py, written by containergen.images scripts/sanity.sh (see its docs/environment.md).
# ansible-test runs it as: get_pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]
import os
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
env = dict(os.environ)
env.pop('PIP_CONFIG_FILE', None)
# ensurepip hides every pip setting (PIP_CONFIG_FILE=/dev/null, PIP_* dropped). It runs in a child process, so
# the install below still sees /etc/pip.conf, the user pip.conf and PIP_* (CA bundle, indexes, find-links).
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], env=env, stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + args, env=env))
EOF
)
cache_dir="$HOME/.ansible/test/cache"
mkdir -p "$cache_dir"
for pip_version in "${pip_versions[@]}"; do
  get_pip="$cache_dir/get_pip_${pip_version//./_}.py"
  if [ "$(cat "$get_pip" 2>/dev/null)" != "$stand_in" ]; then
    log "writing pip bootstrap stand-in $get_pip"
    printf '%s\n' "$stand_in" > "$get_pip"
  fi
done

# 2. ansible-test needs its working directory at .../ansible_collections/<namespace>/<name> as reported by
#    os.getcwd(), which resolves the .cache/collections symlink back to the repo. Test a real copy instead: exactly
#    the files ansible-test would take from git (tracked + untracked-not-ignored, minus deleted), so git-ignored
#    caches (.venv/, .cache/, .ansible/ from molecule/ansible-lint, tests/output/) are left out and the repo's
#    own .ansible/ is not deleted under a concurrent molecule/ansible-lint run.
#    Reports use paths relative to the collection root, identical to the repo's.
#    The copy is refreshed on every run; only its tests/output/ (ansible-test's results and its delegation
#    virtualenv, kept to save ~10 s per run) and .git/ survive.
coll="$repo/.cache/sanity/ansible_collections/containergen/images"
mkdir -p "$coll/tests"
find "$coll" -mindepth 1 -maxdepth 1 ! -name tests ! -name .git -exec rm -rf {} +
find "$coll/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
git -C "$repo" ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done \
  | rsync -a --from0 --files-from=- "$repo/" "$coll/"
# The copy lies inside this repo's work tree (under git-ignored .cache/): give it a git repo of its own, or
# ansible-test would use this repo's git and see no files. ansible-test lists untracked files, so no commit needed.
git init -q "$coll"
log "copied $(git -C "$coll" ls-files --others --exclude-standard | wc -l) files to $coll"

# 3. The compile and import tests run on every Python ansible-test supports for modules (3.8 - 3.13 for
#    ansible-core 2.19; controller-only code on 3.11 - 3.13) that it finds as python3.X on PATH. Here they come from pyenv,
#    whose shims only serve the global version: link the real interpreters into .cache/sanity/bin.
bin="$repo/.cache/sanity/bin"
rm -rf "$bin"
mkdir -p "$bin"
found=() missing=()
for v in "${pythons[@]}"; do
  if "python$v" -c '' >/dev/null 2>&1; then found+=("$v"); continue; fi
  py=""
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" "/usr/bin/python$v" "/usr/local/bin/python$v"; do
    if [ -x "$cand" ] && "$cand" -c '' >/dev/null 2>&1; then py=$cand; break; fi
  done
  if [ -n "$py" ]; then ln -s "$py" "$bin/python$v"; found+=("$v"); else missing+=("$v"); fi
done
export PATH="$bin:$PATH"
log "Pythons for compile/import: ${found[*]}"
if ((${#missing[@]})); then
  log "WARNING: python ${missing[*]} not found: ansible-test skips compile/import on them (see docs/environment.md)"
fi

cd "$coll"
log "ansible-test sanity --venv $*"
ansible-test sanity --venv --color no "$@"
log "all sanity tests passed"
