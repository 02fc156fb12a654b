# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command's live progress from the build's events: plain lines (exact), the heartbeat of the
running images, the ETA from the last run's timings, the build-lock wait line, the choice of the
live display, and --keep-failed / --logs-dir as the build's role variables."""

from __future__ import annotations

import argparse
import io
import json
import re
import time

import pytest

from containergen_cli import core, progress


def plain(timings=None, to_build=None, heartbeat=30.0):
    out = io.StringIO()
    return progress.PlainRenderer(progress.State(timings, to_build), out, heartbeat=heartbeat), out


def feed(renderer, events):
    for event in events:
        if event.get("event") == "tick":
            renderer.tick(event["t"])
        else:
            renderer.handle(event)


BUILD = [
    {"event": "base", "ref": "localhost/debian:trixie", "state": "start", "seconds": 0.0, "t": 100.0},
    {"event": "base", "ref": "localhost/debian:trixie", "state": "bootstrapped", "seconds": 31.04, "t": 131.0},
    {"event": "plan", "images": ["base", "cron", "keystone"], "threads": 2, "t": 131.5},
    {"event": "finish", "image": "base", "status": "skipped", "seconds": 0.0, "error": "", "log": "",
     "container": "", "t": 131.6},
    {"event": "start", "image": "cron", "attempt": 1, "t": 132.0},
    {"event": "step", "image": "cron", "step": "package install", "t": 132.5},
    {"event": "start", "image": "keystone", "attempt": 1, "t": 133.0},
    {"event": "step", "image": "keystone", "step": "package install", "t": 134.0},
    {"event": "tick", "t": 150.0},
    {"event": "tick", "t": 165.0},
    {"event": "step", "image": "cron", "step": "commit", "t": 170.0},
    {"event": "finish", "image": "cron", "status": "built", "seconds": 38.4, "error": "", "log": "/w/logs/cron.log",
     "container": "", "t": 170.4},
    {"event": "finish", "image": "keystone", "status": "failed", "seconds": 50.0,
     "error": "buildah run cg-keystone-0a1b2c3d: exit status 100\nE: Unable to locate package nope",
     "log": "/w/logs/keystone.log", "container": "containergen-failed-keystone-0a1b2c3d", "t": 183.0},
    {"event": "end", "seconds": 83.0, "counts": {"built": 1, "failed": 1, "skipped": 1}, "t": 183.1},
]


def test_plain_lines_of_a_build_exactly():
    renderer, out = plain(timings={"cron": 40.0, "keystone": 100.0}, to_build=["cron", "keystone"])
    feed(renderer, BUILD)
    assert out.getvalue().splitlines() == [
        "base localhost/debian:trixie bootstrapped in 31.0s",
        "build: 3 images, 2 at a time; ETA 1m40s (last run's timings)",
        "[1/3] skipped  base                        0.0s  ETA 1m40s",
        "start    cron",
        "step     cron: package install (+0.5s)",
        "start    keystone",
        "step     keystone: package install (+1.0s)",
        # 30 s without a line: the running images, their steps and how long they have been at them
        "...      1/3 done; cron: package install 32.5s, keystone: package install 31.0s; ETA 1m08s",
        "step     cron: commit (+38.0s)",
        "[2/3] built    cron                       38.4s  ETA 1m02s",
        "[3/3] failed   keystone                   50.0s  buildah run cg-keystone-0a1b2c3d: exit status 100 "
        "E: Unable to locate package nope; log: /w/logs/keystone.log; "
        "working container kept: containergen-failed-keystone-0a1b2c3d",
    ]


def test_no_eta_without_timings_and_an_attempt_number_when_retried():
    renderer, out = plain()
    feed(renderer, [{"event": "plan", "images": ["cron"], "threads": 1, "t": 1.0},
                    {"event": "start", "image": "cron", "attempt": 1, "t": 1.0},
                    {"event": "start", "image": "cron", "attempt": 2, "t": 9.0},
                    {"event": "finish", "image": "cron", "status": "interrupted", "seconds": 9.5,
                     "error": "interrupted by SIGINT", "log": "", "container": "", "t": 10.5}])
    assert out.getvalue().splitlines() == [
        "build: 1 images, 1 at a time",
        "start    cron",
        "start    cron (attempt 2)",
        "[1/1] interrupted cron                        9.5s  interrupted by SIGINT",
    ]


def test_eta_counts_only_images_to_build_and_what_is_left_of_running_ones():
    state = progress.State({"a": 100.0, "b": 40.0, "c": 10.0, "old": 500.0}, to_build=["a", "b", "c"])
    state.apply({"event": "plan", "images": ["old", "a", "b", "c", "new"], "threads": 2, "t": 0.0})
    assert state.eta(0.0) == 100.0  # the longest one left bounds it: (100 + 40 + 10) / 2 = 75 < 100
    state.apply({"event": "start", "image": "a", "t": 0.0})
    state.apply({"event": "finish", "image": "b", "t": 30.0})
    state.apply({"event": "finish", "image": "c", "t": 30.0})
    assert state.eta(90.0) == 10.0
    state.apply({"event": "finish", "image": "a", "t": 95.0})
    assert state.eta(95.0) is None  # "new" has no time yet


