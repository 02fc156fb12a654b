#!/usr/bin/env bash
# Make a bare Debian 12 machine ready: container tooling, the container configuration that works
# without systemd, a pinned Python virtualenv, and this collection resolvable by FQCN.
# Idempotent: every step checks before it changes anything. Run as root.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
stamp_dir="$repo/.cache/setup"
mkdir -p "$stamp_dir"

log() { printf '[setup] %s\n' "$*"; }

apt_packages=(buildah podman skopeo runc mmdebstrap uidmap apt-utils catatonit rsync shellcheck
              ca-certificates openssl git curl docker-registry apt-cacher-ng docker.io jq)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt: all packages present"
fi

# crun and the default rlimits fail here (no systemd, hybrid cgroups): see docs/environment.md.
conf=/etc/containers/containers.conf
want=$(cat <<'EOF'
# Written by containergen.images scripts/setup.sh (see docs/environment.md)
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  log "writing $conf"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf"
fi

# Python virtualenv with pinned dependencies (requirements.txt is the one place they live).
req_hash=$(cat "$repo/requirements.txt" "$repo/pyproject.toml" | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp_dir/venv" 2>/dev/null)" != "$req_hash" ]; then
  log "virtualenv: installing requirements.txt into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip 2>&1 | grep -v 'is ignored: it is neither' || true
  "$venv/bin/pip" install -q -r "$repo/requirements.txt" 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' || true
  "$venv/bin/pip" install -q --no-deps -e "$repo" 2>&1 | grep -v 'is ignored: it is neither' || true  # containergen CLI
  "$venv/bin/python" -c 'import ansible, jinja2, yaml, pytest, osc_lib, containergen_cli' # fail here if an install failed
  echo "$req_hash" > "$stamp_dir/venv"
else
  log "virtualenv: up to date"
fi

# Collections we use (community.crypto for the registry's TLS): Galaxy is unreachable, so they come
# from the `ansible` package on PyPI, of which only these folders are kept (~6 MB of 54 MB).
bundle=ansible==12.3.0
collections=(community/crypto community/docker containers/podman ansible/posix)
coll_dir="$repo/.cache/collections/ansible_collections"
if [ "$(cat "$stamp_dir/collections" 2>/dev/null)" != "$bundle ${collections[*]}" ]; then
  log "collections: extracting ${collections[*]} from $bundle"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --no-deps -d "$tmp" "$bundle" 2>&1 | grep -v 'is ignored: it is neither' || true
  "$venv/bin/python" - "$tmp"/ansible-*.whl "$coll_dir" "${collections[@]}" <<'PY'
import os, shutil, sys, zipfile
wheel, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for coll in wanted:
        shutil.rmtree(os.path.join(dest, coll), ignore_errors=True)
        prefix = "ansible_collections/%s/" % coll
        for name in archive.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                target = os.path.join(dest, coll, name[len(prefix):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as handle:
                    handle.write(archive.read(name))
PY
  rm -rf "$tmp"
  echo "$bundle ${collections[*]}" > "$stamp_dir/collections"
fi

# TripleO's own TCIB definitions (tripleo-common on PyPI), for the compatibility tests.
tcib_dir="$repo/.cache/tripleo-common-18.0.0/tcib"
if [ ! -d "$tcib_dir" ]; then
  log "fetching tripleo-common 18.0.0 (TCIB definitions for the compatibility tests)"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --no-deps -d "$tmp" tripleo-common==18.0.0 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' || true
  "$venv/bin/python" - "$tmp"/tripleo_common-18.0.0-*.whl "$tcib_dir" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "tripleo_common-18.0.0.data/data/share/tripleo-common/container-images/tcib/"
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(archive.read(name))
PY
  rm -rf "$tmp"
fi

# The collection is the repository itself: expose it as ansible_collections/containergen/images.
coll_root="$repo/.cache/collections/ansible_collections/containergen"
mkdir -p "$coll_root"
if [ "$(readlink "$coll_root/images" 2>/dev/null)" != "$repo" ]; then
  ln -sfn "$repo" "$coll_root/images"
fi
log "ready: source $repo/scripts/env.sh to use the virtualenv and the collection"
