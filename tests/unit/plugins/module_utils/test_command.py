# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _command: run_command (real, harmless processes), timeouts, the Runner wrapper."""

import time

import pytest

from ansible_collections.containergen.images.plugins.module_utils._command import (
    CommandError, CommandTimeout, Runner, run_command,
)


# ---- run_command --------------------------------------------------------------------------------

def test_run_true():
    assert run_command(["true"]) == (0, "", "")


def test_run_exit_code():
    assert run_command(["sh", "-c", "exit 3"]) == (3, "", "")


def test_run_captures_stdout_and_stderr_separately():
    assert run_command(["sh", "-c", "echo out; echo err >&2"]) == (0, "out\n", "err\n")


def test_run_tuple_argv_accepted():
    assert run_command(("sh", "-c", "echo ok")) == (0, "ok\n", "")


@pytest.mark.parametrize("argv", ["true", "sh -c 'exit 0'", ["sh", 1], [b"true"], None])
def test_argv_must_be_a_list_of_strings(argv):
    with pytest.raises(TypeError) as info:
        run_command(argv)
    assert str(info.value) == "argv must be a list of strings, got %r" % (argv,)


def test_run_env_added_to_environment(monkeypatch):
    monkeypatch.setenv("CG_FROM_PARENT", "parent")
    rc, out, dummy = run_command(["sh", "-c", 'echo "$CG_FROM_PARENT $CG_ADDED"'], env={"CG_ADDED": "added"})
    assert (rc, out) == (0, "parent added\n")


def test_run_data_on_stdin():
    assert run_command(["cat"], data="secret\n") == (0, "secret\n", "")
    assert run_command(["cat"], data=b"bytes") == (0, "bytes", "")


def test_run_stdin_is_devnull_without_data():
    # cat would block forever on an inherited terminal/pipe; with /dev/null it ends at once
    assert run_command(["cat"], timeout=5) == (0, "", "")


def test_run_to_log_file(tmp_path):
    with open(tmp_path / "log", "wb") as log:
        result = run_command(["sh", "-c", "echo out; echo err >&2; exit 2"], log=log)
    assert result == (2, "", "")
    assert sorted((tmp_path / "log").read_text().splitlines()) == ["err", "out"]


def test_run_invalid_utf8_replaced():
    rc, out, dummy = run_command(["printf", "a\\377b"])
    assert (rc, out) == (0, "a\ufffdb")


