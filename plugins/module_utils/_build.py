# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Build a plan as a DAG: an image starts as soon as its parent is done, up to N at once.

Only scheduling: each image is built by engine.build_image (see _engine.Engine), whatever the
engine. A failure stops only its descendants. Progress events (an image's start, its steps,
its finish; see _progress) go to options.events as they happen. An image whose fingerprint matches the image already
at its reference (or any local image) is not rebuilt (the rule is _engine.LocalStore.decide).
Working containers are removed whatever happens, except a failed image's with keep_failed
(for debugging; named in its result as "container").

An interrupted build (see _command.Cancel) starts nothing more, kills the running steps, removes
their working containers, tags and commits nothing afterwards and reports the images it did not
finish as "interrupted". What only a killed build leaves behind (it could not clean up) is named
in a journal of the builds in flight, which the next build reads to remove exactly those.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import threading
import time
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancelled, CommandError, CommandTimeout,
)
from ansible_collections.containergen.images.plugins.module_utils._contract import FINGERPRINT_LABEL
from ansible_collections.containergen.images.plugins.module_utils._engine import (
    REUSE, UP_TO_DATE, Engine, LocalStore,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import format_table
from ansible_collections.containergen.images.plugins.module_utils._progress import EventLog
from ansible_collections.containergen.images.plugins.module_utils import _sizes


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

    def sweep(self, run: t.Any, engine: Engine) -> t.List[str]:
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
                 journal=None, events=None, keep_failed=False, sizes_dir=None):
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
        # progress events (_progress): the scheduler's start/finish, the engine's steps through step()
        self.events = events if events is not None else EventLog()
        # keep_failed: the engine keeps a failed image's working container and names it in kept
        self.keep_failed = bool(keep_failed)
        self.kept: t.Dict[str, str] = {}
        # sizes_dir: each built image's new layers are measured into this size report cache (_sizes)
        self.sizes_dir = sizes_dir

    def step(self, name: str, step: str) -> None:
        """The engine says which step image name is at (package install, run 2/3, copy, cleanup, commit)."""
        self.events.emit("step", image=name, step=step)


def _is_transient(text, patterns):
    return any(re.search(p, text or "") for p in patterns)


