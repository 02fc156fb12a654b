# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The size report of a set of local images (the inspect stage).

Sizes are measured one way for every image: the uncompressed layer tars, their gzip -6 size (zlib
level 6, the measure of `gzip -6`; skopeo's parallel gzip writes ~5 % more) and, when zstandard is
installed, their zstd -3 size. An image's parent is the image of the set whose layers are the
longest proper prefix of its own; its own layers are the rest.

Layers are immutable, so each is analysed once and the result cached by its diff digest in the work
dir. With the buildah engine on the overlay driver a layer is read where containers/storage keeps
it: its file list (names, sizes, CRC-64 of the content) from the layer's tar-split, the tar stream
rebuilt from the tar-split and the diff dir only to compress it (and checked against the diff
digest). Other stores (docker, other drivers) are exported with skopeo copy and read as a stream.
"""

from __future__ import annotations

import base64
import concurrent.futures
import gzip
import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import time
import typing as t
import zlib

from ansible_collections.containergen.images.plugins.module_utils._contract import IMAGE_LABEL, MANIFEST_LABEL

try:
    import zstandard
except ImportError:  # zstd sizes are left out
    zstandard = None

CACHE_VERSION = 2
CHUNK = 1 << 20
GZIP_LEVEL, ZSTD_LEVEL = 6, 3
MB = 1000 * 1000.0
# How each engine's store is read: the inspect command and skopeo's transport.
STORES = {"buildah": ("podman", "containers-storage:"), "docker": ("docker", "docker-daemon:")}
DIR_DEPTH = 4  # directory totals are kept down to this depth

# Runtime state an image must not carry: (rule, test on a regular file's normalized path and size).
# Applied when the report is made, to the cached file lists: a new rule needs no layer read again.
STATE_RULES: t.Tuple[t.Tuple[str, t.Callable[[str, int], bool]], ...] = (
    ("initialized datadir", lambda path, size: size > 0 and any(
        path.startswith(prefix) for prefix in ("var/lib/mysql/", "var/lib/rabbitmq/mnesia/", "var/lib/redis/",
                                               "var/lib/valkey/", "var/lib/postgresql/"))),
    ("pid file", lambda path, size: path.endswith(".pid") or path.startswith(("run/", "var/run/"))),
    ("log file", lambda path, size: size > 0 and path.startswith("var/log/")),
    ("package lists and caches", lambda path, size: size > 0 and (
        path.startswith("var/lib/apt/lists/") or path.startswith("var/cache/apt/")
        or path.startswith("var/cache/debconf/") and path.endswith("-old"))),
)


class SizesError(Exception):
    """A size report that cannot be made (one line)."""


def normalize(name: str) -> str:
    name = name[2:] if name.startswith("./") else name
    return name.lstrip("/")


class _Measure(object):
    """The bytes of a layer's tar stream: counted, hashed (sha256: the diff digest) and, when asked,
    compressed with gzip -6 and zstd -3 (only the compressed sizes are kept)."""

    def __init__(self, compress: bool) -> None:
        self.size = 0
        self._sha = hashlib.sha256()
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16) if compress else None
        self._zstd = (zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
                      if compress and zstandard is not None else None)
        self.gzip: t.Optional[int] = 0 if self._gzip is not None else None
        self.zstd: t.Optional[int] = 0 if self._zstd is not None else None
        self._buffer = bytearray()

    def update(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK:  # large calls: the compressors and sha256 release the GIL
            self._feed()

    def skip(self, size: int) -> None:
        """Bytes counted but not read (a report without compression reads no file content)."""
        self.size += size

    def _feed(self) -> None:
        data = bytes(self._buffer)
        del self._buffer[:]
        self.size += len(data)
        self._sha.update(data)
        if self._gzip is not None:
            self.gzip += len(self._gzip.compress(data))
        if self._zstd is not None:
            self.zstd += len(self._zstd.compress(data))

    def finish(self) -> str:
        self._feed()
        if self._gzip is not None:
            self.gzip += len(self._gzip.flush())
        if self._zstd is not None:
            self.zstd += len(self._zstd.flush())
        return "sha256:" + self._sha.hexdigest()


class _Inflated(object):
    """A gzip (or plain) blob read as the uncompressed tar stream, every byte passed to a _Measure."""

    def __init__(self, handle: t.BinaryIO, measure: _Measure) -> None:
        self._handle = handle
        head = handle.read(2)
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32) if head == b"\x1f\x8b" else None
        self._buffer = bytearray()
        self._pending = head
        self._eof = False
        self.measure = measure

    def _fill(self) -> None:
        chunk = self._pending + self._handle.read(CHUNK)
        self._pending = b""
        if not chunk:
            data = self._inflate.flush() if self._inflate is not None else b""
            self._eof = True
        else:
            data = self._inflate.decompress(chunk) if self._inflate is not None else chunk
        if data:
            self.measure.update(data)
            self._buffer += data

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            self._fill()
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def drain(self) -> None:
        while not self._eof:
            self._fill()
            del self._buffer[:]


def _dpkg_list(path: str) -> t.Optional[str]:
    """The package whose dpkg file list this path is (var/lib/dpkg/info/NAME[:ARCH].list), else None."""
    if path.startswith("var/lib/dpkg/info/") and path.endswith(".list") and path.count("/") == 4:
        return posixpath.basename(path)[:-len(".list")].split(":", 1)[0]
    return None


class _Tally(object):
    """What a layer holds, entry by entry: regular files (size and a content key), directory totals,
    __pycache__, whiteouts and the dpkg file lists written in the layer."""

    def __init__(self) -> None:
        self.files: t.Dict[str, t.List[t.Any]] = {}
        self.dirs: t.Dict[str, int] = {}
        self.pycache = {"dirs": 0, "files": 0, "bytes": 0}
        self.whiteouts = 0
        self.lists: t.Dict[str, t.List[str]] = {}

    def entry(self, name: str, kind: str, size: int, key: str, content: t.Optional[bytes] = None) -> None:
        """kind: "file" (regular), "dir" or "other" (links, devices)."""
        path = normalize(name).rstrip("/")
        base = posixpath.basename(path)
        if base.startswith(".wh."):
            self.whiteouts += 1
            return
        if kind == "dir":
            if base == "__pycache__":
                self.pycache["dirs"] += 1
            return
        size = size if kind == "file" else 0
        if kind == "file":
            self.files[path] = [size, key]
            package = _dpkg_list(path)
            if package is not None and content is not None:
                self.lists[package] = [normalize(line) for line in content.decode("utf-8", "replace").splitlines()
                                       if line.strip()]
        if "/__pycache__/" in "/" + path:
            self.pycache["files"] += 1
            self.pycache["bytes"] += size
        parts = path.split("/")[:-1]
        for depth in range(1, min(len(parts), DIR_DEPTH) + 1):
            key_path = "/".join(parts[:depth])
            self.dirs[key_path] = self.dirs.get(key_path, 0) + size

    def record(self, measure: _Measure, content: str) -> t.Dict[str, t.Any]:
        # a package's bytes in this layer: the regular files of its list that this layer holds
        packages = {name: sum(self.files[path][0] for path in paths if path in self.files)
                    for name, paths in self.lists.items()}
        return {"version": CACHE_VERSION, "size": measure.size, "gzip": measure.gzip, "zstd": measure.zstd,
                "content": content, "files": self.files, "dirs": self.dirs, "pycache": self.pycache,
                "whiteouts": self.whiteouts, "packages": packages}


def analyse_layer(blob: str, compress: bool = True) -> t.Dict[str, t.Any]:
    """One exported layer blob (gzip or plain tar) → its record (see _Tally.record), read once, as a stream."""
    tally = _Tally()
    measure = _Measure(compress)
    with open(blob, "rb") as handle:
        stream = _Inflated(handle, measure)
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                key, content = "", None
                if member.isreg() and member.size:
                    reader = archive.extractfile(member)
                    sha = hashlib.sha256()
                    keep = _dpkg_list(normalize(member.name)) is not None
                    parts = []
                    while True:
                        block = reader.read(CHUNK)
                        if not block:
                            break
                        sha.update(block)
                        if keep:
                            parts.append(block)
                    key = sha.hexdigest()
                    content = b"".join(parts) if keep else None
                kind = "file" if member.isreg() else "dir" if member.isdir() else "other"
                tally.entry(member.name, kind, member.size, key, content)
        stream.drain()
    measure.finish()
    return tally.record(measure, "sha256")


TAR_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"5": "dir"}


def analyse_stored(root: str, layer_id: str, diff_digest: str, compress: bool = True) -> t.Dict[str, t.Any]:
    """One layer of containers/storage's overlay driver → its record, without exporting it: the entries
    (names, sizes, CRC-64 of each file's content) come from the layer's tar-split; file contents are
    read from its diff dir only to rebuild the tar stream for compression (checked against diff_digest)
    and for dpkg's file lists."""
    split = os.path.join(root, "overlay-layers", layer_id + ".tar-split.gz")
    diff = os.path.join(root, "overlay", layer_id, "diff").encode()
    tally = _Tally()
    measure = _Measure(compress)
    tail = b""  # the last 512 bytes of raw tar: a file entry's header ends there (its type flag at 156)
    with gzip.open(split, "rb") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry.get("type") == 2:  # raw tar bytes: headers and padding
                data = base64.b64decode(entry.get("payload") or "")
                tail = (tail + data)[-512:]
                if compress:
                    measure.update(data)
                else:
                    measure.skip(len(data))
                continue
            raw = base64.b64decode(entry["name_raw"]) if entry.get("name_raw") else entry.get("name", "").encode()
            name = raw.decode("utf-8", "surrogateescape")
            size = int(entry.get("size") or 0)
            kind = TAR_KINDS.get(tail[156:157], "other") if len(tail) == 512 else "other"
            key = base64.b64decode(entry["payload"]).hex() if entry.get("payload") else ""
            content = None
            keep = kind == "file" and _dpkg_list(normalize(name)) is not None
            if size and (compress or keep):
                parts = []
                with open(os.path.join(diff, raw.lstrip(b"/")), "rb") as member:
                    left = size
                    while left:
                        block = member.read(min(left, CHUNK))
                        if not block:
                            raise SizesError("layer %s: %s is shorter in the diff dir than in its tar-split"
                                             % (diff_digest, name))
                        left -= len(block)
                        if compress:
                            measure.update(block)
                        if keep:
                            parts.append(block)
                if keep:
                    content = b"".join(parts)
                if not compress:
                    measure.skip(size)
            elif size:
                measure.skip(size)
            tally.entry(name, kind, size, key, content)
    found = measure.finish()
    if compress and found != diff_digest:
        raise SizesError("layer %s: the tar stream rebuilt from containers/storage is %s" % (diff_digest, found))
    return tally.record(measure, "crc64")


class OverlayStore(object):
    """containers/storage's overlay driver, read in place: layers.json (layer IDs, their parents and diff
    digests) and images.json (each image's top layer)."""

    def __init__(self, root: str) -> None:
        self.root = root
        with open(os.path.join(root, "overlay-layers", "layers.json"), encoding="utf-8") as handle:
            self.layers = {entry["id"]: entry for entry in json.load(handle) if entry.get("id")}
        with open(os.path.join(root, "overlay-images", "images.json"), encoding="utf-8") as handle:
            self.tops = {entry["id"]: entry.get("layer") for entry in json.load(handle) if entry.get("id")}

    @classmethod
    def find(cls, run: t.Any) -> t.Optional["OverlayStore"]:
        """podman's store when it is on the overlay driver (else None: layers are exported)."""
        out = run(["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"])[1]
        fields = (out or "").split()
        if len(fields) != 2 or fields[1] != "overlay":
            return None
        try:
            return cls(fields[0])
        except (OSError, ValueError, KeyError):
            return None

    def chain(self, image_id: str) -> t.Dict[str, t.Tuple[str, int]]:
        """{diff digest: (layer ID, diff size)} of an image's own chain of layers. The same content can be
        stored in several chains (an empty layer in many); the image's own chain stays while it exists."""
        found: t.Dict[str, t.Tuple[str, int]] = {}
        layer_id = self.tops.get(image_id[len("sha256:"):] if image_id.startswith("sha256:") else image_id)
        while layer_id and layer_id in self.layers:
            entry = self.layers[layer_id]
            if entry.get("diff-digest") and self._there(layer_id):
                found.setdefault(entry["diff-digest"], (layer_id, int(entry.get("diff-size") or 0)))
            layer_id = entry.get("parent")
        return found

    def _there(self, layer_id: str) -> bool:
        return (os.path.isfile(os.path.join(self.root, "overlay-layers", layer_id + ".tar-split.gz"))
                and os.path.isdir(os.path.join(self.root, "overlay", layer_id, "diff")))


class LayerCache(object):
    """Analysed layers by digest, one JSON file each under DIR (written atomically: reports may race)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._loaded: t.Dict[str, t.Dict[str, t.Any]] = {}

    def _file(self, digest: str) -> str:
        return os.path.join(self.path, digest.replace(":", "-") + ".json")

    def get(self, digest: str) -> t.Optional[t.Dict[str, t.Any]]:
        if digest not in self._loaded:
            try:
                with open(self._file(digest), encoding="utf-8") as handle:
                    record = json.load(handle)
            except (OSError, ValueError):
                return None
            if record.get("version") != CACHE_VERSION:
                return None
            self._loaded[digest] = record
        return self._loaded[digest]

    def put(self, digest: str, record: t.Dict[str, t.Any]) -> None:
        os.makedirs(self.path, exist_ok=True)
        path = self._file(digest)
        temporary = "%s.%d.tmp" % (path, os.getpid())
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(record, handle, separators=(",", ":"))
        os.replace(temporary, path)
        self._loaded[digest] = record


def inspect_images(run: t.Any, tool: str, refs: t.Sequence[str]) -> t.Dict[str, t.Dict[str, t.Any]]:
    """{ref: {"id", "layers" (diff IDs, bottom first), "labels"}} in one inspect call."""
    out = run([tool, "image", "inspect"] + list(refs))[1]
    try:
        items = json.loads(out or "[]")
    except ValueError:
        raise SizesError("%s image inspect: output is not JSON" % tool)
    if len(items) != len(refs):
        raise SizesError("%s image inspect: %d images asked, %d returned" % (tool, len(refs), len(items)))
    images = {}
    for ref, item in zip(refs, items):
        layers = (item.get("RootFS") or {}).get("Layers") or []
        labels = item.get("Labels") or (item.get("Config") or {}).get("Labels") or {}
        images[ref] = {"id": item.get("Id", ""), "layers": list(layers), "labels": labels}
    return images


def export_layers(run: t.Any, transport: str, refs: t.Sequence[str], layout: str) -> t.Dict[str, t.Tuple[str, int]]:
    """skopeo copy of refs into one OCI layout (shared blobs written once) → {diff ID: (blob path, blob size)}."""
    os.makedirs(layout, exist_ok=True)
    blobs: t.Dict[str, t.Tuple[str, int]] = {}
    for number, ref in enumerate(refs):
        run(["skopeo", "copy", "--quiet", transport + ref, "oci:%s:image%d" % (layout, number)])

    def blob_path(digest: str) -> str:
        algorithm, _sep, value = digest.partition(":")
        return os.path.join(layout, "blobs", algorithm, value)

    with open(os.path.join(layout, "index.json"), encoding="utf-8") as handle:
        index = json.load(handle)
    for entry in index.get("manifests", []):
        with open(blob_path(entry["digest"]), encoding="utf-8") as handle:
            manifest = json.load(handle)
        with open(blob_path(manifest["config"]["digest"]), encoding="utf-8") as handle:
            diff_ids = json.load(handle)["rootfs"]["diff_ids"]
        for diff_id, layer in zip(diff_ids, manifest["layers"]):
            blobs[diff_id] = (blob_path(layer["digest"]), int(layer["size"]))
    return blobs


def set_refs(run: t.Any, engine: str, namespace: str, tag: str) -> t.List[str]:
    """The containergen images of the local store under namespace/ with this tag."""
    if engine not in STORES:
        raise SizesError("engine %r: sizes are read from %s" % (engine, ", ".join(sorted(STORES))))
    out = run([STORES[engine][0], "images", "--filter", "label=" + IMAGE_LABEL, "--format",
               "{{.Repository}}:{{.Tag}}"])[1]
    refs = sorted({ref for ref in out.split() if ref.startswith(namespace.rstrip("/") + "/") and ref.endswith(":" + tag)})
    if not refs:
        raise SizesError("namespace %s: no containergen image with the tag %s in the local store" % (namespace, tag))
    return refs


def read_report(path: str) -> t.Dict[str, t.Any]:
    """A report written by write_report (the against option)."""
    try:
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError) as error:
        raise SizesError("%s: against: cannot read a size report (%s)" % (path, error))
    if not isinstance(found, dict) or not isinstance(found.get("images"), dict) or not isinstance(found.get("set"), dict):
        raise SizesError("%s: against: not a size report (no images and set)" % path)
    return found


def write_report(path: str, result: t.Mapping[str, t.Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)


def _exports_needed(images: t.Mapping[str, t.Mapping[str, t.Any]], missing: t.Set[str]) -> t.List[str]:
    """The fewest refs (largest first) whose layers cover the missing ones."""
    needed = []
    left = set(missing)
    for ref in sorted(images, key=lambda r: (-len(images[r]["layers"]), r)):
        if left & set(images[ref]["layers"]):
            needed.append(ref)
            left -= set(images[ref]["layers"])
    return needed


def image_name(ref: str, labels: t.Mapping[str, str]) -> str:
    return labels.get(IMAGE_LABEL) or ref.rsplit("/", 1)[-1].split(":", 1)[0]


def _sum(records: t.Iterable[t.Mapping[str, t.Any]], key: str) -> t.Optional[int]:
    values = [record[key] for record in records]
    return None if any(value is None for value in values) else sum(values)


def _top_dirs(records: t.Sequence[t.Mapping[str, t.Any]], depth: int, top: int) -> t.List[t.List[t.Any]]:
    """The largest directories DEPTH deep; a shallower directory counts with the files directly in it."""
    totals: t.Dict[str, int] = {}
    for record in records:
        for path, size in record["dirs"].items():
            totals[path] = totals.get(path, 0) + size
    listed: t.Dict[str, int] = {}
    for path, size in totals.items():
        level = path.count("/") + 1
        if level == depth:
            listed[path] = size
        elif level < depth:
            direct = size - sum(other for child, other in totals.items()
                                if child.startswith(path + "/") and child.count("/") == level)
            if direct > 0:
                listed[path] = direct
    return [["/" + path, size] for path, size in sorted(listed.items(), key=lambda item: (-item[1], item[0]))[:top]]


def runtime_state(records: t.Sequence[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Dict[str, t.Any]]:
    """The regular files of these layers that STATE_RULES flag (first matching rule), per rule."""
    found: t.Dict[str, t.Dict[str, t.Any]] = {}
    for record in records:
        for path in sorted(record["files"]):
            size = record["files"][path][0]
            for rule, test in STATE_RULES:
                if test(path, size):
                    into = found.setdefault(rule, {"files": 0, "bytes": 0, "examples": []})
                    into["files"] += 1
                    into["bytes"] += size
                    if len(into["examples"]) < 3:
                        into["examples"].append("/" + path)
                    break
    return found


def parents(images: t.Mapping[str, t.Mapping[str, t.Any]]) -> t.Dict[str, t.Optional[str]]:
    """Each ref's parent in the set: the image whose layers are the longest proper prefix of its layers."""
    result: t.Dict[str, t.Optional[str]] = {}
    for ref, info in images.items():
        layers = info["layers"]
        best: t.Optional[str] = None
        for other, other_info in images.items():
            theirs = other_info["layers"]
            if other != ref and len(theirs) < len(layers) and layers[:len(theirs)] == theirs:
                if best is None or len(theirs) > len(images[best]["layers"]):
                    best = other
        result[ref] = best
    return result


def _chain(ref: t.Optional[str], parent_of: t.Mapping[str, t.Optional[str]]) -> t.List[str]:
    chain = []
    while ref is not None:
        chain.append(ref)
        ref = parent_of[ref]
    return chain


def _lowest_common(refs: t.Sequence[str], parent_of: t.Mapping[str, t.Optional[str]]) -> t.Optional[str]:
    common = None
    for ref in refs:
        chain = _chain(ref, parent_of)
        common = chain if common is None else [node for node in common if node in chain]
    return common[0] if common else None


def duplicates(holders: t.Mapping[t.Any, t.Sequence[str]], sizes: t.Mapping[t.Any, int],
               parent_of: t.Mapping[str, t.Optional[str]], names: t.Mapping[str, str],
               top: int) -> t.Dict[str, t.Any]:
    """Items (files or packages) held by the own layers of two or more images: each could live once in
    the images' lowest common parent (hoisted) and saves its size times (holders - 1)."""
    targets: t.Dict[str, t.Dict[str, t.Any]] = {}
    for key, refs in holders.items():
        if len(refs) < 2:
            continue
        target = _lowest_common(refs, parent_of)
        name = names[target] if target is not None else "(no common parent)"
        saved = sizes.get(key, 0) * (len(refs) - 1)
        entry = targets.setdefault(name, {"items": 0, "bytes": 0, "images": set(), "largest": []})
        entry["items"] += 1
        entry["bytes"] += saved
        entry["images"].update(names[ref] for ref in refs)
        entry["largest"].append([key if isinstance(key, str) else key[0], saved, len(refs)])
    for entry in targets.values():
        entry["images"] = sorted(entry["images"])
        entry["largest"] = sorted(entry["largest"], key=lambda item: (-item[1], item[0]))[:top]
    return {"bytes": sum(entry["bytes"] for entry in targets.values()),
            "items": sum(entry["items"] for entry in targets.values()),
            "by_target": dict(sorted(targets.items()))}


def own_packages(labels: t.Mapping[str, str], parent_labels: t.Optional[t.Mapping[str, str]]) -> t.Dict[str, str]:
    """Packages an image's own layers installed: its version manifest less its parent's."""
    def manifest(found: t.Optional[t.Mapping[str, str]]) -> t.Dict[str, str]:
        try:
            return json.loads((found or {}).get(MANIFEST_LABEL) or "{}")
        except ValueError:
            return {}
    mine, theirs = manifest(labels), manifest(parent_labels)
    return {name: version for name, version in mine.items() if theirs.get(name) != version}


def _complete(record: t.Optional[t.Mapping[str, t.Any]], compress: bool) -> bool:
    return record is not None and (not compress or record.get("gzip") is not None)


def _analyse(images: t.Mapping[str, t.Mapping[str, t.Any]], cache: LayerCache, run: t.Any, engine: str,
             work_dir: str, threads: int, compress: bool = True) -> int:
    """Analyse the layers the cache lacks (or has without compressed sizes when compress); returns how
    many were read. Read in place from podman's overlay store when it is there, else exported."""
    missing = {digest for info in images.values() for digest in info["layers"]
               if not _complete(cache.get(digest), compress)}
    if not missing:
        return 0
    store = OverlayStore.find(run) if engine == "buildah" else None
    stored: t.Dict[str, t.Tuple[str, int]] = {}
    if store is not None:
        for info in images.values():
            stored.update((digest, found) for digest, found in store.chain(info["id"]).items()
                          if digest in missing and digest not in stored)
    exported = missing - set(stored)
    layout = os.path.join(work_dir, "oci-%d" % os.getpid())
    try:
        jobs: t.List[t.Tuple[int, str, t.Callable[..., t.Dict[str, t.Any]], t.Tuple[t.Any, ...]]] = [
            (size, digest, analyse_stored, (store.root, layer_id, digest, compress))
            for digest, (layer_id, size) in stored.items()]
        if exported:
            shutil.rmtree(layout, ignore_errors=True)
            blobs = export_layers(run, STORES[engine][1], _exports_needed(images, exported), layout)
            absent = exported - set(blobs)
            if absent:
                raise SizesError("skopeo copy: layer %s missing from the export" % sorted(absent)[0])
            jobs += [(blobs[digest][1], digest, analyse_layer, (blobs[digest][0], compress)) for digest in exported]
        # largest first: two threads finish together
        jobs.sort(key=lambda job: (-job[0], job[1]))
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            futures = [(digest, pool.submit(function, *args)) for _size, digest, function, args in jobs]
            for digest, future in futures:
                cache.put(digest, future.result())
    finally:
        shutil.rmtree(layout, ignore_errors=True)
    return len(missing)


def record_layers(run: t.Any, refs: t.Sequence[str], work_dir: str, engine: str = "buildah", threads: int = 2,
                  compress: bool = True) -> int:
    """Analyse (and cache) the layers of refs that the cache lacks, without a report: the build calls
    it for the images it built, so that the next report reads no layer. Returns how many were read."""
    if engine not in STORES:
        raise SizesError("engine %r: sizes are read from %s" % (engine, ", ".join(sorted(STORES))))
    images = inspect_images(run, STORES[engine][0], sorted(set(refs)))
    return _analyse(images, LayerCache(os.path.join(work_dir, "layers")), run, engine, work_dir, threads, compress)


def report(run: t.Any, refs: t.Sequence[str], work_dir: str, engine: str = "buildah", top: int = 10,
           depth: int = 3, threads: int = 2, against: t.Optional[t.Mapping[str, t.Any]] = None,
           compress: bool = True) -> t.Dict[str, t.Any]:
    """The size report of refs (see the module image_sizes for its keys). Without compress, layers not
    yet analysed are read without compressing them (their gzip and zstd sizes are null)."""
    started = time.monotonic()
    if not refs:
        raise SizesError("no images to report on")
    if engine not in STORES:
        raise SizesError("engine %r: sizes are read from %s" % (engine, ", ".join(sorted(STORES))))
    refs = sorted(set(refs))
    images = inspect_images(run, STORES[engine][0], refs)
    cache = LayerCache(os.path.join(work_dir, "layers"))
    layers_read = _analyse(images, cache, run, engine, work_dir, threads, compress)
    parent_of = parents(images)
    names = {ref: image_name(ref, info["labels"]) for ref, info in images.items()}
    if len(set(names.values())) != len(names):
        names = dict((ref, ref) for ref in refs)
    rows = {}
    file_holders: t.Dict[t.Tuple[str, str], t.List[str]] = {}
    file_sizes: t.Dict[t.Tuple[str, str], int] = {}
    package_holders: t.Dict[str, t.List[str]] = {}
    package_sizes: t.Dict[str, int] = {}
    seen_layers: t.Set[str] = set()
    for ref in refs:
        info = images[ref]
        parent = parent_of[ref]
        below = len(images[parent]["layers"]) if parent else max(len(info["layers"]) - 1, 0)
        own = [cache.get(digest) for digest in info["layers"][below:]]
        every = [cache.get(digest) for digest in info["layers"]]
        packages = own_packages(info["labels"], images[parent]["labels"] if parent else None)
        rows[names[ref]] = {
            "ref": ref, "id": info["id"], "parent": names[parent] if parent else None,
            "layers": len(info["layers"]), "own_layers": len(own),
            "size": _sum(every, "size"), "gzip": _sum(every, "gzip"), "zstd": _sum(every, "zstd"),
            "own_size": _sum(own, "size"), "own_gzip": _sum(own, "gzip"), "own_zstd": _sum(own, "zstd"),
            "own_packages": len(packages),
            "top_dirs": _top_dirs(own, depth, top),
            "runtime_state": runtime_state(own),
            "pycache": {key: sum(record["pycache"][key] for record in own) for key in ("dirs", "files", "bytes")},
        }
        for digest in info["layers"][below:]:
            if digest in seen_layers:  # an own layer shared by two images is stored once: no duplicate
                continue
            seen_layers.add(digest)
            for path, (size, sha) in cache.get(digest)["files"].items():
                file_holders.setdefault((path, sha), []).append(ref)
                file_sizes[(path, sha)] = size
        if parent is not None:
            for package, version in packages.items():
                key = "%s=%s" % (package, version)
                package_holders.setdefault(key, []).append(ref)
                # its bytes: what its file list names in this image's own layers
                found = sum(record.get("packages", {}).get(package, 0) for record in own)
                package_sizes[key] = max(package_sizes.get(key, 0), found)
    unique = [cache.get(digest) for digest in sorted({d for info in images.values() for d in info["layers"]})]
    squashed = {key: _sum(rows.values(), key) for key in ("size", "gzip", "zstd")}
    summary = {
        "images": len(refs), "unique_layers": len(unique),
        "size": _sum(unique, "size"), "gzip": _sum(unique, "gzip"), "zstd": _sum(unique, "zstd"),
        "squashed_size": squashed["size"], "squashed_gzip": squashed["gzip"], "squashed_zstd": squashed["zstd"],
    }
    summary["squash_loss"] = summary["squashed_size"] - summary["size"]
    summary["squash_loss_gzip"] = (None if summary["gzip"] is None or summary["squashed_gzip"] is None
                                   else summary["squashed_gzip"] - summary["gzip"])
    result = {
        "images": rows, "set": summary,
        "file_duplicates": duplicates(file_holders, file_sizes, parent_of, names, top),
        "package_duplicates": duplicates(package_holders, package_sizes, parent_of, names, top),
        "runtime_state": {name: row["runtime_state"] for name, row in rows.items() if row["runtime_state"]},
        "layers_read": layers_read,
    }
    if against is not None:
        result["comparison"] = compare(against, result)
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def compare(old: t.Mapping[str, t.Any], new: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """Per image and for the set: [old, new, new - old] of the sizes both reports have."""
    def delta(before: t.Mapping[str, t.Any], after: t.Mapping[str, t.Any], keys: t.Sequence[str]) -> t.Dict[str, t.Any]:
        out = {}
        for key in keys:
            if before.get(key) is not None and after.get(key) is not None:
                out[key] = [before[key], after[key], after[key] - before[key]]
        return out
    keys = ("size", "gzip", "own_size", "own_gzip")
    old_images = old.get("images", {})
    images = {name: delta(old_images[name], row, keys) for name, row in new["images"].items() if name in old_images}
    return {"images": images, "added": sorted(set(new["images"]) - set(old_images)),
            "removed": sorted(set(old_images) - set(new["images"])),
            "set": delta(old.get("set", {}), new["set"], ("size", "gzip", "zstd", "squashed_size"))}


def _mb(value: t.Optional[int]) -> str:
    return "-" if value is None else "%.1f" % (value / MB)


def order(rows: t.Mapping[str, t.Mapping[str, t.Any]]) -> t.List[str]:
    """Image names parents first, children under their parent (depth first, by name)."""
    children: t.Dict[t.Optional[str], t.List[str]] = {}
    for name, row in rows.items():
        children.setdefault(row["parent"], []).append(name)
    ordered: t.List[str] = []

    def walk(name: t.Optional[str]) -> None:
        for child in sorted(children.get(name, [])):
            ordered.append(child)
            walk(child)
    walk(None)
    return ordered


def table(result: t.Mapping[str, t.Any]) -> str:
    """The report as text: one line per image, then the set."""
    rows = result["images"]
    width = max([len("image")] + [len(name) for name in rows])
    header = "%-*s %-14s %8s %8s %8s %8s %5s" % (
        width, "image", "parent", "size MB", "own MB", "own gz", "own zst", "pkgs")
    lines = [header]
    comparison = result.get("comparison", {}).get("images", {})
    for name in order(rows):
        row = rows[name]
        line = "%-*s %-14s %8s %8s %8s %8s %5d" % (
            width, name, (row["parent"] or "-")[:14], _mb(row["size"]), _mb(row["own_size"]), _mb(row["own_gzip"]),
            _mb(row["own_zstd"]), row["own_packages"])
        if name in comparison and "size" in comparison[name]:
            line += "  (%+.1f MB)" % (comparison[name]["size"][2] / MB)
        lines.append(line)
    summary = result["set"]
    lines.append("set: %d images, %d unique layers: %s MB uncompressed, %s MB gzip, %s MB zstd" % (
        summary["images"], summary["unique_layers"], _mb(summary["size"]), _mb(summary["gzip"]), _mb(summary["zstd"])))
    lines.append("squashed: %s MB uncompressed, %s MB gzip (sharing lost: %s MB, %s MB gzip)" % (
        _mb(summary["squashed_size"]), _mb(summary["squashed_gzip"]), _mb(summary["squash_loss"]),
        _mb(summary["squash_loss_gzip"])))
    if "comparison" in result and "size" in result["comparison"]["set"]:
        before = result["comparison"]["set"]
        lines.append("against the previous report: %+.1f MB uncompressed, %+.1f MB gzip" % (
            before["size"][2] / MB, before.get("gzip", [0, 0, 0])[2] / MB))
    found = result["file_duplicates"]
    lines.append("files in two or more own layers: %d, hoisting would save %s MB" % (found["items"], _mb(found["bytes"])))
    for target, entry in found["by_target"].items():
        lines.append("  into %s: %d files, %s MB (%s)" % (target, entry["items"], _mb(entry["bytes"]),
                                                          ", ".join(entry["images"])))
    packages = result["package_duplicates"]
    lines.append("packages installed in two or more own layers: %d, hoisting would save %s MB" % (
        packages["items"], _mb(packages["bytes"])))
    for target, entry in packages["by_target"].items():
        lines.append("  into %s: %d packages, %s MB (largest: %s)" % (
            target, entry["items"], _mb(entry["bytes"]), ", ".join(item[0] for item in entry["largest"][:5])))
    for name, state in sorted(result["runtime_state"].items()):
        lines.append("runtime state in %s: %s" % (name, "; ".join(
            "%s: %d files, %s MB (%s)" % (rule, found["files"], _mb(found["bytes"]), ", ".join(found["examples"]))
            for rule, found in sorted(state.items()))))
    lines.append("report made in %.1f s (%d layers read)" % (result["seconds"], result["layers_read"]))
    return "\n".join(lines)


CHART_FORMATS = ("svg", "png")


def chart(result: t.Mapping[str, t.Any], path: str) -> None:
    """A chart of the set (SVG or PNG, by the file's extension): per image, the own layers of its
    ancestors stacked under its own."""
    kind = os.path.splitext(path)[1].lstrip(".").lower()
    if kind not in CHART_FORMATS:
        raise SizesError("%s: the chart is written as %s (by the file's extension)" % (path, " or ".join(CHART_FORMATS)))
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise SizesError("%s: the chart needs matplotlib (requirements.txt)" % path)
    rows = result["images"]
    names = order(rows)
    colours = {name: pyplot.get_cmap("tab20")(number % 20) for number, name in enumerate(names)}
    figure, axes = pyplot.subplots(figsize=(10, 0.38 * len(names) + 1.5))
    for position, name in enumerate(names):
        chain = []
        current: t.Optional[str] = name
        while current is not None:
            chain.append(current)
            current = rows[current]["parent"]
        left = 0.0
        for owner in reversed(chain):
            # a root's bar starts with its whole size (the bootstrapped rootfs under its own layer)
            width = (rows[owner]["own_size"] if rows[owner]["parent"] else rows[owner]["size"]) / MB
            axes.barh(position, width, left=left, color=colours[owner], edgecolor="white", linewidth=0.5)
            left += width
        axes.text(left + 3, position, "%.0f MB (own %.0f)" % (rows[name]["size"] / MB, rows[name]["own_size"] / MB),
                  va="center", fontsize=8)
    axes.set_yticks(range(len(names)))
    axes.set_yticklabels(names)
    axes.invert_yaxis()
    axes.set_xlabel("MB uncompressed (bars: own layers of the image and its parents)")
    summary = result["set"]
    axes.set_title("%d images: %s MB unique (%s MB gzip), %s MB if each were squashed" % (
        summary["images"], _mb(summary["size"]), _mb(summary["gzip"]), _mb(summary["squashed_size"])), fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format=kind, bbox_inches="tight", dpi=120)
    pyplot.close(figure)
