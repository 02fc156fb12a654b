# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _build: manifests, the DAG scheduler (with a fake engine), retries, cleanup, summary."""

import copy
import hashlib
import itertools
import re
import threading
import time
import types

import pytest

from ansible_collections.containergen.images.plugins.module_utils._build import BuildOptions, build_plan, summarize, summary_table
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, Healthcheck, image_labels, manifest_digest, parse_manifest,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import StepEngine
from ansible_collections.containergen.images.plugins.module_utils._command import (
    CommandError, CommandTimeout, Runner,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import PlannedImage

BASE_REF = "example.org/base:1"
MANIFEST_TEXT = "pkg-b\t2.0\npkg-a\t1:1.0-1\n"
MANIFEST = {"pkg-a": "1:1.0-1", "pkg-b": "2.0"}
PROFILE = {
    "name": "testdeb",
    "package_manager": {"install": "apt-get install -y {{ packages }}", "cleanup": "apt-get clean",
                        "manifest": ["dpkg-query", "-W"]},
    "transient_errors": ["Temporary failure resolving", "Failed to fetch .* (500|502|503)"],
}


# ---- parse_manifest / manifest_digest -----------------------------------------------------------

def test_parse_manifest():
    text = "zlib1g\t1:1.2.13\nbash\t5.2.15-2+b2\n  spaced \t 1.0 \nno tab line\n\nkernel\t\n"
    manifest = parse_manifest(text)
    assert manifest == {"bash": "5.2.15-2+b2", "kernel": "", "spaced": "1.0", "zlib1g": "1:1.2.13"}
    assert list(manifest) == ["bash", "kernel", "spaced", "zlib1g"]
    assert parse_manifest("") == {}


def test_parse_manifest_rpm_style():
    assert parse_manifest("bash\t5.1.8-6.el9\nopenssl-libs\t1:3.0.7-27.el9\n") == {
        "bash": "5.1.8-6.el9", "openssl-libs": "1:3.0.7-27.el9"}


def test_manifest_digest():
    assert manifest_digest(MANIFEST) == hashlib.sha256(b'{"pkg-a":"1:1.0-1","pkg-b":"2.0"}').hexdigest()
    assert manifest_digest({"b": "1", "a": "2"}) == manifest_digest({"a": "2", "b": "1"})
    assert manifest_digest({"a": "1"}) != manifest_digest({"a": "2"})


def test_build_options_defaults_and_clamping():
    options = BuildOptions(threads=0, retries=-3, build_env={"A": "1"})
    assert (options.threads, options.retries, options.timeout, options.force) == (1, 0, 1800, False)
    assert options.build_env == {"A": "1"}


# ---- a fake engine -------------------------------------------------------------------------------

class FakeEngine(StepEngine):
    """Implements the engine interface in memory; records calls and can fail on demand.

    failures: {(image, method): [exception or None, ...]} consumed one per call of that method.
    hooks: {image: callable()} run inside run_step (to slow down or synchronise builds).
    """

    def __init__(self, images=None, failures=None, hooks=None, sizes=None):
        self.lock = threading.Lock()
        self.images = copy.deepcopy(images or {})
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.hooks = hooks or {}
        self.sizes = sizes or {}
        self.calls = []
        self.events = []
        self.containers = {}
        self.runs = {}
        self.remove_runs = {}
        self.counter = itertools.count(1)
        self.active = 0
        self.max_active = 0
        self.list_calls = 0

    def _call(self, name, method, *args):
        with self.lock:
            self.calls.append((method, name) + args)
            queue = self.failures.get((name, method))
            exc = queue.pop(0) if queue else None
        if exc is not None:
            raise exc

    def calls_for(self, name):
        return [call for call in self.calls if call[1] == name]

    def methods_for(self, name):
        return [call[0] for call in self.calls_for(name)]

    def _finish(self, name, event):
        with self.lock:
            self.active -= 1
            self.events.append((event, name))

    # engine interface
    def list_images(self, run):
        with self.lock:
            self.list_calls += 1
            return copy.deepcopy(self.images)

    def tag(self, run, image_id, ref):
        with self.lock:
            self.calls.append(("tag", None, image_id, ref))
            info = next(info for info in self.images.values() if info["id"] == image_id)
            self.images[ref] = copy.deepcopy(info)

    def from_image(self, run, from_ref, name):
        container = "ctr-%s-%d" % (name, next(self.counter))
        self._call(name, "from_image", from_ref)
        with self.lock:
            self.containers[container] = name
            self.runs.setdefault(name, []).append(run)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.events.append(("start", name))
        return container

    def run_step(self, run, container, command, shell=None, env=None, volumes=None):
        name = self.containers[container]
        self._call(name, "run_step", container, command, shell, env)
        if name in self.hooks:
            self.hooks[name]()

    def capture(self, run, container, argv, user="root"):
        self._call(self.containers[container], "capture", container, list(argv), user)
        return MANIFEST_TEXT

    def configure(self, run, container, options):
        self._call(self.containers[container], "configure", container, list(options))

    def transfer(self, run, container, verb, sources, dest, chown=None):
        self._call(self.containers[container], "transfer", container, verb, list(sources), dest, chown)

    def commit(self, run, container, ref):
        name = self.containers[container]
        self._call(name, "commit", container, ref)
        self._finish(name, "end")
        with self.lock:
            self.images[ref] = {"id": "id-" + name, "labels": {}, "size": self.sizes.get(name, 0)}
        return "id-" + name

    def remove_image(self, run, ref):
        with self.lock:
            self.calls.append(("remove_image", None, ref))

    def dangling_images(self, run):
        return []

    def pull(self, run, source, ref):
        with self.lock:
            self.calls.append(("pull", None, source, ref))
            self.images[ref] = {"id": "id-pulled-" + ref, "labels": {}, "size": 0}

    def import_rootfs(self, run, tarball, ref, changes):
        with self.lock:
            self.calls.append(("import_rootfs", None, tarball, ref))
            self.images[ref] = {"id": "id-imported-" + ref, "labels": {}, "size": 0}
        return "id-imported-" + ref

    def remove_container(self, run, container):
        name = self.containers[container]
        with self.lock:
            self.remove_runs.setdefault(name, []).append(run)
        self._call(name, "remove_container", container)
        self._finish(name, "removed")


def no_commands(argv, timeout=None, env=None, data=None, log=None):
    raise AssertionError("the fake engine must not run commands: %r" % (argv,))


RUNNER = Runner(run=no_commands)


def ref(name):
    return "localhost/cg/%s:latest" % name


def planned(name, parent=None, depth=0, steps=None):
    return PlannedImage(name, parent, ref(name), ref(parent) if parent else BASE_REF,
                        steps if steps is not None else [("user", "root"), ("run", "echo %s" % name),
                                                         ("cmd", [name])],
                        [], {}, "fp-" + name, depth)


def dag_plan():
    """base → mid → leafA → deep;  mid → leafB;  root2 (unrelated)."""
    return [planned("base"), planned("root2"), planned("mid", "base", 1), planned("leafA", "mid", 2),
            planned("leafB", "mid", 2), planned("deep", "leafA", 3)]


def definitions_for(plan, tmp_path):
    return {item.name: types.SimpleNamespace(directory=str(tmp_path / "defs" / item.name)) for item in plan}


def options(tmp_path, **kwargs):
    kwargs.setdefault("log_dir", str(tmp_path / "logs"))
    kwargs.setdefault("created", "2024-01-01T00:00:00Z")
    return BuildOptions(**kwargs)


def build(engine, plan, tmp_path, profile=None, progress=None, **kwargs):
    results = build_plan(RUNNER, engine, plan, profile or PROFILE, definitions_for(plan, tmp_path),
                         options(tmp_path, **kwargs), progress=progress)
    assert [r["name"] for r in results] == [item.name for item in plan]
    return {r["name"]: r for r in results}


def statuses(results):
    return {name: r["status"] for name, r in results.items()}


def expected_labels(item, **extra):
    labels = {
        FINGERPRINT_LABEL: item.fingerprint,
        "containergen.manifest": '{"pkg-a":"1:1.0-1","pkg-b":"2.0"}',
        "containergen.manifest.sha256": hashlib.sha256(b'{"pkg-a":"1:1.0-1","pkg-b":"2.0"}').hexdigest(),
        "containergen.image": item.name,
        "containergen.parent": item.parent or "",
        "containergen.profile": "testdeb",
        "org.opencontainers.image.title": item.name,
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        "org.opencontainers.image.base.name": item.from_ref,
        "org.opencontainers.image.vendor": "containergen.images",
    }
    labels.update(extra)
    return labels


# ---- one image: the exact sequence of engine calls ------------------------------------------------

def test_build_one_image_exact_engine_calls(tmp_path):
    steps = [
        ("label", {"a": "1"}), ("env", "A=1"), ("arg", "VERSION=2"), ("user", "root"),
        ("run", "echo one"),
        ("copy", "--chown=1:1 files/f.txt /etc/f.txt"),
        ("add", ["a.tar", "b.tar", "/opt/"]),
        ("shell", "/bin/bash -o pipefail -c"),
        ("run", ["ls", "/"]),
        ("healthcheck", "CMD true"), ("cmd", ["solo"]), ("user", "svc"),
    ]
    item = planned("solo", steps=steps)
    engine = FakeEngine(sizes={"solo": 300}, images={BASE_REF: {"id": "base-id", "labels": {}, "size": 100}})
    results = build(engine, [item], tmp_path, build_env={"http_proxy": "http://proxy:3128"},
                    source_revision="abc123", source_url="https://git.example/x", version="1.2")
    defs = str(tmp_path / "defs" / "solo")
    env = {"http_proxy": "http://proxy:3128", "VERSION": "2"}
    ctr = "ctr-solo-1"
    assert engine.calls_for("solo") == [
        ("from_image", "solo", BASE_REF),
        ("configure", "solo", ctr, [("label", {"a": "1"}), ("env", "A=1")]),
        ("configure", "solo", ctr, [("user", "root")]),
        ("run_step", "solo", ctr, "echo one", None, env),
        ("transfer", "solo", ctr, "copy", [defs + "/files/f.txt"], "/etc/f.txt", "1:1"),
        ("transfer", "solo", ctr, "add", [defs + "/a.tar", defs + "/b.tar"], "/opt/", None),
        # the engine gets the step forms: exec words, a parsed HEALTHCHECK
        ("configure", "solo", ctr, [("shell", ["/bin/bash", "-o", "pipefail", "-c"])]),
        ("run_step", "solo", ctr, ["ls", "/"], ["/bin/bash", "-o", "pipefail", "-c"], env),
        ("capture", "solo", ctr, ["/bin/sh", "-c", "{ apt-get clean\n} >&2 && dpkg-query -W"], "root"),
        ("configure", "solo", ctr, [("healthcheck", Healthcheck("SHELL", [], "true", "", "true")),
                                    ("cmd", ["solo"]), ("user", "svc"),
                                    ("label", expected_labels(
                                        item, **{"org.opencontainers.image.revision": "abc123",
                                                 "org.opencontainers.image.source": "https://git.example/x",
                                                 "org.opencontainers.image.version": "1.2"}))]),
        ("commit", "solo", ctr, ref("solo")),
    ]
    result = results["solo"]
    assert {k: v for k, v in result.items() if k not in ("seconds", "timings")} == {
        "name": "solo", "ref": ref("solo"), "parent": None, "fingerprint": "fp-solo", "status": "built",
        "attempts": 1, "error": "", "image_id": "id-solo", "log": str(tmp_path / "logs" / "solo.log"),
        "packages": 2, "size": 300, "own_size": 200,
    }
    assert sorted(result["timings"]) == ["commit", "config", "copy", "from", "run"]
    assert isinstance(result["seconds"], float)
    assert (tmp_path / "logs" / "solo.log").is_file()
    assert engine.list_calls == 2


def test_no_cleanup_in_profile(tmp_path):
    profile = copy.deepcopy(PROFILE)
    del profile["package_manager"]["cleanup"]
    engine = FakeEngine()
    build(engine, [planned("solo")], tmp_path, profile=profile)
    assert engine.methods_for("solo") == ["from_image", "configure", "run_step", "capture", "configure", "commit"]


def test_image_labels_created_defaults_to_now():
    item = planned("x", "p", 1)
    labels = image_labels(item, PROFILE, {}, BuildOptions())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"])
    assert labels["containergen.parent"] == "p"
    assert labels["containergen.manifest"] == "{}"


def test_child_runner_has_log_and_deadline(tmp_path):
    engine = FakeEngine()
    before = time.monotonic()
    build(engine, [planned("a"), planned("b")], tmp_path, timeout=600)
    run = engine.runs["a"][0]
    assert isinstance(run, Runner)
    assert run.log.name == str(tmp_path / "logs" / "a.log")
    assert before + 600 <= run.deadline <= time.monotonic() + 600
    engine = FakeEngine()
    build(engine, [planned("a")], tmp_path, timeout=0)
    assert engine.runs["a"][0].deadline is None


# ---- the DAG --------------------------------------------------------------------------------------

def sleeper(seconds):
    def sleep():
        time.sleep(seconds)
    return sleep


def test_dag_order_children_start_after_parent_finished(tmp_path):
    slow = sleeper(0.05)  # parents are slow: a child started too early would show
    engine = FakeEngine(hooks={"base": slow, "mid": slow, "leafA": slow})
    results = build(engine, dag_plan(), tmp_path, threads=4)
    assert statuses(results) == {n: "built" for n in ("base", "root2", "mid", "leafA", "leafB", "deep")}
    events = engine.events
    for item in dag_plan():
        if item.parent:
            assert events.index(("end", item.parent)) < events.index(("start", item.name)), events
    # the unrelated root is not held back by the slow chain
    assert events.index(("start", "root2")) < events.index(("end", "base"))
    for name in ("mid", "leafA", "leafB", "deep"):
        assert engine.calls_for(name)[0] == ("from_image", name, ref(dict(
            mid="base", leafA="mid", leafB="mid", deep="leafA")[name]))


def test_failure_blocks_only_descendants(tmp_path):
    error = CommandError(["buildah", "run", "ctr"], 100, "E: Unable to locate package nope\n")
    engine = FakeEngine(failures={("mid", "run_step"): [error]})
    lines = []
    results = build(engine, dag_plan(), tmp_path, progress=lines.append)
    assert statuses(results) == {"base": "built", "root2": "built", "mid": "failed", "leafA": "blocked",
                                 "leafB": "blocked", "deep": "blocked"}
    assert results["mid"]["error"] == "buildah run exited with 100: E: Unable to locate package nope"
    assert results["mid"]["attempts"] == 1
    for name in ("leafA", "leafB", "deep"):
        assert {k: results[name][k] for k in ("error", "attempts", "log", "image_id", "size", "own_size")} == {
            "error": "parent mid failed", "attempts": 0, "log": "", "image_id": "", "size": 0, "own_size": 0}
        assert engine.calls_for(name) == []
    mid_calls = engine.calls_for("mid")
    assert [c[0] for c in mid_calls] == ["from_image", "configure", "run_step", "remove_container"]
    assert mid_calls[-1] == ("remove_container", "mid", mid_calls[1][2])  # the container it worked in
    assert [c for c in engine.calls if c[0] == "remove_container"] == [mid_calls[-1]]
    assert len(lines) == 6
    assert len([line for line in lines if " blocked " in line]) == 3


def test_failure_of_root_leaves_other_root_alone(tmp_path):
    error = CommandError(["buildah", "from"], 125, "Error: image not known")
    engine = FakeEngine(failures={("base", "from_image"): [error]})
    results = build(engine, dag_plan(), tmp_path)
    assert statuses(results) == {"base": "failed", "root2": "built", "mid": "blocked", "leafA": "blocked",
                                 "leafB": "blocked", "deep": "blocked"}
    # from_image failed: there is no container to remove
    assert engine.methods_for("base") == ["from_image"]


@pytest.mark.parametrize("method", ["configure", "run_step", "capture", "commit"])
def test_container_removed_when_build_fails_after_from(tmp_path, method):
    error = CommandError(["buildah", method], 1, "broken")
    engine = FakeEngine(failures={("solo", method): [error]})
    results = build(engine, [planned("solo")], tmp_path)
    assert results["solo"]["status"] == "failed"
    calls = engine.calls_for("solo")
    assert calls[0][0] == "from_image"
    assert calls[-1] == ("remove_container", "solo", "ctr-solo-1")
    assert [c[0] for c in calls].count("remove_container") == 1
    assert engine.active == 0


def test_container_removal_not_bound_by_the_deadline(tmp_path):
    timeout = CommandTimeout(["buildah", "run"], 5)
    engine = FakeEngine(failures={("solo", "run_step"): [timeout]})
    build(engine, [planned("solo")], tmp_path, timeout=900)
    build_run, remove_run = engine.runs["solo"][0], engine.remove_runs["solo"][0]
    assert build_run.deadline is not None
    assert remove_run.deadline is None
    assert remove_run.log is build_run.log
    assert remove_run._run is build_run._run


def test_container_not_removed_after_successful_commit(tmp_path):
    engine = FakeEngine()
    build(engine, dag_plan(), tmp_path)
    assert [c for c in engine.calls if c[0] == "remove_container"] == []


def test_engine_bug_fails_image_and_blocks_children(tmp_path):
    engine = FakeEngine(failures={("mid", "run_step"): [RuntimeError("boom")]})
    results = build(engine, dag_plan(), tmp_path)
    assert statuses(results) == {"base": "built", "root2": "built", "mid": "failed", "leafA": "blocked",
                                 "leafB": "blocked", "deep": "blocked"}
    assert results["mid"]["error"] == "RuntimeError: boom"
    assert results["mid"]["attempts"] == 1
    assert engine.methods_for("mid")[-1] == "remove_container"


# ---- up to date images ----------------------------------------------------------------------------

def test_image_with_same_fingerprint_at_its_ref_is_skipped(tmp_path):
    existing = {ref("base"): {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-base"}, "size": 10}}
    engine = FakeEngine(images=existing)
    results = build(engine, dag_plan(), tmp_path)
    assert statuses(results) == {"base": "skipped", "root2": "built", "mid": "built", "leafA": "built",
                                 "leafB": "built", "deep": "built"}
    assert results["base"]["image_id"] == "old-base"
    assert results["base"]["attempts"] == 0
    assert engine.calls_for("base") == []
    assert not (tmp_path / "logs" / "base.log").exists()
    assert engine.calls_for("mid")[0] == ("from_image", "mid", ref("base"))
    assert [c for c in engine.calls if c[0] == "tag"] == []


def test_image_with_other_fingerprint_at_its_ref_is_rebuilt(tmp_path):
    existing = {ref("base"): {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-stale"}, "size": 10}}
    engine = FakeEngine(images=existing)
    results = build(engine, [planned("base")], tmp_path)
    assert results["base"]["status"] == "built"
    assert results["base"]["image_id"] == "id-base"


def test_image_with_fingerprint_under_another_ref_is_tagged(tmp_path):
    existing = {"localhost/cg/base:2023": {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-base"}, "size": 10}}
    engine = FakeEngine(images=existing)
    results = build(engine, dag_plan(), tmp_path)
    assert results["base"]["status"] == "tagged"
    assert results["base"]["image_id"] == "old-base"
    assert results["base"]["size"] == 10
    assert [c for c in engine.calls if c[0] == "tag"] == [("tag", None, "old-base", ref("base"))]
    assert engine.calls_for("base") == []
    assert results["mid"]["status"] == "built"


def test_existing_images_passed_by_caller(tmp_path):
    existing = {ref("base"): {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-base"}, "size": 10},
                BASE_REF: {"id": "b", "labels": {}, "size": 4}}
    engine = FakeEngine()  # its own store is empty: only the caller's listing can make base up to date
    plan = [planned("base")]
    results = build_plan(RUNNER, engine, plan, PROFILE, definitions_for(plan, tmp_path), options(tmp_path),
                         existing=existing)
    assert [(r["status"], r["size"], r["own_size"]) for r in results] == [("skipped", 10, 6)]
    assert engine.list_calls == 0  # nothing changed: the listing is not read again


def test_existing_images_listed_again_after_a_build(tmp_path):
    existing = {ref("base"): {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-base"}, "size": 5}}
    engine = FakeEngine(images=existing, sizes={"mid": 7})
    plan = [planned("base"), planned("mid", "base", 1)]
    results = build_plan(RUNNER, engine, plan, PROFILE, definitions_for(plan, tmp_path), options(tmp_path),
                         existing=existing)
    assert [r["status"] for r in results] == ["skipped", "built"]
    assert engine.list_calls == 1  # once, after the build, for the sizes
    assert [(r["size"], r["own_size"]) for r in results] == [(5, 5), (7, 2)]


def test_force_rebuilds_up_to_date_image(tmp_path):
    existing = {ref("base"): {"id": "old-base", "labels": {FINGERPRINT_LABEL: "fp-base"}, "size": 10}}
    engine = FakeEngine(images=existing)
    results = build(engine, [planned("base")], tmp_path, force=True)
    assert results["base"]["status"] == "built"
    assert engine.methods_for("base")[0] == "from_image"


# ---- retries --------------------------------------------------------------------------------------

TRANSIENT = CommandError(["buildah", "run"], 100, "Err:1 http://deb.debian.org bookworm\n"
                                                  "  Temporary failure resolving 'deb.debian.org'\n")
PERMANENT = CommandError(["buildah", "run"], 100, "E: Unable to locate package nope\n")


def test_transient_error_retried_once_then_succeeds(tmp_path):
    engine = FakeEngine(failures={("mid", "run_step"): [TRANSIENT]})
    results = build(engine, dag_plan(), tmp_path)
    assert results["mid"]["status"] == "built"
    assert results["mid"]["attempts"] == 2
    assert results["mid"]["error"] == ""
    assert engine.methods_for("mid").count("from_image") == 2
    assert engine.methods_for("mid").count("remove_container") == 1
    assert engine.methods_for("mid").count("commit") == 1
    assert b"# transient failure: retrying" in (tmp_path / "logs" / "mid.log").read_bytes()
    assert statuses(results)["leafA"] == "built"


def test_transient_error_regex_pattern(tmp_path):
    error = CommandError(["buildah", "run"], 100, "E: Failed to fetch http://x/y.deb  502  Bad Gateway")
    engine = FakeEngine(failures={("solo", "run_step"): [error]})
    results = build(engine, [planned("solo")], tmp_path)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("built", 2)


def test_transient_error_twice_fails(tmp_path):
    engine = FakeEngine(failures={("mid", "run_step"): [TRANSIENT, TRANSIENT]})
    results = build(engine, dag_plan(), tmp_path)
    assert results["mid"]["status"] == "failed"
    assert results["mid"]["attempts"] == 2
    assert results["mid"]["error"] == str(TRANSIENT)
    assert engine.methods_for("mid").count("remove_container") == 2
    assert results["leafA"]["status"] == "blocked"


def test_more_retries_allowed(tmp_path):
    engine = FakeEngine(failures={("solo", "run_step"): [TRANSIENT, TRANSIENT]})
    results = build(engine, [planned("solo")], tmp_path, retries=2)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("built", 3)


def test_transient_error_not_retried_with_zero_retries(tmp_path):
    engine = FakeEngine(failures={("solo", "run_step"): [TRANSIENT]})
    results = build(engine, [planned("solo")], tmp_path, retries=0)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("failed", 1)


def test_non_transient_error_not_retried(tmp_path):
    engine = FakeEngine(failures={("solo", "run_step"): [PERMANENT]})
    results = build(engine, [planned("solo")], tmp_path)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("failed", 1)
    assert results["solo"]["error"] == "buildah run exited with 100: E: Unable to locate package nope"
    assert engine.methods_for("solo").count("from_image") == 1


def test_no_transient_patterns_in_profile(tmp_path):
    profile = dict(PROFILE)
    del profile["transient_errors"]
    engine = FakeEngine(failures={("solo", "run_step"): [TRANSIENT]})
    results = build(engine, [planned("solo")], tmp_path, profile=profile)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("failed", 1)


def test_timeout_fails_without_retry(tmp_path):
    timeout = CommandTimeout(["buildah", "run"], 5, "Temporary failure resolving 'x'")
    engine = FakeEngine(failures={("solo", "run_step"): [timeout]})
    results = build(engine, [planned("solo")], tmp_path, timeout=900)
    assert (results["solo"]["status"], results["solo"]["attempts"]) == ("failed", 1)
    assert results["solo"]["error"] == "timed out after 900s"
    assert engine.methods_for("solo")[-1] == "remove_container"


# ---- parallelism ----------------------------------------------------------------------------------

def test_two_threads_let_siblings_overlap(tmp_path):
    barrier = threading.Barrier(2, timeout=5)
    engine = FakeEngine(hooks={"leafA": barrier.wait, "leafB": barrier.wait})
    plan = [planned("base"), planned("leafA", "base", 1), planned("leafB", "base", 1)]
    results = build(engine, plan, tmp_path, threads=2)
    assert statuses(results) == {"base": "built", "leafA": "built", "leafB": "built"}
    assert engine.max_active == 2


def test_one_thread_never_overlaps(tmp_path):
    slow = sleeper(0.02)
    engine = FakeEngine(hooks={"leafA": slow, "leafB": slow, "root2": slow})
    plan = [planned("base"), planned("root2"), planned("leafA", "base", 1), planned("leafB", "base", 1)]
    results = build(engine, plan, tmp_path, threads=1)
    assert set(statuses(results).values()) == {"built"}
    assert engine.max_active == 1


# ---- sizes and summary ------------------------------------------------------------------------------

def test_sizes_and_summary(tmp_path):
    existing = {BASE_REF: {"id": "b", "labels": {}, "size": 100},
                ref("root2"): {"id": "r2", "labels": {FINGERPRINT_LABEL: "fp-root2"}, "size": 130}}
    engine = FakeEngine(images=existing, sizes={"base": 150, "mid": 180, "leafA": 200, "leafB": 999, "deep": 260},
                        failures={("leafB", "run_step"): [PERMANENT]})
    results = build(engine, dag_plan(), tmp_path)
    assert {n: (r["status"], r["size"], r["own_size"]) for n, r in results.items()} == {
        "base": ("built", 150, 50), "root2": ("skipped", 130, 30), "mid": ("built", 180, 30),
        "leafA": ("built", 200, 20), "leafB": ("failed", 0, 0), "deep": ("built", 260, 60),
    }
    summary = summarize(list(results.values()), 12.345)
    assert summary["counts"] == {"built": 4, "skipped": 1, "failed": 1}
    assert summary["images_built"] == ["base", "mid", "leafA", "deep"]
    assert summary["images_unchanged"] == ["root2"]
    assert summary["images_failed"] == ["leafB"]
    assert summary["images"] == list(results.values())
    assert summary["seconds"] == 12.35
    assert summary["total_size"] == 50 + 30 + 30 + 20 + 60
    table = summary_table(summary)
    assert table.splitlines()[0].split() == ["image", "status", "seconds", "size", "MB", "own", "MB", "error"]
    assert table.splitlines()[-1].startswith("built 4, failed 1, skipped 1; 12.3 s; set size ")


def test_summarize_groups_statuses():
    rows = [{"name": n, "status": s, "size": 0, "own_size": 0} for n, s in
            (("a", "built"), ("b", "tagged"), ("c", "skipped"), ("d", "blocked"), ("e", "failed"))]
    summary = summarize(rows, 1)
    assert summary["images_unchanged"] == ["b", "c"]
    assert summary["images_failed"] == ["d", "e"]
    assert summary["images_built"] == ["a"]
    assert summary["counts"] == {"built": 1, "tagged": 1, "skipped": 1, "blocked": 1, "failed": 1}
    assert summary["total_size"] == 0


def test_progress_lines(tmp_path):
    lines = []
    build(FakeEngine(sizes={"solo": 2500000}), [planned("solo")], tmp_path, progress=lines.append)
    assert len(lines) == 1
    assert re.fullmatch(r"\[1/1\] built    solo                     +\d+\.\d+s", lines[0]), lines


def test_entrypoint_resets_the_inherited_cmd_unless_the_image_sets_one(tmp_path):
    """Containerfile semantics (what the docker engine gets from the daemon): ENTRYPOINT clears CMD."""
    engine = FakeEngine(images={BASE_REF: {"id": "base-id", "labels": {}, "size": 100}})
    build(engine, [planned("ep", steps=[("user", "root"), ("entrypoint", ["dumb-init", "--"])]),
                   planned("both", steps=[("entrypoint", ["dumb-init"]), ("cmd", ["x"])])], tmp_path)
    configured = {name: [o for c in engine.calls_for(name) if c[0] == "configure" for o in c[3]]
                  for name in ("ep", "both")}
    assert ("entrypoint", ["dumb-init", "--"]) in configured["ep"] and ("cmd", []) in configured["ep"]
    assert [o for o in configured["both"] if o[0] == "cmd"] == [("cmd", ["x"])]


def test_replaced_images_are_removed_once_nothing_names_them(tmp_path):
    """A rebuild leaves no untagged image behind; an old image another reference names is kept."""
    images = {BASE_REF: {"id": "base-id", "labels": {}, "size": 100},
              ref("a"): {"id": "old-a", "labels": {FINGERPRINT_LABEL: "stale"}, "size": 1},
              ref("b"): {"id": "old-b", "labels": {FINGERPRINT_LABEL: "stale"}, "size": 1},
              "localhost/other/b:1": {"id": "old-b", "labels": {FINGERPRINT_LABEL: "stale"}, "size": 1}}
    engine = FakeEngine(images=images)
    results = build(engine, [planned("a"), planned("b", parent="a")], tmp_path)
    removed = [call[2] for call in engine.calls if call[0] == "remove_image"]
    assert removed == ["old-a"]  # old-b is still localhost/other/b:1
    assert results["a"]["replaced"] == "old-a" and "replaced" not in results["b"]
    # rebuilt to the same image ID: nothing to remove
    engine.calls = []
    build(engine, [planned("a"), planned("b", parent="a")], tmp_path)
    assert not [call for call in engine.calls if call[0] == "remove_image"]
