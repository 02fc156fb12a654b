# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Interrupting a build: the Cancel switch and the command wrapper (real, harmless processes), the
scheduler with the buildah engine behind a scripted command seam, the journal sweep, the docker
engine's cut, signal handlers and the watch on the process that started the build."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _command, _pipeline
from ansible_collections.containergen.images.plugins.module_utils._build import BuildOptions, Journal, build_plan, summarize
from ansible_collections.containergen.images.plugins.module_utils._contract import FINGERPRINT_LABEL
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancel, Cancelled, CommandError, Runner, interruptible, run_command, watched_ancestors,
)

from fakes import FakeRun  # pylint: disable=import-error
from test_build import BASE_REF, PROFILE, definitions_for, planned, ref  # pylint: disable=import-error
from test_docker import PROFILE as DOCKER_PROFILE  # pylint: disable=import-error
from test_docker import FakeClient, engine_for, fixed_marker  # pylint: disable=import-error
from test_docker import planned as docker_planned  # pylint: disable=import-error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
COLLECTIONS = os.path.join(REPO, ".cache", "collections")


def alive(pid):
    return _command._process_start(pid) is not None


# ---- Cancel and the Runner --------------------------------------------------------------------------

def test_cancelled_runner_starts_nothing():
    run = FakeRun()
    cancel = Cancel()
    cancel.set("interrupted by SIGINT", signal.SIGINT)
    with pytest.raises(Cancelled) as info:
        Runner(run=run, cancel=cancel)(["buildah", "commit", "ctr", "ref"])
    assert run.calls == []
    assert str(info.value) == "interrupted by SIGINT"
    assert isinstance(info.value, CommandError) and info.value.argv == ["buildah", "commit", "ctr", "ref"]
    assert (cancel.reason, cancel.signum) == ("interrupted by SIGINT", signal.SIGINT)


def test_first_reason_wins():
    cancel = Cancel()
    cancel.request("interrupted by SIGTERM", signal.SIGTERM)
    cancel.request("interrupted by SIGINT", signal.SIGINT)
    assert (cancel.reason, cancel.signum) == ("interrupted by SIGTERM", signal.SIGTERM)


def test_cleanup_runner_still_runs_after_the_interrupt():
    run = FakeRun()
    cancel = Cancel()
    runner = Runner(run=run, cancel=cancel)
    cancel.set()
    runner.child(deadline=None, log=None, cancel=False)(["buildah", "rm", "ctr"], check=False)
    assert run.argvs == [["buildah", "rm", "ctr"]]
    assert runner.child().cancel is cancel  # children share the switch unless told otherwise


def test_command_finishing_as_the_interrupt_comes_is_cancelled():
    cancel = Cancel()

    def run(argv, timeout=None, env=None, data=None, log=None):
        cancel.request("interrupted by SIGTERM")
        return 0, "image-id\n", ""

    with pytest.raises(Cancelled):
        Runner(run=run, cancel=cancel)(["buildah", "commit", "ctr", "ref"])


def run_in_thread(runner, argv):
    outcome = {}

    def target():
        start = time.monotonic()
        try:
            outcome["result"] = runner(argv)
        except Exception as exc:  # pylint: disable=broad-except
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_interrupt_kills_the_running_command_and_its_process_group(tmp_path):
    cancel = Cancel()
    pidfile = tmp_path / "pid"
    argv = ["sh", "-c", "sleep 30 & echo $! > %s; wait" % pidfile]
    thread, outcome = run_in_thread(Runner(cancel=cancel), argv)
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() and cancel.running() == 1)
    background = int(pidfile.read_text())
    cancel.set("interrupted by SIGINT", signal.SIGINT)
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome["error"], Cancelled) and outcome["seconds"] < 5
    assert wait_for(lambda: not alive(background), 5), "the background sleep of the group survived"
    assert cancel.running() == 0


