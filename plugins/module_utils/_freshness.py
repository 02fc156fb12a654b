# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Update detection without building: which local images the package manager would install
differently now.

The repository indexes are fetched once per run into a host directory (in a throwaway container of
the plan's root image, so with the sources that image configures); every image is then asked, in its
own throwaway container with that directory mounted read-only, what its package manager would
upgrade (apt-get --simulate against the fetched lists; dnf check-update from the fetched cache).
Nothing is built and no image changes.

An image is *stale* when one of its packages has a newer candidate; a stale image makes its
descendants stale. The refresh salt of an image is the sorted list of NAME=NEW of its own updates:
it goes into the fingerprint (and the containergen.refresh label, keyed by image name since children
inherit labels) of the rebuilt image, so the decision is recorded in the image, and a later plan
carries it from the label, so an image rebuilt for an update stays up to date until the next update.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import time
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._contract import MANIFEST_LABEL, REFRESH_LABEL
from ansible_collections.containergen.images.plugins.module_utils._engine import UP_TO_DATE

REFRESH_CHOICES = ("none", "updates")
# Where the fetched indexes appear inside the throwaway containers.
LISTS_MOUNT = "/run/containergen-lists"

UPDATED, STALE_PARENT, CHANGED, ABSENT = "stale", "stale (parent)", "changed definition", "absent"

Updates = t.Dict[str, t.List[str]]  # {package: [installed, candidate]}


# apt: the indexes and the cache of them built once (the source cache holds no installed state, so
# every image with the same sources reuses it: parsing the Packages files is most of a check's time).
_APT_DIRS = ["-o", "Dir::State::Lists=" + LISTS_MOUNT, "-o", "Dir::Cache::srcpkgcache=%s/srcpkgcache.bin" % LISTS_MOUNT,
             "-o", "Dir::Cache::pkgcache="]


def fetch_argvs(family: str) -> t.List[t.List[str]]:
    """The package manager's index fetch, writing into LISTS_MOUNT (each argv run as the entrypoint)."""
    if family == "debian":
        # root as sandbox user: the bind-mounted host directory is not _apt's
        return [["apt-get", "-q"] + _APT_DIRS + ["-o", "APT::Sandbox::User=root", "update"],
                ["apt-cache", "-q"] + _APT_DIRS + ["gencaches"]]
    if family == "redhat":
        return [["dnf", "-q", "--setopt=cachedir=" + LISTS_MOUNT, "--setopt=keepcache=True", "makecache"]]
    raise ValueError("update check: package family %r is not supported" % family)


def check_argv(family: str) -> t.List[str]:
    """What the package manager would upgrade, from the fetched indexes only (LISTS_MOUNT, read-only)."""
    if family == "debian":
        # dist-upgrade: an update that needs a new dependency is an update too (upgrade holds it back)
        return ["apt-get", "-s", "-q"] + _APT_DIRS + ["-o", "Debug::NoLocking=1", "dist-upgrade"]
    if family == "redhat":
        # -C: the cache only (fetched once); exit 100 means updates are available
        return ["dnf", "-q", "-C", "--setopt=cachedir=" + LISTS_MOUNT, "check-update"]
    raise ValueError("update check: package family %r is not supported" % family)


_APT_INST = re.compile(r"^Inst (\S+) \[([^\]]+)\] \((\S+)")


def parse_apt_simulation(text: str) -> Updates:
    """apt-get -s output → {package: [installed, candidate]} (upgrades only, not new packages)."""
    updates = {}
    for line in text.splitlines():
        match = _APT_INST.match(line)
        if match:
            name, old, new = match.groups()
            updates[name.split(":", 1)[0]] = [old, new]
    return dict(sorted(updates.items()))


def parse_dnf_check_update(text: str, manifest: t.Mapping[str, str]) -> Updates:
    """dnf check-update output ("name.arch  version  repo" lines, then "Obsoleting Packages") →
    {package: [installed (from the manifest), candidate]}."""
    updates = {}
    for line in text.splitlines():
        if line.startswith("Obsoleting"):
            break
        words = line.split()
        if len(words) != 3 or "." not in words[0]:
            continue
        name = words[0].rsplit(".", 1)[0]
        updates[name] = [manifest.get(name, ""), words[1]]
    return dict(sorted(updates.items()))


def salt(updates: Updates) -> t.List[str]:
    """The refresh salt of an image: its own updates as sorted NAME=CANDIDATE."""
    return ["%s=%s" % (name, versions[1]) for name, versions in sorted(updates.items())]


def carried_salts(plan: t.Sequence[t.Any], store: t.Any) -> t.Dict[str, t.List[str]]:
    """{name: salt} read from the containergen.refresh label of the image at each planned ref."""
    salts = {}
    for item in plan:
        info = store.get(item.ref)
        text = info["labels"].get(REFRESH_LABEL) if info else None
        if text:
            try:
                value = json.loads(text).get(item.name)
            except (ValueError, AttributeError):
                continue
            if isinstance(value, list) and all(isinstance(word, str) for word in value):
                salts[item.name] = value
    return salts


class Checker(object):
    """Runs the fetch and the per-image check in throwaway podman containers (images of the local
    containers-storage: the buildah engine's store), through the command wrapper."""

    def __init__(self, run: t.Any, family: str, lists_root: str, podman: str = "podman", network: str = "host",
                 threads: int = 4) -> None:
        self.run = run
        self.family = family
        self.lists_root = lists_root
        self.podman = podman
        self.network = network
        self.threads = max(1, threads)

    def _container(self, image: str, mount: str, argv: t.List[str]) -> t.List[str]:
        # --entrypoint: the image's own (kolla_start, dumb-init) must not wrap the query
        return [self.podman, "run", "--rm", "--pull=never", "--no-healthcheck", "--network", self.network,
                "--user", "root", "--volume", mount, "--entrypoint", argv[0], image] + argv[1:]

    def fetch(self, image: str, key: str) -> str:
        """Fetch the indexes with the sources of image into a host directory; returns it."""
        lists = os.path.join(self.lists_root, key)
        os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
        for argv in fetch_argvs(self.family):
            self.run(self._container(image, "%s:%s" % (lists, LISTS_MOUNT), argv))
        return lists

    def check(self, image: str, lists: str, manifest: t.Mapping[str, str]) -> Updates:
        """What the package manager would upgrade in image."""
        argv = self._container(image, "%s:%s:ro" % (lists, LISTS_MOUNT), check_argv(self.family))
        rc, out, err = self.run(argv, check=False)
        if rc not in ((0, 100) if self.family == "redhat" else (0,)):
            raise CommandError(argv, rc, "update check of %s: %s" % (image, err))
        return parse_dnf_check_update(out, manifest) if self.family == "redhat" else parse_apt_simulation(out)

    def check_many(self, jobs: t.Sequence[t.Tuple[str, str, str, t.Mapping[str, str]]]) -> t.Dict[str, Updates]:
        """[(key, image, lists dir, manifest)] → {key: updates}, a few containers at once."""
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            futures = {key: pool.submit(self.check, image, lists, manifest) for key, image, lists, manifest in jobs}
            return {key: future.result() for key, future in futures.items()}


def check_plan(checker: Checker, plan: t.Sequence[t.Any], store: t.Any, base_ref: str) -> t.Dict[str, t.Any]:
    """The update check of a plan (its fingerprints already carrying the salts of the labels).

    Returns {"images": {name: {"status", "updates", "salt"}}, "base": {"ref", "updates"},
    "salts": {name: new salt} (the images with updates of their own), "seconds"}.
    Only images whose reference holds their planned fingerprint are asked; the others are built anyway
    (changed definition, or absent).
    """
    start = time.monotonic()
    by_name = {item.name: item for item in plan}
    current = {item.name for item in plan if store.decide(item.ref, item.fingerprint)[0] == UP_TO_DATE}

    def root_of(item: t.Any) -> t.Any:
        while item.parent in by_name:
            item = by_name[item.parent]
        return item

    # one fetch per root of the plan (its sources); the base is checked against the first root's
    lists: t.Dict[str, str] = {}
    for item in plan:
        root = root_of(item)
        if root.name not in lists and root.name in current:
            lists[root.name] = checker.fetch(root.ref, root.name)
    if not lists and base_ref in store:
        lists[""] = checker.fetch(base_ref, "base")
    jobs = []
    for item in plan:
        root = root_of(item)
        if item.name in current and root.name in lists:
            manifest = _manifest(store, item.ref)
            jobs.append((item.name, item.ref, lists[root.name], manifest))
    base_lists = next(iter(lists.values()), None)
    if base_lists and base_ref in store:
        jobs.append(("", base_ref, base_lists, _manifest(store, base_ref)))
    found = checker.check_many(jobs)
    images: t.Dict[str, t.Dict[str, t.Any]] = {}
    salts = {}
    for item in plan:  # parents first
        updates = found.get(item.name, {})
        if item.name not in current:
            status = CHANGED if item.ref in store else ABSENT
        elif updates:
            status = UPDATED
            salts[item.name] = salt(updates)
        elif item.parent in images and images[item.parent]["status"] in (UPDATED, STALE_PARENT):
            status = STALE_PARENT
        else:
            status = UP_TO_DATE
        images[item.name] = {"status": status, "updates": updates, "salt": salts.get(item.name, [])}
    return {"images": images, "salts": salts, "base": {"ref": base_ref, "updates": found.get("", {})},
            "seconds": round(time.monotonic() - start, 2)}


def _manifest(store: t.Any, ref: str) -> t.Dict[str, str]:
    info = store.get(ref) or {}
    try:
        return dict(json.loads((info.get("labels") or {}).get(MANIFEST_LABEL) or "{}"))
    except ValueError:
        return {}


def describe(entry: t.Mapping[str, t.Any], limit: int = 4) -> str:
    """A plan table's status cell: up to date / stale (N packages: name old → new, ...) / ..."""
    status = entry["status"]
    if status != UPDATED:
        return status
    updates = entry["updates"]
    shown = ", ".join("%s %s → %s" % (name, old, new) for name, (old, new) in list(updates.items())[:limit])
    more = ", …" if len(updates) > limit else ""
    return "stale (%d package%s: %s%s)" % (len(updates), "" if len(updates) == 1 else "s", shown, more)