def test_timeout_kills_the_process_group():
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        run_command(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    elapsed = time.monotonic() - start
    # the background sleep keeps stdout open: without the group kill communicate() would wait 30 s
    assert elapsed < 5, elapsed
    assert info.value.rc is None
    assert info.value.argv == ["sh", "-c", "sleep 30 & sleep 30"]
    assert str(info.value) == "sh -c timed out after 0 s (process group killed)"
    assert isinstance(info.value, CommandError)


def test_timeout_background_child_is_dead(tmp_path):
    pidfile = tmp_path / "pid"
    with pytest.raises(CommandTimeout):
        run_command(["sh", "-c", 'sleep 30 > /dev/null 2>&1 & echo $! > "$0"; wait', str(pidfile)], timeout=0.5)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # killed, waiting to be reaped by init
            return
        time.sleep(0.05)
    pytest.fail("background process %d still running" % pid)


def test_timeout_message_rounding():
    with pytest.raises(CommandTimeout) as info:
        run_command(["sleep", "5"], timeout=0.2)
    assert str(info.value) == "sleep 5 timed out after 0 s (process group killed)"


# ---- CommandError -------------------------------------------------------------------------------

def test_command_error_message_keeps_last_five_lines():
    output = "\n".join("line %d" % i for i in range(1, 9)) + "\n"
    error = CommandError(["buildah", "run", "c", "--", "x"], 2, output)
    assert str(error) == "buildah run exited with 2: line 4 | line 5 | line 6 | line 7 | line 8"
    assert (error.argv, error.rc, error.output) == (["buildah", "run", "c", "--", "x"], 2, output)


def test_command_error_without_output():
    assert str(CommandError(["a", "b"], 1, None)) == "a b exited with 1"


# ---- Runner -------------------------------------------------------------------------------------

class FakeRun(object):
    def __init__(self, *answers):
        self.calls = []
        self.answers = list(answers)

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        self.calls.append({"argv": argv, "timeout": timeout, "env": env, "data": data, "log": log})
        return self.answers.pop(0) if self.answers else (0, "", "")


def test_runner_passes_through():
    fake = FakeRun((0, "out", "err"))
    assert Runner(run=fake)(["echo", "hi"], data="x") == (0, "out", "err")
    assert fake.calls == [{"argv": ["echo", "hi"], "timeout": None, "env": None, "data": "x", "log": None}]


def test_runner_raises_on_failure_with_output():
    fake = FakeRun((1, "partial\n", "E: broken\n"))
    with pytest.raises(CommandError) as info:
        Runner(run=fake)(["apt-get", "install", "x"])
    assert (info.value.rc, info.value.output) == (1, "partial\nE: broken\n")
    assert str(info.value) == "apt-get install exited with 1: partial | E: broken"


def test_runner_check_false_returns_failure():
    assert Runner(run=FakeRun((7, "", "bad")))(["x"], check=False) == (7, "", "bad")


def test_runner_env_merged():
    fake = FakeRun()
    runner = Runner(run=fake, env={"A": "1", "B": "1"})
    runner(["x"], env={"B": "2", "C": "3"})
    assert fake.calls[0]["env"] == {"A": "1", "B": "2", "C": "3"}
    assert runner.env == {"A": "1", "B": "1"}
    child = runner.child(deadline=None)
    child(["y"])
    assert fake.calls[1]["env"] == {"A": "1", "B": "1"}


def test_runner_deadline_in_the_past_does_not_run():
    fake = FakeRun()
    runner = Runner(run=fake, deadline=time.monotonic() - 1)
    with pytest.raises(CommandTimeout) as info:
        runner(["buildah", "run", "c"])
    assert fake.calls == []
    assert info.value.argv == ["buildah", "run", "c"]


def test_runner_deadline_bounds_timeout():
    fake = FakeRun()
    runner = Runner(run=fake, deadline=time.monotonic() + 100)
    runner(["a"])
    runner(["b"], timeout=5)
    runner(["c"], timeout=1000)
    first, second, third = (call["timeout"] for call in fake.calls)
    assert 99 < first <= 100
    assert second == 5
    assert 99 < third <= 100


def test_runner_without_deadline_keeps_timeout():
    fake = FakeRun()
    Runner(run=fake)(["a"], timeout=12)
    assert fake.calls[0]["timeout"] == 12


def test_runner_child_shares_seam_and_env(tmp_path):
    fake = FakeRun()
    parent = Runner(run=fake, env={"A": "1"})
    with open(tmp_path / "log", "wb") as log:
        child = parent.child(deadline=123.0, log=log)
        assert (child.deadline, child.log, child.env) == (123.0, log, {"A": "1"})
        assert child._run is fake


def test_runner_logs_commands_to_file(tmp_path):
    fake = FakeRun((0, "captured stdout\n", ""), (0, "", "a warning\n"), (0, "", ""), (2, "out\n", "err\n"))
    path = tmp_path / "image.log"
    with open(path, "wb") as log:
        runner = Runner(run=fake, log=log)
        assert runner(["podman", "images"])[1] == "captured stdout\n"
        runner(["buildah", "config", "--label", "a=b c", "ctr"])
        runner(["buildah", "run", "ctr", "--", "true"], capture=False)
        runner(["false"], check=False)
    assert path.read_text() == (
        "$ podman images\n"
        "$ buildah config --label a=b c ctr\n"
        "a warning\n"
        "$ buildah run ctr -- true\n"
        "$ false\n"
        "out\nerr\n"
    )
    # capture=False hands the log file to the seam; captured calls get none
    assert [call["log"] is log for call in fake.calls] == [False, False, True, False]


def test_runner_error_output_from_log_tail(tmp_path):
    fake = FakeRun((100, "", ""))
    path = tmp_path / "image.log"
    with open(path, "wb") as log:
        log.write(b"Reading package lists...\nE: Unable to locate package nope\n")
        runner = Runner(run=fake, log=log)
        with pytest.raises(CommandError) as info:
            runner(["buildah", "run", "ctr", "--", "sh", "-c", "apt-get install nope"], capture=False)
    assert info.value.output == ("Reading package lists...\nE: Unable to locate package nope\n"
                                 "$ buildah run ctr -- sh -c apt-get install nope\n")
    assert str(info.value) == ("buildah run exited with 100: Reading package lists... | E: Unable to locate "
                               "package nope | $ buildah run ctr -- sh -c apt-get install nope")


def test_runner_real_command_to_log(tmp_path):
    path = tmp_path / "real.log"
    with open(path, "wb") as log:
        runner = Runner(log=log)
        assert runner(["sh", "-c", "echo streamed"], capture=False) == (0, "", "")
        assert runner(["sh", "-c", "echo captured"]) == (0, "captured\n", "")
        with pytest.raises(CommandError) as info:
            runner(["sh", "-c", "echo failing output; exit 4"], capture=False)
    assert info.value.rc == 4
    assert info.value.output.endswith("failing output\n")
    assert path.read_text() == ("$ sh -c echo streamed\nstreamed\n$ sh -c echo captured\n"
                                "$ sh -c echo failing output; exit 4\nfailing output\n")


def test_runner_real_timeout_from_deadline():
    runner = Runner(deadline=time.monotonic() + 0.3)
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        runner(["sleep", "10"])
    assert time.monotonic() - start < 5
