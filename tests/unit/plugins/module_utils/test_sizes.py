# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the size report (_sizes): real layer tars, in a real OCI layout (the export path) and
in a real containers/storage overlay layout (tar-split and diff dirs, read in place); only the command
boundary (podman info, inspect, images; skopeo copy) stubbed."""

from __future__ import annotations

import base64
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import types

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _build, _sizes
from ansible_collections.containergen.images.plugins.module_utils._command import Runner
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, IMAGE_LABEL, MANIFEST_LABEL,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import PlannedImage

PERL = b"p" * 5000  # the same file in two sibling layers
PERL_LIST = b"/usr\n/usr/share\n/usr/share/perl\n/usr/share/perl/Config.pm\n"  # dpkg's file list of perl
FILES = {
    "rootfs": {"./usr/bin/sh": b"s" * 3000},
    "base": {"./usr/bin/jq": b"j" * 1200, "./usr/lib/x86_64-linux-gnu/libjq.so": b"l" * 800},
    "mariadb": {"./usr/share/perl/Config.pm": PERL, "./usr/sbin/mariadbd": b"m" * 9000,
                "./var/lib/dpkg/info/perl:amd64.list": PERL_LIST,
                "./var/lib/mysql/ibdata1": b"\0" * 4096, "./var/log/mysql/error.log": b"log\n",
                "./run/mysqld/mysqld.pid": b"42\n",
                "./usr/lib/python3/dist-packages/x/__pycache__/a.cpython-313.pyc": b"c" * 100},
    "memcached": {"./usr/share/perl/Config.pm": PERL, "./usr/bin/memcached": b"x" * 700,
                  "./var/lib/dpkg/info/perl:amd64.list": PERL_LIST,
                  "./var/log/.wh.old.log": b""},
}


def layer_tar(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        dirs = sorted({os.path.dirname(path) for path in files})
        for directory in dirs:
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


LAYERS = {name: layer_tar(files) for name, files in FILES.items()}
BLOBS = {name: gzip.compress(data, 6, mtime=0) for name, data in LAYERS.items()}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


CHAINS = {
    "localhost/t/base:latest": ["rootfs", "base"],
    "localhost/t/mariadb:latest": ["rootfs", "base", "mariadb"],
    "localhost/t/memcached:latest": ["rootfs", "base", "memcached"],
}
MANIFESTS = {
    "localhost/t/base:latest": {"bash": "5", "jq": "1.7"},
    "localhost/t/mariadb:latest": {"bash": "5", "jq": "1.7", "perl": "5.40", "mariadb-server": "11"},
    "localhost/t/memcached:latest": {"bash": "5", "jq": "1.7", "perl": "5.40", "memcached": "1.6"},
}


def inspect_output(refs):
    return json.dumps([{"Id": "id-" + ref.split("/")[-1], "RootFS": {"Layers": [digest(LAYERS[n]) for n in CHAINS[ref]]},
                        "Labels": {IMAGE_LABEL: ref.split("/")[-1].split(":")[0],
                                   MANIFEST_LABEL: json.dumps(MANIFESTS[ref])}} for ref in refs])


def write_oci(destination, ref):
    """What skopeo copy containers-storage:REF oci:DIR:NAME leaves: gzip layer blobs, config, manifest, index."""
    layout, name = destination[len("oci:"):].rsplit(":", 1)
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        found = digest(data)
        with open(os.path.join(blobs, found.split(":")[1]), "wb") as handle:
            handle.write(data)
        return found, len(data)

    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(LAYERS[n]) for n in CHAINS[ref]]}}).encode()
    config_digest, config_size = put(config)
    layers = []
    for layer in CHAINS[ref]:
        found, size = put(BLOBS[layer])
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": found, "size": size})
    manifest_digest, manifest_size = put(json.dumps({"schemaVersion": 2, "config": {"digest": config_digest,
                                                                                    "size": config_size},
                                                     "layers": layers}).encode())
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as handle:
            index = json.load(handle)
    index["manifests"].append({"digest": manifest_digest, "size": manifest_size,
                               "annotations": {"org.opencontainers.image.ref.name": name}})
    with open(index_path, "w", encoding="utf-8") as handle:
        json.dump(index, handle)


def tar_split(data):
    """containers/storage's tar-split of a layer tar: raw header segments (type 2) and file entries
    (type 1: name, size, a checksum of the content) in stream order, as gzip'd JSON lines."""
    lines, done = [], 0

    def encoded(raw):
        return base64.b64encode(raw).decode()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            lines.append({"type": 2, "payload": encoded(data[done:member.offset_data])})
            entry = {"type": 1, "name": member.name, "payload": None}
            if member.size:
                content = data[member.offset_data:member.offset_data + member.size]
                entry.update(size=member.size, payload=encoded(hashlib.sha256(content).digest()[:8]))
            lines.append(entry)
            done = member.offset_data + member.size
    lines.append({"type": 2, "payload": encoded(data[done:])})
    for position, line in enumerate(lines):
        line["position"] = position
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


