#!/usr/bin/env bash
# ansible-lint (production profile, see .ansible-lint) and ansible-test sanity on the collection.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "[lint] ansible-lint (production profile)"
ansible-lint --offline -q
echo "[lint] ansible-test sanity"
bash scripts/sanity.sh
