# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real builds with buildah through the collection's playbook: base -> mid -> leaf-a, leaf-b.

Nothing is stubbed: ansible-playbook runs containergen.images.build, which bootstraps the Debian
base with mmdebstrap (once per machine: it is kept and reused) and builds with buildah.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
NAMESPACE = "localhost/cgtest-%s" % uuid.uuid4().hex[:8]

pytestmark = pytest.mark.integration


def playbook(work_dir, definitions, extra=None, check=False):
    """Run the build playbook; returns (rc, output, summary dict or None)."""
    variables = {
        "image_build_definitions_path": definitions,
        "image_build_namespace": NAMESPACE,
        "image_build_work_dir": str(work_dir),
        "image_build_timeout": 600,
    }
    variables.update(extra or {})
    vars_file = os.path.join(str(work_dir), "vars.json")
    os.makedirs(str(work_dir), exist_ok=True)
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    argv = ["ansible-playbook", "containergen.images.build", "-e", "@" + vars_file]
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False)
    summary_path = os.path.join(str(work_dir), "summary.json")
    summary = None
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as handle:
            summary = json.load(handle)
        os.unlink(summary_path)
    return proc.returncode, proc.stdout + proc.stderr, summary


def inspect(ref):
    out = subprocess.run(["podman", "image", "inspect", ref], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def image_exists(ref):
    return subprocess.run(["podman", "image", "exists", ref], check=False).returncode == 0


def working_containers():
    out = subprocess.run(["buildah", "containers", "--format", "{{.ContainerName}}"],
                         capture_output=True, text=True, check=True).stdout
    return [name for name in out.split() if name.startswith("cg-")]


def ref(name):
    return "%s/%s:latest" % (NAMESPACE, name)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    work = tmp_path_factory.mktemp("chain")
    definitions = str(work / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    started = time.monotonic()
    rc, output, summary = playbook(work / "run1", definitions)
    assert rc == 0, output
    yield {"work": work, "definitions": definitions, "summary": summary, "seconds": time.monotonic() - started}
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                         capture_output=True, text=True, check=False).stdout
    doomed = [name for name in out.split() if name.startswith(NAMESPACE + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def test_first_run_builds_every_image(chain):
    summary = chain["summary"]
    assert {r["name"]: r["status"] for r in summary["images"]} == {
        "base": "built", "mid": "built", "leaf-a": "built", "leaf-b": "built"}
    assert summary["images_failed"] == []
    for name in ("base", "mid", "leaf-a", "leaf-b"):
        assert image_exists(ref(name))
    assert working_containers() == []


def test_one_new_layer_per_image_on_its_parent(chain):
    parent_of = {"base": None, "mid": "base", "leaf-a": "mid", "leaf-b": "mid"}
    for name, parent in parent_of.items():
        layers = inspect(ref(name))["RootFS"]["Layers"]
        if parent is None:
            base = inspect("localhost/containergen/debian13-rootfs:trixie")["RootFS"]["Layers"]
            assert layers[:-1] == base and len(layers) == len(base) + 1
        else:
            parent_layers = inspect(ref(parent))["RootFS"]["Layers"]
            assert layers[:-1] == parent_layers, name
            assert len(layers) == len(parent_layers) + 1, name


def test_labels_carry_fingerprint_and_version_manifest(chain):
    by_name = {r["name"]: r for r in chain["summary"]["images"]}
    for name in ("base", "mid", "leaf-a", "leaf-b"):
        labels = inspect(ref(name))["Config"]["Labels"]
        assert labels["containergen.fingerprint"] == by_name[name]["fingerprint"]
        manifest = json.loads(labels["containergen.manifest"])
        assert manifest["dumb-init"].startswith("1.2")
        assert manifest["dpkg"]
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        assert labels["containergen.manifest.sha256"] == digest
        assert labels["containergen.image"] == name
        assert labels["org.opencontainers.image.title"] == name
        assert labels["org.opencontainers.image.created"].endswith("Z")
        assert labels["tcib_managed"] == "true"  # as TripleO writes it (to_json)
    assert inspect(ref("mid"))["Config"]["Labels"]["containergen.parent"] == "base"
    assert inspect(ref("mid"))["Config"]["Labels"]["org.opencontainers.image.base.name"] == ""
    assert inspect(ref("base"))["Config"]["Labels"]["org.opencontainers.image.base.name"] == \
        "localhost/containergen/debian13-rootfs:trixie"


def test_image_contract_user_entrypoint_cmd_env_healthcheck(chain):
    leaf_a = inspect(ref("leaf-a"))
    assert leaf_a["Config"]["User"] == "svc"
    assert leaf_a["Config"]["Entrypoint"] == ["dumb-init", "--single-child", "--"]
    assert leaf_a["Config"]["Cmd"] == ["cat", "/opt/mid/name"]
    assert "MID=1" in leaf_a["Config"]["Env"] and "container=oci" in leaf_a["Config"]["Env"]
    assert leaf_a["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")
    assert "/opt/mid/name" in " ".join(leaf_a["Healthcheck"]["Test"])
    leaf_b = inspect(ref("leaf-b"))
    assert leaf_b["Config"]["WorkingDir"] == "/opt/mid"
    assert leaf_b["Config"]["User"] == "svc"


def test_built_images_run_and_hold_copied_files(chain):
    out = subprocess.run(["podman", "run", "--rm", "--network", "host", ref("leaf-a")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "leaf-a"
    out = subprocess.run(["podman", "run", "--rm", "--network", "host", "--entrypoint", "cat", ref("mid"),
                          "/opt/mid/motd.txt"], capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.strip() == "hello from the mid image"
    # apt lists and caches are cleaned from every layer
    out = subprocess.run(["podman", "run", "--rm", "--network", "host", "--entrypoint", "sh", ref("base"), "-c",
                          "ls /var/lib/apt/lists | wc -l; ls /var/cache/apt | wc -l"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.split() == ["0", "0"]


def test_second_run_builds_nothing_and_reports_unchanged(chain):
    started = time.monotonic()
    rc, output, summary = playbook(chain["work"] / "run2", chain["definitions"])
    assert rc == 0, output
    assert summary["images_built"] == []
    assert sorted(summary["images_unchanged"]) == ["base", "leaf-a", "leaf-b", "mid"]
    assert "changed=0" in output
    assert time.monotonic() - started < chain["seconds"]


def test_check_mode_predicts_and_changes_nothing(chain, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(chain["definitions"], definitions)
    with open(os.path.join(definitions, "base", "mid", "leaf-b", "leaf-b.yaml"), "a", encoding="utf-8") as handle:
        handle.write("tcib_stopsignal: SIGINT\n")
    before = inspect(ref("leaf-b"))["Id"]
    rc, output, summary = playbook(tmp_path / "work", definitions, check=True)
    assert rc == 0, output
    assert "changed=1" in output
    assert summary is None
    assert inspect(ref("leaf-b"))["Id"] == before


def test_changed_leaf_rebuilds_only_that_leaf(chain, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(chain["definitions"], definitions)
    with open(os.path.join(definitions, "base", "mid", "leaf-b", "leaf-b.yaml"), "a", encoding="utf-8") as handle:
        handle.write("tcib_stopsignal: SIGINT\n")
    old = inspect(ref("leaf-b"))["Id"]
    rc, output, summary = playbook(tmp_path / "work", definitions)
    assert rc == 0, output
    assert summary["images_built"] == ["leaf-b"]
    assert inspect(ref("leaf-b"))["Config"]["StopSignal"] == "SIGINT"
    # the replaced image is removed, not left untagged
    assert subprocess.run(["podman", "image", "exists", old], check=False).returncode == 1


def test_failure_blocks_only_descendants_and_leaves_nothing_behind(chain, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(chain["definitions"], definitions)
    bad = os.path.join(definitions, "base", "mid", "leaf-a", "leaf-c")
    os.makedirs(os.path.join(bad, "leaf-d"))
    with open(os.path.join(bad, "leaf-c.yaml"), "w", encoding="utf-8") as handle:
        handle.write("tcib_actions:\n  - run: echo about to fail && exit 7\n")
    with open(os.path.join(bad, "leaf-d", "leaf-d.yaml"), "w", encoding="utf-8") as handle:
        handle.write("tcib_actions:\n  - run: 'true'\n")
    good = os.path.join(definitions, "base", "mid", "leaf-e")
    os.makedirs(good)
    with open(os.path.join(good, "leaf-e.yaml"), "w", encoding="utf-8") as handle:
        handle.write("tcib_actions:\n  - run: echo e > /opt/mid/e\n")
    rc, output, summary = playbook(tmp_path / "work", definitions)
    assert rc != 0
    status = {r["name"]: r["status"] for r in summary["images"]}
    assert status["leaf-c"] == "failed" and status["leaf-d"] == "blocked"
    assert status["leaf-e"] == "built"
    assert "exited with 7" in {r["name"]: r for r in summary["images"]}["leaf-c"]["error"]
    assert not image_exists(ref("leaf-c")) and not image_exists(ref("leaf-d"))
    with open(os.path.join(str(tmp_path / "work"), "logs", "leaf-c.log"), encoding="utf-8") as handle:
        assert "about to fail" in handle.read()
    assert working_containers() == []


def test_timeout_really_stops_the_build(chain, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(chain["definitions"], definitions)
    slow = os.path.join(definitions, "base", "slow")
    os.makedirs(slow)
    with open(os.path.join(slow, "slow.yaml"), "w", encoding="utf-8") as handle:
        handle.write("tcib_actions:\n  - run: sleep 300\n")
    started = time.monotonic()
    rc, output, summary = playbook(tmp_path / "work", definitions, {"image_build_timeout": 5,
                                                                    "image_build_include": ["slow"]})
    assert rc != 0
    assert time.monotonic() - started < 90
    result = {r["name"]: r for r in summary["images"]}["slow"]
    assert result["status"] == "failed" and "timed out" in result["error"]
    assert not image_exists(ref("slow"))
    assert working_containers() == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    assert "sleep 300" not in ps


def test_invalid_definitions_fail_before_anything_is_built(tmp_path):
    namespace = NAMESPACE + "-broken"
    rc, output, summary = playbook(tmp_path / "work", os.path.join(FIXTURES, "broken"),
                                   {"image_build_namespace": namespace})
    assert rc != 0
    assert os.path.join("broken", "base", "child", "child.yaml") in output
    assert "image 'child'" in output and "key 'tcib_usr'" in output and "unknown key" in output
    assert summary is None
    assert not image_exists(namespace + "/base:latest")


def test_working_containers_of_a_killed_build_are_swept(chain, tmp_path):
    stale = subprocess.run(["buildah", "from", "--pull=never", "--name", "cg-killed-%s" % uuid.uuid4().hex[:6],
                            ref("base")], capture_output=True, text=True, check=True).stdout.strip()
    assert stale in working_containers()
    rc, output, summary = playbook(tmp_path / "work", chain["definitions"])
    assert rc == 0, output
    assert summary["images_built"] == []
    assert working_containers() == []
