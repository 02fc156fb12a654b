# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""definitions → plan → build, and publish: the entry points the modules and the command line call.

Each takes the options object of its stage (_stage_options), built once from checked parameters."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import (
    _bootstrap, _build, _freshness, _hoist, _omit, _plan, _publish, _sbom, _stage_options,
)
from ansible_collections.containergen.images.plugins.module_utils import _progress  # the build's progress events
from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancel, Cancelled, Runner, interruptible,
)
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    apply_extra_config, load_definitions, load_profile,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import UP_TO_DATE, LocalStore
from ansible_collections.containergen.images.plugins.module_utils._engines import make_engine
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError

PlanOptions = _stage_options.PlanOptions
BuildOptions = _stage_options.BuildOptions
PublishOptions = _stage_options.PublishOptions
RegistryOptions = _stage_options.RegistryOptions


def load(options: PlanOptions) -> t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.Any]]:
    """Load definitions and profile; raises DefinitionError before anything runs."""
    definitions = load_definitions(options.definitions_path)
    if options.extra_config:
        apply_extra_config(definitions, options.extra_config)
    profile = load_profile(options.profiles_path, options.profile)
    if options.hoist:  # shared layers: synthetic images between a parent and the children sharing them
        path = _hoist.hoist_path(options.profiles_path, profile["name"])
        definitions = _hoist.apply(definitions, profile, _hoist.load(path), path)[0]
    if options.base_image:  # tripleoclient's --base: an image used as it is (pulled when absent)
        profile["base"] = {"method": "pull", "image": options.base_image}
    return definitions, profile


def make_plan(options: PlanOptions, definitions: t.Dict[str, t.Any], profile: t.Dict[str, t.Any],
              base_ids: t.Mapping[str, str], refresh: t.Optional[t.Mapping[str, t.List[str]]] = None) -> t.List[t.Any]:
    return _plan.make_plan(definitions, profile, base_ids=base_ids, include=list(options.include),
                           exclude=list(options.exclude), namespace=options.namespace, prefix=options.prefix,
                           tag=options.tag, extra_labels=dict(options.labels),
                           template_vars=dict(options.template_vars), extra_roots=list(options.extra_roots),
                           refresh=refresh)


def fresh_plan(options: PlanOptions, definitions: t.Dict[str, t.Any], profile: t.Dict[str, t.Any],
               store: LocalStore, base_ids: t.Mapping[str, str], runner: Runner,
               lists_root: t.Optional[str] = None) -> t.Tuple[t.List[t.Any], t.Optional[t.Dict[str, t.Any]]]:
    """The plan with the refresh salts the local images carry (an image rebuilt for updates stays up
    to date) and, with refresh=updates, the update check: stale images get their new salt, hence a new
    fingerprint (their descendants follow through the parent's). Returns (plan, check or None)."""
    salts = _freshness.carried_salts(make_plan(options, definitions, profile, base_ids), store)
    plan = make_plan(options, definitions, profile, base_ids, salts)
    if options.refresh != "updates":
        return plan, None
    # the throwaway containers run where the engine keeps its images: podman reads buildah's store
    container = ["podman"] if options.engine == "buildah" else \
        ["docker"] + (["--host", options.docker_host] if options.docker_host else [])
    temporary = lists_root is None
    lists_root = lists_root or tempfile.mkdtemp(prefix="containergen-lists-", dir="/var/tmp")
    try:
        checker = _freshness.Checker(runner, profile["family"], lists_root,
                                     manifest_query=profile["package_manager"]["manifest"], container=container,
                                     threads=max(2, getattr(options, "threads", 2)))
        check = _freshness.check_plan(checker, plan, store, profile["base"]["image"])
    finally:
        if temporary:
            shutil.rmtree(lists_root, ignore_errors=True)
    if check["salts"]:
        salts.update(check["salts"])
        plan = make_plan(options, definitions, profile, base_ids, salts)
    return plan, check


