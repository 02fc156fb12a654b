# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mirror role's acng.conf template: the upstream proxy directive only when mirror_upstream_proxy is set."""

from __future__ import annotations

import os

import jinja2
import pytest
import yaml

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "roles", "mirror")


def render(**overrides):
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update(overrides, ansible_managed="managed")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)  # as ansible's template module
    env.filters["comment"] = lambda text: "# " + text
    return env.get_template("acng.conf.j2").render(variables).splitlines()


def test_default_has_no_upstream_proxy():
    lines = render()
    assert not [line for line in lines if line.startswith("Proxy:")]
    assert "Port: 3142" in lines


@pytest.mark.parametrize("url", ["http://127.0.0.1:3173", "http://user:secret@proxy.example.org:3128"])
def test_upstream_proxy_directive(url):
    lines = render(mirror_upstream_proxy=url)
    assert [line for line in lines if line.startswith("Proxy:")] == ["Proxy: %s" % url]


def test_argument_spec_documents_the_default():
    with open(os.path.join(ROLE, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["mirror_upstream_proxy"]
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["mirror_upstream_proxy"] == spec["default"] == ""
    assert spec["type"] == "str"
