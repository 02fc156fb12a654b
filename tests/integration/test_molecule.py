# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The molecule scenarios of molecule/, each a full `molecule test` from the repository root.

registry: the registry role on this machine (delegated driver, local connection) on a test-only
port and paths: prepare, converge, idempotence, testinfra verify, destroy (see molecule/registry/).
image_build: the image_build role on the fixture chain, into a namespace of its own
(see molecule/image_build/).
mirror: the mirror role (apt-cacher-ng) on a test-only port and paths, next to one running with the
role's defaults: converge, idempotence, testinfra verify (a package fetched twice, the second time
from the cache), destroy (see molecule/mirror/).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODUCTION_PID_FILE = "/run/containergen/registry.pid"
PRODUCTION_MIRROR_PID_FILE = "/run/containergen/apt-cacher-ng.pid"
PRODUCTION_MIRROR_SOCKET = "/run/apt-cacher-ng/socket"
ALL_STEPS = ("syntax", "prepare", "converge", "idempotence", "verify", "destroy")

pytestmark = pytest.mark.integration


def _env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
    env.setdefault("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    venv_bin = os.path.join(REPO, ".venv", "bin")
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def _molecule_test(scenario):
    started = time.monotonic()
    proc = subprocess.run(["molecule", "test", "-s", scenario], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1800, check=False)
    return proc.returncode, proc.stdout, time.monotonic() - started


def _tail(output, lines=120):
    return "\n".join(output.splitlines()[-lines:])


def _listening(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _running_pid(pid_file):
    """Pid of the live process a pid file names, if any."""
    try:
        with open(pid_file, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _production_registry_pid():
    """Pid of a registry already running with the role's defaults (manual testing), if any."""
    return _running_pid(PRODUCTION_PID_FILE)


def _assert_passed(scenario, rc, output, steps=ALL_STEPS):
    assert rc == 0, "molecule test -s %s failed (rc=%s); last lines:\n%s" % (scenario, rc, _tail(output))
    for step in steps:
        assert "[%s > %s] Executed: Successful" % (scenario, step) in output, _tail(output)
    assert "Verifier completed successfully" in output, _tail(output)


def test_molecule_registry_scenario():
    before = _production_registry_pid()
    rc, output, seconds = _molecule_test("registry")
    print("molecule test -s registry: rc=%s in %.0f s" % (rc, seconds))
    _assert_passed("registry", rc, output)
    # destroy left nothing behind
    assert not _listening(5443) and not _listening(5444)
    assert not os.path.exists("/var/tmp/containergen-molecule/registry")
    assert not os.path.exists("/etc/containers/certs.d/localhost:5443")
    # and a registry running with the defaults was not touched
    if before is not None:
        assert _production_registry_pid() == before


def test_molecule_image_build_scenario():
    rc, output, seconds = _molecule_test("image_build")
    print("molecule test -s image_build: rc=%s in %.0f s" % (rc, seconds))
    _assert_passed("image_build", rc, output)
    # destroy left nothing behind
    assert not os.path.exists("/var/tmp/containergen-molecule/image_build")
    images = subprocess.run(["podman", "images", "--format", "{{.Repository}}"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert not [image for image in images if image.startswith("localhost/cgmolecule-build/")]


def _production_mirror():
    """Supervisor pid, apt-cacher-ng pid and Unix socket inode of a mirror running with the role's defaults."""
    supervisor = _running_pid(PRODUCTION_MIRROR_PID_FILE)
    if supervisor is None:
        return None
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(supervisor)], capture_output=True, text=True,
                              check=False).stdout.split()
    try:
        socket_inode = os.stat(PRODUCTION_MIRROR_SOCKET).st_ino
    except OSError:
        socket_inode = None
    return supervisor, children, socket_inode


def test_molecule_mirror_scenario():
    before = _production_mirror()
    rc, output, seconds = _molecule_test("mirror")
    print("molecule test -s mirror: rc=%s in %.0f s" % (rc, seconds))
    _assert_passed("mirror", rc, output, steps=("syntax", "converge", "idempotence", "verify", "destroy"))
    # destroy left nothing behind
    assert not _listening(3162)
    assert not os.path.exists("/var/tmp/containergen-molecule/mirror")
    # and a mirror running with the defaults was not touched: same processes, same Unix socket, still serving
    if before is not None:
        assert _production_mirror() == before
        assert _listening(3142)
