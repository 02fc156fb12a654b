# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""--no-hoist: every verb that plans (plan, build, list, show, render, graph, and the OpenStack client's
commands) takes it from the shared image options, it reaches PlanOptions/BuildOptions and the role
variable image_build_hoist, and without it the collection's debian13 set plans its os-shared layer.
The local store is stubbed at the command boundary (Runner); nothing is built."""

from __future__ import annotations

import io
import json

import pytest

from containergen_cli import core, main
from containergen_cli.osc import v1

core.collection_root()
from ansible_collections.containergen.images.plugins.module_utils import _command  # noqa: E402  pylint: disable=wrong-import-position

PODMAN_IMAGES = ["podman", "images", "--format", "json"]
VERBS = [["plan"], ["build"], ["list"], ["show", "keystone"], ["render", "keystone"], ["graph"]]


def shared(names):
    return [name for name in names if name.endswith("-shared") or "-shared-" in name]


def run(argv, monkeypatch):
    """main.main(argv) with only `podman images` answered (an empty store); (exit code, stdout, stderr, argvs)."""
    calls = []

    def call(self, command, check=True, **kwargs):  # pylint: disable=unused-argument
        calls.append(list(command))
        if list(command) == PODMAN_IMAGES:
            return 0, "[]", ""
        raise AssertionError("unexpected command %r" % (command,))

    monkeypatch.setattr(_command.Runner, "__call__", call)
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    out, err = io.StringIO(), io.StringIO()
    code = main.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue(), calls


@pytest.mark.parametrize("verb", VERBS, ids=lambda verb: verb[0])
def test_every_planning_verb_takes_no_hoist(verb):
    parser = main.parser()
    assert parser.parse_args(verb).hoist is True
    args = parser.parse_args(verb + ["--no-hoist"])
    assert args.hoist is False
    assert core.plan_options(args).hoist is False
    assert core.plan_options(parser.parse_args(verb)).hoist is True


def test_no_hoist_reaches_build_options_and_the_role_variable(tmp_path):
    parser = main.parser()
    args = parser.parse_args(["build", "--no-hoist", "--work-dir", str(tmp_path)])
    assert core.build_options(args).hoist is False
    assert core.build_variables(args)["image_build_hoist"] is False
    default = parser.parse_args(["build", "--work-dir", str(tmp_path)])
    assert core.build_options(default).hoist is True
    assert core.build_variables(default)["image_build_hoist"] is True


def test_build_runs_the_playbook_with_hoisting_off(monkeypatch, tmp_path):
    seen = {}

    def playbook(name, variables, out, **kwargs):  # pylint: disable=unused-argument
        seen[name] = variables
        (tmp_path / "summary.json").write_text(json.dumps({"images": [], "images_built": []}))

    monkeypatch.setattr(core, "run_playbook", playbook)
    args = main.parser().parse_args(["build", "--no-hoist", "--work-dir", str(tmp_path), "--include", "cron"])
    core.build(args, out=io.StringIO())
    assert seen["build"]["image_build_hoist"] is False


@pytest.mark.parametrize("command", [v1.Build, v1.Plan, v1.List, v1.Show, v1.Render, v1.Graph])
def test_openstack_client_commands_take_no_hoist(command):
    parser = command(None, None).get_parser("openstack containergen image x")
    argv = ["keystone"] if command in (v1.Show, v1.Render) else []
    assert parser.parse_args(argv).hoist is True
    assert parser.parse_args(argv + ["--no-hoist"]).hoist is False


def test_plan_without_hoisting_shows_no_shared_image(monkeypatch):
    code, out, err, calls = run(["plan", "--json"], monkeypatch)
    assert code == 0, err
    hoisted = json.loads(out)
    assert shared(hoisted["order"]) == ["os-shared"]
    assert [entry["name"] for entry in hoisted["hoist"]] == ["os-shared"]
    code, out, err, calls = run(["plan", "--json", "--no-hoist"], monkeypatch)
    assert code == 0, err
    assert calls == [PODMAN_IMAGES]
    flat = json.loads(out)
    assert shared(flat["order"]) == [] and flat["hoist"] == []
    assert set(flat["order"]) == set(hoisted["order"]) - {"os-shared"}
    assert {i["name"]: i["parent"] for i in flat["images"]}["nova-base"] == "os"


def test_list_without_hoisting_lists_no_shared_image(monkeypatch, tmp_path):
    (tmp_path / "images.lock.json").write_text(json.dumps({"images": {}}))
    argv = ["list", "--json", "--lock-file", str(tmp_path / "images.lock")]
    code, out, err, _calls = run(argv, monkeypatch)
    assert code == 0, err
    assert shared(row["name"] for row in json.loads(out)["images"]) == ["os-shared"]
    code, out, err, _calls = run(argv + ["--no-hoist"], monkeypatch)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["images"]}
    assert shared(rows) == [] and rows["nova-base"]["parent"] == "os"


def test_render_without_hoisting_builds_from_the_real_parent(monkeypatch):
    code, out, err, calls = run(["render", "nova-base"], monkeypatch)
    assert code == 0, err
    assert "FROM localhost/containergen/os-shared:latest" in out.splitlines()
    code, out, err, calls = run(["render", "nova-base", "--no-hoist"], monkeypatch)
    assert code == 0, err
    assert "FROM localhost/containergen/os:latest" in out.splitlines()
    assert "-shared" not in out and calls == []
