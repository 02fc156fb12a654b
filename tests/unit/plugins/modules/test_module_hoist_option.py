# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hoist option of image_plan and image_build: it reaches the stage's options object (PlanOptions,
BuildOptions), false plans no synthetic PARENT-shared image of the profile's hoist file, and a value
that is not a boolean fails the module with a message naming the option."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.containergen.images.plugins.module_utils import _stage_options as so
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError
from ansible_collections.containergen.images.plugins.modules import image_build, image_plan

PATHS = {"definitions_path": so.collection_path("vars", "images"),
         "profiles_path": so.collection_path("vars", "profiles")}
SUMMARY = {"images_built": [], "images_unchanged": [], "images_failed": [], "images_interrupted": [],
           "interrupted": False, "images": [], "counts": {}, "base": {"action": "present"}, "table": ""}


def run(module, capsys, **args):
    """module.main() with args; (exit code, the module's JSON result)."""
    with patch_module_args(dict(PATHS, **args)):
        with pytest.raises(SystemExit) as exited:
            module.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def recording(seen, result):
    def stage(options, **kwargs):  # pylint: disable=unused-argument
        seen.append(options)
        return result
    return stage


@pytest.mark.parametrize("given,expected", [({}, True), ({"hoist": True}, True), ({"hoist": False}, False),
                                            ({"hoist": "no"}, False)])
def test_image_plan_passes_hoist_into_plan_options(monkeypatch, capsys, given, expected):
    seen = []
    monkeypatch.setattr(image_plan, "plan_images", recording(seen, {"order": []}))
    code, _result = run(image_plan, capsys, inspect_local=False, **given)
    assert code == 0
    assert type(seen[0]) is so.PlanOptions and seen[0].hoist is expected  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize("given,expected", [({}, True), ({"hoist": False}, False)])
def test_image_build_passes_hoist_into_build_options(monkeypatch, capsys, given, expected):
    seen = []
    monkeypatch.setattr(image_build, "build_images", recording(seen, SUMMARY))
    code, _result = run(image_build, capsys, **given)
    assert code == 0
    assert isinstance(seen[0], so.BuildOptions) and seen[0].hoist is expected


def test_image_build_check_mode_plans_with_hoist(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(image_build, "plan_images", recording(seen, {"images": [], "order": [], "table": ""}))
    code, result = run(image_build, capsys, hoist=False, _ansible_check_mode=True)
    assert code == 0 and result["images_built"] == []
    assert isinstance(seen[0], so.BuildOptions) and seen[0].hoist is False


def test_image_plan_without_hoisting_plans_no_shared_image(capsys):
    """The collection's debian13 set: its hoist file inserts os-shared; hoist=false plans it on os."""
    code, hoisted = run(image_plan, capsys, inspect_local=False)
    assert code == 0
    assert "os-shared" in hoisted["order"] and [entry["name"] for entry in hoisted["hoist"]] == ["os-shared"]
    parents = {item["name"]: item["parent"] for item in hoisted["images"]}
    assert parents["nova-base"] == "os-shared"
    code, flat = run(image_plan, capsys, inspect_local=False, hoist=False)
    assert code == 0
    assert not [name for name in flat["order"] if name.endswith("-shared") or "-shared-" in name]
    assert flat["hoist"] == [] and "hoisted into" not in flat["table"]
    parents = {item["name"]: item["parent"] for item in flat["images"]}
    assert parents["nova-base"] == parents["neutron-base"] == "os"
    assert set(flat["order"]) == set(hoisted["order"]) - {entry["name"] for entry in hoisted["hoist"]}


@pytest.mark.parametrize("module", [image_plan, image_build])
def test_hoist_not_a_boolean_fails_naming_the_option(monkeypatch, capsys, module):
    monkeypatch.setattr(module, "plan_images", lambda *a, **k: pytest.fail("planned with a bad hoist"))
    if module is image_build:
        monkeypatch.setattr(module, "build_images", lambda *a, **k: pytest.fail("built with a bad hoist"))
    code, result = run(module, capsys, hoist="notabool")
    assert code == 1 and result["failed"] is True
    assert "hoist" in result["msg"] and "notabool" in result["msg"] and "bool" in result["msg"]


def test_options_object_refuses_a_hoist_that_is_not_a_boolean():
    with pytest.raises(OptionError, match=r"^hoist notabool: must be true or false"):
        so.PlanOptions.from_params({"hoist": "notabool"})
    assert so.BuildOptions.from_params({"hoist": False}).hoist is False
    assert so.PlanOptions.from_params({}).hoist is so.HOIST is True
