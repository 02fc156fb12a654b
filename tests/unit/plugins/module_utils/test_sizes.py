# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the size report (_sizes): real layer tars in a real OCI layout, only the command
boundary (podman inspect, skopeo copy) stubbed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _sizes
from ansible_collections.containergen.images.plugins.module_utils._command import Runner
from ansible_collections.containergen.images.plugins.module_utils._contract import IMAGE_LABEL, MANIFEST_LABEL

PERL = b"p" * 5000  # the same file in two sibling layers
FILES = {
    "rootfs": {"./usr/bin/sh": b"s" * 3000},
    "base": {"./usr/bin/jq": b"j" * 1200, "./usr/lib/x86_64-linux-gnu/libjq.so": b"l" * 800},
    "mariadb": {"./usr/share/perl/Config.pm": PERL, "./usr/sbin/mariadbd": b"m" * 9000,
                "./var/lib/mysql/ibdata1": b"\0" * 4096, "./var/log/mysql/error.log": b"log\n",
                "./run/mysqld/mysqld.pid": b"42\n",
                "./usr/lib/python3/dist-packages/x/__pycache__/a.cpython-313.pyc": b"c" * 100},
    "memcached": {"./usr/share/perl/Config.pm": PERL, "./usr/bin/memcached": b"x" * 700,
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


class Store(object):
    """The command boundary: podman image inspect / images and skopeo copy, every argv recorded."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        self.calls.append(argv)
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
    assert files["items"] == 1 and files["bytes"] == len(PERL)
    assert files["by_target"]["base"]["largest"] == [["usr/share/perl/Config.pm", len(PERL), 2]]
    assert files["by_target"]["base"]["images"] == ["mariadb", "memcached"]
    packages = result["package_duplicates"]
    assert packages["items"] == 1 and list(packages["by_target"]["base"]["largest"][0][:1]) == ["perl=5.40"]


def test_runtime_state_pycache_and_top_directories_of_own_layers(tmp_path, store):
    result = _sizes.report(Runner(store), REFS, str(tmp_path), depth=2, top=3)
    state = result["runtime_state"]
    assert set(state) == {"mariadb"}
    assert state["mariadb"]["initialized datadir"] == {"files": 1, "bytes": 4096, "examples": ["/var/lib/mysql/ibdata1"]}
    assert state["mariadb"]["log file"]["examples"] == ["/var/log/mysql/error.log"]
    assert state["mariadb"]["pid file"]["examples"] == ["/run/mysqld/mysqld.pid"]
    assert result["images"]["mariadb"]["pycache"] == {"dirs": 1, "files": 1, "bytes": 100}
    # depth 2: /usr/sbin (9000) before /usr/share (5000) before /var/lib (4096)
    expected = [["/usr/sbin", 9000], ["/usr/share", len(PERL)], ["/var/lib", 4096]]
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
    assert again.calls == [["podman", "image", "inspect"] + REFS]
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


def test_chart_is_an_svg_of_the_set(tmp_path, store):
    pytest.importorskip("matplotlib")
    result = _sizes.report(Runner(store), REFS, str(tmp_path))
    path = tmp_path / "sizes.svg"
    _sizes.chart(result, str(path))
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text
