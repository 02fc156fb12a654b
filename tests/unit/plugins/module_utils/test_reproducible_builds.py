# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reproducible builds: SOURCE_DATE_EPOCH, buildah's reproducible commit, the layer diff.

Only the command seam is stubbed; every argv is asserted exactly."""

import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _build, _contract, _layerdiff
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner
from fakes import FakeRun  # pylint: disable=import-error
from test_build import PROFILE, planned  # pylint: disable=import-error

EPOCH = 1700000000
CREATED = "2023-11-14T22:13:20Z"
REF = "localhost/cg-unit/keystone:latest"
CONTAINER_ID = "2d0329bf2b74f766a9fd96258b06e272fe9395fac0f23bc7b48d24fd0a5bc340"


@pytest.fixture(autouse=True)
def no_epoch_in_environment(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


# ---- the epoch -------------------------------------------------------------------------------------

def test_epoch_from_environment():
    assert _contract.epoch_from_environment({}) is None
    assert _contract.epoch_from_environment({"SOURCE_DATE_EPOCH": " "}) is None
    assert _contract.epoch_from_environment({"SOURCE_DATE_EPOCH": "1700000000"}) == EPOCH


@pytest.mark.parametrize("value", ["-1", "1.5", "yesterday", "0x10"])
def test_epoch_from_environment_refuses_what_is_not_seconds(value):
    with pytest.raises(ValueError, match=r"^environment variable SOURCE_DATE_EPOCH='%s': must be whole seconds"
                       % value.replace(".", r"\.")):
        _contract.epoch_from_environment({"SOURCE_DATE_EPOCH": value})


def test_created_label_is_the_epoch_not_the_clock():
    options = _build.BuildOptions()
    labels = _contract.image_labels(planned("keystone"), PROFILE, {"a": "1"}, options, EPOCH)
    assert labels["org.opencontainers.image.created"] == CREATED
    # an explicit created time still wins (a caller that wants one)
    options.created = "2024-01-01T00:00:00Z"
    assert _contract.image_labels(planned("keystone"), PROFILE, {}, options, EPOCH)[
        "org.opencontainers.image.created"] == "2024-01-01T00:00:00Z"


def test_buildah_epoch_is_the_created_time_of_the_image_built_on():
    fake = FakeRun((0, "1700000000\n", ""))
    assert BuildahEngine().source_date_epoch(Runner(run=fake), "localhost/containergen/debian13-rootfs:trixie") == EPOCH
    assert fake.argvs == [["podman", "image", "inspect", "--format", "{{.Created.Unix}}",
                           "localhost/containergen/debian13-rootfs:trixie"]]


def test_buildah_epoch_from_the_environment_asks_nothing(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    fake = FakeRun()
    assert BuildahEngine().source_date_epoch(Runner(run=fake), "base") == 1600000000
    assert fake.argvs == []


def test_buildah_epoch_without_a_time_in_the_answer_is_an_error():
    with pytest.raises(CommandError, match="no created time of base"):
        BuildahEngine().source_date_epoch(Runner(run=FakeRun((0, "\n", ""))), "base")


# ---- buildah's reproducible commit ----------------------------------------------------------------

def config_bytes(with_container=True):
    container = ',"container":"%s"' % CONTAINER_ID if with_container else ""
    return ('{"created":"%s"%s,"container_config":{"Labels":{"a":"<b> & é"}},"architecture":"amd64",'
            '"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' % (CREATED, container, "1" * 64)).encode()


def manifest_for(config):
    return json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                                      "size": len(config),
                                                      "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
                       "layers": [{"size": 10, "digest": "sha256:" + "1" * 64}]})


class LayoutRun(FakeRun):
    """Answers buildah commit, skopeo inspect, and reads the dir: layout skopeo copy is given."""

    def __init__(self, config):
        FakeRun.__init__(self)
        self.config = config
        self.layout = None

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        FakeRun.__call__(self, argv, timeout, env, data, log)
        if argv[:2] == ["buildah", "commit"]:
            return 0, hashlib.sha256(self.config).hexdigest() + "\n", ""
        if argv[:4] == ["skopeo", "inspect", "--config", "--raw"]:
            return 0, self.config.decode(), ""
        if argv[:3] == ["skopeo", "inspect", "--raw"]:
            return 0, manifest_for(self.config), ""
        if argv[:2] == ["skopeo", "copy"]:
            directory = argv[3][len("dir:"):]
            self.layout = {name: open(os.path.join(directory, name), "rb").read() for name in os.listdir(directory)}
        return 0, "", ""


def test_commit_with_epoch_drops_the_working_container_id():
    run = LayoutRun(config_bytes())
    old_id = hashlib.sha256(config_bytes()).hexdigest()
    plain = config_bytes(with_container=False)
    new_id = hashlib.sha256(plain).hexdigest()
    assert BuildahEngine().commit(Runner(run=run), "cg-keystone-1", REF, EPOCH) == new_id
    copy = run.argvs[3]
    assert run.argvs == [
        ["buildah", "commit", "--quiet", "--format", "docker", "--timestamp", "1700000000", "--identity-label=false",
         "--rm", "cg-keystone-1", REF],
        ["skopeo", "inspect", "--config", "--raw", "containers-storage:" + REF],
        ["skopeo", "inspect", "--raw", "containers-storage:" + REF],
        ["skopeo", "copy", "--quiet", copy[3], "containers-storage:" + REF],
        ["buildah", "rmi", old_id],
    ]
    assert copy[3].startswith("dir:") and not os.path.exists(copy[3][4:])  # the layout is removed
    # only the manifest and the config: the layers are in the store already
    assert sorted(run.layout) == sorted(["version", "manifest.json", new_id])
    assert run.layout[new_id] == plain  # byte for byte, but the one key
    manifest = json.loads(run.layout["manifest.json"])
    assert manifest["config"] == {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "size": len(plain), "digest": "sha256:" + new_id}
    assert manifest["layers"] == [{"size": 10, "digest": "sha256:" + "1" * 64}]
    assert run.layout["version"] == b"Directory Transport Version: 1.1\n"


def test_commit_with_epoch_and_no_container_id_stores_nothing_again():
    run = LayoutRun(config_bytes(with_container=False))
    image_id = hashlib.sha256(config_bytes(with_container=False)).hexdigest()
    assert BuildahEngine().commit(Runner(run=run), "c", REF, EPOCH) == image_id
    assert run.argvs == [["buildah", "commit", "--quiet", "--format", "docker", "--timestamp", "1700000000",
                          "--identity-label=false", "--rm", "c", REF],
                         ["skopeo", "inspect", "--config", "--raw", "containers-storage:" + REF]]


def test_commit_keeps_the_image_when_the_config_is_not_what_the_id_names():
    run = LayoutRun(config_bytes())
    fake_id = "f" * 64
    runner = Runner(run=lambda argv, **kwargs: (0, fake_id + "\n", "") if argv[1] == "commit" else run(argv, **kwargs))
    assert BuildahEngine().commit(runner, "c", REF, EPOCH) == fake_id
    assert run.argvs == [["skopeo", "inspect", "--config", "--raw", "containers-storage:" + REF]]


def test_commit_without_epoch_is_as_before():
    fake = FakeRun((0, "abc\n", ""))
    assert BuildahEngine().commit(Runner(run=fake), "c", REF) == "abc"
    assert fake.argvs == [["buildah", "commit", "--quiet", "--format", "docker", "--rm", "c", REF]]


def test_build_image_uses_one_epoch_for_runs_labels_and_commit(tmp_path):
    run = LayoutRun(config_bytes(with_container=False))
    answers = {("podman", "image"): (0, "1700000000\n", "")}
    seam = Runner(run=lambda argv, **kwargs: answers.get(tuple(argv[:2])) or run(argv, **kwargs))
    item = planned("keystone", steps=[("run", "useradd -r svc"), ("cmd", "true")])
    BuildahEngine().build_image(seam, item, PROFILE, str(tmp_path), _build.BuildOptions(log_dir=str(tmp_path)))
    runs = [argv for argv in run.argvs if argv[:2] == ["buildah", "run"]]
    assert runs[0][:8] == ["buildah", "run", "--isolation", "chroot", "--network", "host", "--env",
                           "SOURCE_DATE_EPOCH=1700000000"]
    config = [argv for argv in run.argvs if argv[:2] == ["buildah", "config"]][-1]
    assert "org.opencontainers.image.created=%s" % CREATED in config
    commit = [argv for argv in run.argvs if argv[:2] == ["buildah", "commit"]][0]
    assert commit[5:8] == ["--timestamp", "1700000000", "--identity-label=false"]


# ---- the layer diff --------------------------------------------------------------------------------

def write_layer(path, files, mtime=EPOCH):
    with tarfile.open(path, "w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), mtime if name != "var/log/x" else mtime + 1, 0o644
            tar.addfile(info, io.BytesIO(content))


def test_diff_entries_names_each_file_and_what_differs(tmp_path):
    write_layer(str(tmp_path / "a"), {"etc/same": b"1", "var/cache/ldconfig/aux-cache": b"x", "gone": b"",
                                      "./.wh.dotfile": b""})
    write_layer(str(tmp_path / "b"), {"etc/same": b"1", "var/cache/ldconfig/aux-cache": b"y", "new": b"",
                                      "var/log/x": b""})
    changes = _layerdiff.diff_entries(_layerdiff.layer_entries(str(tmp_path / "a")),
                                      _layerdiff.layer_entries(str(tmp_path / "b")))
    assert changes == [
        {"path": ".wh.dotfile", "change": "removed", "fields": []},  # "./" is not part of the name
        {"path": "gone", "change": "removed", "fields": []},
        {"path": "new", "change": "added", "fields": []},
        {"path": "var/cache/ldconfig/aux-cache", "change": "changed", "fields": ["sha256"]},
        {"path": "var/log/x", "change": "added", "fields": []},
    ]


def test_diff_images_reads_only_layers_that_differ(tmp_path):
    def seam(argv, timeout=None, env=None, data=None, log=None):
        calls.append(argv)
        directory = argv[4][len("dir:"):]
        os.makedirs(directory)
        second = argv[3].endswith(":b")
        layers = [("1" * 64, {"etc/os": b"same"}), (("3" if second else "2") * 64, {"opt/x": b"b" if second else b"a"})]
        for digest, files in layers:
            write_layer(os.path.join(directory, digest), files, EPOCH)
        with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as handle:
            json.dump({"layers": [{"digest": "sha256:" + digest} for digest, dummy in layers]}, handle)
        return 0, "", ""

    calls = []
    changes = _layerdiff.diff_images(Runner(run=seam), "img:a", "img:b", str(tmp_path))
    assert changes == [{"layer": 1, "path": "opt/x", "change": "changed", "fields": ["sha256"]}]
    assert [argv[:4] for argv in calls] == [["skopeo", "copy", "--quiet", "containers-storage:img:a"],
                                            ["skopeo", "copy", "--quiet", "containers-storage:img:b"]]
    assert os.listdir(str(tmp_path)) == []  # the exported layouts are gone
    assert _layerdiff.format_changes(changes) == "layer 1: opt/x changed (sha256)"


# ---- publishing a rebuilt image -------------------------------------------------------------------

def registry_answers(config_digest):
    """skopeo's answers for keystone:latest-1 (and latest) holding the same labels as the local image."""
    labels = {"containergen.fingerprint": "fp", "containergen.manifest.sha256": "md"}
    inspect = json.dumps({"Digest": "sha256:" + "d" * 64, "Labels": labels, "Created": CREATED, "Layers": []})
    return labels, [
        (0, json.dumps({"Tags": ["latest-1", "latest"]}), ""),
        (0, inspect, ""),
        (0, json.dumps({"schemaVersion": 2, "config": {"digest": config_digest}, "layers": []}), ""),
        (0, inspect, ""),
    ]


