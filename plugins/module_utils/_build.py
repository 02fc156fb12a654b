# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Build a plan as a DAG: an image starts as soon as its parent is done, up to N at once.

A failure stops only its descendants. An image whose fingerprint matches the image already at
its reference (or any local image) is not rebuilt. Working containers are removed whatever happens.

An interrupted build (see _command.Cancel) starts nothing more, kills the running steps, removes
their working containers, tags and commits nothing afterwards and reports the images it did not
finish as "interrupted". What only a killed build leaves behind (it could not clean up) is named
in a journal of the builds in flight, which the next build reads to remove exactly those.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shlex
import threading
import time

from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancelled, CommandError, CommandTimeout,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import LABEL_PREFIX, format_table

FINGERPRINT_LABEL = LABEL_PREFIX + "fingerprint"
MANIFEST_LABEL = LABEL_PREFIX + "manifest"
MANIFEST_DIGEST_LABEL = LABEL_PREFIX + "manifest.sha256"

CONFIG_VERBS = ("user", "workdir", "env", "entrypoint", "cmd", "expose", "volume", "stopsignal", "onbuild",
                "shell", "label", "healthcheck")


class Journal(object):
    """The images being built, in a small JSON file, so that the next build can remove what a
    killed one left: working containers, intermediate images (docker), an image committed but not
    named, and the image a completed commit replaced before the build could remove it.

    {name: {"ref", "fingerprint", "old_id", "started", "containers": [...], "images": [...]}}
    path None keeps the journal in memory only.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self._lock = threading.Lock()

    def begin(self, item, old_id: str = "") -> None:
        with self._lock:
            self.entries[item.name] = {"ref": item.ref, "fingerprint": item.fingerprint, "old_id": old_id or "",
                                       "started": time.time(), "containers": [], "images": []}
            self._write()

    def add(self, name: str, key: str, value: str) -> None:
        with self._lock:
            entry = self.entries.get(name)
            if entry is not None and value not in entry[key]:
                entry[key].append(value)
                self._write()

    def drop(self, name: str, key: str, value: str) -> None:
        with self._lock:
            entry = self.entries.get(name)
            if entry is not None and value in entry[key]:
                entry[key].remove(value)
                self._write()

    def end(self, name: str) -> None:
        with self._lock:
            if self.entries.pop(name, None) is not None:
                self._write()

    def _write(self) -> None:
        if not self.path:
            return
        if not self.entries:
            if os.path.exists(self.path):
                os.unlink(self.path)
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "images": self.entries}, handle, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)

    def load(self) -> dict:
        """Entries left in the file by an earlier (killed) build, added to the ones in memory."""
        if self.path and os.path.exists(self.path):
            try:
                with open(self.path, encoding="utf-8") as handle:
                    left = json.load(handle).get("images") or {}
            except (OSError, ValueError, AttributeError):
                left = {}
            with self._lock:
                for name, entry in left.items():
                    self.entries.setdefault(name, entry)
        return self.entries

    def sweep(self, run, engine) -> list[str]:
        """Remove what the builds in the journal left, then forget them. Returns what was removed.

        Only those: a container they named; a dangling (unnamed) image they recorded, or that was
        at their reference before them, or that carries their fingerprint and was created after
        they started. Never another dangling image."""
        entries = self.load()
        if not entries:
            return []
        removed = []
        for entry in entries.values():
            for container in entry.get("containers") or []:
                engine.remove_container(run, container)
                removed.append(container)
        for image in engine.dangling_images(run):
            for entry in entries.values():
                recorded = [i for i in (entry.get("images") or []) + [entry.get("old_id")] if i]
                if any(image["id"].startswith(i.split(":", 1)[-1]) for i in recorded) or (
                        image["labels"].get(FINGERPRINT_LABEL) == entry.get("fingerprint")
                        and image["created"] >= int(entry.get("started") or 0)):
                    engine.remove_image(run, image["id"])
                    removed.append(image["id"])
                    break
        with self._lock:
            self.entries.clear()
            self._write()
        return removed


class BuildOptions(object):
    def __init__(self, threads=2, timeout=1800, retries=1, log_dir="/tmp/containergen/logs", force=False,
                 build_env=None, source_revision="", source_url="", version="", created=None, volumes=None,
                 journal=None):
        self.threads = max(1, int(threads))
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.log_dir = log_dir
        self.force = force
        self.build_env = dict(build_env or {})
        self.volumes = list(volumes or [])  # bind mounts for RUN steps only (e.g. package repositories)
        self.source_revision = source_revision
        self.source_url = source_url
        self.version = version
        self.created = created
        self.journal = journal if journal is not None else Journal()


def parse_manifest(text):
    """dpkg-query / rpm -qa output ("name<TAB>version" lines) → {name: version}."""
    manifest = {}
    for line in text.splitlines():
        if "\t" in line:
            name, version = line.split("\t", 1)
            manifest[name.strip()] = version.strip()
    return dict(sorted(manifest.items()))


def manifest_digest(manifest):
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def transfer_args(arg):
    words = arg if isinstance(arg, list) else shlex.split(arg)
    chown = None
    for word in [w for w in words if w.startswith("--")]:
        if word.startswith("--chown="):
            chown = word.split("=", 1)[1]
    words = [w for w in words if not w.startswith("--")]
    return words[:-1], words[-1], chown


def build_one(run, engine, planned, profile, definitions_dir, options):
    """Build one planned image in a fresh working container; returns {image_id, manifest, timings}."""
    timings = {"from": 0.0, "run": 0.0, "config": 0.0, "copy": 0.0, "commit": 0.0}

    def timed(kind, func, *args, **kwargs):
        start = time.monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            timings[kind] += time.monotonic() - start

    container = timed("from", engine.from_image, run, planned.from_ref, planned.name)
    options.journal.add(planned.name, "containers", container)
    try:
        pending, build_args, shell = [], {}, None
        sets_cmd = any(verb == "cmd" for verb, arg in planned.steps)
        for verb, arg in planned.steps:
            if verb in CONFIG_VERBS:
                pending.append((verb, arg))
                if verb == "entrypoint" and not sets_cmd:
                    pending.append(("cmd", []))  # as in a Containerfile: ENTRYPOINT resets the inherited CMD
                if verb == "shell":
                    shell = arg if isinstance(arg, list) else shlex.split(arg)
                continue
            if pending:
                timed("config", engine.configure, run, container, pending)
                pending = []
            if verb == "arg":
                key, dummy, value = arg.partition("=")
                build_args[key] = value
            elif verb == "run":
                env = dict(options.build_env)
                env.update(build_args)
                timed("run", engine.run_step, run, container, arg, shell=shell, env=env, volumes=options.volumes)
            elif verb in ("add", "copy"):
                sources, dest, chown = transfer_args(arg)
                sources = planned.transfer_sources(arg, definitions_dir)  # only what the plan checked
                timed("copy", engine.transfer, run, container, verb, sources, dest, chown)
        # One exec for the profile's cleanup and the version manifest: cleanup output goes to the
        # log (stderr), the manifest is what the step prints.
        query = " ".join(shlex.quote(word) for word in profile["package_manager"]["manifest"])
        cleanup = profile["package_manager"].get("cleanup")
        script = "{ %s ; } >&2 && %s" % (cleanup, query) if cleanup else query
        manifest = parse_manifest(timed("run", engine.capture, run, container, ["/bin/sh", "-c", script]))
        labels = image_labels(planned, profile, manifest, options)
        timed("config", engine.configure, run, container, pending + [("label", labels)])
        image_id = timed("commit", engine.commit, run, container, planned.ref)
        options.journal.drop(planned.name, "containers", container)  # commit --rm removed it
        container = None
        return {"image_id": image_id, "manifest": manifest, "timings": timings}
    finally:
        if container:
            # Not bound by the image's deadline nor stopped by an interrupt: a timed-out or
            # interrupted build must still be cleaned up.
            engine.remove_container(run.child(deadline=None, log=run.log, cancel=False), container)
            options.journal.drop(planned.name, "containers", container)


def build(run, engine, planned, profile, definitions_dir, options):
    """An engine that builds from a Containerfile (docker) has its own build_image; buildah builds
    step by step in a working container (build_one)."""
    own = getattr(engine, "build_image", None)
    if own is not None:
        return own(run, planned, profile, definitions_dir, options)
    return build_one(run, engine, planned, profile, definitions_dir, options)


def image_labels(planned, profile, manifest, options):
    created = options.created or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {
        FINGERPRINT_LABEL: planned.fingerprint,
        MANIFEST_LABEL: json.dumps(manifest, sort_keys=True, separators=(",", ":")),
        MANIFEST_DIGEST_LABEL: manifest_digest(manifest),
        LABEL_PREFIX + "image": planned.name,
        LABEL_PREFIX + "parent": planned.parent or "",
        LABEL_PREFIX + "profile": profile["name"],
        "org.opencontainers.image.title": planned.name,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.vendor": "containergen.images",
    }
    # Only images on an external base name it: a parent's local reference depends on the namespace,
    # which is not part of the content (an image is reused across namespaces by fingerprint). A
    # child empties the label it would inherit (a Containerfile, hence docker, cannot remove one).
    labels["org.opencontainers.image.base.name"] = planned.from_ref if planned.parent is None else ""
    if options.source_revision:
        labels["org.opencontainers.image.revision"] = options.source_revision
    if options.source_url:
        labels["org.opencontainers.image.source"] = options.source_url
    if options.version:
        labels["org.opencontainers.image.version"] = options.version
    return labels


def _is_transient(text, patterns):
    return any(re.search(p, text or "") for p in patterns)


def build_plan(runner, engine, plan, profile, definitions, options, progress=None, existing=None):
    """Build every image of plan; returns a list of result dicts in plan order.

    existing: the local images ({ref: info}) when the caller has just listed them.
    runner.cancel (a _command.Cancel), once set, interrupts the build: images not finished are
    reported "interrupted".
    """
    cancel = runner.cancel
    # Listing, removing replaced images and sweeping must happen also after an interrupt.
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    journal = options.journal
    os.makedirs(options.log_dir, exist_ok=True)
    progress = progress or (lambda line: None)
    existing = engine.list_images(runner) if existing is None else existing
    by_fingerprint = {}
    for ref, info in existing.items():
        fp = info["labels"].get(FINGERPRINT_LABEL)
        if fp:
            by_fingerprint.setdefault(fp, info["id"])
    children = {}
    for item in plan:
        children.setdefault(item.parent, []).append(item)
    results, lock, total = {}, threading.Lock(), len(plan)
    patterns = profile.get("transient_errors") or []

    def report(result):
        with lock:
            results[result["name"]] = result
            done = len(results)
        progress("[%*d/%d] %-8s %-24s %6.1fs%s" % (len(str(total)), done, total, result["status"],
                                                   result["name"], result["seconds"],
                                                   ("  " + result["error"]) if result.get("error") else ""))

    def interrupted():
        return cancel is not None and cancel.is_set()

    def work(item):
        start = time.monotonic()
        result = {"name": item.name, "ref": item.ref, "parent": item.parent, "fingerprint": item.fingerprint,
                  "status": "", "seconds": 0.0, "attempts": 0, "error": "", "image_id": "",
                  "log": os.path.join(options.log_dir, item.name + ".log"), "timings": {}}
        current = existing.get(item.ref)
        if interrupted():
            result.update(status="interrupted", error=cancel.reason, log="")
        elif not options.force and current and current["labels"].get(FINGERPRINT_LABEL) == item.fingerprint:
            result.update(status="skipped", image_id=current["id"])
        elif not options.force and item.fingerprint in by_fingerprint:
            try:
                engine.tag(runner, by_fingerprint[item.fingerprint], item.ref)
                result.update(status="tagged", image_id=by_fingerprint[item.fingerprint])
            except Cancelled as exc:
                result.update(status="interrupted", error=str(exc), log="")
        else:
            journal.begin(item, current["id"] if current else "")
            with open(result["log"], "wb") as log:
                while True:
                    result["attempts"] += 1
                    run = runner.child(deadline=start + options.timeout if options.timeout else None, log=log)
                    try:
                        built = build(run, engine, item, profile, definitions[item.name].directory, options)
                        result.update(status="built", image_id=built["image_id"], timings=built["timings"],
                                      packages=len(built["manifest"]))
                        break
                    except CommandTimeout:
                        result.update(status="failed", error="timed out after %ss" % options.timeout)
                        break
                    except CommandError as exc:
                        if interrupted():  # Cancelled, or an engine error caused by the interrupt
                            result.update(status="interrupted", error=cancel.reason)
                            break
                        if result["attempts"] <= options.retries and _is_transient(exc.output, patterns):
                            log.write(b"\n# transient failure: retrying\n")
                            continue
                        result.update(status="failed", error=str(exc))
                        break
            if result["status"] != "interrupted":
                journal.end(item.name)  # an interrupted one stays for the sweep
        result["seconds"] = round(time.monotonic() - start, 2)
        return result

    def block(item, reason, status="blocked"):
        for child in children.get(item.name, []):
            result = {"name": child.name, "ref": child.ref, "parent": child.parent, "fingerprint": child.fingerprint,
                      "status": status, "seconds": 0.0, "attempts": 0, "error": reason, "image_id": "",
                      "log": "", "timings": {}}
            report(result)
            block(child, reason, status)

    with concurrent.futures.ThreadPoolExecutor(max_workers=options.threads) as pool:
        futures = {pool.submit(work, item): item for item in children.get(None, [])}
        while futures:
            # A timeout, so that an interrupt is acted on while steps run (and kills them).
            done, dummy = concurrent.futures.wait(futures, timeout=0.25,
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
            if cancel is not None:
                cancel.terminate()
            for future in done:
                item = futures.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # an engine bug must not hang the scheduler
                    result = {"name": item.name, "ref": item.ref, "parent": item.parent, "status": "failed",
                              "fingerprint": item.fingerprint, "seconds": 0.0, "attempts": 1, "image_id": "",
                              "error": "%s: %s" % (type(exc).__name__, exc), "log": "", "timings": {}}
                    if interrupted():
                        result.update(status="interrupted", error=cancel.reason)
                report(result)
                if result["status"] == "failed":
                    block(item, "parent %s failed" % item.name)
                elif interrupted():  # submit nothing more
                    block(item, cancel.reason, "interrupted")
                else:
                    for child in children.get(item.name, []):
                        futures[pool.submit(work, child)] = child
    changed = any(r["status"] in ("built", "tagged") for r in results.values())
    sizes = engine.list_images(quiet) if changed else existing
    if changed:
        _remove_replaced(quiet, engine, plan, results, existing, sizes)
    if interrupted():
        journal.sweep(quiet, engine)
    ordered = []
    for item in plan:
        result = results[item.name]
        info = sizes.get(item.ref) if result["status"] in ("built", "tagged", "skipped") else None
        result["size"] = info["size"] if info else 0
        parent_info = sizes.get(item.from_ref)
        result["own_size"] = result["size"] - parent_info["size"] if info and parent_info else result["size"]
        ordered.append(result)
    return ordered


def _remove_replaced(runner, engine, plan, results, before, after):
    """Remove the images this run replaced at their references once nothing names them any more
    (rebuilding must not leave untagged images behind). Leaves go first: a parent cannot go while a
    child holds it; the engines refuse to remove an image a container or another image still uses."""
    named = {info["id"] for info in after.values()}
    for item in reversed(plan):
        old = before.get(item.ref)
        result = results[item.name]
        if old and result["status"] in ("built", "tagged") and old["id"] != result["image_id"] \
                and old["id"] not in named:
            engine.remove_image(runner, old["id"])
            result["replaced"] = old["id"]


def summarize(results, seconds, interrupted=False):
    counts = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return {
        "interrupted": bool(interrupted),
        "images_interrupted": [r["name"] for r in results if r["status"] == "interrupted"],
        "images": results,
        "counts": counts,
        "images_built": [r["name"] for r in results if r["status"] == "built"],
        "images_unchanged": [r["name"] for r in results if r["status"] in ("skipped", "tagged")],
        "images_failed": [r["name"] for r in results if r["status"] in ("failed", "blocked")],
        "seconds": round(seconds, 2),
        "total_size": sum(r["own_size"] for r in results if r.get("size")),
    }


def summary_table(summary):
    rows = [("image", "status", "seconds", "size MB", "own MB", "error")]
    for r in summary["images"]:
        rows.append((r["name"], r["status"], "%.1f" % r["seconds"], "%.1f" % (r.get("size", 0) / 1e6),
                     "%.1f" % (r.get("own_size", 0) / 1e6), (r.get("error") or "")[:80]))
    counts = ", ".join("%s %d" % (k, v) for k, v in sorted(summary["counts"].items()))
    return format_table(rows) + "\n%s; %.1f s; set size %.1f MB (shared layers once)%s" % (
        counts, summary["seconds"], summary["total_size"] / 1e6, "; INTERRUPTED" if summary.get("interrupted") else "")
