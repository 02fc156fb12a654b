# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The molecule "deploy" scenario (molecule/deploy/): the default set's control plane from freshly
built images, configured through config.json and mounted files, bootstrapped with one-shot jobs and
exercised with python-openstackclient; a full `molecule test -s deploy` from the repository root.

CG_DEPLOY_NAMESPACE (default localhost/cg-deploy) and CG_DEPLOY_BUILD=0 (use the images already in
that namespace) are passed through to the scenario.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = ("syntax", "prepare", "converge", "verify", "destroy")
PREFIX = "cgdeploy-"
ROOT = "/var/tmp/containergen-molecule/deploy"

pytestmark = pytest.mark.integration


def _env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
    env.setdefault("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    venv_bin = os.path.join(REPO, ".venv", "bin")
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.update({"NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    return env


def _names(*argv):
    out = subprocess.run(["podman"] + list(argv), capture_output=True, text=True, check=True).stdout
    return [name for name in out.split() if name.startswith(PREFIX)]


def test_molecule_deploy_scenario():
    started = time.monotonic()
    proc = subprocess.run(["molecule", "test", "-s", "deploy"], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=3600, check=False)
    wall = time.monotonic() - started
    output = proc.stdout
    tail = "\n".join(output.splitlines()[-150:])
    print("molecule test -s deploy: rc=%s, wall time %.0f s" % (proc.returncode, wall))
    for line in re.findall(r"deploy: .*", output):
        print(line)
    assert proc.returncode == 0, tail
    for step in STEPS:
        assert "[deploy > %s] Executed: Successful" % step in output, tail
    assert "Verifier completed successfully" in output, tail
    # destroy left nothing behind
    assert not _names("ps", "--all", "--format", "{{.Names}}")
    assert not _names("volume", "ls", "--format", "{{.Name}}")
    assert not os.path.exists(ROOT)