PARENTS = {"rootfs": None, "base": "rootfs", "mariadb": "base", "memcached": "base"}


def write_storage(root):
    """An overlay store holding every layer: layers.json (IDs, parents, diff digests), images.json (each
    image's top layer), tar-splits and diff dirs (regular files only: a whiteout is read from the
    tar-split, never from the diff dir)."""
    os.makedirs(os.path.join(root, "overlay-layers"))
    os.makedirs(os.path.join(root, "overlay-images"))
    entries = []
    for name, data in sorted(LAYERS.items()):
        layer_id = "id" + name
        entries.append({"id": layer_id, "parent": "id" + PARENTS[name] if PARENTS[name] else None,
                        "diff-digest": digest(data), "diff-size": len(data),
                        "compressed-diff-digest": digest(data), "compressed-size": len(data)})
        with open(os.path.join(root, "overlay-layers", layer_id + ".tar-split.gz"), "wb") as handle:
            handle.write(tar_split(data))
        for path, content in FILES[name].items():
            target = os.path.join(root, "overlay", layer_id, "diff", path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if content:
                with open(target, "wb") as handle:
                    handle.write(content)
    with open(os.path.join(root, "overlay-layers", "layers.json"), "w", encoding="utf-8") as handle:
        json.dump(entries, handle)
    images = [{"id": "id-" + ref.split("/")[-1], "layer": "id" + CHAINS[ref][-1]} for ref in CHAINS]
    with open(os.path.join(root, "overlay-images", "images.json"), "w", encoding="utf-8") as handle:
        json.dump(images, handle)


INFO = ["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"]


class Store(object):
    """The command boundary: podman info / image inspect / images and skopeo copy, every argv recorded.
    Its storage is vfs (layers are exported with skopeo) unless root names an overlay store."""

    def __init__(self, root=None):
        self.calls = []
        self.root = root

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        self.calls.append(argv)
        if argv == INFO:
            return 0, "%s %s\n" % (self.root or "/var/lib/containers/storage", "overlay" if self.root else "vfs"), ""
        if argv[:3] == ["podman", "image", "inspect"]:
            return 0, inspect_output(argv[3:]), ""
        if argv[:2] == ["podman", "images"]:
            return 0, "\n".join(sorted(CHAINS) + ["localhost/other/x:latest", "localhost/t/base:old"]) + "\n", ""
        if argv[:3] == ["skopeo", "copy", "--quiet"]:
            write_oci(argv[4], argv[3][len("containers-storage:"):])
            return 0, "", ""
        return 1, "", "unexpected command %r" % argv


REFS = sorted(CHAINS)


@pytest.fixture
def store():
    return Store()


def test_report_measures_each_image_its_own_layers_and_the_set(tmp_path, store):
    result = _sizes.report(Runner(store), REFS, str(tmp_path))
    work = str(tmp_path)
    # one inspect, then the fewest exports covering every layer (largest first, by name), into one layout
    layout = os.path.join(work, "oci-%d" % os.getpid())
    assert store.calls == [
        ["podman", "image", "inspect"] + REFS,
        INFO,
        ["skopeo", "copy", "--quiet", "containers-storage:localhost/t/mariadb:latest", "oci:%s:image0" % layout],
        ["skopeo", "copy", "--quiet", "containers-storage:localhost/t/memcached:latest", "oci:%s:image1" % layout],
    ]
    assert not os.path.exists(layout)
    images = result["images"]
    assert images["base"]["parent"] is None and images["mariadb"]["parent"] == "base"
    assert images["memcached"]["parent"] == "base"
    assert images["mariadb"]["size"] == sum(len(LAYERS[n]) for n in ("rootfs", "base", "mariadb"))
    assert images["mariadb"]["own_size"] == len(LAYERS["mariadb"])
    assert images["mariadb"]["own_gzip"] == len(BLOBS["mariadb"])
    assert images["mariadb"]["gzip"] == sum(len(BLOBS[n]) for n in ("rootfs", "base", "mariadb"))
    # a root's own layer is its last one; the rootfs under it counts in its size
    assert images["base"]["own_size"] == len(LAYERS["base"])
    assert images["base"]["size"] == len(LAYERS["rootfs"]) + len(LAYERS["base"])
    assert images["mariadb"]["own_packages"] == 2
    summary = result["set"]
    assert summary["unique_layers"] == 4
    assert summary["size"] == sum(len(data) for data in LAYERS.values())
    assert summary["gzip"] == sum(len(data) for data in BLOBS.values())
    assert summary["squashed_size"] == sum(images[n]["size"] for n in images)
    assert summary["squash_loss"] == summary["squashed_size"] - summary["size"]
    assert result["layers_read"] == 4


def test_sibling_duplicates_are_priced_for_hoisting_into_the_common_parent(tmp_path, store):
    result = _sizes.report(Runner(store), REFS, str(tmp_path))
    files = result["file_duplicates"]
    assert files["items"] == 2 and files["bytes"] == len(PERL) + len(PERL_LIST)
    assert files["by_target"]["base"]["largest"] == [["usr/share/perl/Config.pm", len(PERL), 2],
                                                     ["var/lib/dpkg/info/perl:amd64.list", len(PERL_LIST), 2]]
    assert files["by_target"]["base"]["images"] == ["mariadb", "memcached"]
    # perl's bytes: the regular files its dpkg list names in each own layer
    packages = result["package_duplicates"]
    assert packages["items"] == 1 and packages["bytes"] == len(PERL)
    assert packages["by_target"]["base"]["largest"] == [["perl=5.40", len(PERL), 2]]


def test_runtime_state_pycache_and_top_directories_of_own_layers(tmp_path, store):
    result = _sizes.report(Runner(store), REFS, str(tmp_path), depth=2, top=3)
    state = result["runtime_state"]
    assert set(state) == {"mariadb"}
    assert state["mariadb"]["initialized datadir"] == {"files": 1, "bytes": 4096, "examples": ["/var/lib/mysql/ibdata1"]}
    assert state["mariadb"]["log file"]["examples"] == ["/var/log/mysql/error.log"]
    assert state["mariadb"]["pid file"]["examples"] == ["/run/mysqld/mysqld.pid"]
    assert result["images"]["mariadb"]["pycache"] == {"dirs": 1, "files": 1, "bytes": 100}
    # depth 2: /usr/sbin (9000) before /usr/share (5000) before /var/lib (4096)
    expected = [["/usr/sbin", 9000], ["/usr/share", len(PERL)], ["/var/lib", 4096 + len(PERL_LIST)]]
    assert result["images"]["mariadb"]["top_dirs"] == expected
    assert result["images"]["memcached"]["runtime_state"] == {}


def test_a_second_report_reads_no_layer_and_compares_against_the_first(tmp_path, store):
    first = _sizes.report(Runner(store), REFS, str(tmp_path))
    path = str(tmp_path / "sizes.json")
    _sizes.write_report(path, first)
    again = Store()
    previous = _sizes.read_report(path)
    previous["images"]["mariadb"]["own_size"] += 1000
    previous["set"]["size"] += 1000
    second = _sizes.report(Runner(again), REFS, str(tmp_path), against=previous)
    assert again.calls == [["podman", "image", "inspect"] + REFS]  # nothing exported, no store asked
    assert second["layers_read"] == 0
    assert second["images"] == json.loads(json.dumps(first["images"]))
    comparison = second["comparison"]
    assert comparison["images"]["mariadb"]["own_size"][2] == -1000
    assert comparison["set"]["size"][2] == -1000
    assert comparison["added"] == [] and comparison["removed"] == []
    text = _sizes.table(second)
    assert text.splitlines()[1].startswith("base ")
    assert "set: 3 images, 4 unique layers" in text
    assert "against the previous report: -0.0 MB uncompressed" in text
    assert "runtime state in mariadb: initialized datadir: 1 files" in text


def test_set_refs_filters_namespace_and_tag(store):
    assert _sizes.set_refs(Runner(store), "buildah", "localhost/t", "latest") == REFS
    assert store.calls == [["podman", "images", "--filter", "label=" + IMAGE_LABEL, "--format",
                            "{{.Repository}}:{{.Tag}}"]]
    with pytest.raises(_sizes.SizesError, match="^namespace localhost/none: no containergen image"):
        _sizes.set_refs(Runner(store), "buildah", "localhost/none", "latest")


def test_bad_inputs_are_one_line_errors(tmp_path, store):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(_sizes.SizesError, match=r"bad.json: against: not a size report"):
        _sizes.read_report(str(bad))
    with pytest.raises(_sizes.SizesError, match="^engine 'kaniko'"):
        _sizes.report(Runner(store), REFS, str(tmp_path), engine="kaniko")
    with pytest.raises(_sizes.SizesError, match="^no images"):
        _sizes.report(Runner(store), [], str(tmp_path))


def test_chart_is_an_svg_or_a_png_of_the_set(tmp_path, store):
    pytest.importorskip("matplotlib")
    result = _sizes.report(Runner(store), REFS, str(tmp_path))
    path = tmp_path / "sizes.svg"
    _sizes.chart(result, str(path))
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text
    picture = tmp_path / "sizes.png"
    _sizes.chart(result, str(picture))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(_sizes.SizesError, match=r"sizes.pdf: the chart is written as svg or png"):
        _sizes.chart(result, str(tmp_path / "sizes.pdf"))


@pytest.fixture
def overlay(tmp_path):
    root = str(tmp_path / "storage")
    write_storage(root)
    return Store(root)


def test_overlay_store_is_read_in_place_and_measures_what_the_export_measures(tmp_path, overlay, store):
    result = _sizes.report(Runner(overlay), REFS, str(tmp_path / "work"))
    # no export: inspect, then where the store is; the layers are read from it
    assert overlay.calls == [["podman", "image", "inspect"] + REFS, INFO]
    assert result["layers_read"] == 4
    exported = _sizes.report(Runner(store), REFS, str(tmp_path / "exported"))
    for key in ("images", "set", "package_duplicates", "runtime_state"):
        assert result[key] == exported[key], key
    # the same duplicates (the content keys differ: CRC-64 of the tar-split there, sha256 here)
    assert result["file_duplicates"]["bytes"] == exported["file_duplicates"]["bytes"] == len(PERL) + len(PERL_LIST)
    assert result["images"]["mariadb"]["own_gzip"] == len(BLOBS["mariadb"])
    assert result["set"]["size"] == sum(len(data) for data in LAYERS.values())


def test_a_report_without_compression_reads_no_content_then_compression_completes_it(tmp_path, overlay):
    quick = _sizes.report(Runner(overlay), REFS, str(tmp_path), compress=False)
    assert quick["layers_read"] == 4
    assert quick["images"]["mariadb"]["own_gzip"] is None and quick["set"]["gzip"] is None
    assert quick["images"]["mariadb"]["own_size"] == len(LAYERS["mariadb"])
    assert "- MB gzip" in _sizes.table(quick)
    assert _sizes.report(Runner(overlay), REFS, str(tmp_path), compress=False)["layers_read"] == 0
    full = _sizes.report(Runner(overlay), REFS, str(tmp_path))
    assert full["layers_read"] == 4 and full["set"]["gzip"] == sum(len(data) for data in BLOBS.values())


def test_layers_recorded_after_a_build_make_the_next_report_read_none(tmp_path, overlay):
    assert _sizes.record_layers(Runner(overlay), ["localhost/t/memcached:latest"], str(tmp_path)) == 3
    assert overlay.calls == [["podman", "image", "inspect", "localhost/t/memcached:latest"], INFO]
    assert _sizes.report(Runner(overlay), REFS, str(tmp_path))["layers_read"] == 1  # mariadb's own
    assert _sizes.record_layers(Runner(overlay), REFS, str(tmp_path)) == 0


def test_a_stored_layer_that_is_not_its_diff_digest_is_a_one_line_error(tmp_path, overlay):
    changed = os.path.join(overlay.root, "overlay", "idmariadb", "diff", "./usr/sbin/mariadbd")
    with open(changed, "wb") as handle:
        handle.write(b"M" * 9000)
    with pytest.raises(_sizes.SizesError, match=r"^layer %s: the tar stream rebuilt from containers/storage is "
                       r"sha256:[0-9a-f]{64}$" % digest(LAYERS["mariadb"])):
        _sizes.report(Runner(overlay), REFS, str(tmp_path))


def test_the_build_measures_each_built_image_so_that_the_next_report_reads_no_layer(tmp_path, overlay):
    measuring = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    measures = {
        "memcached": measuring.submit(_build._measure, Runner(overlay), types.SimpleNamespace(name="buildah"),
                                      "localhost/t/memcached:latest", str(tmp_path)),
        "odd": measuring.submit(_build._measure, Runner(overlay), types.SimpleNamespace(name="kaniko"),
                                "localhost/t/odd:latest", str(tmp_path)),
    }
    results = {"memcached": {"ref": "localhost/t/memcached:latest"}, "odd": {"ref": "localhost/t/odd:latest"}}
    _build._collect_measures(measuring, measures, results, interrupted=False)
    assert overlay.calls == [["podman", "image", "inspect", "localhost/t/memcached:latest"], INFO]
    assert results["memcached"]["sizes_seconds"] >= 0 and "sizes_error" not in results["memcached"]
    assert results["odd"] == {"ref": "localhost/t/odd:latest", "sizes_error": "odd: size measures of "
                              "localhost/t/odd:latest: engine 'kaniko': sizes are read from buildah, docker"}
    assert _sizes.report(Runner(overlay), REFS, str(tmp_path))["layers_read"] == 1  # mariadb's own only


def test_an_interrupted_build_drops_the_measures_not_started(tmp_path, overlay):
    measuring = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    gate = threading.Event()
    first = measuring.submit(gate.wait)
    later = measuring.submit(_build._measure, Runner(overlay), types.SimpleNamespace(name="buildah"),
                             "localhost/t/memcached:latest", str(tmp_path))
    results = {"memcached": {"ref": "localhost/t/memcached:latest"}}
    threading.Timer(0.2, gate.set).start()
    _build._collect_measures(measuring, {"memcached": later}, results, interrupted=True)
    assert first.result() is True and later.cancelled()
    assert results == {"memcached": {"ref": "localhost/t/memcached:latest"}} and overlay.calls == []


def test_a_layer_stored_in_several_chains_is_read_from_the_image_s_own(tmp_path, overlay):
    """The same content in another image's chain (an empty layer is in many), listed last and removed
    meanwhile by another build: the report reads each image's own chain."""
    path = os.path.join(overlay.root, "overlay-layers", "layers.json")
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    entries.append({"id": "gone", "parent": "idbase", "diff-digest": digest(LAYERS["memcached"]), "diff-size": 1})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(entries, handle)
    result = _sizes.report(Runner(overlay), REFS, str(tmp_path))
    assert result["layers_read"] == 4 and result["images"]["memcached"]["own_size"] == len(LAYERS["memcached"])


class BuiltEngine(object):
    """The engine seam as build_plan uses it, in memory: memcached is up to date, the rest is built."""

    name = "buildah"

    def __init__(self):
        self.images = {"localhost/t/memcached:latest": {"id": "id-memcached:latest", "size": 1,
                                                        "labels": {FINGERPRINT_LABEL: "fp-memcached"}}}

    def list_images(self, run):  # pylint: disable=unused-argument
        return dict(self.images)

    def build_image(self, run, item, profile, directory, options):  # pylint: disable=unused-argument,too-many-arguments
        image_id = "id-" + item.ref.split("/")[-1]
        self.images[item.ref] = {"id": image_id, "size": 1, "labels": {FINGERPRINT_LABEL: item.fingerprint}}
        return {"image_id": image_id, "timings": {}, "manifest": {}}

    def remove_image(self, run, image_id):  # pylint: disable=unused-argument
        raise AssertionError("nothing is replaced")


def small_plan():
    return [PlannedImage(name, parent, "localhost/t/%s:latest" % name,
                         "localhost/t/%s:latest" % parent if parent else "localhost/t/rootfs:trixie",
                         [("run", "true")], [], {}, "fp-" + name, 1 if parent else 0)
            for name, parent in (("base", None), ("mariadb", "base"), ("memcached", "base"))]


def build_small_plan(tmp_path, run, engine):
    plan = small_plan()
    options = _build.BuildOptions(threads=1, log_dir=str(tmp_path / "logs"), sizes_dir=str(tmp_path / "sizes"))
    return {result["name"]: result for result in _build.build_plan(
        run, engine, plan, {"name": "t"}, {item.name: types.SimpleNamespace(directory=str(tmp_path)) for item in plan},
        options)}


def test_build_plan_measures_the_images_it_built_and_only_those(tmp_path, overlay):
    results = build_small_plan(tmp_path, Runner(overlay), BuiltEngine())
    assert {name: result["status"] for name, result in results.items()} == {
        "base": "built", "mariadb": "built", "memcached": "skipped"}
    assert overlay.calls == [["podman", "image", "inspect", "localhost/t/base:latest"], INFO,
                             ["podman", "image", "inspect", "localhost/t/mariadb:latest"], INFO]
    assert "sizes_seconds" in results["base"] and "sizes_seconds" in results["mariadb"]
    assert "sizes_seconds" not in results["memcached"]
    # the report after the build reads only what the build did not measure: memcached's own layer
    assert _sizes.report(Runner(overlay), REFS, str(tmp_path / "sizes"))["layers_read"] == 1


def test_with_docker_the_build_leaves_measuring_to_the_report(tmp_path, overlay):
    docker = BuiltEngine()
    docker.name = "docker"
    results = build_small_plan(tmp_path, Runner(overlay), docker)
    assert results["base"]["status"] == "built" and "sizes_seconds" not in results["base"]
    assert overlay.calls == []
