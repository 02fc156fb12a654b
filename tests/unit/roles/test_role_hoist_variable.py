# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_build_hoist: a documented role variable (default true) that the role passes as the hoist option
to both modules of the build (image_plan and image_build share the selection's module_defaults)."""

from __future__ import annotations

import pathlib

import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "image_build"


def test_the_role_passes_image_build_hoist_to_the_plan_and_the_build():
    block = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())[0]
    defaults = block["module_defaults"]
    for module in ("containergen.images.image_plan", "containergen.images.image_build"):
        assert defaults[module]["hoist"] == "{{ image_build_hoist }}", module


def test_image_build_hoist_defaults_to_true_and_is_documented():
    assert yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["image_build_hoist"] is True
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    entry = spec["argument_specs"]["main"]["options"]["image_build_hoist"]
    assert (entry["type"], entry["default"]) == ("bool", True)
    assert "PARENT-shared" in " ".join(entry["description"])
