# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""definitions → plan → build: the entry points the modules and the command line call."""

from __future__ import annotations

import fcntl
import json
import os
import time

from ansible_collections.containergen.images.plugins.module_utils import (
    _bootstrap, _build, _options, _plan, _publish,
)
from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancel, Cancelled, Runner, interruptible,
)
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    apply_extra_config, load_definitions, load_profile,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import UP_TO_DATE, LocalStore
from ansible_collections.containergen.images.plugins.module_utils._engines import make_engine  # noqa: F401

# Options shared by plan and build, with their defaults (the modules' argument specs use these).
COMMON_DEFAULTS = {
    "definitions_path": None,
    "profiles_path": None,
    "profile": "debian13",
    "include": [],
    "exclude": [],
    "namespace": "localhost/containergen",
    "prefix": "",
    "tag": "latest",
    "labels": {},
    "extra_config": None,
    "template_vars": {},
    "base_image": None,
    "extra_roots": [],
}


def collection_path(*parts):
    """A path inside this collection (vars/ is not a content type: it is loaded by explicit path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), *parts)


def _params(params):
    merged = dict(COMMON_DEFAULTS)
    merged.update({k: v for k, v in params.items() if v is not None})
    merged["definitions_path"] = merged["definitions_path"] or collection_path("vars", "images")
    merged["profiles_path"] = merged["profiles_path"] or collection_path("vars", "profiles")
    return merged


def load(params):
    """Load definitions and profile; raises OptionError or DefinitionError before anything runs."""
    _options.validate(params, _options.DEFINITION_PARAMS)
    p = _params(params)
    definitions = load_definitions(p["definitions_path"])
    if p["extra_config"]:
        apply_extra_config(definitions, p["extra_config"])
    profile = load_profile(p["profiles_path"], p["profile"])
    if p["base_image"]:  # tripleoclient's --base: an image used as it is (pulled when absent)
        profile["base"] = {"method": "pull", "image": p["base_image"]}
    return p, definitions, profile


def make_plan(p, definitions, profile, base_ids):
    return _plan.make_plan(definitions, profile, base_ids=base_ids, include=p["include"], exclude=p["exclude"],
                           namespace=p["namespace"], prefix=p["prefix"], tag=p["tag"], extra_labels=p["labels"],
                           template_vars=p["template_vars"], extra_roots=p["extra_roots"])


def plan_images(params, runner=None, engine=None):
    """The plan without building. With a runner, the local store is read to show what a build would do."""
    p, definitions, profile = load(params)
    status, base_ids = {}, {}
    if runner is not None:
        engine = engine or make_engine(params)
        store = LocalStore.read(engine, runner)
        plan = make_plan(p, definitions, profile, store.ids())
        for item in plan:
            if store.decide(item.ref, item.fingerprint)[0] == UP_TO_DATE:
                status[item.name] = UP_TO_DATE
            else:  # reused by fingerprint counts as a build: the reference changes
                status[item.name] = "build" if profile["base"]["image"] in store or item.parent else "build (new base)"
    else:
        plan = make_plan(p, definitions, profile, base_ids)
    return {
        "profile": profile["name"],
        "images": [dict(item.as_dict(), status=status.get(item.name, "")) for item in plan],
        "order": [item.name for item in plan],
        "table": _plan.plan_table(plan, status),
    }


BUILD_LOCK = "/run/lock/containergen-build.lock"


def build_images(params, runner=None, engine=None, progress=None, lock_path=BUILD_LOCK, cancel=None,
                 watch_parents=False):
    """Bootstrap the base if needed, plan, build. Returns the summary (also written as JSON).

    One build at a time per host (a second one waits for the lock): that makes it safe to remove
    working containers left behind by a build that was killed, and what the build journal of the
    work dir names (see _build.Journal).

    SIGINT, SIGTERM or SIGHUP (and with watch_parents the death of the ansible-playbook that started
    this process) interrupt the build through cancel: the summary then says "interrupted": true.
    Interrupted while it waits for the lock, it raises Cancelled (nothing was started).
    """
    p, definitions, profile = load(params)
    make_plan(p, definitions, profile, {})  # every definition problem is reported before any work
    cancel = cancel or Cancel()
    runner = runner or Runner()
    runner = runner.child(deadline=runner.deadline, log=runner.log, cancel=cancel)
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    engine = engine or make_engine(params)
    work_dir = params.get("work_dir") or "/var/tmp/containergen"
    journal = _build.Journal(os.path.join(work_dir, "inflight.json"))
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with interruptible(cancel, watch_parents=watch_parents), open(lock_path, "a", encoding="utf-8") as lock:
        while True:  # polled, so that an interrupt while waiting is not deferred until the lock is free
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancel.wait(0.5):
                    raise Cancelled(["flock", lock_path], cancel.reason + " (while waiting for the build lock)")
        for container in engine.leftover_containers(quiet):
            engine.stop_leftover(container)
            engine.remove_container(quiet, container)
        journal.sweep(quiet, engine)
        return _build_locked(params, p, definitions, profile, runner, engine, progress, journal)


def _build_locked(params, p, definitions, profile, runner, engine, progress, journal=None):
    start = time.monotonic()
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    work_dir = params.get("work_dir") or "/var/tmp/containergen"
    log_dir = params.get("log_dir") or os.path.join(work_dir, "logs")
    images = LocalStore.read(engine, quiet)
    base_start = time.monotonic()
    try:
        base_id, base_action = _bootstrap.ensure_base(runner, engine, profile, work_dir, images=images,
                                                      refresh=bool(params.get("refresh_base")),
                                                      env=params.get("build_env") or {})
    except Cancelled:  # build_plan then reports every image interrupted without running anything
        base_id, base_action = "", "interrupted"
    base_seconds = round(time.monotonic() - base_start, 2)
    if base_action != "present":
        images = LocalStore.read(engine, quiet)
    base_ids = images.ids()
    base_ids[profile["base"]["image"]] = base_id
    plan = make_plan(p, definitions, profile, base_ids)
    options = _build.BuildOptions(
        threads=params.get("threads") or 2, timeout=params.get("timeout") or 0, retries=params.get("retries", 1),
        log_dir=log_dir, force=bool(params.get("force")), build_env=params.get("build_env"),
        volumes=params.get("volumes") or [],
        source_revision=params.get("source_revision") or "", source_url=params.get("source_url") or "",
        version=p["tag"], journal=journal)
    results = _build.build_plan(runner, engine, plan, profile, definitions, options, progress=progress,
                                existing=images)
    cancel = runner.cancel
    interrupted = cancel is not None and cancel.is_set()
    summary = _build.summarize(results, time.monotonic() - start, interrupted=interrupted)
    if interrupted:
        summary["interrupted_by"] = cancel.reason
    base_size = images.size(profile["base"]["image"])
    summary.update(engine=engine.name, profile=profile["name"],
                   base={"ref": profile["base"]["image"], "id": base_id, "action": base_action, "size": base_size,
                         "seconds": base_seconds})
    summary["total_size"] += base_size
    summary["table"] = _build.summary_table(summary)
    summary_file = params.get("summary_file") or os.path.join(work_dir, "summary.json")
    os.makedirs(os.path.dirname(summary_file), exist_ok=True)
    with open(summary_file + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in summary.items() if k != "table"}, handle, indent=2, sort_keys=True)
    os.replace(summary_file + ".tmp", summary_file)
    summary["summary_file"] = summary_file
    return summary


def publish_images(params, runner=None, engine=None, check_mode=False):
    """Publish local images to a registry with tag revisions; write the lock file. Returns a summary.

    params: registry, namespace, tag, images (names; empty: every containergen image under
    local_namespace:local_tag), local_namespace, local_prefix, local_tag, authfile, cert_dir,
    tls_verify, lock_dir, lock_file (path without extension).

    All or nothing for the floating tags of one run: every changed revision is pushed and verified
    first; only then do the floating tags move and the lock file get written, still under the
    publish lock. A failure before that moves no floating tag and leaves the lock file as it was.
    """
    _options.validate(params, _options.PUBLISH_PARAMS)
    runner = runner or Runner()
    engine = engine or make_engine(params)
    local = LocalStore.read(engine, runner)
    local_namespace = (params.get("local_namespace") or "localhost/containergen").rstrip("/")
    local_prefix, local_tag = params.get("local_prefix") or "", params.get("local_tag") or "latest"
    wanted = list(params.get("images") or [])
    if not wanted:
        wanted = local.image_names(local_namespace, local_prefix, local_tag)
    if not wanted:
        raise _publish.PublishError("no containergen image under %s/%s*:%s to publish"
                                    % (local_namespace, local_prefix, local_tag))
    sources = {}
    for name in wanted:
        ref = _plan.image_ref(name, local_namespace, local_prefix, local_tag)
        if ref not in local:
            raise _publish.PublishError("%s: local image %s does not exist (build it first)" % (name, ref))
        sources[name] = ref
    registry = registry_client(params, runner, source_transport=engine.transport)
    tag = params.get("tag") or "latest"
    start = time.monotonic()
    results = []
    lock_files = []
    with _publish.PublishLock(params.get("lock_dir") or "/run/lock", params["registry"]):
        for name in wanted:
            try:
                results.append(_publish.publish_image(registry, name, sources[name], local.get(sources[name])["labels"],
                                                      tag, check_mode=check_mode, move_floating=False))
            except (CommandError, _publish.PublishError) as exc:
                raise _publish.PublishError(
                    "publishing failed at %s (image %d of %d), no floating tag was moved and the lock file is "
                    "unchanged: %s; %s; a rerun pushes what is missing, then moves every floating tag %s of the set"
                    % (name, len(results) + 1, len(wanted), " ".join(str(exc).split()),
                       _publish.pushed_summary(results), tag))
        entries = _publish.lock_entries(results)
        if not check_mode:
            _publish.move_floating_tags(registry, results)
            if params.get("lock_file"):
                # under the publish lock: a partial publish updates its own entries and keeps the others'
                entries = _publish.merge_lock_files(entries, params["lock_file"])
                lock_files = [params["lock_file"] + ".yaml", params["lock_file"] + ".json"]
    return {
        "images": results,
        "pushed": [r["name"] for r in results if r["action"] == "pushed"],
        "unchanged": [r["name"] for r in results if r["action"] in ("unchanged", "retagged")],
        "bytes_sent": sum(r["bytes_sent"] for r in results),
        "blobs_sent": sum(r["blobs_sent"] for r in results),
        "lock": entries,
        "lock_files": lock_files,
        "seconds": round(time.monotonic() - start, 2),
    }


def registry_client(params, runner=None, source_transport="containers-storage:"):
    _options.validate(params, _options.REGISTRY_PARAMS)
    return _publish.Registry(runner or Runner(), params["registry"], params.get("namespace") or "containergen",
                             authfile=params.get("authfile"), cert_dir=params.get("cert_dir"),
                             tls_verify=params.get("tls_verify", True), source_transport=source_transport)
