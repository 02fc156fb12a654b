# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Update detection without building: which local images the package manager would install
differently now.

Per root of the plan (whose sources the images below it use), two throwaway containers: one fetches
the repository indexes into a host directory (`apt-get update` / `dnf makecache`), one prints the
candidate version of every package named in the version manifests of the images below that root
(`apt-cache policy NAME...` / `dnf repoquery`), the indexes mounted read-only. The base image, which
carries no manifest label, is asked for its installed packages once (the profile's manifest query).
Each image's manifest is then compared with the candidates here, with the package manager's own
version ordering (dpkg's for deb, rpm's for rpm): a few containers per run, whatever the number of
images. Nothing is built and no image changes.

An image is *stale* when one of its packages has a newer candidate; a stale image makes its
descendants stale. The refresh salt of an image is the sorted list of NAME=NEW of its own updates:
it goes into the fingerprint (and the containergen.refresh label, keyed by image name since children
inherit labels) of the rebuilt image, so the decision is recorded in the image, and a later plan
carries it from the label, so an image rebuilt for an update stays up to date until the next update.

Limits: the candidates are those of the root's sources and pins (a source or pin added by an image
below the root is not seen); a package whose candidate is older than the installed version is not
an update (apt and dnf do not downgrade either).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import time
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    MANIFEST_LABEL, REFRESH_LABEL, parse_manifest,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import UP_TO_DATE

REFRESH_CHOICES = ("none", "updates")
# Where the fetched indexes appear inside the throwaway containers.
LISTS_MOUNT = "/run/containergen-lists"

UPDATED, STALE_PARENT, CHANGED, ABSENT = "stale", "stale (parent)", "changed definition", "absent"

Updates = t.Dict[str, t.List[str]]  # {package: [installed, candidate]}


# ---- version ordering -----------------------------------------------------------------------------

def _digit(char: str) -> bool:
    return "0" <= char <= "9" and len(char) == 1  # C's isdigit(): ASCII only


def _dpkg_order(char: str) -> int:
    # dpkg's order(): '~' before everything (even the end), letters before non-letters
    if _digit(char):
        return 0
    if char.isalpha() and char.isascii():
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256 if char else 0


def _dpkg_verrevcmp(left: str, right: str) -> int:
    """dpkg's verrevcmp() of lib/dpkg/version.c, on an upstream version or a revision."""
    i = j = 0
    while i < len(left) or j < len(right):
        first_diff = 0
        while (i < len(left) and not _digit(left[i])) or (j < len(right) and not _digit(right[j])):
            a_order = _dpkg_order(left[i] if i < len(left) else "")
            b_order = _dpkg_order(right[j] if j < len(right) else "")
            if a_order != b_order:
                return a_order - b_order
            i, j = i + 1, j + 1
        while i < len(left) and left[i] == "0":
            i += 1
        while j < len(right) and right[j] == "0":
            j += 1
        while i < len(left) and _digit(left[i]) and j < len(right) and _digit(right[j]):
            if not first_diff:
                first_diff = ord(left[i]) - ord(right[j])
            i, j = i + 1, j + 1
        if i < len(left) and _digit(left[i]):
            return 1
        if j < len(right) and _digit(right[j]):
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_evr(version: str, kind: str) -> t.Tuple[int, str, str]:
    """[epoch:]version[-revision] as dpkg and rpm both write it (no epoch = 0); Debian also needs a version."""
    epoch, sep, rest = version.strip().partition(":")
    if not sep:
        epoch, rest = "0", version.strip()
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    if not epoch.isdigit() or (kind == "Debian" and not upstream):
        raise ValueError("not a%s %s version: %r" % ("n" if kind == "rpm" else "", kind, version))
    return int(epoch), upstream, revision


def dpkg_compare(left: str, right: str) -> int:
    """Debian's version ordering (dpkg --compare-versions): <0, 0 or >0."""
    a_epoch, a_upstream, a_revision = _split_evr(left, "Debian")
    b_epoch, b_upstream, b_revision = _split_evr(right, "Debian")
    if a_epoch != b_epoch:
        return a_epoch - b_epoch
    return _dpkg_verrevcmp(a_upstream, b_upstream) or _dpkg_verrevcmp(a_revision, b_revision)


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def rpmvercmp(left: str, right: str) -> int:
    """rpm's rpmvercmp() of rpmio/rpmvercmp.c (-1, 0, 1): '~' sorts before anything, '^' after the end."""
    if left == right:
        return 0
    i = j = 0
    while i < len(left) or j < len(right):
        while i < len(left) and not _ascii_alnum(left[i]) and left[i] not in "~^":
            i += 1
        while j < len(right) and not _ascii_alnum(right[j]) and right[j] not in "~^":
            j += 1
        a_char, b_char = left[i:i + 1], right[j:j + 1]
        if a_char == "~" or b_char == "~":
            if a_char != "~":
                return 1
            if b_char != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if a_char == "^" or b_char == "^":
            if not a_char:
                return -1
            if not b_char:
                return 1
            if a_char != "^":
                return 1
            if b_char != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (a_char and b_char):
            break
        numeric = a_char.isdigit()
        kind = str.isdigit if numeric else str.isalpha
        start_a, start_b = i, j
        while i < len(left) and left[i].isascii() and kind(left[i]):
            i += 1
        while j < len(right) and right[j].isascii() and kind(right[j]):
            j += 1
        a_seg, b_seg = left[start_a:i], right[start_b:j]
        if not b_seg:  # different kinds: a number is newer than letters
            return 1 if numeric else -1
        if numeric:
            a_seg, b_seg = a_seg.lstrip("0"), b_seg.lstrip("0")
            if len(a_seg) != len(b_seg):
                return 1 if len(a_seg) > len(b_seg) else -1
        if a_seg != b_seg:
            return 1 if a_seg > b_seg else -1
    if i >= len(left) and j >= len(right):
        return 0
    return -1 if i >= len(left) else 1


