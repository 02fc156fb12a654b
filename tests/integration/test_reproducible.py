# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bit-for-bit rebuilds: the same plan built twice with force gives the same layers and images.

Real builds with buildah through the collection's playbook (nothing stubbed): the small chain of
test_build_chain (base -> mid -> leaf-a, leaf-b) with a Python package in the base, so that
Debian's byte-compiling at install, useradd, a copied file and config-only steps are all in it.
When a digest differs, the failure names the files (see _layerdiff).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from test_build_chain import FIXTURES, REPO, playbook  # pylint: disable=import-error
from test_publish_registry import module  # pylint: disable=import-error

sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
from ansible_collections.containergen.images.plugins.module_utils import _layerdiff  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.integration

# Every command gets its own /dev/null as stdin: podman and buildah may turn an inherited one
# non-blocking, and ansible-playbook (the registry fixture) refuses to run with such a stdin.
NAMESPACE = "localhost/cg-repro-%s" % uuid.uuid4().hex[:8]
NAMES = ("base", "mid", "leaf-a", "leaf-b")
BASE = "localhost/containergen/debian13-rootfs:trixie"
REGISTRY_PORT = 5472  # the tls_registry fixture (conftest)


def command(argv, check=True):
    """Run argv with its own /dev/null as stdin; returns its standard output."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=check).stdout


def identity(ref):
    """(image ID = config digest, manifest digest, layer diff IDs, created, labels) of a local image."""
    data = json.loads(command(["podman", "image", "inspect", ref]))[0]
    return {"id": data["Id"], "digest": data["Digest"], "layers": data["RootFS"]["Layers"],
            "created": data["Created"], "labels": data["Config"].get("Labels") or {}}


def raw_config(ref):
    return json.loads(command(["skopeo", "inspect", "--config", "--raw", "containers-storage:" + ref]))


def base_created():
    return int(command(["podman", "image", "inspect", "--format", "{{.Created.Unix}}", BASE]).strip())


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    work = tmp_path_factory.mktemp("repro")
    definitions = str(work / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    base_yaml = os.path.join(definitions, "base", "base.yaml")
    with open(base_yaml, encoding="utf-8") as handle:
        text = handle.read()
    with open(base_yaml, "w", encoding="utf-8") as handle:  # py3compile runs in postinst
        handle.write(text.replace("common: [dumb-init]", "common: [dumb-init, python3-six]"))
    extra = {"image_build_namespace": NAMESPACE, "image_build_force": True}
    runs = []
    for number in (1, 2):
        started = time.monotonic()
        rc, output, summary = playbook(work / ("run%d" % number), definitions, extra)
        assert rc == 0, output
        runs.append({"summary": summary, "seconds": time.monotonic() - started,
                     "images": {name: identity("%s/%s:latest" % (NAMESPACE, name)) for name in NAMES}})
        if number == 1:  # the second build replaces the first: keep the first under another tag
            for name in NAMES:
                command(["podman", "tag", runs[0]["images"][name]["id"], "%s/%s:first" % (NAMESPACE, name)])
    yield {"work": work, "runs": runs}
    out = command(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], check=False)
    doomed = [name for name in out.split() if name.startswith(NAMESPACE + "/")]
    if doomed:
        command(["podman", "rmi", "--force"] + doomed, check=False)


def test_both_runs_built_every_image(rebuilt):
    for run in rebuilt["runs"]:
        assert {r["name"]: r["status"] for r in run["summary"]["images"]} == dict.fromkeys(NAMES, "built")
        print("forced build of the chain: %.1f s (%s)" % (run["seconds"], ", ".join(
            "%s %.1f s" % (r["name"], r["seconds"]) for r in run["summary"]["images"])))


@pytest.mark.parametrize("name", NAMES)
def test_rebuild_gives_the_same_layers_and_image(rebuilt, name):
    first, second = (run["images"][name] for run in rebuilt["runs"])
    if first["layers"] != second["layers"] or first["id"] != second["id"]:
        changes = _layerdiff.diff_images(Runner(), "%s/%s:first" % (NAMESPACE, name),
                                         "%s/%s:latest" % (NAMESPACE, name), str(rebuilt["work"] / "diff"))
        pytest.fail("%s differs between two builds of the same plan:\n%s" % (name, _layerdiff.format_changes(changes)
                                                                             or "config only"))
    assert first["digest"] == second["digest"]


def test_times_come_from_the_base_not_the_clock(rebuilt):
    epoch = base_created()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    for name in NAMES:
        config = raw_config("%s/%s:latest" % (NAMESPACE, name))
        assert config["created"] == created, name
        assert config["config"]["Labels"]["org.opencontainers.image.created"] == created, name
        assert config["history"][-1]["created"] == created, name
        assert "container" not in config, name  # the working container's random ID
        assert "io.buildah.version" not in config["config"]["Labels"], name


def test_python_byte_code_is_hash_based(rebuilt, tmp_path):
    """py3compile ran with SOURCE_DATE_EPOCH: checked-hash .pyc files stay valid although every file
    time of the layer is the epoch."""
    ref = "%s/base:latest" % NAMESPACE
    check = ("import glob, struct\n"
             "found = glob.glob('/usr/lib/python3/dist-packages/__pycache__/six.*.pyc')\n"
             "print(len(found), struct.unpack('<I', open(found[0], 'rb').read()[4:8])[0] if found else -1)\n")
    out = command(["podman", "run", "--rm", "--network", "none", "--entrypoint", "python3", ref, "-c", check]).split()
    assert out[0] == "1" and out[1] == "3", out  # flags 3: hash-based, checked against the source


def test_layer_diff_names_the_file_that_differs(rebuilt, tmp_path):
    """The helper the failure message uses: a file changed on purpose is named, and nothing else."""
    ref = "%s/leaf-a:latest" % NAMESPACE
    # not named cg-*: a build's sweep takes such containers for its own leftovers
    container = command(["buildah", "from", "--pull=never", "--quiet", "--name",
                         "repro-diff-%s" % uuid.uuid4().hex[:8], ref]).strip()
    try:
        command(["buildah", "run", "--isolation", "chroot", "--user", "root", container, "--", "/bin/sh", "-c",
                 "echo changed > /opt/mid/name"])
        command(["buildah", "commit", "--quiet", "--rm", container, "%s/leaf-a:changed" % NAMESPACE])
    finally:
        command(["buildah", "rm", container], check=False)
    changes = _layerdiff.diff_images(Runner(), ref, "%s/leaf-a:changed" % NAMESPACE, str(tmp_path))
    assert {(c["layer"], c["path"]) for c in changes} >= {(len(rebuilt["runs"][1]["images"]["leaf-a"]["layers"]),
                                                           "opt/mid/name")}
    assert all(c["layer"] == len(rebuilt["runs"][1]["images"]["leaf-a"]["layers"]) for c in changes)


def test_rebuilt_image_republishes_unchanged_by_digest(rebuilt, tls_registry):
    """The first build is published; the forced rebuild then publishes as unchanged because the
    registry holds its very digest (not only its fingerprint), and nothing is sent."""
    def publish(local_tag):
        args = {"registry": tls_registry["registry"], "namespace": "repro", "tag": "latest",
                "local_namespace": NAMESPACE, "local_tag": local_tag, "authfile": tls_registry["authfile"],
                "images": list(NAMES), "lock_file": str(rebuilt["work"] / "images")}
        return module("image_publish", args, str(rebuilt["work"]))

    first = publish("first")
    assert {r["name"]: r["action"] for r in first["images"]} == dict.fromkeys(NAMES, "pushed"), first
    again = publish("latest")
    assert {r["name"]: (r["action"], r.get("unchanged_by"), r["bytes_sent"]) for r in again["images"]} == \
        dict.fromkeys(NAMES, ("unchanged", "digest", 0)), again
    assert {r["name"]: r["digest"] for r in again["images"]} == {r["name"]: r["digest"] for r in first["images"]}