def test_a_command_ignoring_sigterm_gets_sigkill_after_the_grace():
    cancel = Cancel(grace=0.5)
    # SIG_IGN survives exec: the shell and its sleep both ignore SIGTERM
    thread, outcome = run_in_thread(Runner(cancel=cancel), ["sh", "-c", "trap '' TERM; sleep 30; true"])
    assert wait_for(lambda: cancel.running() == 1)
    cancel.set()
    start = time.monotonic()
    while thread.is_alive() and time.monotonic() - start < 10:
        cancel.terminate()  # what the scheduler and the watcher do while steps run
        thread.join(0.1)
    assert not thread.is_alive()
    assert isinstance(outcome["error"], Cancelled)
    assert 0.4 < time.monotonic() - start < 5


def test_command_started_after_the_interrupt_is_killed_at_once():
    """The race between a Runner's check and the start of its command: run_command registers the
    process group and kills it when the switch is already set."""
    cancel = Cancel()
    checked = threading.Event()

    def run(argv, timeout=None, env=None, data=None, log=None):
        checked.wait(5)  # the Runner has checked; the interrupt comes before the process starts
        return run_command(argv, timeout=timeout, env=env, data=data, log=log)

    thread, outcome = run_in_thread(Runner(run=run, cancel=cancel), ["sleep", "30"])
    cancel.set()
    checked.set()
    thread.join(10)
    assert isinstance(outcome["error"], Cancelled) and outcome["seconds"] < 5


# ---- the scheduler with the buildah engine behind the command seam ---------------------------------

class ScriptedRun(FakeRun):
    """The command seam of a buildah build: lists images, and the RUN step containing "slow" is
    where the interrupt arrives (the signal handler sets the switch; the step dies of SIGTERM)."""

    def __init__(self, cancel, images=None, dangling=None):
        FakeRun.__init__(self)
        self.cancel = cancel
        self.images = images or []
        self.dangling = dangling or []
        self.interrupted_at = None

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        FakeRun.__call__(self, argv, timeout, env, data, log)
        if argv[:2] == ["podman", "images"]:
            return 0, json.dumps(self.dangling if "dangling=true" in argv else self.images), ""
        if argv[:3] == ["podman", "image", "inspect"]:  # the created time of the image built on
            return 0, "1700000000\n", ""
        if argv[:2] == ["buildah", "run"] and any("slow" in word for word in argv):
            self.cancel.request("interrupted by SIGINT", signal.SIGINT)
            self.interrupted_at = len(self.calls)
            return -15, "", ""
        if argv[:2] == ["buildah", "run"] and "--user" in argv:
            return 0, "pkg\t1.0\n", ""
        if argv[:2] == ["buildah", "commit"]:
            return 0, "id-%s\n" % argv[-1].split("/")[-1].split(":")[0], ""
        return 0, "", ""


def podman_image(image_id, names, fingerprint="", created=0):
    return {"Id": image_id, "Names": names, "Labels": {FINGERPRINT_LABEL: fingerprint} if fingerprint else {},
            "Size": 10, "Created": created}


def buildah_plan():
    """base → slow → after;  base → sibling (not started: one thread)."""
    return [planned("base"), planned("slow", "base", 1, steps=[("run", "sleep 60 # slow")]),
            planned("sibling", "base", 1), planned("after", "slow", 2)]


