# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad definitions through the real command line and playbook: refused with one line naming file,
image and key, fast, nothing built, no working container left, nothing outside the tree read.

The whole corpus runs against the library in tests/unit/.../test_bad_definitions.py; these are a
representative subset end to end."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".venv", "bin")
TOKEN = uuid.uuid4().hex[:8]
NAMESPACE = "localhost/cg-defs-%s" % TOKEN
CANARY = "canary-%s" % uuid.uuid4().hex
IMAGE = "cgdefs%s" % TOKEN  # the root image of every case: unique, so that its containers can be found

pytestmark = pytest.mark.integration


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd="/", check=False, **kwargs)


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    path = tmp_path_factory.mktemp("outside") / "secrets.yml"
    path.write_text("password: %s\n" % CANARY, encoding="utf-8")
    path.chmod(0o644)
    return str(path)


def tree(root, data=None, extra=None):
    """IMAGE/IMAGE.yaml with data, plus extra {relpath: text | ('link', target) | mapping}."""
    files = {"%s/%s.yaml" % (IMAGE, IMAGE): data if data is not None else {"tcib_cmd": "true"}}
    files.update(extra or {})
    for relpath, content in files.items():
        path = os.path.join(str(root), relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, tuple):
            os.symlink(content[1], path)
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(root)


def cases(canary):
    """(id, data, extra files, file (relative), image, key or None)"""
    own = "%s/%s.yaml" % (IMAGE, IMAGE)
    return [
        ("copy-secrets", {"tcib_actions": [{"copy": "%s /leak.yml" % canary}]}, None, own, IMAGE, "tcib_actions"),
        ("copy-shadow-escape", {"tcib_actions": [{"copy": "../../../../../../../../../../etc/shadow /y"}]}, None,
         own, IMAGE, "tcib_actions"),
        ("copy-hostroot", {"tcib_actions": [{"copy": "/ /hostroot"}]}, None, own, IMAGE, "tcib_actions"),
        ("symlink-file-out", {"tcib_copies": ["leak.yml /leak.yml"]}, {IMAGE + "/leak.yml": ("link", canary)},
         IMAGE + "/leak.yml", None, None),
        ("symlink-dir-root", None, {IMAGE + "/svc-base/svc-base.yaml": {"tcib_cmd": "x"},
                                    IMAGE + "/svc-base/root": ("link", "/")}, IMAGE + "/svc-base/root", None, None),
        ("symlink-loop", None, {IMAGE + "/loop": ("link", "loop")}, IMAGE + "/loop", None, None),
        ("dir-name-space", None, {IMAGE + "/my svc/s.yaml": {"tcib_cmd": "x"}}, IMAGE + "/my svc/s.yaml", "my svc",
         None),
        ("dir-name-dotdot", None, {IMAGE + "/..svc/s.yaml": {"tcib_cmd": "x"}}, IMAGE + "/..svc/s.yaml", "..svc", None),
        ("bad-from", {"tcib_from": "not a valid ref!!"}, None, own, IMAGE, "tcib_from"),
        ("bad-port", {"tcib_exposes": ["http"]}, None, own, IMAGE, "tcib_exposes"),
        ("bad-signal", {"tcib_stopsignal": "SIGBOGUS"}, None, own, IMAGE, "tcib_stopsignal"),
        ("relative-volume", {"tcib_volumes": ["var/lib/x"]}, None, own, IMAGE, "tcib_volumes"),
        ("package-injection", {"tcib_packages": ["less; touch /pwned"], "tcib_actions": [{"run": "{{ tcib_install }}"}]},
         None, own, IMAGE, "tcib_packages"),
        ("package-option", {"tcib_packages": ["--allow-unauthenticated"],
                            "tcib_actions": [{"run": "{{ tcib_install }}"}]}, None, own, IMAGE, "tcib_packages"),
        ("unknown-key", {"tcib_usr": "x"}, None, own, IMAGE, "tcib_usr"),
        ("undefined-variable", {"tcib_runs": ["echo {{ nope }}"]}, None, own, IMAGE, "tcib_runs"),
    ]


