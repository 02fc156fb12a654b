# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The output contract of every verb: with --json, stdout is exactly one JSON document, on success and
on failure ({"error", "exit_code"}); progress and tables shown alongside go to stderr. The command
boundary is stubbed: podman/skopeo through Runner, ansible-playbook through ansible-runner's Runner."""

from __future__ import annotations

import io
import json
import os
import sys

import ansible_runner
import pytest

from containergen_cli import core, main

core.collection_root()
from ansible_collections.containergen.images.plugins.module_utils import _command, _contract  # noqa: E402  pylint: disable=wrong-import-position

PODMAN_IMAGES = ["podman", "images", "--format", "json"]


class Commands(object):
    """Runner's call, stubbed: answers by argv prefix and records every argv."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, runner, argv, check=True, **kwargs):  # pylint: disable=unused-argument
        self.calls.append(list(argv))
        for prefix, answer in self.answers:
            if list(argv[:len(prefix)]) == list(prefix):
                rc, out, err = answer
                if rc and check:
                    raise _command.CommandError(argv, rc, out + err)
                return rc, out, err
        raise AssertionError("unexpected command %r" % (argv,))


def run(argv, monkeypatch, answers=()):
    commands = Commands(list(answers) + [(PODMAN_IMAGES, (0, "[]", ""))])

    def call(self, argv, **kwargs):
        return commands(self, argv, **kwargs)

    monkeypatch.setattr(_command.Runner, "__call__", call)
    # Hermetic: the host's own authfile (written by the main job) must not change the expected argv.
    monkeypatch.setattr(core, "DEFAULT_AUTHFILE", "/nonexistent/containergen-unit-test/auth.json")
    out, err = io.StringIO(), io.StringIO()
    code = main.main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue(), commands.calls


def one_document(text):
    """The whole of stdout is one JSON document (json.loads fails on anything before or after it)."""
    return json.loads(text)


def fake_playbook(monkeypatch, work_dir, summary=None, progress=(), returncode=0, output="", failed=None):
    """ansible-runner's Runner stand-in: the playbook it would run writes the build's progress events and the
    summary the role would write, and hands Ansible's output and a failed task's result as ansible-runner's
    events. Returns the argv of each run (ansible-playbook's, after the launcher)."""
    seen = []

    class Runner(object):
        def __init__(self, config, event_handler=None, **kwargs):
            self.config, self.handler, self.rc = config, event_handler, None

        def run(self):
            argv = list(self.config.command)
            assert argv[:3] == [sys.executable, "-c", core.LAUNCHER]
            argv = argv[3:]
            seen.append(argv)
            playbook = argv[1].rsplit(".", 1)[-1]
            events = {"build": "events.jsonl", "publish": "publish-events.jsonl"}[playbook]
            with open(os.path.join(work_dir, events), "a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(event) + "\n" for event in progress)
            if returncode == 0 and playbook == "build":
                with open(os.path.join(work_dir, "summary.json"), "w", encoding="utf-8") as handle:
                    json.dump(summary, handle)
            if returncode == 0 and playbook == "publish":
                with open(os.path.join(work_dir, "publish-summary.json"), "w", encoding="utf-8") as handle:
                    json.dump(summary, handle)
            for line in output.splitlines():
                self.handler({"event": "verbose", "stdout": line})
            if failed is not None:
                self.handler({"event": "runner_on_failed", "stdout": "fatal: [localhost]: FAILED!",
                              "event_data": {"task": "Build the images", "res": failed}})
            self.rc = returncode

    monkeypatch.setattr(ansible_runner, "Runner", Runner)
    return seen


def test_plan_json_is_one_document_and_reads_the_store(monkeypatch, tmp_path):
    code, out, err, calls = run(["plan", "--include", "cron", "--json", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0, err
    document = one_document(out)
    assert document["order"] == ["base", "cron"]
    assert "table" not in document
    assert calls == [PODMAN_IMAGES]


def test_plan_without_json_prints_the_table(monkeypatch, tmp_path):
    code, out, _err, _calls = run(["plan", "--include", "cron", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["#", "image", "parent"]


@pytest.mark.parametrize("argv,code,error", [
    (["plan", "--threads", "0", "--json"], 2, "--threads 0: must be a whole number from 1 to 64"),
    (["plan", "--bogus", "--json"], 2, "unrecognized arguments: --bogus"),
    (["plan", "--include", "nosuchimage", "--json"], 1, None),
    (["export", "--format", "tripleo", "--lock-file", "/nonexistent/images", "--json"], 1,
     "--lock-file /nonexistent/images: no lock file (/nonexistent/images.json or /nonexistent/images.yaml): "
     "publish writes it"),
])
def test_failures_with_json_are_one_error_document(monkeypatch, argv, code, error):
    got, out, err, _calls = run(argv, monkeypatch)
    document = one_document(out)
    assert (got, document["exit_code"]) == (code, code)
    if error:
        assert document["error"] == error
    assert "Traceback" not in err and err.strip()


def test_build_json_sends_plan_progress_and_table_to_stderr(monkeypatch, tmp_path):
    summary = {"images": [{"name": "cron", "status": "built", "seconds": 1.5, "size": 2e6}], "built": ["cron"],
               "counts": {"built": 1}, "seconds": 1.5, "total_size": 2e6}
    events = [{"event": "plan", "images": ["base", "cron"], "threads": 2, "t": 10.0},
              {"event": "finish", "image": "base", "status": "skipped", "seconds": 0.0, "t": 10.1},
              {"event": "start", "image": "cron", "attempt": 1, "t": 10.2},
              {"event": "step", "image": "cron", "step": "package install", "t": 10.4},
              {"event": "finish", "image": "cron", "status": "built", "seconds": 1.5, "t": 11.7}]
    seen = fake_playbook(monkeypatch, str(tmp_path), summary, progress=events)
    code, out, err, _calls = run(["build", "--include", "cron", "--json", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0, err
    assert one_document(out) == summary
    lines = err.splitlines()
    first = lines.index("build: 2 images, 2 at a time")
    assert lines[first:first + 5] == ["build: 2 images, 2 at a time",
                                      "[1/2] skipped  base                        0.0s",
                                      "start    cron",
                                      "step     cron: package install (+0.2s)",
                                      "[2/2] built    cron                        1.5s"]
    assert "plan (debian13):" in err
    assert err.splitlines()[-1] == "built 1; 1.5 s; set size 2.0 MB (shared layers once)"
    assert [argv[1] for argv in seen] == ["containergen.images.build"]


def test_build_without_json_prints_the_plan_first_on_stdout_and_the_summary_table_last(monkeypatch, tmp_path):
    summary = {"images": [{"name": "cron", "status": "built", "seconds": 1.5, "size": 2e6}],
               "counts": {"built": 1}, "seconds": 2.0, "total_size": 2e6}
    fake_playbook(monkeypatch, str(tmp_path), summary, progress=[
        {"event": "plan", "images": ["cron"], "threads": 2, "t": 1.0},
        {"event": "finish", "image": "cron", "status": "built", "seconds": 1.5, "t": 2.5}])
    code, out, err, _calls = run(["build", "--include", "cron", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0, err
    assert out.startswith("plan (debian13):\n")
    assert "[1/1] built    cron" not in out and "[1/1] built    cron" in err
    assert out.splitlines()[-1] == "built 1; 2.0 s; set size 2.0 MB (shared layers once)"
    assert out.splitlines()[-2].split()[:3] == ["cron", "built", "1.5"]


def test_build_failure_with_json_is_the_error_document(monkeypatch, tmp_path):
    fake_playbook(monkeypatch, str(tmp_path), returncode=2, failed={"changed": False, "msg": "cron: step 2 failed"})
    code, out, err, _calls = run(["build", "--include", "cron", "--json", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 1
    assert one_document(out) == {"command": "build", "error": "cron: step 2 failed", "exit_code": 1}
    assert err.splitlines()[-1] == "containergen build: cron: step 2 failed"


def test_build_skip_build_is_the_plan(monkeypatch, tmp_path):
    code, out, _err, _calls = run(["build", "--skip-build", "--include", "cron", "--json", "--work-dir", str(tmp_path)],
                                  monkeypatch)
    assert code == 0
    assert one_document(out)["order"] == ["base", "cron"]


def test_build_into_an_unwritable_work_dir_is_bad_usage(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err, _calls = run(["build", "--json", "--work-dir", str(blocker / "sub")], monkeypatch)
    assert code == 2
    assert one_document(out)["error"].startswith("--work-dir %s: " % (blocker / "sub"))
    assert len(err.splitlines()) == 1


PUBLISHED = {"images": [{"name": "cron", "action": "pushed", "ref": "r:5000/containergen/cron:latest-1",
                         "digest": "sha256:" + "a" * 64}],
             "pushed": ["cron"], "unchanged": [], "bytes_sent": 42, "lock_files": ["/x/images.lock.yaml"]}


def test_publish_into_a_new_work_dir_prints_its_summary(monkeypatch, tmp_path):
    work = tmp_path / "new" / "dir"
    fake_playbook(monkeypatch, str(work), PUBLISHED)
    code, out, err, _calls = run(["publish", "--registry", "r:5000", "--work-dir", str(work)], monkeypatch)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split() == ["cron", "pushed", "r:5000/containergen/cron:latest-1"]
    assert lines[-1] == "pushed 1, unchanged 0, bytes sent 42; lock file /x/images.lock.yaml"


def test_publish_shows_each_push_on_stderr(monkeypatch, tmp_path):
    events = [{"event": "plan", "images": ["cron"], "threads": 1, "t": 5.0},
              {"event": "start", "image": "cron", "attempt": 1, "t": 5.0},
              {"event": "step", "image": "cron", "step": "push", "t": 5.0},
              {"event": "finish", "image": "cron", "status": "pushed", "seconds": 2.5, "error": "", "log": "",
               "container": "", "t": 7.5}]
    seen = fake_playbook(monkeypatch, str(tmp_path), PUBLISHED, progress=events)
    code, out, err, _calls = run(["publish", "--registry", "r:5000", "--json", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0, err
    assert one_document(out) == dict(PUBLISHED, check_mode=False)
    assert err.splitlines() == ["publish: 1 images, 1 at a time", "start    cron", "step     cron: push (+0.0s)",
                                "[1/1] pushed   cron                        2.5s"]
    vars_file = seen[0][seen[0].index("-e") + 1][1:]
    assert not os.path.exists(vars_file)  # the variables file is gone after the run


def test_publish_json_is_its_summary(monkeypatch, tmp_path):
    fake_playbook(monkeypatch, str(tmp_path), PUBLISHED)
    code, out, _err, _calls = run(["publish", "--registry", "r:5000", "--json", "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 0
    assert one_document(out) == dict(PUBLISHED, check_mode=False)


def test_publish_table_in_check_mode_says_would_push():
    table = main.publish_table(dict(PUBLISHED, lock_files=[]), True)
    assert "pushed" not in table.replace("would push", "")
    assert table.splitlines()[1].split()[:3] == ["cron", "would", "push"]


def test_publish_check_with_nothing_built_is_one_error(monkeypatch, tmp_path):
    code, out, _err, calls = run(["publish", "--check", "--json", "--local-namespace", "localhost/cg-cli-none",
                                 "--work-dir", str(tmp_path)], monkeypatch)
    assert code == 1
    assert one_document(out)["error"] == "no containergen image under localhost/cg-cli-none/*:latest to publish"
    assert calls == [PODMAN_IMAGES]


def skopeo(*words):
    return ["skopeo", words[0]] + list(words[1:])


def labels(packages):
    return {_contract.MANIFEST_LABEL: json.dumps(packages)}


def inspect_answer(packages, digest="sha256:" + "b" * 64):
    return 0, json.dumps({"Digest": digest, "Labels": labels(packages)}), ""


def test_report_json_compares_the_two_latest_revisions(monkeypatch):
    repo = "r:5000/containergen/cron"
    answers = [
        (skopeo("list-tags", "docker://" + repo), (0, json.dumps({"Tags": ["latest-1", "latest-2", "latest"]}), "")),
        (skopeo("inspect", "docker://%s:latest-1" % repo), inspect_answer({"cron": "1", "gone": "1"})),
        (skopeo("inspect", "docker://%s:latest-2" % repo), inspect_answer({"cron": "2", "new": "1"})),
    ]
    code, out, err, calls = run(["report", "cron", "--registry", "r:5000", "--json"], monkeypatch, answers)
    assert code == 0, err
    document = one_document(out)
    assert (document["old"], document["new"]) == ("latest-1", "latest-2")
    assert document["added"] == {"new": "1"} and document["removed"] == {"gone": "1"}
    assert document["updated"] == {"cron": ["1", "2"]}
    assert calls == [skopeo("list-tags", "docker://" + repo), skopeo("inspect", "docker://%s:latest-1" % repo),
                     skopeo("inspect", "docker://%s:latest-2" % repo)]
    code, out, _err, _calls = run(["report", "cron", "--registry", "r:5000"], monkeypatch, answers)
    assert out.splitlines() == ["cron: +1 -1 ~1 packages (latest-1 -> latest-2)", "  + new 1", "  - gone 1",
                                "  ~ cron 1 -> 2"]


def test_report_names_the_package_updates_a_revision_was_rebuilt_for(monkeypatch):
    repo = "r:5000/containergen/cron"
    rebuilt = inspect_answer({"cron": "2"})
    document = json.loads(rebuilt[1])
    # a child inherits its parent's refresh label: only the entry of this image counts
    document["Labels"][_contract.REFRESH_LABEL] = json.dumps({"cron": ["cron=2"], "base": ["libc6=9"]})
    answers = [
        (skopeo("inspect", "docker://%s:latest-1" % repo), inspect_answer({"cron": "1"})),
        (skopeo("inspect", "docker://%s:latest-2" % repo), (0, json.dumps(document), "")),
    ]
    argv = ["report", "cron", "--registry", "r:5000", "--old", "latest-1", "--new", "latest-2"]
    code, out, err, _calls = run(argv + ["--json"], monkeypatch, answers)
    assert code == 0, err
    assert one_document(out)["refresh"] == ["cron=2"]
    code, out, _err, _calls = run(argv, monkeypatch, answers)
    assert out.splitlines() == ["cron: +0 -0 ~1 packages (latest-1 -> latest-2)", "  ~ cron 1 -> 2",
                                "  rebuilt for package updates: cron=2"]


@pytest.mark.parametrize("argv,tags,error", [
    (["report", "nosuchimage"], None, "nosuchimage: no such repository r:5000/containergen/nosuchimage in the registry"),
    (["report", "cron", "--new", "latest-1"], ["latest-1"],
     "cron: no revision of latest before latest-1 to compare with: give --old"),
    (["report", "cron", "--old", "latest-1"], ["latest-1"],
     "cron: no revision of latest after latest-1 to compare with: give --new"),
    (["report", "cron"], ["latest-1"],
     "cron: 1 revision of latest in r:5000/containergen/cron, two are needed (or give --old and --new)"),
])
def test_report_errors_are_one_line(monkeypatch, argv, tags, error):
    name = argv[1]
    answer = (1, "", 'time="x" level=fatal msg="Error listing repository tags: fetching tags list: name unknown"') \
        if tags is None else (0, json.dumps({"Tags": tags}), "")
    answers = [(skopeo("list-tags", "docker://r:5000/containergen/" + name), answer)]
    code, out, err, _calls = run(argv + ["--registry", "r:5000", "--json"], monkeypatch, answers)
    assert (code, one_document(out)["error"]) == (1, error)
    assert err == "containergen report: %s\n" % error


def test_report_with_the_registry_down_is_one_line(monkeypatch):
    down = (1, "", 'time="x" level=fatal msg="Error listing repository tags: pinging container registry r:5000: '
                   'dial tcp 127.0.0.1:5000: connect: connection refused"')
    answers = [(skopeo("list-tags", "docker://r:5000/containergen/cron"), down)]
    code, out, err, _calls = run(["report", "cron", "--registry", "r:5000", "--json"], monkeypatch, answers)
    assert code == 1
    assert one_document(out)["error"] == ("skopeo list-tags r:5000/containergen/cron: Error listing repository tags: "
                                          "pinging container registry r:5000: dial tcp 127.0.0.1:5000: connect: "
                                          "connection refused")
    assert len(err.splitlines()) == 1


LOCK = {"images": {"r:5000/containergen/base": "r:5000/containergen/base:latest-1@sha256:" + "1" * 64,
                   "r:5000/containergen/mariadb": "r:5000/containergen/mariadb:latest-2@sha256:" + "2" * 64,
                   "r:5000/containergen/neutron-server": "r:5000/containergen/neutron-server:latest-1@sha256:" + "3" * 64,
                   "r:5000/containergen/glance-api": "r:5000/containergen/glance-api:latest-4@sha256:" + "4" * 64,
                   "r:5000/containergen/nova-base": "r:5000/containergen/nova-base:latest-1@sha256:" + "5" * 64,
                   "r:5000/containergen/os-shared": "r:5000/containergen/os-shared:latest-1@sha256:" + "6" * 64,
                   "r:5000/containergen/base-shared-2": "r:5000/containergen/base-shared-2:latest-1@sha256:" + "7" * 64}}


@pytest.mark.parametrize("fmt,expected", [
    ("tripleo", {"ContainerMysqlImage": "mariadb", "ContainerNeutronApiImage": "neutron-server",
                 "ContainerGlanceApiImage": "glance-api"}),
    ("kolla-ansible", {"mariadb_image_full": "mariadb", "neutron_server_image_full": "neutron-server",
                       "glance_api_image_full": "glance-api"}),
])
def test_export_pins_each_service_image_from_the_lock_file(monkeypatch, tmp_path, fmt, expected):
    (tmp_path / "images.lock.json").write_text(json.dumps(LOCK))
    code, out, err, _calls = run(["export", "--format", fmt, "--lock-file", str(tmp_path / "images.lock"), "--json"],
                                 monkeypatch)
    assert code == 0, err
    document = one_document(out)
    assert document["parameters"] == {key: LOCK["images"]["r:5000/containergen/" + name]
                                      for key, name in expected.items()}
    code, out, _err, _calls = run(["export", "--format", fmt, "--lock-file", str(tmp_path / "images.lock"),
                                  "--output", str(tmp_path / "out.yaml")], monkeypatch)
    import yaml  # pylint: disable=import-outside-toplevel
    data = yaml.safe_load((tmp_path / "out.yaml").read_text())
    assert (data["parameter_defaults"] if fmt == "tripleo" else data) == document["parameters"]
    assert out == "wrote 3 parameters to %s\n" % (tmp_path / "out.yaml")


def test_list_json_names_every_image_with_its_parent_and_status(monkeypatch):
    code, out, err, calls = run(["list", "--json"], monkeypatch)
    assert code == 0, err
    images = {item["name"]: item for item in one_document(out)["images"]}
    assert images["cron"]["parent"] == "base" and images["cron"]["status"] == "build"
    assert images["cron"]["ref"] == "localhost/containergen/cron:latest"
    assert calls == [PODMAN_IMAGES]


def test_render_prints_the_containerfile_and_runs_nothing(monkeypatch):
    code, out, err, calls = run(["render", "cron"], monkeypatch)
    assert code == 0, err
    assert out.splitlines()[0] == "FROM localhost/containergen/base:latest"
    assert "HEALTHCHECK" in out
    code, out, _err, _calls = run(["render", "cron", "--json"], monkeypatch)
    assert one_document(out)["containerfile"].startswith("FROM localhost/containergen/base:latest\n")
    assert calls == []


def test_show_json_is_the_local_image_and_its_packages(monkeypatch):
    listed = json.dumps([{"Id": "f" * 64, "Names": ["localhost/containergen/cron:latest"], "Size": 5000000,
                          "Labels": {_contract.MANIFEST_LABEL: json.dumps({"cron": "3.0"}), "a": "b"}}])
    # layers: the image's and its parent's inspect, podman's store (not on overlay here: sizes unknown)
    inspect = ["podman", "image", "inspect"]
    answers = [(PODMAN_IMAGES, (0, listed, "")),
               (inspect + ["localhost/containergen/cron:latest"], (0, '[{"RootFS": {"Layers": ["sha256:a"]}}]', "")),
               (inspect + ["localhost/containergen/base:latest"], (125, "", "image not known")),
               (["podman", "info"], (0, "/nonexistent vfs", ""))]
    code, out, err, calls = run(["show", "cron", "--json"], monkeypatch, answers)
    assert code == 0, err
    document = one_document(out)
    assert (document["packages"], document["labels"]["a"], document["up_to_date"]) == ({"cron": "3.0"}, "b", False)
    assert document["layers"] == [{"digest": "sha256:a", "size": None, "own": None}]
    assert calls == [PODMAN_IMAGES, answers[1][0], answers[2][0],
                     ["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"]]
    code, out, _err, _calls = run(["show", "cron"], monkeypatch, answers)
    assert out.splitlines()[-2:] == ["packages (1):", "  cron     3.0"]


@pytest.mark.parametrize("argv,error", [
    (["show", "cron"], "cron: no local image localhost/containergen/cron:latest (build it first)"),
    (["render", "nosuchimage"], "nosuchimage: no such image in "),
    (["show", "Bad Name"], "IMAGE 'Bad Name': "),
])
def test_inspection_errors_are_one_error_document(monkeypatch, argv, error):
    code, out, err, _calls = run(argv + ["--json"], monkeypatch)
    assert one_document(out)["error"].startswith(error)
    assert code in (1, 2) and len(err.splitlines()) == 1


def test_build_env_mirror_and_refresh_base_reach_the_role(tmp_path):
    args = main.parser().parse_args(["build", "--mirror", "http://127.0.0.1:3142", "--build-env", "no_proxy=x",
                                     "--refresh-base", "--work-dir", str(tmp_path)])
    variables = core.build_variables(args)
    assert variables["image_build_build_env"] == {"http_proxy": "http://127.0.0.1:3142", "no_proxy": "x"}
    assert variables["image_build_refresh_base"] is True
    plain = core.build_variables(main.parser().parse_args(["build", "--work-dir", str(tmp_path)]))
    assert (plain["image_build_build_env"], plain["image_build_refresh_base"]) == ({}, False)


@pytest.mark.parametrize("argv,error", [
    (["build", "--mirror", "127.0.0.1:3142"], "--mirror 127.0.0.1:3142: must be a proxy URL such as http://127.0.0.1:3142"),
    (["build", "--build-env", "1x=y"], "--build-env 1x=y: "),
    (["build", "--build-env", "novalue"], "--build-env novalue: expected KEY=VALUE"),
])
def test_bad_build_env_and_mirror_are_bad_usage(monkeypatch, argv, error):
    code, out, _err, calls = run(argv + ["--json"], monkeypatch)
    assert code == 2 and one_document(out)["error"].startswith(error)
    assert calls == []


def test_summary_json_file_holds_the_document(monkeypatch, tmp_path):
    summary = {"images": [{"name": "cron", "status": "built", "seconds": 1.5, "size": 2e6}]}
    fake_playbook(monkeypatch, str(tmp_path), summary)
    target = tmp_path / "summary-copy.json"
    code, out, err, _calls = run(["build", "--include", "cron", "--json", "--work-dir", str(tmp_path),
                                 "--summary-json-file", str(target)], monkeypatch)
    assert code == 0, err
    assert json.loads(target.read_text()) == one_document(out) == summary


def test_verbose_passes_ansibles_output_to_stderr(monkeypatch, tmp_path):
    fake_playbook(monkeypatch, str(tmp_path), PUBLISHED, output="PLAY [Publish container images]\n")
    code, out, err, _calls = run(["publish", "-v", "--registry", "r:5000", "--json", "--work-dir", str(tmp_path)],
                                 monkeypatch)
    assert code == 0
    assert "PLAY [Publish container images]" in err and "PLAY" not in out
    one_document(out)
