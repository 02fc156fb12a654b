# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared layers for real: two children of a small parent both install `less`; the hoist file
generated from apt's resolution in the parent (built without hoisting) puts it into a synthetic
parent-shared image, the hoisted build stacks the children on it, a second generation decides the
same, and a second hoisted build finds every image up to date.

Nothing is stubbed: buildah builds on the debian13 profile's base, apt resolves in podman containers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _hoist, _pipeline  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402
from image_helpers import in_image, write  # noqa: E402  pylint: disable=import-error

RUN_ID = uuid.uuid4().hex[:8]
FLAT = "localhost/cgtest-flat-%s" % RUN_ID
HOISTED = "localhost/cgtest-hoist-%s" % RUN_ID
INSTALL = [{"run": "{{ tcib_install }}"}]

pytestmark = pytest.mark.integration


def layers(ref):
    out = subprocess.run(["podman", "image", "inspect", ref], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["RootFS"]["Layers"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("hoist"))
    defs = os.path.join(work, "images")
    write(os.path.join(defs, "p", "p.yaml"), {"tcib_actions": [{"run": "mkdir -p /srv/p"}]})
    write(os.path.join(defs, "p", "a", "a.yaml"), {"tcib_packages": {"common": ["less", "bc"]},
                                                   "tcib_actions": INSTALL, "tcib_user": "nobody"})
    write(os.path.join(defs, "p", "b", "b.yaml"), {"tcib_packages": {"common": ["less", "ed"]},
                                                   "tcib_actions": INSTALL})
    profiles = os.path.join(work, "vars", "profiles")
    os.makedirs(profiles)
    shutil.copy(os.path.join(REPO, "vars", "profiles", "debian13.yml"), profiles)
    common = {"definitions_path": defs, "profiles_path": profiles, "profile": "debian13"}
    try:
        yield work, common
    finally:
        for namespace in (FLAT, HOISTED):
            for name in ("p", "p-shared", "a", "b"):
                subprocess.run(["podman", "rmi", "%s/%s:latest" % (namespace, name)], capture_output=True, check=False)


def build(common, namespace, work, hoist):
    options = _pipeline.BuildOptions(namespace=namespace, hoist=hoist, work_dir=work, timeout=900, **common)
    summary = _pipeline.build_images(options)
    assert not summary["images_failed"], summary
    return {r["name"]: r["status"] for r in summary["images"]}


def generate(common):
    options = _pipeline.PlanOptions(namespace=FLAT, hoist=False, **common)
    definitions, profile = _pipeline.load(options)
    refs = {"p": "%s/p:latest" % FLAT}
    lists = os.path.join(common["profiles_path"], "..", "lists-%s" % uuid.uuid4().hex[:6])
    return _hoist.generate(_hoist.Resolver(Runner(), "debian", lists), definitions, profile, refs, min_bytes=0)


def test_shared_package_hoisted_built_and_stable(setup):
    work, common = setup
    assert set(build(common, FLAT, os.path.join(work, "flat"), hoist=False)) == {"p", "a", "b"}
    data = generate(common)
    assert [(layer["name"], layer["children"], layer["packages"]) for layer in data["layers"]] == \
        [("p-shared", ["a", "b"], ["less"])]
    write(_hoist.hoist_path(common["profiles_path"], "debian13"), data)

    statuses = build(common, HOISTED, os.path.join(work, "hoisted"), hoist=True)
    # p is the un-hoisted build's image (same fingerprint: tagged, not built); the rest is new
    assert statuses == {"p": "tagged", "p-shared": "built", "a": "built", "b": "built"}
    ref = "%s/%%s:latest" % HOISTED
    # one new layer per image, the synthetic one included; less lives in p-shared's layer, once
    assert layers(ref % "p-shared")[:-1] == layers(ref % "p")
    for child in ("a", "b"):
        assert layers(ref % child)[:-1] == layers(ref % "p-shared")
        assert in_image(ref % child, "less", "--version").returncode == 0
    assert in_image(ref % "p-shared", "dpkg-query", "-W", "less").returncode == 0
    assert in_image(ref % "p-shared", "dpkg-query", "-W", "bc").returncode != 0
    config = json.loads(subprocess.run(["podman", "image", "inspect", ref % "a"], capture_output=True, text=True,
                                       check=True).stdout)[0]["Config"]
    assert config.get("User") == "nobody"

    # stable: generated again from the same un-hoisted parent, the same decision; built again, nothing to do
    assert generate(common) == data
    again = build(common, HOISTED, os.path.join(work, "again"), hoist=True)
    assert set(again.values()) == {"skipped"}, again
