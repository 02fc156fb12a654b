# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Interrupting real builds (buildah): the chain fixture, with leaf-a's RUN step made slow.

1. A first build of the whole chain (nothing slow) gives every image a tag.
2. leaf-a becomes `sleep 60 && ...`; each way of stopping a build is tried while that step runs:
   SIGINT to `containergen build`; SIGTERM and SIGKILL to ansible-playbook alone. Each time the
   build stops within seconds, leaves no working container and no process, leaf-a keeps its old
   image (not replaced, not dangling), and summary.json says interrupted.
3. The build process itself is killed (SIGKILL): its step goes on, its container stays; the next
   build (leaf-a changed again, nothing slow) kills and removes what it left, rebuilds leaf-a,
   removes the image it replaced and leaves no dangling image of this chain.

Other builds may run on this host at the same time: only this test's own containers, images and
processes are looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
BIN = os.path.join(REPO, ".venv", "bin")
NAME = "cg-intr-%s" % uuid.uuid4().hex[:8]
NAMESPACE = "localhost/" + NAME
LEAF = os.path.join("base", "mid", "leaf-a", "leaf-a.yaml")
STOP_SECONDS = 20

pytestmark = pytest.mark.integration


def ref(name):
    return "%s/%s:latest" % (NAMESPACE, name)


