# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`containergen sizes`: its --json stdout is the report, read from a real overlay store layout (tar-split
and diff dirs) in a temporary directory; only the command boundary (_command.run_command) is stubbed."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from containergen_cli import core, main

core.collection_root()
from ansible_collections.containergen.images.plugins.module_utils import _command  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.containergen.images.plugins.module_utils._contract import IMAGE_LABEL, MANIFEST_LABEL  # noqa: E402  pylint: disable=wrong-import-position

SHARED = b"s" * 3000  # in both children's own layers
LAYERS = {
    "root": {"etc/os-release": b"ID=debian\n", "usr/bin/sh": b"x" * 2000},
    "app": {"usr/share/lib.py": SHARED, "usr/bin/app": b"a" * 1000, "var/log/app.log": b"started\n"},
    "web": {"usr/share/lib.py": SHARED, "usr/bin/web": b"w" * 500},
}
CHAINS = {"localhost/ns/base:latest": ["root"], "localhost/ns/app:latest": ["root", "app"],
          "localhost/ns/web:latest": ["root", "web"]}
REFS = sorted(CHAINS)


def tar_bytes(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


TARS = {name: tar_bytes(files) for name, files in LAYERS.items()}


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_store(root):
    """layers.json, images.json, a tar-split per layer (gzip'd JSON lines: raw segments and file entries) and
    diff dirs."""
    os.makedirs(os.path.join(root, "overlay-layers"))
    entries = []
    for name, data in TARS.items():
        lines, done = [], 0
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                lines.append({"type": 2, "payload": base64.b64encode(data[done:member.offset_data]).decode()})
                content = data[member.offset_data:member.offset_data + member.size]
                lines.append({"type": 1, "name": member.name, "size": member.size,
                              "payload": base64.b64encode(hashlib.sha256(content).digest()[:8]).decode()})
                done = member.offset_data + member.size
        lines.append({"type": 2, "payload": base64.b64encode(data[done:]).decode()})
        with open(os.path.join(root, "overlay-layers", name + ".tar-split.gz"), "wb") as handle:
            handle.write(gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()))
        for path, content in LAYERS[name].items():
            target = os.path.join(root, "overlay", name, "diff", path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(content)
        entries.append({"id": name, "parent": None if name == "root" else "root", "diff-digest": digest(data),
                        "diff-size": len(data)})
    with open(os.path.join(root, "overlay-layers", "layers.json"), "w", encoding="utf-8") as handle:
        json.dump(entries, handle)
    os.makedirs(os.path.join(root, "overlay-images"))
    with open(os.path.join(root, "overlay-images", "images.json"), "w", encoding="utf-8") as handle:
        json.dump([{"id": "id-" + ref, "layer": CHAINS[ref][-1]} for ref in CHAINS], handle)


IMAGES = ["podman", "images", "--filter", "label=" + IMAGE_LABEL, "--format", "{{.Repository}}:{{.Tag}}"]
INSPECT = ["podman", "image", "inspect"] + REFS
INFO = ["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = str(tmp_path / "storage")
    write_store(root)
    calls = []

    def run_command(argv, timeout=None, env=None, data=None, log=None):  # pylint: disable=unused-argument
        calls.append(list(argv))
        if argv == IMAGES:
            return 0, "\n".join(REFS + ["localhost/other/x:latest", "localhost/ns/base:old"]) + "\n", ""
        if argv[:3] == ["podman", "image", "inspect"]:
            return 0, json.dumps([{"Id": "id-" + ref, "RootFS": {"Layers": [digest(TARS[n]) for n in CHAINS[ref]]},
                                   "Labels": {IMAGE_LABEL: ref.split("/")[-1].split(":")[0],
                                              MANIFEST_LABEL: json.dumps({"base-files": "13"})}}
                                  for ref in argv[3:]]), ""
        if argv == INFO:
            return 0, root + " overlay\n", ""
        return 1, "", "unexpected command %r" % (argv,)

    monkeypatch.setattr(_command, "run_command", run_command)
    return calls


def sizes(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main.main(["sizes"] + argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_json_stdout_is_the_report_of_the_namespace(tmp_path, store):
    work = str(tmp_path / "work")
    code, out, err = sizes(["--namespace", "localhost/ns", "--work-dir", work, "--json"])
    assert (code, err) == (0, "")
    assert store == [IMAGES, INSPECT, INFO]
    report = json.loads(out)
    assert "table" not in report
    assert report["images"]["app"]["parent"] == "base" and report["images"]["web"]["parent"] == "base"
    assert report["images"]["app"]["own_size"] == len(TARS["app"])
    assert report["images"]["app"]["own_gzip"] == len(gzip.compress(TARS["app"], 6, mtime=0))
    assert report["set"]["size"] == sum(len(data) for data in TARS.values())
    assert report["set"]["squashed_size"] == len(TARS["root"]) * 3 + len(TARS["app"]) + len(TARS["web"])
    assert report["file_duplicates"]["bytes"] == len(SHARED)
    assert report["file_duplicates"]["by_target"]["base"]["largest"] == [["usr/share/lib.py", len(SHARED), 2]]
    assert report["runtime_state"] == {"app": {"log file": {"files": 1, "bytes": 8, "examples": ["/var/log/app.log"]}}}
    assert report["layers_read"] == 3
    assert os.path.isdir(os.path.join(work, "sizes", "layers"))


def test_second_run_reads_no_layer_and_compares_against_the_first(tmp_path, store):
    work, first = str(tmp_path / "work"), str(tmp_path / "first.json")
    assert sizes(["localhost/ns/app:latest", "localhost/ns/base:latest", "localhost/ns/web:latest",
                  "--work-dir", work, "--output", first, "--no-compress"])[0] == 0
    assert store == [INSPECT, INFO]
    del store[:]
    code, out, _err = sizes(["--namespace", "localhost/ns", "--work-dir", work, "--against", first, "--no-compress",
                             "--json"])
    assert code == 0 and store == [IMAGES, INSPECT]
    report = json.loads(out)
    assert report["layers_read"] == 0 and report["set"]["gzip"] is None
    assert report["comparison"]["set"]["size"] == [report["set"]["size"]] * 2 + [0]
    assert report["comparison"]["added"] == [] and report["comparison"]["removed"] == []


def test_table_without_json(tmp_path, store):  # pylint: disable=unused-argument
    code, out, _err = sizes(["--namespace", "localhost/ns", "--work-dir", str(tmp_path)])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["image", "parent", "size"] and lines[1].startswith("base ")
    assert "set: 3 images, 3 unique layers" in out


def test_bad_options_are_one_line_errors_and_a_json_error_document(tmp_path, store):
    code, out, err = sizes(["--chart", str(tmp_path / "x.pdf"), "--json"])
    assert code == 2 and json.loads(out) == {"command": "sizes", "error": "--chart %s: the file name must end in "
                                             ".svg or .png" % (tmp_path / "x.pdf"), "exit_code": 2}
    assert err.count("\n") == 1 and store == []
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    code, out, err = sizes(["--namespace", "localhost/ns", "--against", str(bad), "--json"])
    assert code == 1 and json.loads(out)["error"] == "--against %s: not a size report (no images and set)" % bad
    code, out, err = sizes(["--namespace", "localhost/none", "--work-dir", str(tmp_path), "--json"])
    assert code == 1 and json.loads(out)["error"] == (
        "namespace localhost/none: no containergen image with the tag latest in the local store")