def test_interrupt_during_a_step_stops_the_build_cleanly(tmp_path, monkeypatch):
    fixed = type("FixedUUID", (), {"hex": "feedfeedfeedfeed"})
    monkeypatch.setattr("ansible_collections.containergen.images.plugins.module_utils._buildah.uuid.uuid4", fixed)
    cancel = Cancel()
    images = [podman_image("base-img", [BASE_REF]), podman_image("old-slow", [ref("slow")], "stale")]
    run = ScriptedRun(cancel, images=images)
    plan = buildah_plan()
    journal = Journal(str(tmp_path / "inflight.json"))
    results = build_plan(Runner(run=run, cancel=cancel), BuildahEngine(), plan, PROFILE,
                         definitions_for(plan, tmp_path),
                         BuildOptions(threads=1, log_dir=str(tmp_path / "logs"), created="2024-01-01T00:00:00Z",
                                      journal=journal))
    statuses = {r["name"]: r["status"] for r in results}
    assert statuses == {"base": "built", "slow": "interrupted", "sibling": "interrupted", "after": "interrupted"}
    assert {r["name"]: r["error"] for r in results if r["status"] == "interrupted"} == {
        "slow": "interrupted by SIGINT", "sibling": "interrupted by SIGINT", "after": "interrupted by SIGINT"}
    after = run.argvs[run.interrupted_at:]
    # nothing is configured, committed or tagged afterwards; the working container goes; the
    # journal of the interrupted image is swept (nothing of it is dangling); old-slow stays at its ref
    assert after == [
        ["buildah", "rm", "cg-slow-feedfeed"],
        ["podman", "images", "--format", "json"],
        ["podman", "images", "--filter", "dangling=true", "--format", "json"],
    ]
    slow = [argv for argv in run.argvs if "cg-slow-feedfeed" in argv]
    assert slow == [
        ["buildah", "from", "--pull=never", "--quiet", "--name", "cg-slow-feedfeed", ref("base")],
        ["buildah", "run", "--isolation", "chroot", "--network", "host", "--env", "SOURCE_DATE_EPOCH=1700000000",
         "cg-slow-feedfeed", "--", "/bin/sh", "-c", "sleep 60 # slow"],
        ["buildah", "rm", "cg-slow-feedfeed"],
    ]
    assert not any("sibling" in " ".join(argv) or "after" in " ".join(argv) for argv in run.argvs)
    assert not os.path.exists(journal.path)
    summary = summarize(results, 1.0, interrupted=cancel.is_set())
    assert summary["interrupted"] is True
    assert summary["images_interrupted"] == ["slow", "sibling", "after"]
    assert summary["images_built"] == ["base"] and summary["images_failed"] == []


def test_interrupt_before_a_commit_commits_nothing(tmp_path):
    """The signal arrives while the manifest is read: the commit that would follow never starts."""
    cancel = Cancel()
    run = ScriptedRun(cancel, images=[podman_image("base-img", [BASE_REF])])
    original = run.__class__.__call__

    def call(argv, timeout=None, env=None, data=None, log=None):
        answer = original(run, argv, timeout, env, data, log)
        if argv[:2] == ["buildah", "run"] and "--user" in argv:
            cancel.request("interrupted by SIGTERM", signal.SIGTERM)
        return answer

    plan = [planned("solo")]
    results = build_plan(Runner(run=call, cancel=cancel), BuildahEngine(), plan, PROFILE,
                         definitions_for(plan, tmp_path),
                         BuildOptions(log_dir=str(tmp_path / "logs"), created="2024-01-01T00:00:00Z"))
    assert results[0]["status"] == "interrupted" and results[0]["error"] == "interrupted by SIGTERM"
    verbs = [argv[1] for argv in run.argvs if argv[0] == "buildah"]
    assert verbs == ["from", "config", "run", "run", "rm"]


def test_build_images_writes_an_interrupted_summary(tmp_path):
    """Through the pipeline: the base is present, the interrupt comes in a step; summary.json says so."""
    cancel = Cancel()
    definitions = tmp_path / "defs" / "one"
    definitions.mkdir(parents=True)
    (definitions / "one.yaml").write_text("tcib_actions:\n  - run: sleep 60 && echo slow\n")
    images = [podman_image("base-img", ["example.org/base:1"])]
    run = ScriptedRun(cancel, images=images)
    params = {"definitions_path": str(tmp_path / "defs"), "base_image": "example.org/base:1",
              "namespace": "localhost/cg-intr-unit", "work_dir": str(tmp_path / "work"), "timeout": 0}
    handler = signal.getsignal(signal.SIGINT)
    summary = _pipeline.build_images(_pipeline.BuildOptions.from_params(params), runner=Runner(run=run), engine=BuildahEngine(),
                                     lock_path=str(tmp_path / "build.lock"), cancel=cancel)
    written = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert written["interrupted"] is True and summary["interrupted"] is True
    assert written["interrupted_by"] == "interrupted by SIGINT"
    assert [(i["name"], i["status"]) for i in written["images"]] == [("one", "interrupted")]
    assert not any(argv[:2] in (["buildah", "commit"], ["buildah", "tag"]) for argv in run.argvs)
    assert signal.getsignal(signal.SIGINT) == handler  # restored