def image_id(name):
    proc = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", ref(name)], capture_output=True,
                          text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def containers():
    out = subprocess.run(["buildah", "containers", "--format", "{{.ContainerName}}"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def dangling():
    out = subprocess.run(["podman", "images", "--filter", "dangling=true", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out or "[]")


def set_leaf(definitions, *actions):
    """leaf-a's actions: RUN commands, or (verb, argument) pairs."""
    lines = ["  - %s: %s" % ((action[0], json.dumps(action[1])) if isinstance(action, tuple) else ("run", json.dumps(action)))
             for action in actions]
    with open(os.path.join(definitions, LEAF), "w", encoding="utf-8") as handle:
        handle.write("---\ntcib_actions:\n%s\ntcib_cmd: cat /opt/mid/name\n"
                     "tcib_healthcheck: CMD test -f /opt/mid/name\ntcib_user: svc\n" % "\n".join(lines))


def cli(definitions, work, engine="buildah"):
    return [os.path.join(BIN, "containergen"), "build", "--config-path", definitions, "--namespace", NAME,
            "--work-dir", work, "--build-timeout", "600", "--engine", engine]


def playbook_argv(definitions, work, engine="buildah"):
    variables = {"image_build_definitions_path": definitions, "image_build_namespace": NAMESPACE,
                 "image_build_work_dir": work, "image_build_timeout": 600, "image_build_engine": engine}
    os.makedirs(work, exist_ok=True)
    vars_file = os.path.join(work, "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    return [os.path.join(BIN, "ansible-playbook"), "containergen.images.build", "-e", "@" + vars_file]


def start(argv, work):
    # the slow step is found in leaf-a's log: not in the one of the run before
    log = os.path.join(work, "logs", "leaf-a.log")
    if os.path.exists(log):
        os.unlink(log)
    # its own session: the signals of this test reach only the process they are sent to
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for_slow_step(proc, work, timeout=900):
    """Wait (the build may first wait for the host lock) until leaf-a's sleep runs; returns the
    name of leaf-a's working container."""
    log = os.path.join(work, "logs", "leaf-a.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the build ended before the slow step: %s" % (proc.communicate(),)
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            if "sleep 60" in text:
                container = text.split("--name ", 1)[1].split()[0]
                if step_processes(container):
                    time.sleep(1)
                    return container
        time.sleep(0.3)
    raise AssertionError("leaf-a's slow step never started")


def step_processes(container):
    """Live processes working on container (buildah run and the step's sleep below it)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = handle.read().split(b"\0")
            with open("/proc/%s/stat" % name, encoding="utf-8") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and container.encode() in argv:
            found.append(int(name))
    if found:
        groups = {os.getpgid(pid) for pid in found if os.path.exists("/proc/%d" % pid)}
        out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", ",".join(str(g) for g in groups)], capture_output=True,
                             text=True, check=False).stdout
        found = [int(line.split()[0]) for line in out.splitlines() if not line.split()[1].startswith("Z")]
    return found


def wait_until(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def read_summary(work):
    with open(os.path.join(work, "summary.json"), encoding="utf-8") as handle:
        return json.load(handle)


PARENT_GONE = "interrupted: the process that started the build"


def assert_stopped_cleanly(work, container, before, reason):
    summary = read_summary(work)
    # A signal that ansible-playbook passes on and then exits on: the module records whichever it
    # notices first, the signal or its parent gone; both are this interrupt.
    reasons = (reason, PARENT_GONE) if reason.startswith("interrupted by SIG") else (reason,)
    assert summary["interrupted"] is True and summary["interrupted_by"].startswith(reasons), summary
    statuses = {i["name"]: i["status"] for i in summary["images"]}
    assert statuses == {"base": "skipped", "mid": "skipped", "leaf-b": "skipped", "leaf-a": "interrupted"}
    assert container not in containers()
    assert step_processes(container) == []
    assert image_id("leaf-a") == before["leaf-a"]  # no new tag; the old image is still named
    assert not os.path.exists(os.path.join(work, "inflight.json"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    definitions = str(root / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    work = str(root / "work")
    proc = subprocess.run(cli(definitions, work), cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = {name: image_id(name) for name in ("base", "mid", "leaf-a", "leaf-b")}
    assert all(ids.values()), ids
    set_leaf(definitions, "sleep 60 && echo leaf-a > /opt/mid/name")
    state = {"definitions": definitions, "work": work, "ids": ids, "fingerprints": set(), "left": None}
    yield state
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True,
                         check=False).stdout.split()
    doomed = [name for name in out if name.startswith(NAMESPACE + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def test_sigint_to_the_command_stops_the_build(chain):
    proc = start(cli(chain["definitions"], chain["work"]), chain["work"])
    container = wait_for_slow_step(proc, chain["work"])
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=STOP_SECONDS + 30)
    elapsed = time.monotonic() - sent
    print("SIGINT to containergen: exited in %.1f s" % elapsed)
    assert elapsed < STOP_SECONDS, elapsed
    assert proc.returncode == 130, (out, err)
    # progress goes to stderr, and the last line says why the command stopped
    assert err.splitlines()[-1] == "containergen build: interrupted", err
    assert "interrupted leaf-a" in err and "Traceback" not in out + err
    assert_stopped_cleanly(chain["work"], container, chain["ids"], "interrupted by SIGINT")
    chain["fingerprints"].update(i["fingerprint"] for i in read_summary(chain["work"])["images"])


@pytest.mark.parametrize("signum, group, reason", [
    (signal.SIGINT, True, "interrupted by SIGINT"),  # Ctrl-C: ansible-playbook forwards it to the module
    (signal.SIGTERM, False, "interrupted by SIGTERM"),  # likewise
    (signal.SIGKILL, False, "interrupted: the process that started the build"),  # the module sees it die
])
def test_signal_to_ansible_playbook_stops_the_build(chain, signum, group, reason):
    work = chain["work"]
    os.unlink(os.path.join(work, "summary.json"))
    proc = start(playbook_argv(chain["definitions"], work), work)
    container = wait_for_slow_step(proc, work)
    sent = time.monotonic()
    if group:  # its process group (the module runs in the session of an ansible worker)
        os.killpg(proc.pid, signum)
    else:  # the process only
        os.kill(proc.pid, signum)
    proc.communicate(timeout=STOP_SECONDS + 30)
    assert wait_until(lambda: os.path.exists(os.path.join(work, "summary.json")) and container not in containers(),
                      STOP_SECONDS), "the module did not stop"
    elapsed = time.monotonic() - sent
    print("%s to ansible-playbook: build stopped in %.1f s" % (signal.Signals(signum).name, elapsed))
    assert elapsed < STOP_SECONDS
    assert wait_until(lambda: step_processes(container) == [], 5)
    assert_stopped_cleanly(work, container, chain["ids"], reason)


def test_killed_build_process_leaves_work_for_the_next_build(chain):
    """SIGKILL to the module: nothing in it can clean up. Its step runs on; the journal names it."""
    work = chain["work"]
    proc = start(playbook_argv(chain["definitions"], work), work)
    container = wait_for_slow_step(proc, work)
    modules = [pid for pid in _pids_running("AnsiballZ_image_build.py") if _descends(pid, proc.pid)]
    assert len(modules) == 1, modules
    os.kill(modules[0], signal.SIGKILL)
    proc.communicate(timeout=60)
    assert container in containers() and step_processes(container)
    with open(os.path.join(work, "inflight.json"), encoding="utf-8") as handle:
        journal = json.load(handle)["images"]
    assert list(journal) == ["leaf-a"] and journal["leaf-a"]["containers"] == [container]
    assert journal["leaf-a"]["old_id"] == chain["ids"]["leaf-a"]
    chain["left"] = container


def _pids_running(script):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    words = handle.read().split(b"\0")
            except OSError:
                continue
            if any(word.endswith(script.encode()) for word in words[1:2]):
                found.append(int(name))
    return found


def _descends(pid, ancestor):
    while pid > 1:
        try:
            with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid == ancestor:
            return True
    return False


def test_next_build_succeeds_and_leaves_nothing_of_the_interrupted_ones(chain):
    assert chain["left"], "needs the killed build of the test before"
    work = chain["work"]
    set_leaf(chain["definitions"], "echo leaf-a2 > /opt/mid/name")
    proc = subprocess.run(cli(chain["definitions"], work) + ["--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["interrupted"] is False
    assert summary["images_built"] == ["leaf-a"]
    assert chain["left"] not in containers() and step_processes(chain["left"]) == []
    assert not os.path.exists(os.path.join(work, "inflight.json"))
    new = image_id("leaf-a")
    assert new and new != chain["ids"]["leaf-a"]
    ours = chain["fingerprints"] | {i["fingerprint"] for i in summary["images"]}
    left = [image["Id"] for image in dangling()
            if image["Id"] == chain["ids"]["leaf-a"] or (image.get("Labels") or {}).get("containergen.fingerprint") in ours]
    assert left == []
    assert subprocess.run(["podman", "image", "exists", chain["ids"]["leaf-a"]], check=False).returncode == 1


# ---- the docker engine ------------------------------------------------------------------------------
# The daemon builds; the module streams. leaf-a gets a RUN step and a WORKDIR before the slow one,
# so that the daemon has committed step images when the build is stopped.

def docker(*argv, check=True):
    return subprocess.run(["docker"] + list(argv), capture_output=True, text=True, timeout=300, check=check)


def docker_id(name):
    proc = docker("image", "inspect", "--format", "{{.Id}}", ref(name), check=False)
    return proc.stdout.strip().split(":", 1)[-1] if proc.returncode == 0 else None


def docker_exists(image):
    return docker("image", "inspect", image, check=False).returncode == 0


def docker_slow_step(proc, work, timeout=900):
    """Wait until the daemon runs leaf-a's slow step; returns (build container, step images so far)."""
    log = os.path.join(work, "logs", "leaf-a.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the build ended before the slow step: %s" % (proc.communicate(),)
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            steps = text.split("\nStep ")
            if steps and "sleep 60" in steps[-1] and " ---> Running in " in steps[-1]:
                container = steps[-1].split(" ---> Running in ", 1)[1].split()[0]
                images = [line.split()[1] for line in text.splitlines()
                          if line.startswith(" ---> ") and "Running in" not in line][1:]  # [0]: the FROM image
                time.sleep(1)
                return container, images
        time.sleep(0.3)
    raise AssertionError("leaf-a's slow step never started")


@pytest.fixture(scope="module")
def docker_chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt-docker")
    definitions = str(root / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    work = str(root / "work")
    proc = subprocess.run(cli(definitions, work, "docker"), cwd=REPO, capture_output=True, text=True, timeout=1800,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = {name: docker_id(name) for name in ("base", "mid", "leaf-a", "leaf-b")}
    assert all(ids.values()), ids
    set_leaf(definitions, "echo first > /opt/mid/first", ("workdir", "/opt/mid"),
             "sleep 60 && echo leaf-a > /opt/mid/name")
    state = {"definitions": definitions, "work": work, "ids": ids, "left": []}
    yield state
    doomed = [name for name in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
              if name.startswith(NAMESPACE + "/")]
    if doomed:
        docker("rmi", "--force", *doomed, check=False)


def test_docker_sigint_to_the_command_stops_the_build(docker_chain):
    work = docker_chain["work"]
    proc = start(cli(docker_chain["definitions"], work, "docker"), work)
    container, images = docker_slow_step(proc, work)
    assert len(images) >= 2, images  # the first RUN and the WORKDIR were committed
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=STOP_SECONDS + 30)
    elapsed = time.monotonic() - sent
    print("SIGINT to containergen (docker): exited in %.1f s" % elapsed)
    assert elapsed < STOP_SECONDS
    assert proc.returncode == 130, (out, err)
    assert err.splitlines()[-1] == "containergen build: interrupted", err
    assert "Traceback" not in out + err
    summary = read_summary(work)
    # The command forwards SIGINT to ansible-playbook, which passes it on and exits: the module
    # records whichever it notices first, the signal or its parent gone; both are this interrupt.
    assert summary["interrupted"] is True, summary
    assert summary["interrupted_by"].startswith(("interrupted by SIGINT", PARENT_GONE)), summary["interrupted_by"]
    assert {i["name"]: i["status"] for i in summary["images"]}["leaf-a"] == "interrupted"
    assert docker_id("leaf-a") == docker_chain["ids"]["leaf-a"]
    assert wait_until(lambda: docker("container", "inspect", container, check=False).returncode != 0, 10)
    assert [image for image in images if docker_exists(image)] == []  # no intermediate image survives
    assert not os.path.exists(os.path.join(work, "inflight.json"))


def test_docker_killed_build_process_leaves_work_for_the_next_build(docker_chain):
    work = docker_chain["work"]
    proc = start(playbook_argv(docker_chain["definitions"], work, "docker"), work)
    dummy, images = docker_slow_step(proc, work)
    modules = [pid for pid in _pids_running("AnsiballZ_image_build.py") if _descends(pid, proc.pid)]
    assert len(modules) == 1, modules
    os.kill(modules[0], signal.SIGKILL)
    proc.communicate(timeout=60)
    with open(os.path.join(work, "inflight.json"), encoding="utf-8") as handle:
        journal = json.load(handle)["images"]
    assert sorted(journal["leaf-a"]["images"]) == sorted(images)
    # the daemon cancels a build whose client is gone; its step images stay
    assert wait_until(lambda: any(docker_exists(image) for image in images), 10)
    docker_chain["left"] = images


def test_docker_next_build_removes_what_the_killed_one_left(docker_chain):
    assert docker_chain["left"], "needs the killed build of the test before"
    work = docker_chain["work"]
    set_leaf(docker_chain["definitions"], "echo first > /opt/mid/first", ("workdir", "/opt/mid"),
             "echo leaf-a2 > /opt/mid/name")
    proc = subprocess.run(cli(docker_chain["definitions"], work, "docker") + ["--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["images_built"] == ["leaf-a"] and summary["interrupted"] is False
    assert [image for image in docker_chain["left"] if docker_exists(image)] == []
    assert not os.path.exists(os.path.join(work, "inflight.json"))
    assert not docker_exists(docker_chain["ids"]["leaf-a"])  # replaced and removed, not dangling
