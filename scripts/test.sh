#!/usr/bin/env bash
# Set up this machine (idempotent) and run every test: lint, unit tests, real buildah and docker integration tests.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
bash scripts/dockerd.sh  # the docker engine's integration tests need a daemon
# shellcheck source=scripts/env.sh
source scripts/env.sh
bash scripts/lint.sh
exec pytest -p no:cacheprovider "$@"
