# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifier of the molecule "image_build" scenario: the fixture chain that converge.yml built with buildah."""

from __future__ import annotations

import json
import os

import pytest
import yaml

with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vars", "main.yml"),
          encoding="utf-8") as _handle:
    V = yaml.safe_load(_handle)

NAMESPACE = V["image_build_namespace"]
PARENT = {"base": None, "mid": "base", "leaf-a": "mid", "leaf-b": "mid"}


def ref(name):
    return "%s/%s:%s" % (NAMESPACE, name, V["image_build_tag"])


def inspect(host, name):
    return json.loads(host.check_output("podman image inspect %s", ref(name)))[0]


@pytest.mark.parametrize("name", V["molecule_build_images"])
def test_image_exists_with_the_containergen_labels(host, name):
    assert host.run("podman image exists %s", ref(name)).rc == 0
    labels = inspect(host, name)["Config"]["Labels"]
    assert labels["containergen.image"] == name
    assert labels["org.opencontainers.image.title"] == name
    assert labels["containergen.profile"] == "debian13"
    assert len(labels["containergen.fingerprint"]) == 64
    assert json.loads(labels["containergen.manifest"])["dumb-init"]
    assert labels["tcib_managed"].lower() == "true"  # tcib_labels of the fixture base
    if PARENT[name]:
        assert labels["containergen.parent"] == PARENT[name]
        # No namespace-dependent reference in a child's labels: it may be reused across namespaces
        # (empty rather than absent: a Containerfile, hence the docker engine, cannot remove a label).
        assert labels["org.opencontainers.image.base.name"] == ""
    else:
        assert labels["org.opencontainers.image.base.name"] == "localhost/containergen/debian13-rootfs:trixie"


@pytest.mark.parametrize("name", ["mid", "leaf-a", "leaf-b"])
def test_one_new_layer_on_the_parent(host, name):
    layers = inspect(host, name)["RootFS"]["Layers"]
    assert layers[:-1] == inspect(host, PARENT[name])["RootFS"]["Layers"]


def test_user_and_contract(host):
    leaf_a = inspect(host, "leaf-a")
    assert leaf_a["Config"]["User"] == "svc"
    assert leaf_a["Config"]["Entrypoint"] == ["dumb-init", "--single-child", "--"]
    assert leaf_a["Config"]["Cmd"] == ["cat", "/opt/mid/name"]
    assert "MID=1" in leaf_a["Config"]["Env"]
    leaf_b = inspect(host, "leaf-b")
    assert leaf_b["Config"]["User"] == "svc"
    assert leaf_b["Config"]["WorkingDir"] == "/opt/mid"
    assert inspect(host, "base")["Config"].get("User", "") in ("", "root", "0")


def test_leaf_runs_as_svc(host):
    out = host.run("podman run --rm --network none %s", ref("leaf-a"))
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "leaf-a"
    out = host.run("podman run --rm --network none --entrypoint id %s -un", ref("leaf-b"))
    assert out.rc == 0 and out.stdout.strip() == "svc", out.stderr


def test_summary_of_the_last_run_reports_nothing_built(host):
    """The idempotence run came last: it built nothing and found every image up to date."""
    summary = json.loads(host.file(os.path.join(V["image_build_work_dir"], "summary.json")).content_string)
    assert summary["images_built"] == []
    assert sorted(summary["images_unchanged"]) == sorted(V["molecule_build_images"])
    assert summary["images_failed"] == []


def test_no_working_container_left_on_the_images(host):
    containers = json.loads(host.check_output("buildah containers --json") or "null") or []
    assert not [c for c in containers if (c.get("imagename") or "").startswith(NAMESPACE + "/")]
