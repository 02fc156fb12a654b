# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TripleO's own TCIB definitions (tripleo-common 18.0.0, fetched by scripts/setup.sh) load and plan
as they are, for the distros they were written for."""

from __future__ import annotations

import os

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _pipeline
from ansible_collections.containergen.images.plugins.module_utils._definitions import load_definitions

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
TCIB = os.path.join(REPO, ".cache", "tripleo-common-18.0.0", "tcib")


@pytest.fixture(scope="module")
def tcib():
    assert os.path.isdir(TCIB), "run scripts/setup.sh first: it fetches tripleo-common's TCIB tree into " + TCIB
    return TCIB


def test_every_tcib_file_loads(tcib):
    images = load_definitions(tcib)
    assert len(images) == 104
    assert images["nova-api"].parent == "nova-base"
    assert images["nova-base"].parent == "os"
    assert images["os"].parent == "base"
    assert images["base"].parent is None
    assert images["tripleo-ansible-ee"].data["tcib_from"].startswith("quay.io/")


@pytest.mark.parametrize("profile", ["centos9", "ubi8"])
def test_tcib_tree_plans_for_rpm_distros(tcib, profile):
    plan = _pipeline.plan_images(_pipeline.PlanOptions(definitions_path=tcib, profile=profile))
    assert len(plan["order"]) == 104
    assert plan["order"][0] == "base" or plan["order"][0] == "tripleo-ansible-ee"
    assert plan["order"].index("nova-base") < plan["order"].index("nova-api")
    nova_api = {item["name"]: item for item in plan["images"]}["nova-api"]
    runs = [arg for verb, arg in nova_api["steps"] if verb == "run"]
    assert runs[0] == ("dnf -y install httpd mod_ssl openstack-nova-api python3-mod_wsgi "
                       "&& dnf clean all && rm -rf /var/cache/dnf")
    assert ["user", "nova"] == nova_api["steps"][-1]


def test_tcib_release_dependent_templates_render(tcib):
    centos = {i["name"]: i for i in _pipeline.plan_images(
        _pipeline.PlanOptions(definitions_path=tcib, profile="centos9", include=["mariadb"]))["images"]}
    runs = [arg for verb, arg in centos["mariadb"]["steps"] if verb == "run"]
    # `tcib_release is version('8', '==') | ternary('', '.10.5')` on release 9
    assert any(run.endswith("security_reset.expect.10.5 /usr/local/bin/kolla_security_reset") for run in runs)


def test_tcib_fingerprints_differ_per_distro(tcib):
    fps = {}
    for profile in ("centos9", "ubi8"):
        plan = _pipeline.plan_images(_pipeline.PlanOptions(definitions_path=tcib, profile=profile, include=["keystone"]))
        fps[profile] = {i["name"]: i["fingerprint"] for i in plan["images"]}["keystone"]
    assert fps["centos9"] != fps["ubi8"]
