#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure what the htpasswd bcrypt cost does to registry requests and pushes.

CNCF distribution checks the bcrypt hash on every request, so the cost multiplies into every
blob HEAD, upload and manifest PUT. For each cost this sets up a throwaway registry with the
registry role (own port and directories), then times a cold push of an image (every blob
uploaded), a warm push of the same image to a new repository (blobs mounted, requests only) and
a `skopeo inspect`. Usage (after scripts/setup.sh, with a built image):
    .venv/bin/python bench/registry_auth.py [--image localhost/containergen/memcached:latest]
Writes bench/results/registry_auth.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 5130


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def timed(argv):
    start = time.monotonic()
    proc = run(argv)
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(argv[:3]), proc.stderr[-2000:]))
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--image", default="localhost/containergen/memcached:latest")
    parser.add_argument("--costs", default="4,8,10,12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="cg-auth-bench-")
    os.chmod(work, 0o755)  # the registry user must reach its files below it
    state = os.path.join(work, "state")
    authfile = os.path.join(work, "auth.json")
    rows = []
    try:
        for cost in [int(c) for c in args.costs.split(",")]:
            variables = {
                "registry_port": PORT, "registry_debug_address": "127.0.0.1:%d" % (PORT + 1),
                "registry_config_dir": state + "/etc", "registry_data_dir": state + "/data-%d" % cost,
                "registry_log_file": state + "/registry.log", "registry_pid_file": state + "/registry.pid",
                "registry_authfile": authfile, "registry_bcrypt_cost": cost,
                "registry_users": [{"name": "bench", "password": secrets.token_urlsafe(18)}],
            }
            vars_file = os.path.join(work, "vars.json")
            with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
                json.dump(variables, f)
            proc = run(["ansible-playbook", "containergen.images.registry", "-e", "@" + vars_file], cwd=REPO)
            if proc.returncode != 0:
                raise SystemExit(proc.stdout[-3000:])
            dest = "docker://localhost:%d/bench-%d" % (PORT, cost)
            cold = timed(["skopeo", "copy", "--authfile", authfile, "containers-storage:" + args.image,
                          dest + "/cold:1"])
            warm = min(timed(["skopeo", "copy", "--authfile", authfile, "containers-storage:" + args.image,
                              dest + "/warm%d:1" % i]) for i in range(args.repeat))
            inspect = min(timed(["skopeo", "inspect", "--authfile", authfile, dest + "/cold:1"])
                          for dummy in range(args.repeat))
            rows.append((cost, cold, warm, inspect))
            print("cost %2d: cold push %.2f s, warm push %.2f s, inspect %.3f s" % (cost, cold, warm, inspect),
                  flush=True)
    finally:
        run(["start-stop-daemon", "--stop", "--pidfile", state + "/registry.pid", "--retry", "TERM/10/KILL/5",
             "--oknodo"])
        for certs in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
            shutil.rmtree(os.path.join(certs, "localhost:%d" % PORT), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    lines = ["bcrypt cost of the registry's htpasswd entries against request and push times (image %s, "
             "TLS on, loopback, best of %d for warm push and inspect)." % (args.image, args.repeat), "",
             "| bcrypt cost | cold push (blobs uploaded) | warm push (blobs mounted) | skopeo inspect |",
             "|---:|---:|---:|---:|"]
    lines += ["| %d | %.2f s | %.2f s | %.3f s |" % row for row in rows]
    text = "\n".join(lines)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "registry_auth.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