def test_interrupt_while_waiting_for_the_build_lock(tmp_path):
    import fcntl  # pylint: disable=import-outside-toplevel
    lock_path = str(tmp_path / "build.lock")
    (tmp_path / "defs" / "one").mkdir(parents=True)
    (tmp_path / "defs" / "one" / "one.yaml").write_text("tcib_actions:\n  - run: 'true'\n")
    cancel = Cancel()
    run = FakeRun()
    with open(lock_path, "a", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        threading.Timer(0.3, cancel.request, ("interrupted by SIGTERM",)).start()
        start = time.monotonic()
        with pytest.raises(Cancelled) as info:
            options = _pipeline.BuildOptions.from_params({
                "definitions_path": str(tmp_path / "defs"), "base_image": "example.org/base:1",
                "work_dir": str(tmp_path / "work"), "timeout": 0})
            _pipeline.build_images(options, runner=Runner(run=run), engine=BuildahEngine(), lock_path=lock_path,
                                   cancel=cancel)
    assert time.monotonic() - start < 3
    assert str(info.value) == "interrupted by SIGTERM (while waiting for the build lock)"
    assert run.calls == []  # no sweep without the lock


# ---- the journal: what a killed build left ---------------------------------------------------------

def test_next_build_sweeps_exactly_what_a_killed_build_left(tmp_path):
    path = str(tmp_path / "inflight.json")
    started = 1700000000
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"pid": 1, "images": {
            "slow": {"ref": ref("slow"), "fingerprint": "fp-slow", "old_id": "old-slow", "started": started + 0.5,
                     "containers": ["cg-slow-1234"], "images": ["aaaa11112222"]}}}, handle)
    dangling = [
        podman_image("old-slow", [], "stale", created=started - 100),            # replaced, left unnamed
        podman_image("new-slow", [], "fp-slow", created=started + 30),           # committed, never named
        podman_image("aaaa11112222ffff", [], "", created=started + 10),          # recorded intermediate
        podman_image("earlier-slow", [], "fp-slow", created=started - 5),        # before that build: not its
        podman_image("unrelated", [], "fp-other", created=started + 30),         # someone else's
    ]
    run = ScriptedRun(Cancel(), dangling=dangling)
    removed = Journal(path).sweep(Runner(run=run), BuildahEngine())
    assert run.argvs == [
        ["buildah", "rm", "cg-slow-1234"],
        ["podman", "images", "--filter", "dangling=true", "--format", "json"],
        ["buildah", "rmi", "old-slow"],
        ["buildah", "rmi", "new-slow"],
        ["buildah", "rmi", "aaaa11112222ffff"],
    ]
    assert removed == ["cg-slow-1234", "old-slow", "new-slow", "aaaa11112222ffff"]
    assert not os.path.exists(path)
    assert Journal(path).sweep(Runner(run=FakeRun()), BuildahEngine()) == []  # nothing left: no command


def test_journal_records_while_building_and_forgets_finished_images(tmp_path):
    path = str(tmp_path / "inflight.json")
    journal = Journal(path)
    item = planned("solo")
    journal.begin(item, "old-id")
    journal.add("solo", "containers", "cg-solo-1")
    journal.add("solo", "images", "abc")
    on_disk = json.loads(open(path, encoding="utf-8").read())["images"]["solo"]
    assert (on_disk["ref"], on_disk["fingerprint"], on_disk["old_id"]) == (ref("solo"), "fp-solo", "old-id")
    assert (on_disk["containers"], on_disk["images"]) == (["cg-solo-1"], ["abc"])
    journal.drop("solo", "containers", "cg-solo-1")
    assert json.loads(open(path, encoding="utf-8").read())["images"]["solo"]["containers"] == []
    journal.end("solo")
    assert not os.path.exists(path)


