# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""graph, diff, push, delete, promote, rollback and cull: with --json, stdout is one JSON document (the
result, or {"error", "exit_code"}); the registry and the local store are stubbed at the command boundary
(Runner) and every argv is asserted."""

from __future__ import annotations

import io
import json
import os
from xml.etree import ElementTree

import pytest

from containergen_cli import core, main, views
from containergen_cli.osc import v1

core.collection_root()
from ansible_collections.containergen.images.plugins.module_utils import _command, _contract  # noqa: E402  pylint: disable=wrong-import-position

PODMAN_IMAGES = ["podman", "images", "--format", "json"]
REG = "localhost:5000/containergen"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


class Commands(object):
    """Runner's call, stubbed: answers by exact argv (or argv prefix ending in "*"), records every argv."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, argv, check=True):
        self.calls.append(list(argv))
        for expected, answer in self.answers:
            if list(argv) == list(expected) or (expected[-1] == "*" and list(argv[:len(expected) - 1]) == expected[:-1]):
                rc, out, err = answer
                if rc and check:
                    raise _command.CommandError(argv, rc, out + err)
                return rc, out, err
        raise AssertionError("unexpected command %r" % (argv,))


def run(argv, monkeypatch, answers=(), stdin=None):
    commands = Commands(list(answers))
    monkeypatch.setattr(_command.Runner, "__call__", lambda self, argv, check=True, **kw: commands(argv, check))
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", stdin)
    out, err = io.StringIO(), io.StringIO()
    code = main.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue(), commands.calls


def labels(packages):
    return {_contract.MANIFEST_LABEL: json.dumps(packages), _contract.FINGERPRINT_LABEL: "f"}


def inspected(digest, packages=None, created="2026-01-01T00:00:00Z"):
    return (0, json.dumps({"Digest": digest, "Labels": labels(packages or {}), "Created": created, "Layers": []}), "")


MISSING = (1, "", 'time="x" level=fatal msg="Error: manifest unknown"')


def skopeo_inspect(ref):
    return ["skopeo", "inspect", "docker://" + ref]


def tags(name, *names):
    return (["skopeo", "list-tags", "docker://%s/%s" % (REG, name)], (0, json.dumps({"Tags": list(names)}), ""))


def local_images(*items):
    return (PODMAN_IMAGES, (0, json.dumps([{"Id": "id-" + ref, "Names": [ref], "Labels": lab, "Size": 1}
                                           for ref, lab in items]), ""))


# ---- graph --------------------------------------------------------------------------------------------

def test_graph_dot_json_has_every_edge_of_the_plan(monkeypatch, tmp_path):
    code, out, err, calls = run(["graph", "--include", "cron", "--json", "--work-dir", str(tmp_path)],
                                monkeypatch, [local_images()])
    assert code == 0, err
    document = json.loads(out)
    root = document["nodes"][0]
    assert (root["kind"], root["parent"]) == ("base", None)
    assert document["edges"] == [[root["name"], "base"], ["base", "cron"]]
    assert '"base" -> "cron";' in document["dot"] and document["dot"].startswith("digraph containergen {")
    assert calls == [PODMAN_IMAGES]


def test_graph_svg_is_well_formed_with_a_box_per_node_and_a_path_per_edge(monkeypatch, tmp_path):
    target = tmp_path / "tree.svg"
    code, out, err, _calls = run(["graph", "--format", "svg", "--output", str(target), "--json", "--work-dir",
                                  str(tmp_path)], monkeypatch, [local_images()])
    assert code == 0, err
    document = json.loads(out)
    assert document["output"] == str(target)
    root = ElementTree.parse(str(target)).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(ns + "g")) == len(document["nodes"]) == len(document["edges"]) + 1
    assert len(root.findall(ns + "path")) == len(document["edges"])
    assert {g.get("id") for g in root.findall(ns + "g")} >= {"node-base", "node-keystone", "node-nova-api"}


