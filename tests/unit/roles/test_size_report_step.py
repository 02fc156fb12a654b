# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main job makes the size report: site.yml turns image_build_sizes on for the build, and the role's
step writes it where the README says (WORK_DIR/sizes.json and sizes.svg, against the previous one)."""

from __future__ import annotations

import pathlib

import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_site_turns_the_size_report_on_for_the_build():
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    build = [play for play in plays if play.get("ansible.builtin.import_playbook") == "containergen.images.build"]
    assert len(build) == 1
    assert build[0]["vars"]["image_build_sizes"] == "{{ containergen_sizes | default(true) | bool }}"


def test_the_role_step_writes_the_report_in_the_work_dir_against_the_previous_one():
    tasks = yaml.safe_load((REPO / "roles" / "image_build" / "tasks" / "build.yml").read_text())
    steps = [task for task in tasks if "containergen.images.image_sizes" in task]
    assert len(steps) == 1
    step = steps[0]
    args = step["containergen.images.image_sizes"]
    assert step["when"] == "image_build_sizes | bool"
    assert args["json_path"] == "{{ image_build_work_dir }}/sizes.json"
    assert args.get("chart_path", args.get("svg_path")) == "{{ image_build_work_dir }}/sizes.svg"
    assert "sizes.json" in args["against"] and args["work_dir"] == "{{ image_build_work_dir }}"
    readme = (REPO / "README.md").read_text()
    assert "WORK_DIR/sizes.json" in readme