def test_build_images_sweeps_the_journal_under_the_lock(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "inflight.json").write_text(json.dumps({"images": {"one": {
        "ref": "localhost/cg-intr-unit/one:latest", "fingerprint": "fp-x", "old_id": "", "started": 1,
        "containers": [], "images": ["deadbeef0000"]}}}))
    (tmp_path / "defs" / "one").mkdir(parents=True)
    (tmp_path / "defs" / "one" / "one.yaml").write_text("tcib_actions:\n  - run: 'true'\n")
    run = ScriptedRun(Cancel(), images=[podman_image("base-img", ["example.org/base:1"])],
                      dangling=[podman_image("deadbeef0000aaaa", [])])
    options = _pipeline.BuildOptions.from_params({
        "definitions_path": str(tmp_path / "defs"), "base_image": "example.org/base:1",
        "namespace": "localhost/cg-intr-unit", "work_dir": str(work), "timeout": 0})
    _pipeline.build_images(options, runner=Runner(run=run), engine=BuildahEngine(),
                           lock_path=str(tmp_path / "build.lock"))
    assert run.argvs[:3] == [["buildah", "containers", "--format", "{{.ContainerName}}"],
                             ["podman", "images", "--filter", "dangling=true", "--format", "json"],
                             ["buildah", "rmi", "deadbeef0000aaaa"]]
    assert not (work / "inflight.json").exists()


# ---- the docker engine ------------------------------------------------------------------------------

def test_docker_build_is_cut_by_the_interrupt_and_its_step_images_recorded(tmp_path, monkeypatch):
    fixed_marker(monkeypatch)
    cancel = Cancel()

    def hanging(client):
        yield {"stream": "Step 1/3 : FROM base\n"}
        yield {"stream": " ---> 0000000000ff\n"}  # the FROM image: not the build's
        yield {"stream": " ---> 1111111111aa\n"}
        yield {"stream": " ---> 2222222222bb\n"}
        cancel.request("interrupted by SIGINT", signal.SIGINT)
        assert client.cut_event.wait(5), "the interrupt never cut the stream"
        raise IOError("Connection broken: IncompleteRead(0 bytes read)")

    client = FakeClient(builds=[hanging])
    journal = Journal(str(tmp_path / "inflight.json"))
    item = docker_planned(steps=[("run", "sleep 60")])
    journal.begin(item)
    start = time.monotonic()
    with pytest.raises(Cancelled) as info:
        engine_for(client).build_image(Runner(cancel=cancel), item, DOCKER_PROFILE, str(tmp_path),
                                       BuildOptions(journal=journal))
    assert time.monotonic() - start < 3
    assert str(info.value) == "interrupted by SIGINT"
    assert ("remove_image", "2222222222bb") in client.calls
    assert len([c for c in client.calls if c[0] == "build"]) == 1  # the labelling build never starts
    assert journal.entries[item.name]["images"] == ["1111111111aa", "2222222222bb"]


def test_docker_build_not_started_after_the_interrupt(tmp_path):
    cancel = Cancel()
    cancel.set()
    client = FakeClient()
    with pytest.raises(Cancelled):
        engine_for(client).build_image(Runner(cancel=cancel), docker_planned(steps=[("run", "x")]), DOCKER_PROFILE,
                                       str(tmp_path), BuildOptions())
    assert client.calls == []


# ---- signals and the watch on the process that started the build -----------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_set_the_switch_instead_of_killing(signum):
    before = signal.getsignal(signum)
    cancel = Cancel()
    with interruptible(cancel, poll=0.05):
        os.kill(os.getpid(), signum)
        assert cancel.wait(2)
    assert (cancel.reason, cancel.signum) == ("interrupted by %s" % signal.Signals(signum).name, signum)
    assert signal.getsignal(signum) == before


def test_watcher_kills_running_commands_once_set():
    cancel = Cancel()
    with interruptible(cancel, poll=0.05):
        thread, outcome = run_in_thread(Runner(cancel=cancel), ["sleep", "30"])
        assert wait_for(lambda: cancel.running() == 1)
        cancel.request("interrupted by SIGTERM")  # what the signal handler does: no killing there
        thread.join(5)
    assert isinstance(outcome.get("error"), Cancelled) and outcome["seconds"] < 5