def test_graph_svg_places_children_right_of_their_parent():
    tree = (("a", "r"), ("b", "a"), ("c", "a"))
    nodes = [{"name": "r", "kind": "base", "status": "", "ref": "r", "parent": None}] + [
        {"name": n, "kind": "image", "status": "build", "ref": n, "parent": p} for n, p in tree]
    svg = views.to_svg(nodes, [["r", "a"], ["a", "b"], ["a", "c"]])
    root = ElementTree.fromstring(svg.split("\n", 1)[1])
    rects = {g.get("id")[5:]: g.find("{http://www.w3.org/2000/svg}rect") for g in root
             if g.tag.endswith("g")}
    x = {name: float(rect.get("x")) for name, rect in rects.items()}
    y = {name: float(rect.get("y")) for name, rect in rects.items()}
    assert x["r"] < x["a"] < x["b"] == x["c"]
    assert y["a"] == (y["b"] + y["c"]) / 2 and y["b"] != y["c"]


def test_graph_bad_format_is_a_usage_error(monkeypatch):
    code, out, _err, _calls = run(["graph", "--format", "png", "--json"], monkeypatch)
    assert (code, json.loads(out)["error"]) == (2, "--format png: must be one of dot, svg")


# ---- diff ---------------------------------------------------------------------------------------------

def test_diff_of_a_local_image_and_a_registry_revision(monkeypatch):
    answers = [local_images(("localhost/containergen/keystone:latest", labels({"a": "1", "b": "1", "c": "1"}))),
               (skopeo_inspect(REG + "/keystone:latest-2"), inspected(D2, {"a": "1", "b": "2", "d": "1"}))]
    code, out, err, calls = run(["diff", "local:keystone", "registry:keystone:latest-2", "--json"], monkeypatch,
                                answers)
    assert code == 0, err
    document = json.loads(out)
    assert (document["added"], document["removed"], document["updated"]) == ({"d": "1"}, {"c": "1"},
                                                                             {"b": ["1", "2"]})
    assert document["b"] == {"spec": "registry:keystone:latest-2", "ref": REG + "/keystone:latest-2", "digest": D2}
    assert document["summary"].startswith("+1 -1 ~1 packages (localhost/containergen/keystone:latest -> ")
    assert calls == [PODMAN_IMAGES, skopeo_inspect(REG + "/keystone:latest-2")]


def test_diff_of_a_lock_file_entry_reads_the_locked_digest(monkeypatch, tmp_path):
    lock = tmp_path / "images.lock.json"
    lock.write_text(json.dumps({"images": {REG + "/cron": REG + "/cron:latest-1@" + D1}}))
    answers = [(skopeo_inspect(REG + "/cron@" + D1), inspected(D1, {"a": "1"})),
               (skopeo_inspect("other:5001/ns/cron:latest-4"), inspected(D3, {"a": "2"}))]
    code, out, err, calls = run(["diff", "lock:%s:cron" % (tmp_path / "images.lock"),
                                 "docker://other:5001/ns/cron:latest-4", "--json"], monkeypatch, answers)
    assert code == 0, err
    assert json.loads(out)["updated"] == {"a": ["1", "2"]}
    assert calls == [answer[0] for answer in answers]


@pytest.mark.parametrize("argv,answers,code,error", [
    (["diff", "keystone", "local:cron"], [], 2,
     "A keystone: must start with local:, containers-storage:, registry:, docker:// or lock:"),
    (["diff", "local:cron", "registry:Bad:1"], [], 2,
     "B registry:Bad:1: must be registry:NAME:TAG, such as registry:keystone:latest-3"),
    (["diff", "local:cron", "local:cron", "--registry", "http://x"], [], 2, None),
    (["diff", "local:nosuch", "local:cron"], [local_images()], 1,
     "local:nosuch: no local image localhost/containergen/nosuch:latest"),
    (["diff", "registry:cron:latest-9", "local:cron"],
     [(skopeo_inspect(REG + "/cron:latest-9"), MISSING), tags("cron", "latest-1")], 1,
     "registry:cron:latest-9: %s/cron:latest-9 does not exist" % REG),
    (["diff", "local:cron", "local:cron"], [local_images(("localhost/containergen/cron:latest", {}))], 1,
     "local:cron: localhost/containergen/cron:latest has no %s label (not built by containergen)"
     % _contract.MANIFEST_LABEL),
])
def test_diff_errors_are_one_document(monkeypatch, argv, answers, code, error):
    got, out, err, _calls = run(argv + ["--json"], monkeypatch, answers)
    document = json.loads(out)
    assert (got, document["exit_code"]) == (code, code)
    if error:
        assert document["error"] == error
    assert len(err.splitlines()) == 1 and "Traceback" not in err


