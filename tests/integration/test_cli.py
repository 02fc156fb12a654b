# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The console script and the OpenStack client plugin run real builds through the playbooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
BIN = os.path.join(REPO, ".venv", "bin")
NAMESPACE = "cgcli-%s" % uuid.uuid4().hex[:8]

pytestmark = pytest.mark.integration


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd="/", check=False, **kwargs)


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(os.path.join(FIXTURES, "chain"), str(root / "defs"))
    yield str(root / "defs")
    out = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    doomed = [ref for ref in out if ref.startswith("localhost/%s/" % NAMESPACE)]
    if doomed:
        run(["podman", "rmi", "--force"] + doomed)


def test_console_script_builds_and_prints_progress_and_json(definitions, tmp_path):
    proc = run([os.path.join(BIN, "containergen"), "build", "--config-path", definitions, "--namespace", NAMESPACE,
                "--work-dir", str(tmp_path), "--label", "cli.run=%s" % NAMESPACE, "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()  # progress and the tables go to stderr with --json
    progress = [line for line in lines if line.startswith("[") and "/4]" in line]
    assert len(progress) == 4 and all(" built " in line for line in progress)
    assert "plan (debian13):" in lines
    summary = json.loads(proc.stdout)  # stdout is exactly one JSON document
    assert sorted(summary["images_built"]) == ["base", "leaf-a", "leaf-b", "mid"]
    labels = json.loads(run(["podman", "image", "inspect", "localhost/%s/leaf-a:latest" % NAMESPACE]).stdout)[0]
    assert labels["Config"]["Labels"]["cli.run"] == NAMESPACE


def test_console_script_second_run_builds_nothing(definitions, tmp_path):
    proc = run([os.path.join(BIN, "containergen"), "build", "--config-path", definitions, "--namespace", NAMESPACE,
                "--work-dir", str(tmp_path), "--label", "cli.run=%s" % NAMESPACE, "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["images_built"] == []


def test_console_script_fails_with_one_line_naming_file_and_key(tmp_path):
    proc = run([os.path.join(BIN, "containergen"), "build", "--config-path", os.path.join(FIXTURES, "broken"),
                "--namespace", NAMESPACE + "-broken", "--work-dir", str(tmp_path)])
    assert proc.returncode == 1
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("containergen build: ")
    assert "child.yaml" in err[0] and "tcib_usr" in err[0]


def test_openstack_plugin_is_discovered_with_tripleoclient_flags():
    proc = run([os.path.join(BIN, "openstack"), "containergen", "image", "build", "--help"])
    assert proc.returncode == 0, proc.stderr
    for flag in ("--config-path", "--config-file", "--distro", "--release", "--base", "--exclude", "--extra-config",
                 "--tcib-extras", "--namespace", "--registry", "--prefix", "--tag", "--push", "--label", "--volume",
                 "--repo-dir", "--work-dir", "--authfile", "--skip-build", "--build-timeout", "--threads", "--engine",
                 "--include", "--json"):
        assert flag in proc.stdout, flag
    listed = run([os.path.join(BIN, "openstack"), "command", "list", "--group", "openstack.containergen.v1"])
    assert "containergen image build" in listed.stdout


def test_openstack_plugin_runs_a_build(definitions, tmp_path):
    proc = run([os.path.join(BIN, "openstack"), "containergen", "image", "build", "--config-path", definitions,
                "--namespace", NAMESPACE, "--work-dir", str(tmp_path), "--include", "leaf-b",
                "--label", "osc.run=%s" % NAMESPACE, "--json"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert sorted(summary["images_built"]) == ["base", "leaf-b", "mid"]


def test_skip_build_prints_the_plan_only(definitions, tmp_path):
    proc = run([os.path.join(BIN, "containergen"), "build", "--config-path", definitions, "--namespace",
                NAMESPACE + "-plan", "--work-dir", str(tmp_path), "--skip-build", "--exclude", "mid"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[2].split()[1] == "base"
    assert "leaf-a" not in proc.stdout  # excluding mid excludes its descendants


def test_openstack_plugin_lists_with_cliff_formats_and_has_every_verb():
    proc = run([os.path.join(BIN, "openstack"), "containergen", "image", "list", "-f", "json", "--include", "cron"])
    assert proc.returncode == 0, proc.stderr
    assert [row["name"] for row in json.loads(proc.stdout)] == ["base", "cron"]
    listed = run([os.path.join(BIN, "openstack"), "command", "list", "--group", "openstack.containergen.v1"])
    for verb in ("build", "plan", "publish", "export", "list", "show", "render"):
        assert "containergen image %s" % verb in listed.stdout, verb
    proc = run([os.path.join(BIN, "openstack"), "containergen", "image", "render", "nosuchimage"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("nosuchimage: no such image in ")