def write_script(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_watched_ancestors_reach_the_topmost_ansible_process(tmp_path):
    """module → /bin/sh → ansible worker → ansible-playbook: all four are watched, not beyond."""
    probe = write_script(tmp_path / "probe.py", """
        import json, os, sys
        sys.path.insert(0, %r)
        from ansible_collections.containergen.images.plugins.module_utils._command import watched_ancestors
        print(json.dumps({"ancestors": [pid for pid, started in watched_ancestors()], "parent": os.getppid()}))
    """ % COLLECTIONS)
    # a stand-in for ansible-playbook whose worker (a fork: same command line) runs sh, which runs the probe
    playbook = write_script(tmp_path / "ansible-playbook", """
        import os, subprocess, sys
        pid = os.fork()
        if pid == 0:
            out = subprocess.run(["/bin/sh", "-c", "%s %s; true"], capture_output=True, text=True).stdout
            print(out.strip() + " WORKER " + str(os.getpid()), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("MAIN " + str(os.getpid()))
    """ % (sys.executable, probe))
    out = subprocess.run([sys.executable, playbook], capture_output=True, text=True, timeout=30, check=True).stdout
    probe_line, main_line = out.strip().splitlines()
    found = json.loads(probe_line.split(" WORKER ")[0])
    worker, main = int(probe_line.split(" WORKER ")[1]), int(main_line.split()[1])
    assert found["ancestors"] == [found["parent"], worker, main]


def test_outside_ansible_only_the_parent_is_watched():
    assert watched_ancestors() == [(os.getppid(), _command._process_start(os.getppid()))]


def test_death_of_the_watched_parent_interrupts_the_build(tmp_path):
    marker = tmp_path / "interrupted"
    build = write_script(tmp_path / "build.py", """
        import sys
        sys.path.insert(0, %r)
        from ansible_collections.containergen.images.plugins.module_utils._command import Cancel, interruptible
        cancel = Cancel()
        with interruptible(cancel, watch_parents=True, poll=0.1):
            print("ready", flush=True)
            if cancel.wait(20):
                open(%r, "w").write(cancel.reason)
    """ % (COLLECTIONS, str(marker)))
    # the parent runs the build in its own session (as ansible's worker does) and is then killed alone
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               "subprocess.Popen([sys.executable, %r], start_new_session=True)\n"
                               "time.sleep(60)\n" % build], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        parent.kill()
        parent.wait()
        assert wait_for(marker.exists, 10), "the build did not notice that its parent died"
        assert marker.read_text() == "interrupted: the process that started the build (pid %d) is gone" % parent.pid
    finally:
        if parent.poll() is None:
            parent.kill()


def test_next_build_kills_what_a_killed_build_left_running_in_its_container(tmp_path):
    """A RUN step goes on when only the build process is killed: the sweep kills its process group
    (buildah and the step below it) before removing the container, and nothing else."""
    (tmp_path / "run").write_text("import os, time\nif os.fork() == 0:\n    os.execvp('sleep', ['sleep', '30'])\n"
                                  "time.sleep(30)\n")
    # processes whose command line reads like `buildah run ... CONTAINER -- ...`
    leftover = subprocess.Popen(["buildah", "run", "cg-unit-ctr", "--", "sh"], executable=sys.executable,
                                cwd=str(tmp_path), start_new_session=True)
    other = subprocess.Popen(["buildah", "run", "cg-other-ctr", "--", "sh"], executable=sys.executable,
                             cwd=str(tmp_path), start_new_session=True)
    try:
        assert wait_for(lambda: "sleep 30" in subprocess.run(["ps", "-o", "cmd=", "-g", str(leftover.pid)],
                                                             capture_output=True, text=True, check=False).stdout)
        assert BuildahEngine().stop_leftover("cg-unit-ctr") == [leftover.pid]
        assert leftover.wait(5) == -signal.SIGKILL
        left = subprocess.run(["ps", "-o", "cmd=", "-g", str(leftover.pid)], capture_output=True, text=True,
                              check=False).stdout
        assert [line for line in left.splitlines() if "<defunct>" not in line] == []
        assert other.poll() is None
    finally:
        for proc in (leftover, other):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