def plan_images(options: PlanOptions, runner: t.Optional[Runner] = None, engine: t.Any = None) -> t.Dict[str, t.Any]:
    """The plan without building. With a runner, the local store is read to show what a build would do."""
    definitions, profile = load(options)
    status, base_ids = {}, {}
    if runner is not None:
        engine = engine or make_engine(options)
        store = LocalStore.read(engine, runner)
        plan, check = fresh_plan(options, definitions, profile, store, store.ids(), runner)
        for item in plan:
            if store.decide(item.ref, item.fingerprint)[0] == UP_TO_DATE:
                status[item.name] = UP_TO_DATE
            elif check and check["images"][item.name]["status"] not in (_freshness.CHANGED, _freshness.ABSENT):
                status[item.name] = _freshness.describe(check["images"][item.name])
            else:  # reused by fingerprint counts as a build: the reference changes
                status[item.name] = "build" if profile["base"]["image"] in store or item.parent else "build (new base)"
        if check and check["base"]["updates"]:  # a new base rebuilds every image
            status = {name: "build (base has %d updates)" % len(check["base"]["updates"]) for name in status}
    else:
        check = None
        plan = make_plan(options, definitions, profile, base_ids)
    planned = {item.name for item in plan}
    hoist = _hoist.hoisted(definitions, planned)
    result = {
        "profile": profile["name"],
        "images": [dict(item.as_dict(), status=status.get(item.name, "")) for item in plan],
        "order": [item.name for item in plan],
        "table": _plan.plan_table(plan, status) + _hoist.describe(hoist) + _omit.describe(plan),
        "hoist": hoist,
    }
    if check is not None:
        result["updates"] = check
    return result


BUILD_LOCK = "/run/lock/containergen-build.lock"


def build_images(options: BuildOptions, runner: t.Optional[Runner] = None, engine: t.Any = None,
                 progress: t.Optional[t.Callable[[str], None]] = None, lock_path: str = BUILD_LOCK,
                 cancel: t.Optional[Cancel] = None, watch_parents: bool = False) -> t.Dict[str, t.Any]:
    """Bootstrap the base if needed, plan, build. Returns the summary (also written as JSON).

    One build at a time per host (a second one waits for the lock): that makes it safe to remove
    working containers left behind by a build that was killed, and what the build journal of the
    work dir names (see _build.Journal).

    SIGINT, SIGTERM or SIGHUP (and with watch_parents the death of the ansible-playbook that started
    this process) interrupt the build through cancel: the summary then says "interrupted": true.
    Interrupted while it waits for the lock, it raises Cancelled (nothing was started).
    """
    definitions, profile = load(options)
    make_plan(options, definitions, profile, {})  # every definition problem is reported before any work
    cancel = cancel or Cancel()
    runner = runner or Runner()
    runner = runner.child(deadline=runner.deadline, log=runner.log, cancel=cancel)
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    engine = engine or make_engine(options)
    journal = _build.Journal(os.path.join(options.work_dir, "inflight.json"))
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    events = _progress.EventLog(options.events_path)  # progress events for whoever follows them
    with interruptible(cancel, watch_parents=watch_parents), open(lock_path, "a", encoding="utf-8") as lock:
        try:
            waiting, holder, checked = None, None, 0.0
            while True:  # polled, so that an interrupt while waiting is not deferred until the lock is free
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    now = time.monotonic()
                    waiting = now if waiting is None else waiting
                    if now - checked >= 5.0:  # another build may have taken it meanwhile
                        checked, found = now, _progress.lock_holder(lock_path)
                        if found != holder:
                            holder = found
                            events.emit("lock_wait", pid=found[0], since=found[1], lock=lock_path)
                    if cancel.wait(0.5):
                        raise Cancelled(["flock", lock_path], cancel.reason + " (while waiting for the build lock)")
            _progress.write_holder(lock)
            if waiting is not None:
                events.emit("lock", waited=round(time.monotonic() - waiting, 2))
            for container in engine.leftover_containers(quiet):
                engine.stop_leftover(container)
                engine.remove_container(quiet, container)
            journal.sweep(quiet, engine)
            return _build_locked(options, definitions, profile, runner, engine, progress, journal, events)
        finally:
            events.close()


