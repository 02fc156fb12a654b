# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _buildah: the exact argv of every engine call, through Runner's run seam."""

import json
import re
import shlex

import pytest

from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine, healthcheck_flags
from fakes import FakeRun  # pylint: disable=import-error
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner


@pytest.fixture
def fake():
    return FakeRun()


@pytest.fixture
def runner(fake):
    return Runner(run=fake)


ENGINE = BuildahEngine()


def test_defaults():
    engine = BuildahEngine()
    assert (engine.name, engine.buildah, engine.podman, engine.isolation, engine.network) == (
        "buildah", "buildah", "podman", "chroot", "host")


def test_from_image(fake, runner):
    container = ENGINE.from_image(runner, "localhost/containergen/base:latest", "keystone")
    assert re.fullmatch(r"cg-keystone-[0-9a-f]{8}", container)
    assert fake.argvs == [["buildah", "from", "--pull=never", "--quiet", "--name", container,
                           "localhost/containergen/base:latest"]]


def test_from_image_names_are_unique(runner):
    names = {ENGINE.from_image(runner, "x", "same") for dummy in range(20)}
    assert len(names) == 20


def test_run_step_string_goes_through_sh(fake, runner):
    ENGINE.run_step(runner, "cg-x-1", "apt-get update && apt-get install -y curl")
    assert fake.argvs == [["buildah", "run", "--isolation", "chroot", "--network", "host", "cg-x-1", "--",
                           "/bin/sh", "-c", "apt-get update && apt-get install -y curl"]]


def test_run_step_list_is_argv(fake, runner):
    ENGINE.run_step(runner, "cg-x-1", ["mkdir", "-p", "/a b"])
    assert fake.argvs == [["buildah", "run", "--isolation", "chroot", "--network", "host", "cg-x-1", "--",
                           "mkdir", "-p", "/a b"]]


def test_run_step_env_sorted_and_shell(fake, runner):
    engine = BuildahEngine(buildah="/usr/local/bin/buildah", isolation="oci", network="none")
    engine.run_step(runner, "c", "echo $B", shell=["/bin/bash", "-o", "pipefail", "-c"],
                    env={"ZED": "1", "A": "x=y", "M": ""})
    assert fake.argvs == [["/usr/local/bin/buildah", "run", "--isolation", "oci", "--network", "none",
                           "--env", "A=x=y", "--env", "M=", "--env", "ZED=1", "c", "--",
                           "/bin/bash", "-o", "pipefail", "-c", "echo $B"]]


def test_run_step_output_goes_to_log(tmp_path, fake):
    with open(tmp_path / "log", "wb") as log:
        runner = Runner(run=fake, log=log)
        ENGINE.run_step(runner, "c", "true")
        ENGINE.capture(runner, "c", ["true"])
    assert fake.calls[0]["log"] is log  # run steps stream to the log (capture=False)
    assert fake.calls[1]["log"] is None  # capture returns stdout


def test_run_step_failure_raises():
    failing = Runner(run=FakeRun((100, "", "E: Unable to locate package nope\n")))
    with pytest.raises(CommandError) as info:
        ENGINE.run_step(failing, "c", "apt-get install nope")
    assert info.value.rc == 100
    assert info.value.output == "E: Unable to locate package nope\n"


