# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The build's progress events (_progress): the file format, the follower, the step names, the
holder of the build lock; the events the scheduler and the buildah engine emit; keep_failed."""

from __future__ import annotations

import fcntl
import json
import os

from ansible_collections.containergen.images.plugins.module_utils import _progress
from ansible_collections.containergen.images.plugins.module_utils._build import BuildOptions, build_plan
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import Runner

from test_build import BASE_REF, definitions_for, planned, ref  # pylint: disable=import-error

PROFILE = {
    "name": "testdeb",
    "package_manager": {"install": "apt-get update -qq &&\n  apt-get install -y {{ packages }}",
                        "cleanup": "apt-get clean", "manifest": ["dpkg-query", "-W"]},
    "transient_errors": ["Temporary failure resolving"],
}


def clock(start=1000.0, step=0.5):
    now = [start - step]

    def tick():
        now[0] += step
        return now[0]
    return tick


def test_event_log_writes_one_json_object_a_line(tmp_path):
    path = str(tmp_path / "work" / "events.jsonl")
    log = _progress.EventLog(path, clock=clock())
    log.emit("start", image="cron", attempt=1)
    log.emit("step", image="cron", step="package install")
    log.close()
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == (
            '{"attempt": 1, "event": "start", "image": "cron", "t": 1000.0}\n'
            '{"event": "step", "image": "cron", "step": "package install", "t": 1000.5}\n')
    log.emit("end", seconds=1.0, counts={})  # after close: nothing, no error


def test_unknown_event_is_refused():
    try:
        _progress.EventLog().emit("started", image="x")
    except ValueError as exc:
        assert str(exc) == "unknown progress event 'started'"
    else:
        raise AssertionError("no error")


def test_follower_reads_whole_lines_only_and_starts_over_on_a_new_file(tmp_path):
    path = tmp_path / "events.jsonl"
    follower = _progress.Follower(str(path))
    assert follower.read() == []  # not there yet
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"event": "start", "image": "a", "t": 1}\nnot json\n{"event": "finish", "ima')
    assert follower.read() == [{"event": "start", "image": "a", "t": 1}]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('ge": "a", "t": 2}\n')
    assert follower.read() == [{"event": "finish", "image": "a", "t": 2}]
    os.unlink(path)
    with open(path, "w", encoding="utf-8") as handle:  # a new build's file
        handle.write('{"event": "plan", "images": [], "t": 3}\n')
    assert follower.read() == [{"event": "plan", "images": [], "t": 3}]


def test_package_install_is_named_by_the_profile_install_command():
    prefix = _progress.install_prefix(PROFILE)
    assert prefix == "apt-get update -qq && apt-get install -y"
    assert _progress.run_step_label("apt-get update -qq &&  apt-get install -y cron", prefix, 1, 2) == "package install"
    assert _progress.run_step_label("useradd x", prefix, 2, 2) == "run 2/2"
    assert _progress.run_step_label(["/bin/true"], prefix, 1, 1) == "run"
    assert _progress.install_prefix({}) == ""
    assert _progress.run_step_label("apt-get update -qq", "", 1, 1) == "run"


def test_lock_holder_from_the_kernel_table_and_the_holder_record(tmp_path):
    path = str(tmp_path / "build.lock")
    with open(path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _progress.write_holder(lock, clock=lambda: 1234.5)
        # the real table: this process holds it
        assert _progress.lock_holder(path) == (os.getpid(), 1234.5)
    stat = os.stat(path)
    device = "%02x:%02x:%d" % (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
    table = tmp_path / "locks"
    # another process holds it now: its pid, and no time (the record is of another process)
    table.write_text("1: POSIX  ADVISORY  WRITE 77 00:00:1 0 EOF\n2: FLOCK  ADVISORY  WRITE 4242 %s 0 EOF\n"
                     "2: -> FLOCK  ADVISORY  WRITE 4343 %s 0 EOF\n" % (device, device))
    assert _progress.lock_holder(path, str(table)) == (4242, None)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"pid": 4242, "since": 99.0}, handle)
    assert _progress.lock_holder(path, str(table)) == (4242, 99.0)
    table.write_text("")  # no table entry: what the file says
    assert _progress.lock_holder(path, str(table)) == (4242, 99.0)
    assert _progress.lock_holder(str(tmp_path / "none"), str(table)) == (None, None)


# ---- what the scheduler and the engine emit --------------------------------------------------------

class Commands(object):
    """The command boundary: answers buildah by verb, fails the RUN steps whose command is in fail."""

    def __init__(self, fail=()):
        self.argvs, self.fail = [], set(fail)

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        self.argvs.append(list(argv))
        if argv[:2] == ["buildah", "run"] and argv[-1] in self.fail:
            return 100, "", "E: broken"
        if argv[:2] == ["podman", "images"]:
            return 0, "[]", ""
        if argv[:2] == ["buildah", "run"] and "--user" in argv:
            return 0, "pkg\t1.0\n", ""
        if argv[:2] == ["buildah", "commit"]:
            return 0, "sha256:%s\n" % ("ab" * 32), ""
        return 0, "", ""


def run_build(tmp_path, monkeypatch, steps, keep_failed=False, fail=()):
    fixed = type("FixedUUID", (), {"hex": "feedfeedfeedfeed"})
    monkeypatch.setattr("ansible_collections.containergen.images.plugins.module_utils._buildah.uuid.uuid4", fixed)
    # the created time is not what these tests are about: commits as before reproducible builds
    monkeypatch.setattr(BuildahEngine, "source_date_epoch", lambda self, run, from_ref: None, raising=False)
    commands = Commands(fail)
    events = _progress.EventLog(str(tmp_path / "events.jsonl"), clock=clock())
    plan = [planned("solo", steps=steps)]
    results = build_plan(Runner(run=commands), BuildahEngine(), plan, PROFILE, definitions_for(plan, tmp_path),
                         BuildOptions(log_dir=str(tmp_path / "logs"), created="2024-01-01T00:00:00Z", retries=0,
                                      events=events, keep_failed=keep_failed), existing={BASE_REF: {
                                          "id": "base-id", "labels": {}, "size": 1}})
    events.close()
    return results, commands, _progress.Follower(str(tmp_path / "events.jsonl")).read()


def test_scheduler_and_engine_events_of_one_build(tmp_path, monkeypatch):
    steps = [("user", "root"), ("run", "apt-get update -qq && apt-get install -y cron"), ("run", "useradd x"),
             ("cmd", ["cron"])]
    results, dummy, events = run_build(tmp_path, monkeypatch, steps)
    assert results[0]["status"] == "built"
    seconds = results[0]["seconds"]
    assert [{k: v for k, v in e.items() if k != "t"} for e in events] == [
        {"event": "plan", "images": ["solo"], "threads": 2},
        {"event": "start", "image": "solo", "attempt": 1},
        {"event": "step", "image": "solo", "step": "package install"},
        {"event": "step", "image": "solo", "step": "run 2/2"},
        {"event": "step", "image": "solo", "step": "cleanup"},
        {"event": "step", "image": "solo", "step": "commit"},
        {"event": "finish", "image": "solo", "status": "built", "seconds": seconds, "error": "",
         "log": str(tmp_path / "logs" / "solo.log"), "container": ""},
    ]


def test_a_failed_image_keeps_its_working_container_with_keep_failed(tmp_path, monkeypatch):
    steps = [("user", "root"), ("run", "false")]
    results, commands, events = run_build(tmp_path, monkeypatch, steps, keep_failed=True, fail=["false"])
    kept = "containergen-failed-solo-feedfeed"
    assert results[0]["status"] == "failed" and results[0]["container"] == kept
    after = commands.argvs[commands.argvs.index(
        ["buildah", "run", "--isolation", "chroot", "--network", "host", "cg-solo-feedfeed", "--", "/bin/sh", "-c",
         "false"]) + 1:]
    assert after == [["buildah", "rename", "cg-solo-feedfeed", kept]]  # renamed, never removed
    assert events[-1]["container"] == kept and events[-1]["status"] == "failed"
    with open(tmp_path / "logs" / "solo.log", encoding="utf-8") as handle:
        assert handle.read().endswith("# working container kept: %s\n" % kept)


def test_without_keep_failed_the_working_container_is_removed(tmp_path, monkeypatch):
    results, commands, events = run_build(tmp_path, monkeypatch, [("user", "root"), ("run", "false")], fail=["false"])
    assert results[0]["status"] == "failed" and "container" not in results[0]
    assert commands.argvs[-1] == ["buildah", "rm", "cg-solo-feedfeed"]
    assert not any(argv[:2] == ["buildah", "rename"] for argv in commands.argvs)
    assert events[-1]["container"] == ""


def test_ref_helper_is_the_plan_reference():
    assert ref("solo") == "localhost/cg/solo:latest"
