# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option values checked at parse time: one line naming the option, exit status 2."""

from __future__ import annotations

import pytest

from containergen_cli import core, main


def exit_of(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        main.parser().parse_args(list(argv))
    captured = capsys.readouterr()
    return info.value.code, captured.err, captured.out


@pytest.mark.parametrize("argv,line", [
    (["plan", "--threads", "0"], "containergen plan: --threads 0: must be a whole number from 1 to 64\n"),
    (["build", "--threads", "x"], "containergen build: --threads x: must be a whole number\n"),
    (["build", "--engine", "podman"], "containergen build: --engine podman: must be one of buildah, docker\n"),
    (["plan", "--label", "=x"],
     "containergen plan: --label =x: must be a non-empty key of letters, digits, . _ / - such as org.example.team\n"),
    (["plan", "--tcib-extras", "x"], "containergen plan: --tcib-extras x: expected KEY=VALUE\n"),
    (["publish", "--local-tag", ""], "containergen publish: --local-tag '': must be 1-128 characters of letters, "
                                     "digits, _ . - not starting with . or -, such as 2025.1\n"),
    (["plan", "--bogus"], "containergen: unrecognized arguments: --bogus\n"),
])
def test_bad_values_exit_2_with_one_line(capsys, argv, line):
    assert exit_of(capsys, *argv) == (2, line, "")


def test_good_values_parse(tmp_path):
    args = main.parser().parse_args(["publish", "--local-namespace", "localhost/cg-x", "--local-tag", "t1",
                                     "--work-dir", str(tmp_path), "--namespace", "a/b"])
    variables = core.publish_variables(args)
    assert (variables["publish_local_namespace"], variables["publish_local_tag"]) == ("localhost/cg-x", "t1")
    assert variables["publish_namespace"] == "a/b"
    defaults = core.publish_variables(main.parser().parse_args(["publish"]))
    assert (defaults["publish_local_namespace"], defaults["publish_local_tag"]) == ("localhost/containergen", "latest")


def test_build_push_publishes_what_it_built():
    args = main.parser().parse_args(["build", "--namespace", "ns", "--tag", "zed", "--push"])
    variables = core.publish_variables(args, local_namespace=core.build_variables(args)["image_build_namespace"])
    assert (variables["publish_local_namespace"], variables["publish_local_tag"]) == ("localhost/ns", "zed")


def test_actions_check_too_for_the_openstack_plugin():
    """cliff parses with its own parser: the actions check the values again and raise UsageError."""
    args = main.parser().parse_args(["plan"])
    args.tag = "a:b"
    with pytest.raises(core.UsageError) as info:
        core.plan(args)
    assert str(info.value).startswith("--tag a:b: must be")
    assert info.value.exit_code == 2