def test_capture():
    runner = Runner(run=FakeRun((0, "bash\t5.2\ncurl\t7.88\n", "")))
    out = ENGINE.capture(runner, "c", ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"])
    assert out == "bash\t5.2\ncurl\t7.88\n"
    assert runner._run.argvs == [["buildah", "run", "--isolation", "chroot", "--network", "host", "--user",
                                  "root", "c", "--", "dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"]]


def test_configure_batches_everything_in_one_call(fake, runner):
    ENGINE.configure(runner, "cg-k-1", [
        ("label", {"z": "1", "a": "x=y", "m": "2"}),
        ("env", "LANG=C.UTF-8"),
        ("user", "root"),
        ("workdir", "/var/lib/x"),
        ("expose", "5000"),
        ("volume", "/data"),
        ("stopsignal", "SIGTERM"),
        ("onbuild", "RUN echo"),
        ("shell", "/bin/bash -c"),
        ("shell", ["/bin/sh", "-ec"]),
        ("entrypoint", ["dumb-init", "--single-child", "--"]),
        ("cmd", "keystone-wsgi-public --port 5000"),
        ("healthcheck", "--interval=30s CMD curl -f http://localhost:5000/"),
    ])
    assert fake.argvs == [[
        "buildah", "config",
        "--label", "a=x=y", "--label", "m=2", "--label", "z=1",
        "--env", "LANG=C.UTF-8",
        "--user", "root",
        "--workingdir", "/var/lib/x",
        "--port", "5000",
        "--volume", "/data",
        "--stop-signal", "SIGTERM",
        "--onbuild", "RUN echo",
        "--shell", "/bin/bash -c",
        "--shell", "/bin/sh -ec",
        "--entrypoint", '["dumb-init", "--single-child", "--"]',
        "--cmd", '["keystone-wsgi-public", "--port", "5000"]',
        "--healthcheck", "CMD-SHELL 'curl -f http://localhost:5000/'", "--healthcheck-interval", "30s",
        "cg-k-1",
    ]]
    argv = fake.argvs[0]
    assert json.loads(argv[argv.index("--entrypoint") + 1]) == ["dumb-init", "--single-child", "--"]


def test_configure_with_nothing_still_names_container(fake, runner):
    ENGINE.configure(runner, "c", [])
    assert fake.argvs == [["buildah", "config", "c"]]


def test_transfer(fake, runner):
    ENGINE.transfer(runner, "c", "copy", ["/defs/a", "/defs/b"], "/dest/")
    ENGINE.transfer(runner, "c", "add", ["/defs/x.tar"], "/opt", chown="1000:1000")
    assert fake.argvs == [["buildah", "copy", "c", "/defs/a", "/defs/b", "/dest/"],
                          ["buildah", "add", "--chown", "1000:1000", "c", "/defs/x.tar", "/opt"]]


def test_commit_returns_last_line():
    runner = Runner(run=FakeRun((0, "Getting image source signatures\nWriting manifest\nsha256abc123\n", "")))
    image_id = ENGINE.commit(runner, "cg-k-1", "localhost/containergen/keystone:latest")
    assert image_id == "sha256abc123"
    assert runner._run.argvs == [["buildah", "commit", "--quiet", "--format", "docker", "--rm", "cg-k-1",
                                  "localhost/containergen/keystone:latest"]]


def test_commit_without_output():
    runner = Runner(run=FakeRun((0, "  \n", "")))
    assert ENGINE.commit(runner, "c", "r") == ""


def test_remove_container_and_image_do_not_check():
    runner = Runner(run=FakeRun((1, "", "no such container"), (1, "", "no such image")))
    ENGINE.remove_container(runner, "cg-x")
    ENGINE.remove_image(runner, "localhost/x:1")
    assert runner._run.argvs == [["buildah", "rm", "cg-x"], ["buildah", "rmi", "localhost/x:1"]]


def test_tag(fake, runner):
    ENGINE.tag(runner, "0123abcd", "localhost/containergen/base:latest")
    assert fake.argvs == [["buildah", "tag", "0123abcd", "localhost/containergen/base:latest"]]


PODMAN_IMAGES = json.dumps([
    {"Id": "aaa", "Names": ["localhost/containergen/base:latest", "localhost/containergen/base:2024"],
     "Labels": {"containergen.fingerprint": "f1"}, "Size": 123},
    {"Id": "bbb", "Names": None, "Labels": None, "Size": 5},  # dangling: no name
    {"Id": "ccc", "Names": ["quay.io/centos/centos:stream9"], "Labels": None},
])


def test_list_images_parses_podman_json():
    runner = Runner(run=FakeRun((0, PODMAN_IMAGES, "")))
    images = ENGINE.list_images(runner)
    assert runner._run.argvs == [["podman", "images", "--format", "json"]]
    assert images == {
        "localhost/containergen/base:latest": {"id": "aaa", "labels": {"containergen.fingerprint": "f1"},
                                               "size": 123},
        "localhost/containergen/base:2024": {"id": "aaa", "labels": {"containergen.fingerprint": "f1"},
                                             "size": 123},
        "quay.io/centos/centos:stream9": {"id": "ccc", "labels": {}, "size": 0},
    }


def test_list_images_empty_output():
    assert ENGINE.list_images(Runner(run=FakeRun((0, "", "")))) == {}
    assert ENGINE.list_images(Runner(run=FakeRun((0, "[]", "")))) == {}


def test_leftover_containers():
    runner = Runner(run=FakeRun((0, "cg-a-1\nother\ncg-b-2\n", "")))
    assert ENGINE.leftover_containers(runner) == ["cg-a-1", "cg-b-2"]
    assert runner._run.argvs == [["buildah", "containers", "--format", "{{.ContainerName}}"]]


# ---- healthcheck_flags --------------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ("CMD redis-cli ping", ["--healthcheck", "CMD-SHELL 'redis-cli ping'"]),
    ("CMD test -x /usr/bin/keystone-manage", ["--healthcheck", "CMD-SHELL 'test -x /usr/bin/keystone-manage'"]),
    ("cmd /openstack/healthcheck", ["--healthcheck", "CMD-SHELL /openstack/healthcheck"]),
    ("CMD sh -c 'exit 0'", ["--healthcheck", "CMD-SHELL 'sh -c '\"'\"'exit 0'\"'\"''"]),
    ('CMD ["sh", "-c", "exit 0"]', ["--healthcheck", "CMD sh -c 'exit 0'"]),
    ("/openstack/healthcheck 5672", ["--healthcheck", "CMD-SHELL '/openstack/healthcheck 5672'"]),
    ("NONE", ["--healthcheck", "NONE"]),
    ("none", ["--healthcheck", "NONE"]),
    ("--interval=30s --timeout=5s --start-period=1m --retries=3 CMD curl -f http://x/",
     ["--healthcheck", "CMD-SHELL 'curl -f http://x/'", "--healthcheck-interval", "30s", "--healthcheck-timeout", "5s",
      "--healthcheck-start-period", "1m", "--healthcheck-retries", "3"]),
    ("--retries=2 CMD /bin/check", ["--healthcheck", "CMD-SHELL /bin/check", "--healthcheck-retries", "2"]),
    (["CMD", "pg_isready", "-h", "a b"], ["--healthcheck", "CMD pg_isready -h 'a b'"]),
])
def test_healthcheck_flags(spec, expected):
    assert healthcheck_flags(spec) == expected


def test_healthcheck_unknown_option():
    with pytest.raises(ValueError) as info:
        healthcheck_flags("--frequency=3s CMD true")
    assert str(info.value) == "unknown HEALTHCHECK option --frequency"


def test_healthcheck_shell_form_keeps_shell_semantics():
    flags = healthcheck_flags("CMD curl -f http://localhost/ || exit 1")
    # buildah parses the --healthcheck value into words (shellwords): the resulting Test must be Docker's
    assert shlex.split(flags[1]) == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]


def test_healthcheck_exec_form_json():
    flags = healthcheck_flags('CMD ["redis-cli", "ping"]')
    assert shlex.split(flags[1]) == ["CMD", "redis-cli", "ping"]


def test_configure_removes_a_label_given_none():
    runner = Runner(run=FakeRun((0, "", "")))
    ENGINE.configure(runner, "ctr", [("label", {"keep": "1", "org.opencontainers.image.base.name": None})])
    assert runner._run.argvs == [["buildah", "config", "--label", "keep=1",
                                  "--label", "org.opencontainers.image.base.name-", "ctr"]]
