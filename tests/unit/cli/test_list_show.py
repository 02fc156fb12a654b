# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""list and show: the local status, the lock file's revisions and (--registry-status) the registry's; show's
layers. The local store and the registry are stubbed at the command boundary (Runner), every argv asserted,
stdout parsed as one JSON document."""

from __future__ import annotations

import gzip
import io
import json

from containergen_cli import core, main
from containergen_cli.osc import v1

core.collection_root()
from ansible_collections.containergen.images.plugins.module_utils import _command, _contract  # noqa: E402  pylint: disable=wrong-import-position

PODMAN_IMAGES = ["podman", "images", "--format", "json"]
PODMAN_INFO = ["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"]
REG = "localhost:5000/containergen"
LOCAL = "localhost/containergen"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
UNREACHABLE = (1, "", 'time="x" level=fatal msg="pinging container registry localhost:5000: connection refused"')


def run(argv, monkeypatch, answers=()):
    """main.main(argv) with Runner answering by exact argv; (exit code, stdout, stderr, every argv run)."""
    calls = []

    def call(self, argv, check=True, **kwargs):  # pylint: disable=unused-argument
        calls.append(list(argv))
        for expected, (rc, out, err) in answers:
            if list(argv) == list(expected):
                if rc and check:
                    raise _command.CommandError(argv, rc, out + err)
                return rc, out, err
        raise AssertionError("unexpected command %r" % (argv,))

    monkeypatch.setattr(_command.Runner, "__call__", call)
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    out, err = io.StringIO(), io.StringIO()
    code = main.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue(), calls


def fingerprints(monkeypatch, *includes):
    flags = [flag for name in includes for flag in ("--include", name)]
    code, out, err, _calls = run(["plan", "--json"] + flags, monkeypatch, [(PODMAN_IMAGES, (0, "[]", ""))])
    assert code == 0, err
    return {item["name"]: item["fingerprint"] for item in json.loads(out)["images"]}


def listed(*images):
    """podman images --format json of (ref, id, fingerprint, extra labels)."""
    return (PODMAN_IMAGES, (0, json.dumps([
        {"Id": image_id, "Names": [ref], "Size": 7000000,
         "Labels": dict({_contract.FINGERPRINT_LABEL: fingerprint}, **extra)}
        for ref, image_id, fingerprint, extra in images]), ""))


def lock_file(tmp_path, entries):
    (tmp_path / "images.lock.json").write_text(json.dumps({"images": entries}))
    return str(tmp_path / "images.lock")


def inspected(ref, digest):
    return (["skopeo", "inspect", "docker://" + ref],
            (0, json.dumps({"Digest": digest, "Labels": {}, "Created": "2026-01-01T00:00:00Z", "Layers": []}), ""))


# ---- list ----------------------------------------------------------------------------------------------

def test_list_json_has_local_status_lock_revision_and_registry_status(monkeypatch, tmp_path):
    prints = fingerprints(monkeypatch, "cron", "chrony")
    store = listed(("%s/base:latest" % LOCAL, "b" * 64, prints["base"], {}),
                   ("%s/cron:latest" % LOCAL, "c" * 64, "an older definition", {}))
    lock = lock_file(tmp_path, {"%s/base" % REG: "%s/base:latest-2@%s" % (REG, D1),
                                "%s/cron" % REG: "%s/cron:latest-1@%s" % (REG, D2),
                                "other:5000/containergen/chrony": "other:5000/containergen/chrony:latest-9@%s" % D3})
    answers = [store, inspected(REG + "/base:latest-2", D1), inspected(REG + "/cron:latest-1", D3)]
    argv = ["list", "--include", "cron", "--include", "chrony", "--lock-file", lock, "--json"]
    code, out, err, calls = run(argv + ["--registry-status"], monkeypatch, answers)
    assert code == 0, err
    document = json.loads(out)
    rows = {row["name"]: row for row in document["images"]}
    assert {name: (row["local"], row["revision"], row["digest"], row["registry"]) for name, row in rows.items()} == {
        "base": ("up to date", "latest-2", D1, "present"),
        "cron": ("differs", "latest-1", D2, "moved"),  # the tag names another digest now
        "chrony": ("absent", None, None, "unpublished"),  # its entry is another registry's
    }
    assert rows["cron"]["repository"] == REG + "/cron" and rows["cron"]["parent"] == "base"
    assert document["lock_file"] == lock + ".json" and document["registry_checked"] is True
    # one listing of the store; the registry asked for the locked revisions only
    assert calls == [PODMAN_IMAGES, answers[1][0], answers[2][0]]

    code, out, err, calls = run(argv[:-1], monkeypatch, answers)
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split() == ["image", "parent", "local", "build", "revision", "digest", "reference"]
    cron = next(line.split() for line in lines if line.startswith("cron "))
    assert cron == ["cron", "base", "differs", "build", "latest-1", "2" * 12, "%s/cron:latest" % LOCAL]
    assert calls == [PODMAN_IMAGES]  # no registry without --registry-status


def test_list_registry_unreachable_is_one_line(monkeypatch, tmp_path):
    lock = lock_file(tmp_path, {"%s/base" % REG: "%s/base:latest-2@%s" % (REG, D1)})
    ref = REG + "/base:latest-2"
    code, out, err, calls = run(["list", "--include", "base", "--lock-file", lock, "--registry-status", "--json"],
                                monkeypatch, [(PODMAN_IMAGES, (0, "[]", "")),
                                              (["skopeo", "inspect", "docker://" + ref], UNREACHABLE)])
    assert code == 1
    message = ("--registry localhost:5000: cannot read the registry (--registry-status): pinging container "
               "registry localhost:5000: connection refused")
    assert json.loads(out) == {"command": "list", "error": message, "exit_code": 1}
    assert err.splitlines() == ["containergen list: " + message]
    assert calls == [PODMAN_IMAGES, ["skopeo", "inspect", "docker://" + ref]]


def test_list_given_lock_file_must_exist_and_authfile_too(monkeypatch, tmp_path):
    missing = str(tmp_path / "nothing")
    code, out, _err, calls = run(["list", "--lock-file", missing, "--json"], monkeypatch)
    assert code == 2 and calls == []
    assert json.loads(out)["error"] == "--lock-file %s: no lock file (%s.json or %s.yaml): publish writes it" % (
        missing, missing, missing)
    code, out, _err, calls = run(["list", "--authfile", missing, "--registry-status", "--json"], monkeypatch)
    assert code == 2 and calls == [] and json.loads(out)["error"].startswith("--authfile %s: " % missing)


# ---- show ----------------------------------------------------------------------------------------------

def overlay(tmp_path, image_id, chain):
    """A containers/storage overlay root: the image's top layer and its chain [(layer ID, diff digest, size)]
    (bottom first), each layer with its tar-split and diff dir, as the store keeps them."""
    root = tmp_path / "storage"
    (root / "overlay-layers").mkdir(parents=True)
    (root / "overlay-images").mkdir()
    entries, parent = [], None
    for layer_id, digest, size in chain:
        entries.append(dict({"id": layer_id, "diff-digest": digest, "diff-size": size},
                            **({"parent": parent} if parent else {})))
        (root / "overlay-layers" / (layer_id + ".tar-split.gz")).write_bytes(gzip.compress(b""))
        (root / "overlay" / layer_id / "diff").mkdir(parents=True)
        parent = layer_id
    (root / "overlay-layers" / "layers.json").write_text(json.dumps(entries))
    (root / "overlay-images" / "images.json").write_text(json.dumps([{"id": image_id, "layer": parent}]))
    return str(root)


def test_show_json_has_layers_own_marked_and_revisions(monkeypatch, tmp_path):
    prints = fingerprints(monkeypatch, "cron")
    cron_id, base_id = "c" * 64, "b" * 64
    store = listed(("%s/base:latest" % LOCAL, base_id, prints["base"], {}),
                   ("%s/cron:latest" % LOCAL, cron_id, prints["cron"],
                    {_contract.MANIFEST_LABEL: json.dumps({"cron": "3.0"})}))
    root = overlay(tmp_path, cron_id, [("l1", D1, 80000000), ("l2", D2, 1500000)])
    lock = lock_file(tmp_path, {"%s/cron" % REG: "%s/cron:latest-3@%s" % (REG, D2),
                                "other:5000/ns/cron": "other:5000/ns/cron:latest-1@%s" % D1})
    inspect = ["podman", "image", "inspect"]
    answers = [store,
               (inspect + ["%s/cron:latest" % LOCAL], (0, json.dumps([{"RootFS": {"Layers": [D1, D2]}}]), "")),
               (inspect + ["%s/base:latest" % LOCAL], (0, json.dumps([{"RootFS": {"Layers": [D1]}}]), "")),
               (PODMAN_INFO, (0, root + " overlay\n", "")),
               inspected(REG + "/cron:latest-3", D2),
               (["skopeo", "list-tags", "docker://%s/cron" % REG],
                (0, json.dumps({"Tags": ["latest", "latest-1", "latest-2", "latest-3", "latest-10", "stable"]}), ""))]
    code, out, err, calls = run(["show", "cron", "--lock-file", lock, "--registry-status", "--json"],
                                monkeypatch, answers)
    assert code == 0, err
    document = json.loads(out)
    assert document["up_to_date"] is True and document["parent"] == "%s/base:latest" % LOCAL
    assert document["layers"] == [{"digest": D1, "size": 80000000, "own": False},
                                  {"digest": D2, "size": 1500000, "own": True}]
    assert document["own_size"] == 1500000
    assert document["revisions"] == [
        {"repository": "%s/cron" % REG, "revision": "latest-3", "digest": D2, "registry": "present"},
        {"repository": "other:5000/ns/cron", "revision": "latest-1", "digest": D1, "registry": None}]
    assert document["registry_revisions"] == ["latest-10", "latest-3", "latest-2", "latest-1"]
    assert calls == [argv for argv, _answer in answers]

    code, out, err, calls = run(["show", "cron", "--lock-file", lock], monkeypatch, answers)
    assert code == 0, err
    lines = out.splitlines()
    start = lines.index("layers (2, * = its own, above %s/base:latest):" % LOCAL)
    assert lines[start + 1:start + 5] == ["    %s  80.0 MB" % ("1" * 12), "  * %s  1.5 MB" % ("2" * 12),
                                          "revisions (lock file %s.json):" % lock,
                                          "  %s/cron:latest-3  %s" % (REG, "2" * 12)]
    assert "registry revisions" not in out and ["skopeo", "list-tags", "docker://%s/cron" % REG] not in calls


# ---- the OpenStack plugin ------------------------------------------------------------------------------

def test_plugin_list_and_show_carry_the_new_columns():
    assert v1.List.columns == ("name", "parent", "local", "status", "revision", "digest", "registry", "ref")
    assert {"layers", "own_size", "revisions", "registry_revisions", "lock_file"} <= set(v1.Show.fields)
    parsed = v1.Show(None, None).get_parser("openstack containergen image show").parse_args(
        ["cron", "--registry-status", "--lock-file", "/srv/images.lock", "-f", "json"])
    assert (parsed.image, parsed.registry_status, parsed.lock_file) == ("cron", True, "/srv/images.lock")
    parsed = v1.List(None, None).get_parser("openstack containergen image list").parse_args(["--registry-status"])
    assert parsed.registry_status is True
    cell = v1._cell([{"digest": D1, "size": 1, "own": True}])  # pylint: disable=protected-access
    assert cell.machine_readable() == [{"digest": D1, "size": 1, "own": True}]
    assert cell.human_readable() == "digest=%s own=True size=1" % D1