def _sboms(plan: t.List[t.Any], engine: t.Any, runner: Runner, directory: str,
           failed: t.Set[str]) -> t.Dict[str, t.Any]:
    """SBOMs of the plan's images that exist: name -> {spdx, cyclonedx, seconds}."""
    if engine.name != "buildah":
        raise OptionError("sbom", True, "needs the buildah engine (syft reads the image mounted from containers-storage)")
    store = LocalStore.read(engine, runner)
    result: t.Dict[str, t.Any] = {}
    for item in plan:
        info = store.get(item.ref)
        if item.name in failed or info is None:
            continue
        start = time.monotonic()
        try:
            paths = _sbom.generate(runner, item.ref, item.name, info["labels"], directory)
        except (CommandError, _sbom.SbomError, OSError, ValueError) as exc:  # the images are built: report, go on
            result[item.name] = {"error": "%s: SBOM of %s: %s" % (item.name, item.ref, " ".join(str(exc).split()))}
            continue
        result[item.name] = dict(paths, seconds=round(time.monotonic() - start, 2))
    return result


def _build_locked(options: BuildOptions, definitions: t.Dict[str, t.Any], profile: t.Dict[str, t.Any],
                  runner: Runner, engine: t.Any, progress: t.Optional[t.Callable[[str], None]],
                  journal: t.Optional[_build.Journal] = None,
                  events: t.Optional[_progress.EventLog] = None) -> t.Dict[str, t.Any]:
    events = events or _progress.EventLog()
    start = time.monotonic()
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    images = LocalStore.read(engine, quiet)
    # the salts (and, with refresh=updates, the update check) from the images as they are now
    dummy, check = fresh_plan(options, definitions, profile, images, images.ids(), quiet,
                              os.path.join(options.work_dir, "lists"))
    salts = _freshness.carried_salts(dummy, images)
    if check is not None:
        salts.update(check["salts"])
    refresh_base = options.refresh_base or bool(check and check["base"]["updates"])
    base_start = time.monotonic()
    events.emit("base", ref=profile["base"]["image"], state="start", seconds=0.0)
    try:
        base_id, base_action = _bootstrap.ensure_base(runner, engine, profile, options.work_dir, images=images,
                                                      refresh=refresh_base, env=dict(options.build_env))
    except Cancelled:  # build_plan then reports every image interrupted without running anything
        base_id, base_action = "", "interrupted"
    base_seconds = round(time.monotonic() - base_start, 2)
    events.emit("base", ref=profile["base"]["image"], state=base_action, seconds=base_seconds)
    if base_action != "present":
        images = LocalStore.read(engine, quiet)
    base_ids = images.ids()
    base_ids[profile["base"]["image"]] = base_id
    plan = make_plan(options, definitions, profile, base_ids, salts)
    steps = _build.BuildOptions(
        threads=options.threads, timeout=options.timeout, retries=options.retries, log_dir=options.logs,
        force=options.force, build_env=dict(options.build_env), volumes=list(options.volumes),
        source_revision=options.source_revision, source_url=options.source_url, version=options.tag,
        journal=journal, events=events, keep_failed=options.keep_failed,
        sizes_dir=os.path.join(options.work_dir, "sizes") if options.sizes else None)
    results = _build.build_plan(runner, engine, plan, profile, definitions, steps, progress=progress,
                                existing=images)
    cancel = runner.cancel
    interrupted = cancel is not None and cancel.is_set()
    summary = _build.summarize(results, time.monotonic() - start, interrupted=interrupted)
    if interrupted:
        summary["interrupted_by"] = cancel.reason
    events.emit("end", seconds=summary["seconds"], counts=summary["counts"])
    base_size = images.size(profile["base"]["image"])
    summary.update(engine=engine.name, profile=profile["name"],
                   base={"ref": profile["base"]["image"], "id": base_id, "action": base_action, "size": base_size,
                         "seconds": base_seconds})
    summary["total_size"] += base_size
    if check is not None:
        summary["updates"] = {"seconds": check["seconds"], "base": check["base"],
                              "images": {name: entry for name, entry in check["images"].items()
                                         if entry["status"] != UP_TO_DATE}}
    summary["table"] = _build.summary_table(summary)
    summary_file = options.summary_path
    if options.sbom and not interrupted:
        summary["sbom"] = _sboms(plan, engine, quiet, os.path.join(os.path.dirname(summary_file), "sbom"),
                                 set(summary["images_failed"]))
    os.makedirs(os.path.dirname(summary_file), exist_ok=True)
    with open(summary_file + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in summary.items() if k != "table"}, handle, indent=2, sort_keys=True)
    os.replace(summary_file + ".tmp", summary_file)
    summary["summary_file"] = summary_file
    return summary