def build_plan(runner: t.Any, engine: Engine, plan: t.List[t.Any], profile: t.Mapping[str, t.Any],
               definitions: t.Mapping[str, t.Any], options: BuildOptions,
               progress: t.Optional[t.Callable[[str], None]] = None,
               existing: t.Union[LocalStore, t.Mapping[str, t.Any], None] = None) -> t.List[t.Dict[str, t.Any]]:
    """Build every image of plan; returns a list of result dicts in plan order.

    existing: the local store (a LocalStore, or its listing {ref: info}) when the caller has just read it.
    runner.cancel (a _command.Cancel), once set, interrupts the build: images not finished are
    reported "interrupted".
    """
    cancel = runner.cancel
    # Listing, removing replaced images and sweeping must happen also after an interrupt.
    quiet = runner.child(deadline=runner.deadline, log=runner.log, cancel=False)
    journal = options.journal
    os.makedirs(options.log_dir, exist_ok=True)
    progress = progress or (lambda line: None)
    events = options.events
    if existing is None:
        existing = LocalStore.read(engine, runner)
    elif not isinstance(existing, LocalStore):
        existing = LocalStore(existing)
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
        events.emit("finish", image=result["name"], status=result["status"], seconds=result["seconds"],
                    error=result.get("error") or "", log=result.get("log") or "",
                    container=result.get("container") or "")

    def interrupted():
        return cancel is not None and cancel.is_set()

    def work(item):
        start = time.monotonic()
        result = {"name": item.name, "ref": item.ref, "parent": item.parent, "fingerprint": item.fingerprint,
                  "status": "", "seconds": 0.0, "attempts": 0, "error": "", "image_id": "",
                  "log": os.path.join(options.log_dir, item.name + ".log"), "timings": {}}
        current = existing.get(item.ref)
        decision, image_id = existing.decide(item.ref, item.fingerprint, force=options.force)
        if interrupted():
            result.update(status="interrupted", error=cancel.reason, log="")
        elif decision == UP_TO_DATE:
            result.update(status="skipped", image_id=image_id)
        elif decision == REUSE:
            try:
                engine.tag(runner, image_id, item.ref)
                result.update(status="tagged", image_id=image_id)
            except Cancelled as exc:
                result.update(status="interrupted", error=str(exc), log="")
        else:  # BUILD
            journal.begin(item, current["id"] if current else "")
            with open(result["log"], "wb") as log:
                while True:
                    result["attempts"] += 1
                    events.emit("start", image=item.name, attempt=result["attempts"])
                    run = runner.child(deadline=start + options.timeout if options.timeout else None, log=log)
                    try:
                        built = engine.build_image(run, item, profile, definitions[item.name].directory, options)
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
                            _drop_kept(quiet, engine, options, item.name)  # keep only the last attempt's
                            continue
                        result.update(status="failed", error=str(exc))
                        break
                if result["status"] == "failed" and options.kept.get(item.name):
                    result["container"] = options.kept[item.name]
                    log.write(("\n# working container kept: %s\n" % result["container"]).encode())
                else:  # a kept container of an attempt that did not end the build as failed
                    _drop_kept(quiet, engine, options, item.name)
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

    events.emit("plan", images=[item.name for item in plan], threads=options.threads)
    # The size report's layer measures, taken while the rest builds (a new layer is still in the page cache).
    # Only where layers are read in place: docker's would be exported image by image (the report exports once).
    measuring = (concurrent.futures.ThreadPoolExecutor(max_workers=1)
                 if options.sizes_dir and engine.name == "buildah" else None)
    measures: t.Dict[str, concurrent.futures.Future] = {}
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
                if measuring is not None and result["status"] == "built" and not interrupted():
                    measures[item.name] = measuring.submit(_measure, quiet, engine, item.ref, options.sizes_dir)
                if result["status"] == "failed":
                    block(item, "parent %s failed" % item.name)
                elif interrupted():  # submit nothing more
                    block(item, cancel.reason, "interrupted")
                else:
                    for child in children.get(item.name, []):
                        futures[pool.submit(work, child)] = child
    if measuring is not None:
        _collect_measures(measuring, measures, results, interrupted())
    changed = any(r["status"] in ("built", "tagged") for r in results.values())
    sizes = LocalStore.read(engine, quiet) if changed else existing
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


def _measure(runner: t.Any, engine: Engine, ref: str, directory: str) -> float:
    """The size report's measures of ref's layers not measured yet (gzip and zstd included); its seconds."""
    start = time.monotonic()
    _sizes.record_layers(runner, [ref], directory, engine.name, threads=1)
    return round(time.monotonic() - start, 2)


def _collect_measures(measuring: concurrent.futures.ThreadPoolExecutor, measures: t.Mapping[str, t.Any],
                      results: t.Dict[str, t.Dict[str, t.Any]], interrupted: bool) -> None:
    """Wait for the measures (an interrupted build drops those not started): seconds in the result's
    sizes_seconds, or a one-line sizes_error (the image is built all the same; the report measures it)."""
    if interrupted:
        for future in measures.values():
            future.cancel()  # only those not started
    measuring.shutdown(wait=True)
    for name, future in measures.items():
        if future.cancelled():
            continue
        try:
            results[name]["sizes_seconds"] = future.result()
        except (_sizes.SizesError, CommandError, OSError, ValueError) as exc:
            message = " ".join(str(exc).split())
            results[name]["sizes_error"] = "%s: size measures of %s: %s" % (name, results[name]["ref"], message)


def _drop_kept(runner: t.Any, engine: Engine, options: BuildOptions, name: str) -> None:
    """Remove the working container kept for name (a retried or interrupted attempt's)."""
    container = options.kept.pop(name, None)
    if container:
        engine.remove_container(runner, container)


def _remove_replaced(runner: t.Any, engine: Engine, plan: t.List[t.Any], results: t.Dict[str, t.Dict[str, t.Any]],
                     before: LocalStore, after: LocalStore) -> None:
    """Remove the images this run replaced at their references once nothing names them any more
    (rebuilding must not leave untagged images behind). Leaves go first: a parent cannot go while a
    child holds it; the engines refuse to remove an image a container or another image still uses."""
    named = set(after.ids().values())
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
