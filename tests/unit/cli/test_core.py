# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option mapping and the playbook runner of the command line (subprocess stubbed)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys

import ansible_runner
import pytest

from containergen_cli import core


def parse(*argv):
    parser = argparse.ArgumentParser()
    core.add_build_arguments(parser)
    return parser.parse_args(list(argv))


def test_tripleoclient_flags_map_to_role_variables(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("tcib_labels: {a: b}\n")
    args = parse("--distro", "centos", "--release", "9", "--exclude", "nova-base", "--include", "key.*",
                 "--extra-config", str(extra), "--tcib-extras", "tcib_python_version=3.9", "--label", "x=y=z",
                 "--namespace", "ns", "--prefix", "openstack-", "--tag", "zed", "--volume", "/a:/b:ro",
                 "--repo-dir", str(tmp_path), "--build-timeout", "60", "--base", "localhost/my/base:1")
    variables = core.build_variables(args)
    assert variables["image_build_profile"] == "centos9"
    assert variables["image_build_include"] == ["key.*"]
    assert variables["image_build_exclude"] == ["nova-base"]
    assert variables["image_build_extra_config"] == str(extra)
    assert variables["image_build_template_vars"] == {"tcib_python_version": "3.9"}
    assert variables["image_build_labels"] == {"x": "y=z"}
    assert variables["image_build_namespace"] == "localhost/ns"
    assert variables["image_build_prefix"] == "openstack-"
    assert variables["image_build_tag"] == "zed"
    assert variables["image_build_volumes"] == ["/a:/b:ro", "%s:/etc/yum.repos.d:ro" % tmp_path]
    assert variables["image_build_timeout"] == 60
    assert variables["image_build_base_image"] == "localhost/my/base:1"


def test_engine_flags_reach_build_and_publish():
    args = parse("--engine", "docker", "--docker-host", "unix:///run/other.sock", "--push")
    variables = core.build_variables(args)
    assert (variables["image_build_engine"], variables["image_build_docker_host"]) == ("docker", "unix:///run/other.sock")
    published = core.publish_variables(args)
    assert (published["publish_engine"], published["publish_docker_host"]) == ("docker", "unix:///run/other.sock")
    assert core.build_variables(parse())["image_build_engine"] == "buildah"
    publish_parser = argparse.ArgumentParser()
    core.add_publish_arguments(publish_parser)
    assert core.publish_variables(publish_parser.parse_args(["--engine", "docker"]))["publish_engine"] == "docker"
    with pytest.raises(SystemExit):
        parse("--engine", "podman")


def test_default_profile_is_debian13_and_debian12_stays_selectable():
    assert core.build_variables(parse())["image_build_profile"] == "debian13"
    assert core.build_variables(parse("--distro", "debian", "--release", "13"))["image_build_profile"] == "debian13"
    assert core.build_variables(parse("--distro", "debian", "--release", "12"))["image_build_profile"] == "debian12"


def test_unknown_distro_and_bad_key_value_are_one_line_errors():
    with pytest.raises(core.CLIError, match="--distro arch --release 1: no profile"):
        core.build_variables(parse("--distro", "arch", "--release", "1"))
    with pytest.raises(core.CLIError, match="--label 'novalue': expected KEY=VALUE"):
        core.build_variables(parse("--label", "novalue"))


def test_config_file_names_become_includes(tmp_path):
    config = tmp_path / "tripleo_containers.yaml"
    config.write_text("container_images:\n  - imagename: quay.io/tripleomaster/openstack-nova-api:current\n"
                      "  - imagename: localhost/openstack-keystone:latest\n")
    variables = core.build_variables(parse("--config-file", str(config)))
    assert variables["image_build_include"] == ["nova-api", "keystone"]


def test_playbook_variables_travel_in_a_0600_file_never_on_argv(monkeypatch):
    seen = {}

    class Runner(object):
        """ansible-runner's Runner: what it would start (the launcher, then ansible-playbook's argv)."""

        def __init__(self, config, event_handler=None, **kwargs):
            self.config, self.rc = config, None

        def run(self):
            argv = list(self.config.command)
            vars_file = argv[argv.index("-e") + 1][1:]
            seen["argv"] = argv
            seen["mode"] = stat.S_IMODE(os.stat(vars_file).st_mode)
            with open(vars_file, encoding="utf-8") as handle:
                seen["vars"] = json.load(handle)
            seen["path"] = vars_file
            seen["cwd"] = self.config.cwd
            self.rc = 0

    monkeypatch.setattr(ansible_runner, "Runner", Runner)
    core.run_playbook("publish", {"publish_registry": "r:5000", "registry_users": [{"name": "u", "password": "S3cr3t"}]})
    assert seen["mode"] == 0o600
    assert seen["vars"]["registry_users"][0]["password"] == "S3cr3t"
    assert not any("S3cr3t" in word for word in seen["argv"])
    assert seen["argv"] == [sys.executable, "-c", core.LAUNCHER, core.ansible_playbook(), "containergen.images.publish",
                            "-e", "@" + seen["path"]]
    assert not os.path.exists(seen["path"])
    assert seen["cwd"] == os.getcwd()  # the command's directory: an ansible.cfg there applies


def failed_task(result, task="Build the images"):
    """ansible-runner's event of a failed task."""
    return {"event": "runner_on_failed", "event_data": {"task": task, "res": result, "ignore_errors": None}}


def test_failure_line_is_the_module_message():
    result = {"changed": False, "msg": "invalid image definitions:\n/a/b.yaml: image 'b': key 'tcib_usr': unknown key",
              "problems": ["/a/b.yaml: image 'b': key 'tcib_usr': unknown key"]}
    assert core.failure_line([failed_task(result)]) == \
        "invalid image definitions: /a/b.yaml: image 'b': key 'tcib_usr': unknown key"
    assert core.failure_line([failed_task({"msg": "registry r:5000:\n  unreachable"})]) == "registry r:5000: unreachable"
    assert core.failure_line([failed_task({})]) == "task 'Build the images' failed"


def test_failure_line_names_each_failed_image_its_error_and_log():
    result = {"msg": "1 image(s) failed: cron (working container kept: containergen-failed-cron-0a1b2c3d), mid",
              "images": [{"name": "base", "status": "built"},
                         {"name": "cron", "status": "failed", "error": "buildah run ...\nexit status 100",
                          "log": "/w/logs/cron.log"},
                         {"name": "mid", "status": "blocked", "error": "parent cron failed"}]}
    assert core.failure_line([failed_task(result)]) == (
        "1 image(s) failed: cron (working container kept: containergen-failed-cron-0a1b2c3d), mid; "
        "cron: buildah run ... exit status 100 (log: /w/logs/cron.log)")


def test_failure_line_without_a_failed_task_is_ansibles_error():
    output = "[WARNING]: something\n[ERROR]: the playbook could not be found\nmore context\n"
    assert core.failure_line([], output) == "the playbook could not be found"
    assert core.failure_line([], "ERROR! no such collection\n") == "no such collection"
    assert core.failure_line([], "last words\n\n") == "last words"
    assert core.failure_line([], "") == "ansible-playbook failed"


# ---- the collection and its profiles, found as Ansible finds them --------------------------------

def fake_collection(tmp_path, profiles):
    """A collections root holding containergen.images with these profiles (name: (family, distro, release))."""
    root = tmp_path / "collections"
    directory = root / "ansible_collections" / "containergen" / "images"
    (directory / "plugins" / "module_utils").mkdir(parents=True)
    (directory / "vars" / "profiles").mkdir(parents=True)
    for name, (family, distro, release) in profiles.items():
        (directory / "vars" / "profiles" / (name + ".yml")).write_text(
            "name: %s\nfamily: %s\ndistro: %s\nrelease: '%s'\n" % (name, family, distro, release))
    return str(root)


def test_profiles_and_families_come_from_the_profile_files(tmp_path, monkeypatch):
    root = fake_collection(tmp_path, {"alma9": ("redhat", "almalinux", "9"), "deb13": ("debian", "debian", "13")})
    monkeypatch.setattr(core, "collection_root", lambda: root)
    alma = core.build_variables(parse("--distro", "AlmaLinux", "--release", "9", "--repo-dir", str(tmp_path)))
    assert alma["image_build_profile"] == "alma9"
    assert alma["image_build_volumes"] == ["%s:/etc/yum.repos.d:ro" % tmp_path]
    debian = core.build_variables(parse("--profile", "deb13", "--repo-dir", str(tmp_path)))
    assert debian["image_build_volumes"] == ["%s:/etc/apt/sources.list.d:ro" % tmp_path]
    with pytest.raises(core.CLIError, match=r"^--distro debian --release 12: no profile \(known: almalinux 9, debian 13\)"):
        core.build_variables(parse("--distro", "debian", "--release", "12"))
    assert core._profile_name("debian13") == "unknown profile (known: alma9, deb13)"


def test_a_profile_of_an_unknown_family_cannot_take_a_repo_dir(tmp_path, monkeypatch):
    root = fake_collection(tmp_path, {"arch1": ("arch", "arch", "1")})
    monkeypatch.setattr(core, "collection_root", lambda: root)
    with pytest.raises(core.CLIError, match=r"^--repo-dir: profile arch1 has family 'arch', not one of debian, redhat"):
        core.build_variables(parse("--profile", "arch1", "--repo-dir", str(tmp_path)))


def test_ubi_names_the_rhel_profile_as_before():
    assert core.build_variables(parse("--distro", "ubi", "--release", "8"))["image_build_profile"] == "ubi8"
    assert core.build_variables(parse("--distro", "rhel", "--release", "8"))["image_build_profile"] == "ubi8"


def test_collection_found_on_ansible_paths_first(tmp_path, monkeypatch):
    root = fake_collection(tmp_path, {})
    monkeypatch.setattr(core, "ansible_collections_paths", lambda: [str(tmp_path / "none"), root])
    monkeypatch.setattr(core.sys, "path", list(core.sys.path))
    assert core.collection_root() == root
    assert core.sys.path[0] == root
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/somewhere")
    assert core.environment()["ANSIBLE_COLLECTIONS_PATH"] == "/somewhere"  # the playbook finds it the same way


def test_collection_found_only_on_python_path_is_given_to_the_playbook(tmp_path, monkeypatch):
    root = fake_collection(tmp_path, {})
    monkeypatch.setattr(core, "ansible_collections_paths", lambda: [str(tmp_path / "none")])
    monkeypatch.setattr(core.sys, "path", [root] + list(core.sys.path))
    assert core.environment()["ANSIBLE_COLLECTIONS_PATH"] == os.pathsep.join([root, str(tmp_path / "none")])


def test_missing_collection_is_one_line(tmp_path, monkeypatch, capsys):
    from containergen_cli import main  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(core, "collections_paths", lambda: [str(tmp_path)])
    monkeypatch.setattr(core, "ansible_collections_paths", lambda: [str(tmp_path)])
    with pytest.raises(core.CLIError, match=r"^collection containergen.images not found in Ansible's collections "
                                            r"paths \(%s\) nor Python's path" % tmp_path):
        core.collection_root()
    assert main.main(["plan"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("containergen: collection containergen.images not found") and err.count("\n") == 1


def test_several_definition_problems_one_a_line():
    assert core.definition_problems(["a.yaml: x"]) == "invalid image definitions: a.yaml: x"
    assert core.definition_problems(["a.yaml: x", "b.yaml: y"]) == \
        "invalid image definitions (2 problems):\na.yaml: x\nb.yaml: y"
    result = {"msg": "invalid image definitions:\n/a.yaml: x\n/b.yaml: y", "problems": ["/a.yaml: x", "/b.yaml: y"]}
    assert core.failure_line([failed_task(result)]) == "invalid image definitions (2 problems):\n/a.yaml: x\n/b.yaml: y"