def publish_images(options: PublishOptions, runner: t.Optional[Runner] = None, engine: t.Any = None,
                   check_mode: bool = False) -> t.Dict[str, t.Any]:
    """Publish local images to a registry with tag revisions; write the lock file. Returns a summary.

    options.images: names; empty: every containergen image under local_namespace:local_tag.
    options.lock_file: path without extension; None: no lock file.

    All or nothing for the floating tags of one run: every changed revision is pushed and verified
    first; only then do the floating tags move and the lock file get written, still under the
    publish lock. A failure before that moves no floating tag and leaves the lock file as it was.
    """
    runner = runner or Runner()
    engine = engine or make_engine(options)
    local = LocalStore.read(engine, runner)
    local_namespace = options.local_namespace.rstrip("/")
    local_prefix, local_tag = options.local_prefix, options.local_tag
    wanted = list(options.images)
    if not wanted:
        wanted = local.image_names(local_namespace, local_prefix, local_tag)
    if not wanted:
        raise _publish.PublishError("no containergen image under %s/%s*:%s to publish"
                                    % (local_namespace, local_prefix, local_tag))
    sources: t.Dict[str, str] = {}
    for name in wanted:
        ref = _plan.image_ref(name, local_namespace, local_prefix, local_tag)
        if ref not in local:
            raise _publish.PublishError("%s: local image %s does not exist (build it first)" % (name, ref))
        sources[name] = ref
    registry = registry_client(options, runner, source_transport=engine.transport)
    tag = options.tag
    start = time.monotonic()
    if registry.sign_key and not check_mode:
        registry.signer()  # a key its passphrase does not open fails here, before anything is pushed
    sboms = _publish_sboms(options, engine, runner, sources, local, check_mode) if options.sbom_dir else {}
    results: t.List[t.Dict[str, t.Any]] = []
    lock_files: t.List[str] = []
    events = _progress.EventLog(options.events_file)  # push progress for whoever follows it
    events.emit("plan", images=wanted, threads=1)
    with _publish.PublishLock(options.lock_dir, options.registry):
        for name in wanted:
            pushing = time.monotonic()
            events.emit("start", image=name, attempt=1)
            events.emit("step", image=name, step="push")
            try:
                results.append(_publish.publish_image(registry, name, sources[name], local.get(sources[name])["labels"],
                                                      tag, check_mode=check_mode, move_floating=False,
                                                      local_id=local.get(sources[name])["id"]))
                if name in sboms:  # after the push and its signature, before any floating tag moves
                    _publish.attach_sboms(registry, results[-1], sboms[name]["documents"],
                                          local.get(sources[name])["id"], check_mode=check_mode)
                    results[-1]["sbom_seconds"] = sboms[name]["seconds"]
            except (CommandError, _publish.PublishError) as exc:
                events.emit("finish", image=name, status="failed", seconds=round(time.monotonic() - pushing, 2),
                            error=" ".join(str(exc).split()), log="", container="")
                events.close()
                raise _publish.PublishError(
                    "publishing failed at %s (image %d of %d), no floating tag was moved and the lock file is "
                    "unchanged: %s; %s; a rerun pushes what is missing, then moves every floating tag %s of the set"
                    % (name, len(results) + 1, len(wanted), " ".join(str(exc).split()),
                       _publish.pushed_summary(results), tag))
            events.emit("finish", image=name, status=results[-1]["action"], error="", log="", container="",
                        seconds=round(time.monotonic() - pushing, 2))
        events.close()
        entries = _publish.lock_entries(results)
        if not check_mode:
            _publish.move_floating_tags(registry, results)
            if options.lock_file:
                # under the publish lock: a partial publish updates its own entries and keeps the others'
                entries = _publish.merge_lock_files(entries, options.lock_file,
                                                    _publish.provenance_entries(results))
                lock_files = [options.lock_file + ".yaml", options.lock_file + ".json"]
    return {
        "images": results,
        "pushed": [r["name"] for r in results if r["action"] == "pushed"],
        "unchanged": [r["name"] for r in results if r["action"] in ("unchanged", "retagged", "signed")],
        "signed": [r["name"] for r in results if r.get("signed")],
        "sbom_attached": [r["name"] for r in results if r.get("sbom_attached")],
        "bytes_sent": sum(r["bytes_sent"] for r in results),
        "blobs_sent": sum(r["blobs_sent"] for r in results),
        "lock": entries,
        "lock_files": lock_files,
        "seconds": round(time.monotonic() - start, 2),
    }