# ---- push / delete ------------------------------------------------------------------------------------

def test_push_of_a_local_image_keeps_namespace_and_tag_and_appends(monkeypatch):
    source = "containers-storage:localhost/cg-os/cron:latest"
    answers = [(["skopeo", "inspect", source], (0, json.dumps({"Digest": D1}), "")),
               (["skopeo", "copy", "--retry-times", "2", source, "docker://reg:5001/cg-os/cron:latest-hotfix"],
                (0, "", "")),
               (skopeo_inspect("reg:5001/cg-os/cron:latest-hotfix"), inspected(D2))]
    code, out, err, calls = run(["push", "--local", "localhost/cg-os/cron", "--registry-url", "reg:5001",
                                 "--append-tag=-hotfix", "--json"], monkeypatch, answers)
    assert code == 0, err
    document = json.loads(out)
    assert (document["action"], document["destination"], document["digest"]) == (
        "pushed", "reg:5001/cg-os/cron:latest-hotfix", D2)
    assert calls == [answer[0] for answer in answers]


def test_push_credentials_go_in_a_private_authfile_never_on_argv(monkeypatch, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    seen = {}

    def copy(argv, check=True):
        path = argv[argv.index("--authfile") + 1]
        seen["mode"] = os.stat(path).st_mode & 0o777
        seen["auth"] = json.load(open(path, encoding="utf-8"))
        seen["path"] = path
        return 0, json.dumps({"Digest": D1}), ""

    commands = []
    monkeypatch.setattr(_command.Runner, "__call__", lambda self, argv, check=True, **kw: (
        commands.append(list(argv)), copy(argv) if argv[1] == "inspect" and "--authfile" in argv and not seen
        else (0, json.dumps({"Tags": []}), ""))[1])
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    out, err = io.StringIO(), io.StringIO()
    code = main.main(["push", "src:5002/ns/cron:1", "--registry-url", "reg:5001", "--username", "pub",
                      "--password-file", str(secret), "--dry-run", "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["action"] == "would push"
    assert seen["mode"] == 0o600 and not os.path.exists(seen["path"])
    assert seen["auth"] == {"auths": {"reg:5001": {"auth": "cHViOnMzY3JldC12YWx1ZQ=="}}}
    assert not any("s3cret" in arg for argv in commands for arg in argv)
    assert commands[0][:2] == ["skopeo", "inspect"] and commands[0][-1] == "docker://src:5002/ns/cron:1"
    assert commands[1][:2] == ["skopeo", "list-tags"] and commands[1][-1] == "docker://reg:5001/ns/cron"


@pytest.mark.parametrize("argv,error", [
    (["push", "x", "--password", "hunter2"], "--password hunter2: refused: a password on the command line is "
                                             "visible in ps; use --password-file FILE (- for stdin) or --authfile"),
    (["push", "reg:5000/ns/x", "--username", "u"], "--username u: needs --password-file"),
    (["push", "x:1"], "IMAGE x:1: must be REGISTRY/NAMESPACE/NAME[:TAG] (or give --local)"),
    (["push", "reg:5000/ns/x@sha256:" + "1" * 64], None),
    (["push", "--local", "x", "--append-tag", ":bad"], None),
    (["delete", "reg:5000/ns/x"], "IMAGE reg:5000/ns/x: give the tag to delete (NAME:TAG); nothing is deleted "
                                  "by default"),
    (["delete", "reg:5000/ns/x:1"], "--yes: not given, and there is no terminal to ask on"),
    (["delete", "reg:5000/ns/x:1", "--yes", "--password-file", "/nonexistent/pw"], None),
    (["promote", "--lock-file", "/nonexistent/images.lock"], None),
    (["rollback"], "IMAGE: give image names or --lock-file naming them"),
    (["rollback", "Bad"], None),
    (["cull", "cron", "--max-age-days", "-1"], "--max-age-days -1: must be 0 or more"),
    (["cull", "cron", "--tag", "a:b"], None),
    (["cull"], "the following arguments are required: IMAGE"),
])
def test_bad_usage_is_exit_2_and_one_document_before_any_command(monkeypatch, argv, error):
    code, out, err, calls = run(argv + ["--json"], monkeypatch, stdin=io.StringIO(""))
    document = json.loads(out)
    assert (code, document["exit_code"]) == (2, 2)
    if error:
        assert document["error"] == error
    assert calls == [] and len(err.splitlines()) == 1 and "Traceback" not in err


def registry_api(monkeypatch, answers):
    """The registry's HTTP API (SBOM artifacts), stubbed at its transport: answers by (method, path)."""
    from ansible_collections.containergen.images.plugins.module_utils import _referrers  # pylint: disable=import-outside-toplevel
    seen = []

    def transport(context, timeout=120.0):  # pylint: disable=unused-argument
        def send(method, url, headers, body):  # pylint: disable=unused-argument
            path = url.split("/v2/", 1)[1]
            seen.append((method, path))
            status, document = answers.get((method, path), (404, {}))
            return status, {"content-type": "application/vnd.oci.image.index.v1+json"}, json.dumps(document).encode()
        return send

    monkeypatch.setattr(_referrers, "https_transport", transport)
    return seen


def test_delete_names_every_tag_of_the_digest_and_its_signature(monkeypatch):
    sbom = "sha256:" + "9" * 64
    http = registry_api(monkeypatch, {
        ("GET", "containergen/cron/referrers/" + D1): (200, {"manifests": [{"digest": sbom}]}),
        ("DELETE", "containergen/cron/manifests/" + sbom): (202, {})})
    sig = D1.replace(":", "-") + ".sig"
    answers = [(skopeo_inspect(REG + "/cron:latest-1"), inspected(D1)),
               tags("cron", "latest-1", "latest", "latest-2", sig),
               (skopeo_inspect(REG + "/cron:latest"), inspected(D1)),
               (skopeo_inspect(REG + "/cron:latest-2"), inspected(D2)),
               (["skopeo", "delete", "docker://%s/cron:latest-1" % REG], (0, "", "")),
               (["skopeo", "delete", "docker://%s/cron:%s" % (REG, sig)], (0, "", ""))]
    code, out, err, calls = run(["delete", "localhost:5000/containergen/cron:latest-1", "-y", "--json"], monkeypatch,
                                answers)
    assert code == 0, err
    document = json.loads(out)
    assert document["tags_removed"] == ["latest-1", "latest"]
    assert document["signatures_deleted"] == [sig]
    assert document["artifacts_deleted"] == [sbom]
    assert calls == [answer[0] for answer in answers]
    assert http == [("GET", "containergen/cron/referrers/" + D1), ("DELETE", "containergen/cron/manifests/" + sbom),
                    ("GET", "containergen/cron/manifests/" + D1.replace(":", "-"))]


def test_delete_not_confirmed_deletes_nothing(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    answers = [(skopeo_inspect(REG + "/cron:latest-1"), inspected(D1)), tags("cron", "latest-1")]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    code, out, _err, calls = run(["delete", "localhost:5000/containergen/cron:latest-1", "--json"], monkeypatch,
                                 answers, stdin=Terminal("n\n"))
    assert (code, json.loads(out)["error"]) == (1, "%s/cron:latest-1: not confirmed, nothing deleted" % REG)
    assert not any(argv[1] == "delete" for argv in calls)


# ---- promote / rollback / cull ------------------------------------------------------------------------

def lock_file(tmp_path, **revisions):
    path = tmp_path / "images.lock.json"
    path.write_text(json.dumps({"images": {"%s/%s" % (REG, name): "%s/%s:%s" % (REG, name, ref)
                                           for name, ref in revisions.items()}}))
    return str(tmp_path / "images.lock")


def copy(source, target):
    return ["skopeo", "copy", "--retry-times", "2", "--remove-signatures", "docker://" + source, "docker://" + target]


def test_promote_moves_deployed_and_keeps_previous(monkeypatch, tmp_path):
    lock = lock_file(tmp_path, cron="latest-2@" + D2)
    answers = [(skopeo_inspect(REG + "/cron:latest-2"), inspected(D2)),
               (skopeo_inspect(REG + "/cron:deployed"), inspected(D1)),
               (copy(REG + "/cron:deployed", REG + "/cron:previous"), (0, "", "")),
               (copy(REG + "/cron:latest-2", REG + "/cron:deployed"), (0, "", ""))]
    code, out, err, calls = run(["promote", "--lock-file", lock, "--json"], monkeypatch, answers)
    assert code == 0, err
    assert json.loads(out)["images"] == [{"name": "cron", "action": "promoted", "deployed": REG + "/cron:latest-2@" + D2,
                                          "previous": D1}]
    assert calls == [answer[0] for answer in answers]


def test_promote_check_moves_nothing(monkeypatch, tmp_path):
    lock = lock_file(tmp_path, cron="latest-2@" + D2)
    answers = [(skopeo_inspect(REG + "/cron:latest-2"), inspected(D2)), (skopeo_inspect(REG + "/cron:deployed"), MISSING)]
    code, out, err, calls = run(["promote", "--lock-file", lock, "--check", "--json"], monkeypatch, answers)
    assert code == 0, err
    document = json.loads(out)
    assert (document["check_mode"], document["images"][0]["action"]) == (True, "would promote")
    assert calls == [answer[0] for answer in answers]


def test_promote_of_a_stale_lock_file_fails_in_one_line(monkeypatch, tmp_path):
    lock = lock_file(tmp_path, cron="latest-2@" + D2)
    code, out, err, _calls = run(["promote", "--lock-file", lock, "--json"], monkeypatch,
                                 [(skopeo_inspect(REG + "/cron:latest-2"), inspected(D3))])
    assert (code, json.loads(out)["error"]) == (
        1, "cron: %s/cron:latest-2 is no longer %s in the registry (stale lock file?)" % (REG, D2))
    assert len(err.splitlines()) == 1


def test_rollback_swaps_deployed_and_previous(monkeypatch):
    answers = [(skopeo_inspect(REG + "/cron:previous"), inspected(D1)),
               (skopeo_inspect(REG + "/cron:deployed"), inspected(D2)),
               (copy(REG + "/cron:previous", REG + "/cron:deployed"), (0, "", "")),
               (copy(REG + "/cron@" + D2, REG + "/cron:previous"), (0, "", ""))]
    code, out, err, calls = run(["rollback", "cron", "--json"], monkeypatch, answers)
    assert code == 0, err
    assert json.loads(out)["images"] == [{"name": "cron", "action": "rolled back", "deployed": D1, "previous": D2}]
    assert calls == [answer[0] for answer in answers]


def test_rollback_without_previous_fails(monkeypatch):
    code, out, _err, _calls = run(["rollback", "cron", "--json"], monkeypatch,
                                  [(skopeo_inspect(REG + "/cron:previous"), MISSING),
                                   (skopeo_inspect(REG + "/cron:deployed"), inspected(D2))])
    assert (code, json.loads(out)["error"]) == (1, "cron: no 'previous' tag in %s/cron: nothing to roll back to" % REG)


def test_cull_check_names_old_unreferenced_revisions_and_keeps_locked_ones(monkeypatch, tmp_path):
    """The deleting path runs against a real registry (tests/integration/test_cli_verbs.py)."""
    lock = lock_file(tmp_path, cron="latest-2@" + D2)
    old, new = "2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
    answers = [tags("cron", "latest-1", "latest-2", "latest-3", "latest"),
               (skopeo_inspect(REG + "/cron:latest-1"), inspected(D1, created=old)),
               (skopeo_inspect(REG + "/cron:latest-2"), inspected(D2, created=old)),
               (skopeo_inspect(REG + "/cron:latest-3"), inspected(D3, created=new)),
               (skopeo_inspect(REG + "/cron:latest"), inspected(D3, created=new))]
    code, out, err, calls = run(["cull", "cron", "--lock-file", lock, "--check", "--json"], monkeypatch, answers)
    assert code == 0, err
    document = json.loads(out)
    assert document["check_mode"] is True
    assert [(i["name"], i["deleted"], i["kept"]) for i in document["images"]] == [
        ("cron", ["latest-1"], ["latest-2", "latest-3"])]
    assert calls == [answers[0][0]] + [answer[0] for answer in answers]  # the existence check, then the candidates


def test_cull_of_an_unknown_repository_says_so(monkeypatch):
    code, out, _err, calls = run(["cull", "nosuch", "--json"], monkeypatch, [tags("nosuch")])
    assert (code, json.loads(out)["error"]) == (1, "nosuch: no such repository %s/nosuch in the registry" % REG)
    assert calls == [tags("nosuch")[0]]


# ---- the OpenStack plugin -----------------------------------------------------------------------------

def test_plugin_commands_come_from_one_factory_with_cliff_bases():
    from cliff import lister, show  # pylint: disable=import-outside-toplevel
    for name in ("Plan", "List", "Publish", "Diff", "Report", "Promote", "Rollback", "Cull"):
        assert issubclass(getattr(v1, name), lister.Lister), name
    for name in ("Show", "Push", "Delete"):
        assert issubclass(getattr(v1, name), show.ShowOne), name
    assert v1.Diff.rows({"added": {"a": "1"}, "removed": {"b": "2"}, "updated": {"c": ["1", "2"]}}) == [
        {"change": "+", "package": "a", "old": "", "new": "1"}, {"change": "-", "package": "b", "old": "2", "new": ""},
        {"change": "~", "package": "c", "old": "1", "new": "2"}]


def test_plugin_show_keeps_the_image_prefix_option():
    parser = v1.Show(None, None).get_parser("openstack containergen image show")
    parsed = parser.parse_args(["keystone", "--prefix", "openstack-", "-f", "json"])
    assert (parsed.image, parsed.prefix, parsed.formatter) == ("keystone", "openstack-", "json")


def test_plugin_error_with_json_format_is_one_document(monkeypatch, capsys):
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    command = v1.Rollback(None, None)
    parsed = command.get_parser("openstack containergen image rollback").parse_args(["-f", "json"])
    with pytest.raises(SystemExit) as stopped:
        command.take_action(parsed)
    captured = capsys.readouterr()
    assert stopped.value.code == 2
    assert json.loads(captured.out) == {"error": "IMAGE: give image names or --lock-file naming them", "exit_code": 2}
    assert captured.err.splitlines() == ["IMAGE: give image names or --lock-file naming them"]


@pytest.mark.parametrize("command,flags", [
    (v1.Push, ("--local", "--registry-url", "--append-tag", "--username", "--password", "--source-username",
               "--source-password", "--dry-run", "--multi-arch", "--cleanup")),
    (v1.Delete, ("--registry-url", "--username", "--password", "-y", "--yes")),
])
def test_plugin_push_and_delete_take_every_flag_of_tripleoclient(command, flags):
    """python-tripleoclient 20.0.0's `openstack tripleo container image push|delete` options (the passwords
    are accepted by the parser and refused by the check, with the reason)."""
    parser = command(None, None).get_parser("openstack containergen image")
    options = {option for action in parser._actions for option in action.option_strings}  # pylint: disable=protected-access
    assert set(flags) <= options
