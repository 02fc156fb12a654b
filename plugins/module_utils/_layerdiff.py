# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Which files make two builds of the same image differ (the inspect room).

Two reproducible builds of one plan give the same layers. When they do not, the layer tars say
why: this module exports both images (skopeo, a dir: layout: uncompressed layer tars named by
digest) and compares the layers that differ entry by entry: type, mode, owner, time, size,
content hash, link target and extended attributes. The answer names each file and what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import typing as t

# What a tar entry is compared by, in this order.
FIELDS = ("type", "mode", "uid", "gid", "mtime", "size", "sha256", "linkname", "pax")

Entry = t.Tuple[t.Any, ...]


def layer_entries(path: str) -> t.Dict[str, Entry]:
    """{path in the layer: (FIELDS...)} of a layer tar (plain or compressed)."""
    entries: t.Dict[str, Entry] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            digest = ""
            if member.isfile():
                handle = tar.extractfile(member)
                sha = hashlib.sha256()
                for chunk in iter(lambda: handle.read(1 << 20), b""):  # pylint: disable=cell-var-from-loop
                    sha.update(chunk)
                digest = sha.hexdigest()
            # atime/ctime are times too: kept with the other PAX records (xattrs among them)
            pax = tuple(sorted((member.pax_headers or {}).items()))
            name = member.name[2:] if member.name.startswith("./") else member.name
            entries[name.lstrip("/") or "."] = (
                member.type.decode() if isinstance(member.type, bytes) else member.type, member.mode,
                member.uid, member.gid, int(member.mtime), member.size, digest, member.linkname, pax)
    return entries


def diff_entries(first: t.Mapping[str, Entry], second: t.Mapping[str, Entry]) -> t.List[t.Dict[str, t.Any]]:
    """[{"path", "change": added|removed|changed, "fields": [names of what differs]}], by path."""
    changes = []
    for path in sorted(set(first) | set(second)):
        old, new = first.get(path), second.get(path)
        if old == new:
            continue
        if old is None:
            changes.append({"path": path, "change": "added", "fields": []})
        elif new is None:
            changes.append({"path": path, "change": "removed", "fields": []})
        else:
            changes.append({"path": path, "change": "changed",
                            "fields": [name for name, a, b in zip(FIELDS, old, new) if a != b]})
    return changes


def export_layers(run: t.Any, ref: str, directory: str, transport: str = "containers-storage:",
                  skopeo: str = "skopeo") -> t.List[str]:
    """Write ref as a dir: layout in directory; returns the paths of its layer tars, bottom first."""
    run([skopeo, "copy", "--quiet", transport + ref, "dir:" + directory])
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    return [os.path.join(directory, layer["digest"].split(":", 1)[-1]) for layer in manifest.get("layers") or []]


def diff_images(run: t.Any, first: str, second: str, work_dir: str, transport: str = "containers-storage:",
                skopeo: str = "skopeo") -> t.List[t.Dict[str, t.Any]]:
    """The files that differ between two images, layer by layer: [{"layer" (index), "path",
    "change", "fields"}]. Layers with the same digest are not read; a layer only one image has is
    compared with an empty one. The exported layouts are removed afterwards."""
    os.makedirs(work_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="layerdiff-", dir=work_dir)
    try:
        layers = [export_layers(run, ref, os.path.join(scratch, str(number)), transport, skopeo)
                  for number, ref in enumerate((first, second))]
        changes = []
        for index in range(max(len(layers[0]), len(layers[1]))):
            paths = [found[index] if index < len(found) else None for found in layers]
            if paths[0] and paths[1] and os.path.basename(paths[0]) == os.path.basename(paths[1]):
                continue
            entries = [layer_entries(path) if path else {} for path in paths]
            changes.extend(dict(change, layer=index) for change in diff_entries(entries[0], entries[1]))
        return changes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def format_changes(changes: t.List[t.Dict[str, t.Any]], limit: int = 40) -> str:
    """One line per file: 'layer N: PATH changed (mtime, sha256)'; at most limit lines."""
    lines = ["layer %d: %s %s%s" % (change["layer"], change["path"], change["change"],
                                    " (%s)" % ", ".join(change["fields"]) if change["fields"] else "")
             for change in changes[:limit]]
    if len(changes) > limit:
        lines.append("... and %d more" % (len(changes) - limit))
    return "\n".join(lines)