@pytest.mark.parametrize("remote, by", [("sha256:" + "c" * 64, "digest"), ("sha256:" + "e" * 64, "fingerprint")])
def test_unchanged_republish_says_whether_the_digest_is_the_same(remote, by):
    from ansible_collections.containergen.images.plugins.module_utils._publish import Registry, publish_image

    labels, answers = registry_answers(remote)
    fake = FakeRun(*answers)
    registry = Registry(Runner(run=fake), "reg.example:5000", "ns")
    result = publish_image(registry, "keystone", REF, labels, "latest", local_id="c" * 64)
    assert (result["action"], result["revision"], result["unchanged_by"]) == ("unchanged", 1, by)
    assert fake.argvs == [
        ["skopeo", "list-tags", "docker://reg.example:5000/ns/keystone"],
        ["skopeo", "inspect", "docker://reg.example:5000/ns/keystone:latest-1"],
        ["skopeo", "inspect", "--raw", "docker://reg.example:5000/ns/keystone:latest-1"],
        ["skopeo", "inspect", "docker://reg.example:5000/ns/keystone:latest"],
    ]


def test_unchanged_without_the_local_id_asks_no_digest():
    from ansible_collections.containergen.images.plugins.module_utils._publish import Registry, publish_image

    labels, answers = registry_answers("sha256:" + "c" * 64)
    fake = FakeRun(answers[0], answers[1], answers[3])
    result = publish_image(Registry(Runner(run=fake), "reg.example:5000", "ns"), "keystone", REF, labels, "latest")
    assert result["action"] == "unchanged" and "unchanged_by" not in result
    assert [argv[:3] for argv in fake.argvs] == [
        ["skopeo", "list-tags", "docker://reg.example:5000/ns/keystone"],
        ["skopeo", "inspect", "docker://reg.example:5000/ns/keystone:latest-1"],
        ["skopeo", "inspect", "docker://reg.example:5000/ns/keystone:latest"]]