def test_lock_wait_line(monkeypatch):
    monkeypatch.setattr(progress.time, "localtime", time.gmtime)
    renderer, out = plain(heartbeat=60.0)
    feed(renderer, [
        {"event": "lock_wait", "pid": 4242, "since": 1764667262.0, "lock": "/run/lock/containergen-build.lock",
         "t": 1764667300.0},
        {"event": "tick", "t": 1764667330.0},
        {"event": "tick", "t": 1764667360.0},
        {"event": "lock", "waited": 75.5, "t": 1764667375.5},
        {"event": "lock_wait", "pid": 4343, "since": None, "lock": "/l", "t": 1.0},
        {"event": "lock_wait", "pid": None, "since": None, "lock": "/l", "t": 1.0},
    ])
    assert out.getvalue().splitlines() == [
        "waiting for the build lock held by PID 4242 since 2025-12-02 09:21:02 (/run/lock/containergen-build.lock)",
        "...      still waiting for the build lock held by PID 4242 since 2025-12-02 09:21:02 "
        "(/run/lock/containergen-build.lock)",
        "build lock taken after 1m15s",
        "waiting for the build lock held by PID 4343 (/l)",
        "waiting for the build lock held by another build (/l)",
    ]


def test_verbose_text_goes_through_as_lines():
    renderer, out = plain()
    renderer.message("PLAY [Build container images]")
    renderer.message("ok: [localhost]\n")
    assert out.getvalue() == "PLAY [Build container images]\nok: [localhost]\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream, term, live", [
    (Terminal(), "xterm-256color", True),
    (Terminal(), "dumb", False),
    (Terminal(), "", False),
    (io.StringIO(), "xterm", False),  # not a terminal: plain lines
])
def test_live_display_only_on_a_terminal_that_redraws(stream, term, live):
    assert progress.use_live(stream, {"TERM": term}) is live
    shown = progress.renderer(stream, progress.State(), live=progress.use_live(stream, {"TERM": term}))
    try:
        assert isinstance(shown, progress.LiveRenderer if live else progress.PlainRenderer)
    finally:
        shown.close()


def test_live_display_draws_the_running_images_without_colour_under_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    shown = progress.renderer(Terminal(), progress.State({"cron": 100.0}), live=True)
    try:
        assert shown.console.no_color
        shown.clock = lambda: 210.0
        for event in BUILD[2:8]:
            shown.handle(event)
        with shown.console.capture() as captured:
            shown.console.print(shown.render())
            shown.console.print(progress.finish_line(shown.state, BUILD[11]), style="green")  # as a finish is shown
        text = captured.get()
    finally:
        shown.close()
    assert not re.search("\x1b\\[[0-9;]*3[0-9]", text)  # no colour (bold stays)
    plain_text = re.sub("\x1b\\[[0-9;]*[A-Za-z]", "", text)
    assert [" ".join(line.split()) for line in plain_text.splitlines() if line.strip()] == [
        "cron package install 1m17s (1m18s)",  # the step's elapsed time, then the image's
        "keystone package install 1m16s (1m17s)",
        "1/3 done ETA 22.0s",
        "[1/3] built cron 38.4s",
    ]


def test_live_display_has_colour_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    shown = progress.renderer(Terminal(), progress.State(), live=True)
    try:
        with shown.console.capture() as captured:
            shown.console.print("built", style="green")
    finally:
        shown.close()
    assert re.search("\x1b\\[[0-9;]*32m", captured.get())


def test_timings_come_from_the_last_summary_then_accumulate(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"images": [
        {"name": "cron", "status": "built", "seconds": 12.5}, {"name": "base", "status": "skipped", "seconds": 0.1}]}))
    assert progress.load_timings(str(tmp_path)) == {"cron": 12.5}
    progress.save_timings(str(tmp_path), {"images": [{"name": "keystone", "status": "built", "seconds": 80.0},
                                                     {"name": "cron", "status": "skipped", "seconds": 0.1}]})
    assert progress.load_timings(str(tmp_path)) == {"cron": 12.5, "keystone": 80.0}


def parse(*argv):
    top = argparse.ArgumentParser()
    core.add_build_arguments(top)
    return top.parse_args(list(argv))


def test_keep_failed_and_logs_dir_are_the_build_role_variables(tmp_path):
    variables = core.build_variables(parse("--keep-failed", "--logs-dir", str(tmp_path / "logs")))
    assert variables["image_build_keep_failed"] is True
    assert variables["image_build_log_dir"] == str(tmp_path / "logs")
    default = core.build_variables(parse())
    assert default["image_build_keep_failed"] is False and "image_build_log_dir" not in default
    options = core.build_options(parse("--keep-failed", "--logs-dir", str(tmp_path)))
    assert (options.keep_failed, options.logs) == (True, str(tmp_path))


def test_logs_dir_must_be_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(core.UsageError, match=r"^--logs-dir %s: " % (blocker / "logs")):
        core.check_args("build", parse("--logs-dir", str(blocker / "logs")))