def _publish_sboms(options: PublishOptions, engine: t.Any, runner: Runner, sources: t.Mapping[str, str],
                   local: t.Any, check_mode: bool = False) -> t.Dict[str, t.Any]:
    """name -> {documents, seconds}: the SBOMs in options.sbom_dir (the build's sbom/), made there first
    when missing or of another image (syft on the image mounted from containers-storage); in check mode
    nothing is made (documents None)."""
    result: t.Dict[str, t.Any] = {}
    for name, ref in sources.items():
        info = local.get(ref)
        start = time.monotonic()
        documents = _publish.sbom_documents(options.sbom_dir, name, info["id"])
        if documents is None and not check_mode:
            if engine.name != "buildah":
                raise OptionError("sbom_dir", options.sbom_dir, "%s: no SBOM of %s there, and making one needs the "
                                  "buildah engine" % (name, ref))
            try:
                _sbom.generate(runner, ref, name, info["labels"], options.sbom_dir)
            except (CommandError, _sbom.SbomError, OSError, ValueError) as exc:
                raise _publish.PublishError("%s: SBOM of %s (sbom_dir %s): %s; nothing was published"
                                            % (name, ref, options.sbom_dir, " ".join(str(exc).split()))) from exc
            documents = _publish.sbom_documents(options.sbom_dir, name, info["id"])
            if documents is None:
                raise _publish.PublishError("%s: SBOM of %s in %s does not name the image it was made from"
                                            % (name, ref, options.sbom_dir))
        result[name] = {"documents": documents, "seconds": round(time.monotonic() - start, 2)}
    return result


def registry_client(options: RegistryOptions, runner: t.Optional[Runner] = None,
                    source_transport: str = "containers-storage:") -> _publish.Registry:
    return _publish.Registry(runner or Runner(), options.registry, options.namespace, authfile=options.authfile,
                             cert_dir=options.cert_dir, tls_verify=options.tls_verify,
                             source_transport=source_transport, sign_key=options.sign_key,
                             sign_passphrase_file=options.sign_passphrase_file, registries_d=options.registries_d)
