# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _contract: the manifest script and the step forms the plan and engines share."""

from __future__ import annotations

import pytest

from ansible_collections.containergen.images.plugins.module_utils._contract import (
    Healthcheck, Transfer, healthcheck_step, manifest_script, parse_healthcheck, parse_transfer, step_form,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import PlannedImage

DEB = {"package_manager": {"manifest": ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"],
                           "cleanup": "apt-get clean # keep the lists"}}


def test_manifest_script_runs_cleanup_to_stderr_then_the_query():
    # the closing brace on its own line: a cleanup ending in a comment must not swallow it
    assert manifest_script(DEB) == ("{ apt-get clean # keep the lists\n} >&2 && "
                                    "dpkg-query -W -f '${Package}\\t${Version}\\n'")
    assert manifest_script({"package_manager": {"manifest": ["rpm", "-qa"]}}) == "rpm -qa"
    assert manifest_script(DEB, query="Q").endswith("} >&2 && Q")


@pytest.mark.parametrize("arg, form", [
    ("a b /dest/", Transfer(["a", "b"], "/dest/", None)),
    ("--chown=1:2 'x y' /d", Transfer(["x y"], "/d", "1:2")),
    (["--chown=svc", "f", "/f"], Transfer(["f"], "/f", "svc")),
])
def test_parse_transfer(arg, form):
    assert parse_transfer(arg) == form


@pytest.mark.parametrize("arg, problem", [
    ("only", "needs at least one source and a destination"),
    ("--from=x a /b", "option '--from=x' is not supported"),
    ("--chown=a;b f /f", "--chown:"),
    ("'unclosed /f", "cannot split into words"),
])
def test_parse_transfer_refuses(arg, problem):
    with pytest.raises(ValueError) as info:
        parse_transfer(arg)
    assert problem in str(info.value)


@pytest.mark.parametrize("arg, form", [
    ("CMD true", Healthcheck("SHELL", [], "true", "", "true")),
    ("--retries=2  CMD x || y", Healthcheck("SHELL", [("--retries", "2")], "x || y", "--retries=2  ", "x || y")),
    ('CMD ["a", "b"]', Healthcheck("EXEC", [], ["a", "b"], "", '["a", "b"]')),
    (["CMD", "a", "b c"], Healthcheck("EXEC", [], ["a", "b c"], "", '["a", "b c"]')),
    (["NONE"], Healthcheck("NONE", [], [])),
    ("none", Healthcheck("NONE", [], [])),
    ("check 1", Healthcheck("SHELL", [], "check 1", "", "check 1")),  # lenient: no CMD
])
def test_parse_healthcheck(arg, form):
    assert parse_healthcheck(arg) == form


@pytest.mark.parametrize("arg, problem", [
    ("check 1", "must be [--interval"),
    ("NONE --retries=1", "NONE takes no options or command"),
    ("--interval=soon CMD x", "option --interval: must be a duration"),
    ("--retries=0 CMD x", "option --retries: must be a whole number from 1 up"),
    ("--every=1s CMD x", "unknown HEALTHCHECK option --every"),
    ("CMD", "CMD needs a command"),
    ("CMD [1]", "CMD [...] must be a JSON list of words"),
    ([], "must be [--interval"),
])
def test_strict_healthcheck_refuses(arg, problem):
    with pytest.raises(ValueError) as info:
        parse_healthcheck(arg, strict=True)
    assert problem in str(info.value)


def test_the_plan_records_cmd_shell_as_cmd():
    assert healthcheck_step("--interval=5s CMD-SHELL curl -f x || exit 1") == "--interval=5s CMD curl -f x || exit 1"
    assert healthcheck_step("NONE") == "NONE"
    assert healthcheck_step(["CMD", "a"]) == ["CMD", "a"]


def test_step_forms_are_parsed_once_per_planned_image():
    steps = [("copy", "--chown=1:1 f /f"), ("entrypoint", "dumb-init --"), ("healthcheck", "CMD true"),
             ("run", "echo"), ("label", {"a": "1"})]
    planned = PlannedImage("x", None, "r", "b", steps, [], {}, "fp", 0)
    forms = planned.step_forms()
    assert forms == [(verb, arg, step_form(verb, arg)) for verb, arg in steps]
    assert [form for dummy, dummy, form in forms] == [
        Transfer(["f"], "/f", "1:1"), ["dumb-init", "--"], Healthcheck("SHELL", [], "true", "", "true"), "echo",
        {"a": "1"}]
    assert planned.step_forms() is forms