def rpm_compare(left: str, right: str) -> int:
    """rpm's EVR ordering ([epoch:]version[-release], no epoch = 0): -1, 0 or 1."""
    a_epoch, a_version, a_release = _split_evr(left, "rpm")
    b_epoch, b_version, b_release = _split_evr(right, "rpm")
    if a_epoch != b_epoch:
        return 1 if a_epoch > b_epoch else -1
    result = rpmvercmp(a_version, b_version)
    if result or not (a_release and b_release):  # a missing release matches any (rpm's rule)
        return result
    return rpmvercmp(a_release, b_release)


def compare(family: str, left: str, right: str) -> int:
    """The version ordering of the family's package manager."""
    if family == "debian":
        return dpkg_compare(left, right)
    if family == "redhat":
        return rpm_compare(left, right)
    raise ValueError("update check: package family %r is not supported" % family)


# ---- what the package manager is asked --------------------------------------------------------------

# apt: the indexes in LISTS_MOUNT, and no binary cache written (the query container mounts them read-only)
_APT_DIRS = ["-o", "Dir::State::Lists=" + LISTS_MOUNT, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="]
_RPM_QUERYFORMAT = "%{name}\t%{epoch}:%{version}-%{release}\n"


def fetch_argv(family: str) -> t.List[str]:
    """The package manager's index fetch, writing into LISTS_MOUNT (run as the entrypoint)."""
    if family == "debian":
        # root as sandbox user: the bind-mounted host directory is not _apt's
        return ["apt-get", "-q"] + _APT_DIRS + ["-o", "APT::Sandbox::User=root", "update"]
    if family == "redhat":
        return ["dnf", "-q", "--setopt=cachedir=" + LISTS_MOUNT, "--setopt=keepcache=True", "makecache"]
    raise ValueError("update check: package family %r is not supported" % family)


def candidates_argv(family: str, names: t.Sequence[str]) -> t.List[str]:
    """The candidate version of each named package, from the fetched indexes only (LISTS_MOUNT)."""
    if family == "debian":
        return ["apt-cache", "-q"] + _APT_DIRS + ["policy"] + list(names)
    if family == "redhat":
        # -C: the cache only (fetched once)
        return ["dnf", "-q", "-C", "--setopt=cachedir=" + LISTS_MOUNT, "repoquery", "--latest-limit=1",
                "--queryformat", _RPM_QUERYFORMAT] + list(names)
    raise ValueError("update check: package family %r is not supported" % family)


_POLICY_NAME = re.compile(r"^(\S+):$")
_POLICY_CANDIDATE = re.compile(r"^\s+Candidate:\s+(\S+)")


def parse_apt_policy(text: str) -> t.Dict[str, str]:
    """apt-cache policy output → {package: candidate} (packages without a candidate left out)."""
    candidates, name = {}, None
    for line in text.splitlines():
        match = _POLICY_NAME.match(line)
        if match:
            name = match.group(1)
            continue
        match = _POLICY_CANDIDATE.match(line)
        if match and name and match.group(1) != "(none)":
            # a native-architecture name may come as name:arch; manifests use the bare name
            candidates[name.split(":", 1)[0]] = match.group(1)
            name = None
    return candidates


def parse_repoquery(text: str) -> t.Dict[str, str]:
    """dnf repoquery "name<TAB>epoch:version-release" lines → {package: newest}; epoch 0 dropped,
    as rpm -qa prints it in the manifests."""
    candidates: t.Dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("\t")
        if not sep or not version:
            continue
        if version.startswith("0:") or version.startswith("(none):"):
            version = version.split(":", 1)[1]
        if name not in candidates or rpm_compare(version, candidates[name]) > 0:
            candidates[name] = version
    return candidates


def updates_of(family: str, manifest: t.Mapping[str, str], candidates: t.Mapping[str, str]) -> Updates:
    """{package: [installed, candidate]} for the packages of manifest with a newer candidate."""
    found = {}
    for name, installed in manifest.items():
        candidate = candidates.get(name)
        if candidate and installed:
            try:
                newer = compare(family, candidate, installed) > 0
            except ValueError:  # not a version of this family: not comparable, not an update
                continue
            if newer:
                found[name] = [installed, candidate]
    return dict(sorted(found.items()))


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
    """Runs the fetch and the queries in throwaway containers of local images, through the command
    wrapper. container: the client's argv prefix, ["podman"] for the buildah engine's
    containers-storage, ["docker", "--host", URL] for the docker engine's daemon."""

    def __init__(self, run: t.Any, family: str, lists_root: str, manifest_query: t.Sequence[str] = (),
                 container: t.Sequence[str] = ("podman",), network: str = "host", threads: int = 2) -> None:
        self.run = run
        self.family = family
        self.lists_root = lists_root
        self.manifest_query = list(manifest_query)
        self.container = list(container)
        self.network = network
        self.threads = max(1, threads)
        self.calls = 0

    def _container(self, image: str, argv: t.Sequence[str], mount: t.Optional[str] = None) -> t.List[str]:
        # --entrypoint: the image's own (kolla_start, dumb-init) must not wrap the query
        volume = ["--volume", mount] if mount else []
        return self.container + ["run", "--rm", "--pull=never", "--no-healthcheck", "--network", self.network,
                                 "--user", "root"] + volume + ["--entrypoint", argv[0], image] + list(argv[1:])

    def _run(self, image: str, argv: t.List[str], what: str) -> str:
        self.calls += 1
        rc, out, err = self.run(argv, check=False)
        if rc != 0:
            raise CommandError(argv, rc, "update check, %s in %s: %s" % (what, image, " ".join(err.split())[-2000:]))
        return out

    def fetch(self, image: str, key: str) -> str:
        """Fetch the indexes with the sources of image into a host directory; returns it."""
        lists = os.path.join(self.lists_root, key)
        os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
        self._run(image, self._container(image, fetch_argv(self.family), "%s:%s" % (lists, LISTS_MOUNT)),
                  "index fetch")
        return lists

    def candidates(self, image: str, lists: str, names: t.Sequence[str]) -> t.Dict[str, str]:
        """{package: candidate version} for names, with the sources and pins of image."""
        if not names:
            return {}
        argv = self._container(image, candidates_argv(self.family, sorted(names)), "%s:%s:ro" % (lists, LISTS_MOUNT))
        out = self._run(image, argv, "candidate versions")
        return parse_repoquery(out) if self.family == "redhat" else parse_apt_policy(out)

    def installed(self, image: str) -> t.Dict[str, str]:
        """The installed packages of an image that carries no manifest label (the base)."""
        if not self.manifest_query:
            raise ValueError("update check: the profile has no package_manager.manifest query")
        return parse_manifest(self._run(image, self._container(image, self.manifest_query), "package list"))


def check_plan(checker: Checker, plan: t.Sequence[t.Any], store: t.Any, base_ref: str) -> t.Dict[str, t.Any]:
    """The update check of a plan (its fingerprints already carrying the salts of the labels).

    Returns {"images": {name: {"status", "updates", "salt"}}, "base": {"ref", "updates"},
    "salts": {name: new salt} (the images with updates of their own), "containers", "seconds"}.
    Only images whose reference holds their planned fingerprint are compared; the others are built
    anyway (changed definition, or absent).
    """
    start = time.monotonic()
    by_name = {item.name: item for item in plan}
    current = {item.name for item in plan if store.decide(item.ref, item.fingerprint)[0] == UP_TO_DATE}

    def root_of(item: t.Any) -> t.Any:
        while item.parent in by_name:
            item = by_name[item.parent]
        return item

    manifests = {item.name: _manifest(store, item.ref) for item in plan if item.name in current}
    # roots whose images are asked: a root that is not current rebuilds everything below it anyway
    groups: t.Dict[str, t.List[str]] = {}
    for item in plan:
        root = root_of(item)
        if item.name in current and root.name in current:
            groups.setdefault(root.name, []).append(item.name)
    query_roots = [(by_name[name].ref, name) for name in groups]
    if not query_roots and base_ref in store:
        query_roots = [(base_ref, "base")]  # nothing current: only the base is asked
    base_key = query_roots[0][1] if query_roots else None
    with concurrent.futures.ThreadPoolExecutor(checker.threads) as pool:
        fetches = {key: pool.submit(checker.fetch, ref, key) for ref, key in query_roots}
        base_future = pool.submit(checker.installed, base_ref) if base_ref in store and base_key else None
        lists = {key: future.result() for key, future in fetches.items()}
        base_manifest = base_future.result() if base_future else {}
        queries = {}
        for ref, key in query_roots:
            names = set()
            for name in groups.get(key, []):
                names.update(manifests[name])
            if key == base_key:
                names.update(base_manifest)
            queries[key] = pool.submit(checker.candidates, ref, lists[key], sorted(names))
        candidates = {key: future.result() for key, future in queries.items()}
    found: t.Dict[str, Updates] = {}
    for key, names in groups.items():
        for name in names:
            found[name] = updates_of(checker.family, manifests[name], candidates[key])
    base_updates = updates_of(checker.family, base_manifest, candidates[base_key]) if base_key else {}
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
    return {"images": images, "salts": salts, "base": {"ref": base_ref, "updates": base_updates},
            "containers": checker.calls, "seconds": round(time.monotonic() - start, 2)}


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
