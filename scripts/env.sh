#!/usr/bin/env bash
# Source this file: puts the virtualenv and the collection on the paths.
_cg_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$_cg_repo/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$_cg_repo/.cache/collections"
export ANSIBLE_CONFIG="$_cg_repo/ansible.cfg"
export NO_COLOR=1
unset _cg_repo
