# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress of real builds through the command: start, step and finish lines on stderr from the
build's events while stdout stays one JSON document; the build-lock wait line; -v passing Ansible's
output through; --keep-failed keeping exactly the failed image's working container."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
BIN = os.path.join(REPO, ".venv", "bin")
NAMESPACE = "cg-progress"
RUN = uuid.uuid4().hex[:8]  # a label of this run: every image is built anew, never reused
LOCK = "/run/lock/containergen-build.lock"

pytestmark = pytest.mark.integration


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd="/", check=False, **kwargs)


def containergen(*args):
    return [os.path.join(BIN, "containergen"), "build", "--namespace", NAMESPACE, "--label", "progress.run=" + RUN,
            "--profile", "debian13"] + list(args)


def working_containers(prefix):
    out = run(["buildah", "containers", "--format", "{{.ContainerName}}"]).stdout.split()
    return [name for name in out if name.startswith(prefix)]


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    """The chain fixture (base installs a package; mid, leaf-a, leaf-b), plus an image that fails."""
    root = tmp_path_factory.mktemp("progress")
    shutil.copytree(os.path.join(FIXTURES, "chain"), str(root / "defs"))
    failing = root / "defs" / "base" / "fails"
    failing.mkdir()
    (failing / "fails.yaml").write_text('---\ntcib_actions:\n  - run: "echo about to fail && exit 3"\n')
    yield str(root / "defs")
    for dummy in range(3):  # a busy store may refuse once
        out = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        doomed = [ref for ref in out if ref.startswith("localhost/%s/" % NAMESPACE)]
        if not doomed:
            break
        run(["podman", "rmi", "--force"] + doomed)