CASE_IDS = [case[0] for case in cases("")]
BUILD_CASES = ("copy-secrets", "symlink-dir-root", "package-injection")


def check_refusal(proc, command, root, relpath, image, key, seconds):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert seconds < 5
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("containergen %s: " % command)
    assert os.path.join(root, relpath) in err[0]
    if image:
        assert "image %r" % image in err[0]
    if key:
        assert "key %r" % key in err[0]
    assert CANARY not in proc.stdout + proc.stderr


@pytest.mark.parametrize("case", CASE_IDS)
def test_plan_refuses(tmp_path, canary, case):
    name, data, extra, relpath, image, key = next(c for c in cases(canary) if c[0] == case)
    root = tree(tmp_path / "defs", data, extra)
    start = time.monotonic()
    proc = run([os.path.join(BIN, "containergen"), "plan", "--config-path", root])
    check_refusal(proc, "plan", root, relpath, image, key, time.monotonic() - start)


def working_containers():
    out = run(["buildah", "containers", "--format", "{{.ContainerName}}"]).stdout.split()
    return [name for name in out if TOKEN in name]


def local_images():
    out = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    return [ref for ref in out if ref.startswith(NAMESPACE)]


def files_containing(directory, text):
    found = []
    for root, dummy, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                if text.encode() in handle.read():
                    found.append(os.path.join(root, name))
    return found


@pytest.mark.parametrize("case", BUILD_CASES)
def test_build_refuses_and_builds_nothing(tmp_path, canary, case):
    name, data, extra, relpath, image, key = next(c for c in cases(canary) if c[0] == case)
    root = tree(tmp_path / "defs", data, extra)
    work = tmp_path / "work"
    start = time.monotonic()
    proc = run([os.path.join(BIN, "containergen"), "build", "--config-path", root, "--namespace", NAMESPACE,
                "--work-dir", str(work)])
    # the playbook itself takes a few seconds to start: the refusal comes from its plan task
    assert time.monotonic() - start < 60
    check_refusal(proc, "build", root, relpath, image, key, 0)
    assert local_images() == []
    assert working_containers() == []
    assert not os.path.exists(os.path.join("/", "pwned"))
    if work.exists():  # logs, summary: none may hold what the plan refused to read
        assert files_containing(str(work), CANARY) == []


def test_playbook_refuses_copy_outside_and_builds_nothing(tmp_path, canary):
    root = tree(tmp_path / "defs", {"tcib_copies": ["%s /leak.yml" % canary]})
    work = tmp_path / "work"
    work.mkdir()
    variables = {"image_build_definitions_path": root, "image_build_namespace": NAMESPACE,
                 "image_build_work_dir": str(work)}
    vars_file = work / "vars.json"
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "-e", "@%s" % vars_file], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "%s/%s/%s.yaml: image %r: key 'tcib_copies': source %r resolves to %s, outside the definitions tree" % (
        root, IMAGE, IMAGE, IMAGE, canary, canary) in output
    assert CANARY not in output
    assert local_images() == []
    assert working_containers() == []
    assert files_containing(str(work), CANARY) == []


def test_playbook_extra_roots_let_a_source_outside_the_tree_plan(tmp_path, canary):
    root = tree(tmp_path / "defs", {"tcib_copies": ["%s /etc/app.yml" % canary]})
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "--tags", "image_build_plan",
                           "-e", json.dumps({"image_build_definitions_path": root, "image_build_namespace": NAMESPACE,
                                             "image_build_extra_roots": [os.path.dirname(canary)]})],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert IMAGE in proc.stdout
    assert local_images() == []


def test_playbook_refuses_a_hoist_switch_that_is_not_a_boolean(tmp_path):
    root = tree(tmp_path / "defs")
    proc = subprocess.run(["ansible-playbook", "containergen.images.build",
                           "-e", json.dumps({"image_build_definitions_path": root, "image_build_namespace": NAMESPACE,
                                             "image_build_hoist": "sometimes"})],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "image_build_hoist" in output and "sometimes" in output, output[-3000:]
    assert local_images() == []
    assert working_containers() == []