def test_a_real_build_shows_start_step_and_finish_and_stdout_stays_one_document(definitions, tmp_path):
    proc = run(containergen("--config-path", definitions, "--exclude", "fails", "--work-dir", str(tmp_path),
                            "--json", "-v"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # the whole of stdout: one JSON document, -v or not
    assert sorted(summary["images_built"]) == ["base", "leaf-a", "leaf-b", "mid"]
    lines = proc.stderr.splitlines()
    print("\n".join(line for line in lines if re.match(r"(start|step|\[\d/4\]|build:|\.\.\.) ", line)))
    assert "build: 4 images, 2 at a time" in lines
    for name in ("base", "mid", "leaf-a", "leaf-b"):
        start = lines.index("start    " + name)
        steps = [i for i, line in enumerate(lines) if line.startswith("step     %s: " % name)]
        finish = [i for i, line in enumerate(lines) if re.match(r"\[\d/4\] built    %s +\d+\.\ds$" % name, line)]
        assert len(finish) == 1, (name, lines)
        assert steps and start < steps[0] and steps[-1] < finish[0], (name, lines)
        assert re.match(r"step     %s: commit \(\+\d+\.\ds\)$" % name, lines[steps[-1]]), lines[steps[-1]]
    assert re.search(r"^step     base: package install \(\+\d+\.\ds\)$", proc.stderr, re.M)  # tcib_install
    assert "step     mid: copy" in proc.stderr  # mid copies motd.txt
    # -v: Ansible's own output, on stderr
    assert "PLAY [Build container images from definitions]" in proc.stderr
    assert re.search(r"^TASK \[containergen\.images\.image_build : Build the images", proc.stderr, re.M)
    # the events the command showed are in the work dir, one JSON object a line
    with open(tmp_path / "events.jsonl", encoding="utf-8") as handle:
        kinds = [json.loads(line)["event"] for line in handle]
    assert kinds[-1] == "end" and kinds.count("start") == 4 and kinds.count("finish") == 4


def test_waiting_for_the_build_lock_names_its_holder(definitions, tmp_path):
    """This test holds the host's build lock (as another build would) while the command starts."""
    sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
    from ansible_collections.containergen.images.plugins.module_utils import _progress  # pylint: disable=import-outside-toplevel
    events = tmp_path / "events.jsonl"
    with open(LOCK, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # after any other build of this host
        _progress.write_holder(lock)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(json.loads(open(LOCK, encoding="utf-8").read())["since"]))
        proc = subprocess.Popen(containergen("--config-path", definitions, "--include", "leaf-b", "--work-dir",
                                             str(tmp_path)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd="/")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (events.exists() and "lock_wait" in events.read_text()):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(1)
    out, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err[-3000:]
    lines = err.splitlines()
    expected = "waiting for the build lock held by PID %d since %s (%s)" % (os.getpid(), since, LOCK)
    assert expected in lines, err
    waited = [line for line in lines if line.startswith("build lock taken after ")]
    assert len(waited) == 1 and lines.index(expected) < lines.index(waited[0])
    assert re.match(r"(skipped|built) 3; ", out.splitlines()[-1]), out  # up to date after the first test


def test_keep_failed_keeps_exactly_the_failed_images_working_container(definitions, tmp_path):
    prefix = "containergen-failed-fails-"
    before = working_containers(prefix)
    proc = run(containergen("--config-path", definitions, "--include", "fails", "--work-dir", str(tmp_path / "w"),
                            "--keep-failed", "--logs-dir", str(tmp_path / "logs"), "--json"))
    kept = [name for name in working_containers(prefix) if name not in before]
    try:
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert len(kept) == 1, (kept, proc.stderr[-3000:])
        document = json.loads(proc.stdout)
        error = document["error"]
        assert error.startswith("1 image(s) failed: fails (working container kept: %s); fails: " % kept[0]), error
        assert error.endswith("(log: %s)" % (tmp_path / "logs" / "fails.log")), error
        assert proc.stderr.splitlines()[-1] == "containergen build: " + error
        assert re.search(r"^\[2/2\] failed   fails .*; working container kept: %s$" % kept[0], proc.stderr, re.M)
        with open(tmp_path / "logs" / "fails.log", encoding="utf-8") as handle:  # --logs-dir
            log = handle.read()
        assert "about to fail" in log and log.endswith("# working container kept: %s\n" % kept[0])
        # the container is the image's: its parent's filesystem, ready for `buildah run`
        check = run(["buildah", "run", kept[0], "--", "sh", "-c", "command -v dumb-init"])
        assert check.returncode == 0 and check.stdout.strip(), check
    finally:
        for name in kept:
            run(["buildah", "rm", name])
    assert working_containers(prefix) == before
    # without it, the working container goes
    proc = run(containergen("--config-path", definitions, "--include", "fails", "--work-dir", str(tmp_path / "w2"),
                            "--json"))
    assert proc.returncode == 1 and "working container kept" not in proc.stdout
    assert working_containers(prefix) == before


REGISTRY_PORT = 5474  # the tls_registry fixture's port for this module


def test_push_shows_each_images_push(definitions, tmp_path, tls_registry):
    proc = run(containergen("--config-path", definitions, "--include", "leaf-b", "--work-dir", str(tmp_path),
                            "--push", "--registry", tls_registry["registry"], "--authfile", tls_registry["authfile"],
                            "--tag", "progress", "--json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    document = json.loads(proc.stdout)
    assert sorted(document["published"]["pushed"]) == ["base", "leaf-b", "mid"]
    lines = proc.stderr.splitlines()
    first = lines.index("publish: 3 images, 1 at a time")
    pushes = [line for line in lines[first:] if re.match(r"(start|step|\[\d/3\]) ", line)]
    assert [re.sub(r"\(\+\d+\.\ds\)|\d+\.\ds", "T", " ".join(line.split())) for line in pushes] == [
        word for name in ("base", "mid", "leaf-b") for word in (
            "start %s" % name, "step %s: push T" % name,
            "[%d/3] pushed %s T" % (("base", "mid", "leaf-b").index(name) + 1, name))]
