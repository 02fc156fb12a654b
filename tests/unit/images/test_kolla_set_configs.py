# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kolla_set_configs of the base image (vars/images/base/files/bin), run on this host against a
scratch directory: config.json sources and destinations lie under tmp_path, and the contract's own
files (/run_command, /configured) under KOLLA_SET_CONFIGS_TEST_ROOT. Needs root (chown) and jq."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = REPO / "vars" / "images" / "base" / "files" / "bin" / "kolla_set_configs"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="kolla_set_configs changes owners: needs root"),
    pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (scripts/setup.sh installs it)"),
]


class Scratch:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.src = root / "config_files"
        self.src.mkdir()
        self.config = self.src / "config.json"

    def write(self, name: str, text: str, mode: int = 0o644) -> pathlib.Path:
        path = self.src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def configure(self, document) -> None:
        self.config.write_text(document if isinstance(document, str) else json.dumps(document))

    def run(self, *args: str, strategy: str | None = "COPY_ALWAYS", env: dict | None = None):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("KOLLA_", "SUDO_"))}
        environ.update({"KOLLA_SET_CONFIGS_TEST_ROOT": str(self.root), "KOLLA_CONFIG_FILE": str(self.config)})
        if strategy:
            environ["KOLLA_CONFIG_STRATEGY"] = strategy
        environ.update(env or {})
        return subprocess.run([str(SCRIPT)] + list(args), env=environ, capture_output=True, text=True,
                              timeout=60, check=False)

    def dest(self, relative: str) -> pathlib.Path:
        return self.root / "etc" / relative


@pytest.fixture
def scratch(tmp_path):
    return Scratch(tmp_path)


def owner_mode(path: pathlib.Path):
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def one_error(proc) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_copies_with_owner_and_mode_and_writes_the_command(scratch):
    scratch.write("nova.conf", "[DEFAULT]\npassword = s3cret\n", 0o644)
    scratch.configure({"command": "nova-api --config-file /etc/nova/nova.conf", "config_files": [
        {"source": str(scratch.src / "nova.conf"), "dest": str(scratch.dest("nova/nova.conf")),
         "owner": "daemon", "perm": "0600"}]})
    proc = scratch.run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    dest = scratch.dest("nova/nova.conf")
    assert dest.read_text() == "[DEFAULT]\npassword = s3cret\n"
    assert owner_mode(dest) == (1, 1, 0o600)
    run_command = scratch.root / "run_command"
    assert run_command.read_text() == "nova-api --config-file /etc/nova/nova.conf"
    assert owner_mode(run_command) == (0, 0, 0o644)
    assert not (scratch.root / "configured").exists()


def test_owner_with_group_and_python_octal_perm(scratch):
    scratch.write("a.conf", "a")
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "a.conf"), "dest": str(scratch.dest("a.conf")),
         "owner": "daemon:nogroup", "perm": "0o640"}]})
    assert scratch.run().returncode == 0
    assert owner_mode(scratch.dest("a.conf")) == (1, 65534, 0o640)


def test_glob_source_into_a_directory_dest(scratch):
    for name in ("a.conf", "b.conf", "c.txt"):
        scratch.write("policy/" + name, name)
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "policy" / "*.conf"), "dest": str(scratch.dest("svc")) + "/",
         "owner": "nobody", "perm": "0640"}]})
    # "nobody" has no group of that name: the group defaults to the user's name, as kolla's does
    proc = scratch.run()
    assert one_error(proc) == "kolla_set_configs: %s: config_files[0].owner: unknown group nobody" % scratch.config
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "policy" / "*.conf"), "dest": str(scratch.dest("svc")) + "/",
         "owner": "nobody:nogroup", "perm": "0640"}]})
    assert scratch.run().returncode == 0
    assert sorted(p.name for p in scratch.dest("svc").iterdir()) == ["a.conf", "b.conf"]
    assert owner_mode(scratch.dest("svc/a.conf")) == (65534, 65534, 0o640)


def test_optional_missing_source_is_skipped(scratch):
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "absent.conf"), "dest": str(scratch.dest("x.conf")),
         "owner": "daemon", "perm": "0600", "optional": True},
        {"source": str(scratch.src / "none-*.conf"), "dest": str(scratch.dest("y")) + "/",
         "owner": "daemon", "perm": "0600", "optional": True}]})
    proc = scratch.run()
    assert proc.returncode == 0, proc.stderr
    assert not scratch.dest("x.conf").exists() and not scratch.dest("y").exists()
    assert "absent.conf does not exist, optional: skipped" in proc.stdout


def test_missing_required_source_fails_before_anything_changes(scratch):
    scratch.write("a.conf", "a")
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "a.conf"), "dest": str(scratch.dest("a.conf")), "owner": "daemon", "perm": "0600"},
        {"source": str(scratch.src / "missing.conf"), "dest": str(scratch.dest("m.conf")),
         "owner": "daemon", "perm": "0600"}]})
    error = one_error(scratch.run())
    assert error == "kolla_set_configs: %s: config_files[1].source: %s not found" % (
        scratch.config, scratch.src / "missing.conf")
    assert not scratch.dest("a.conf").exists()
    assert not (scratch.root / "run_command").exists()


def test_directory_source_replaces_dest_unless_merge(scratch):
    scratch.write("conf.d/new.conf", "new")
    target = scratch.dest("svc/conf.d")
    target.mkdir(parents=True)
    (target / "old.conf").write_text("old")
    entry = {"source": str(scratch.src / "conf.d"), "dest": str(target), "owner": "daemon", "perm": "0640",
             "merge": True}
    scratch.configure({"command": "true", "config_files": [entry]})
    assert scratch.run().returncode == 0
    assert sorted(p.name for p in target.iterdir()) == ["new.conf", "old.conf"]
    # directories get x wherever they get r
    assert owner_mode(target) == (1, 1, 0o750)
    assert owner_mode(target / "new.conf") == (1, 1, 0o640)
    entry["merge"] = False
    scratch.configure({"command": "true", "config_files": [entry]})
    assert scratch.run().returncode == 0
    assert sorted(p.name for p in target.iterdir()) == ["new.conf"]


def test_preserve_properties_keeps_source_owner_and_mode(scratch):
    source = scratch.write("keys/key.pem", "k", 0o440)
    os.chown(source, 1, 65534)
    scratch.configure({"command": "true", "config_files": [
        {"source": str(source), "dest": str(scratch.dest("key.pem")), "preserve_properties": True}]})
    assert scratch.run().returncode == 0
    assert owner_mode(scratch.dest("key.pem")) == (1, 65534, 0o440)


def test_tripleo_style_merge_of_a_whole_tree_with_preserved_properties(scratch):
    """TripleO's config.json: {"source": ".../src/*", "dest": "/", "merge": true, "preserve_properties": true}."""
    src = scratch.src / "src"
    conf = scratch.write("src/etc/svc/svc.conf", "x", 0o640)
    os.chown(conf, 1, 1)
    (src / "etc" / "svc" / "current").symlink_to("svc.conf")
    existing = scratch.root / "etc" / "svc"
    existing.mkdir(parents=True)
    (existing / "from-image.conf").write_text("kept")
    scratch.configure({"command": "svc", "config_files": [
        {"source": str(src) + "/*", "dest": str(scratch.root) + "/", "merge": True, "preserve_properties": True}]})
    proc = scratch.run()
    assert proc.returncode == 0, proc.stderr
    assert (existing / "from-image.conf").read_text() == "kept"
    assert owner_mode(existing / "svc.conf") == (1, 1, 0o640)
    assert os.readlink(existing / "current") == "svc.conf"


def test_permissions_recurse_with_exclude(scratch):
    logs = scratch.root / "var" / "log" / "svc"
    (logs / "keep").mkdir(parents=True)
    (logs / "a.log").write_text("")
    (logs / "keep" / "b.log").write_text("")
    scratch.configure({"command": "true", "permissions": [
        {"path": str(logs), "owner": "daemon:daemon", "perm": "0640", "recurse": True, "exclude": ["/keep"]}]})
    assert scratch.run().returncode == 0
    assert owner_mode(logs) == (1, 1, 0o750)
    assert owner_mode(logs / "a.log") == (1, 1, 0o640)
    assert owner_mode(logs / "keep")[:2] == (0, 0)
    assert owner_mode(logs / "keep" / "b.log")[:2] == (0, 0)
    scratch.configure({"command": "true", "permissions": [
        {"path": str(logs), "owner": "nobody:nogroup", "recurse": True}]})
    assert scratch.run().returncode == 0
    assert owner_mode(logs / "keep" / "b.log")[:2] == (65534, 65534)
    assert owner_mode(logs / "a.log") == (65534, 65534, 0o640)  # no perm: modes stay


def test_directories_and_files_are_created(scratch):
    (scratch.root / "run").mkdir()
    (scratch.root / "run").chmod(0o2775)  # a setgid parent (as /var/log/kolla): the explicit mode wins
    scratch.configure({"command": "true",
                       "directories": [{"path": str(scratch.root / "run" / "svc"), "owner": "daemon", "perm": "0750"}],
                       "files": [{"path": str(scratch.root / "run" / "svc" / "pid"), "owner": "daemon", "perm": "0600"}]})
    assert scratch.run().returncode == 0
    assert owner_mode(scratch.root / "run" / "svc") == (1, 1, 0o750)
    assert owner_mode(scratch.root / "run" / "svc" / "pid") == (1, 1, 0o600)


def test_file_without_parent_directory_is_an_error(scratch):
    path = scratch.root / "nowhere" / "pid"
    scratch.configure({"command": "true", "files": [{"path": str(path), "owner": "daemon", "perm": "0600"}]})
    assert one_error(scratch.run()) == (
        "kolla_set_configs: %s: files[0].path: parent directory of %s does not exist" % (scratch.config, path))


def test_image_files_come_back_when_config_json_drops_them(scratch):
    """kolla 23's /etc/kolla/defaults: the image's file is kept before it is overwritten, and put
    back (or a file the config added is removed) once config.json no longer names it."""
    image_file = scratch.dest("svc/svc.conf")
    image_file.parent.mkdir(parents=True)
    image_file.write_text("from the image")
    scratch.write("svc.conf", "from the config")
    scratch.write("extra.conf", "extra")
    both = {"command": "svc", "config_files": [
        {"source": str(scratch.src / "svc.conf"), "dest": str(image_file), "owner": "daemon", "perm": "0600"},
        {"source": str(scratch.src / "extra.conf"), "dest": str(image_file.parent) + "/", "owner": "daemon",
         "perm": "0600"}]}
    scratch.configure(both)
    assert scratch.run().returncode == 0
    assert image_file.read_text() == "from the config"
    assert (image_file.parent / "extra.conf").exists()
    state = json.loads((scratch.root / "etc/kolla/defaults/state").read_text())
    backup = str(scratch.root / "etc/kolla/defaults") + str(image_file)
    assert state == {
        str(image_file): {"source": str(image_file), "preserve_properties": True, "dest": backup},
        str(image_file.parent / "extra.conf"): {"source": str(image_file.parent / "extra.conf"),
                                                "preserve_properties": True, "dest": None}}
    assert scratch.run().returncode == 0  # a second start: restore, then copy again
    assert image_file.read_text() == "from the config"
    scratch.configure({"command": "svc"})
    proc = scratch.run("--check", strategy=None)
    assert "tracks files no longer in config_files" in one_error(proc)
    assert str(image_file) in proc.stderr
    assert scratch.run().returncode == 0
    assert image_file.read_text() == "from the image"
    assert not (image_file.parent / "extra.conf").exists()


def test_copy_once_keeps_the_first_config(scratch):
    source = scratch.write("svc.conf", "first")
    scratch.configure({"command": "svc --one", "config_files": [
        {"source": str(source), "dest": str(scratch.dest("svc.conf")), "owner": "daemon", "perm": "0600"}]})
    assert scratch.run(strategy="COPY_ONCE").returncode == 0
    assert (scratch.root / "configured").exists()
    source.write_text("second")
    scratch.configure({"command": "svc --two", "config_files": [
        {"source": str(source), "dest": str(scratch.dest("svc.conf")), "owner": "daemon", "perm": "0600"}]})
    proc = scratch.run(strategy="COPY_ONCE")
    assert proc.returncode == 0, proc.stderr
    assert "already configured" in proc.stdout
    assert scratch.dest("svc.conf").read_text() == "first"
    assert (scratch.root / "run_command").read_text() == "svc --one"
    # COPY_ALWAYS copies at every start
    assert scratch.run(strategy="COPY_ALWAYS").returncode == 0
    assert scratch.dest("svc.conf").read_text() == "second"
    assert (scratch.root / "run_command").read_text() == "svc --two"


def test_check_compares_command_content_mode_and_owner(scratch):
    source = scratch.write("svc.conf", "one")
    scratch.write("d/x.conf", "x")
    document = {"command": "svc", "config_files": [
        {"source": str(source), "dest": str(scratch.dest("svc.conf")), "owner": "daemon", "perm": "0600"},
        {"source": str(scratch.src / "d"), "dest": str(scratch.dest("d")), "owner": "daemon", "perm": "600"}]}
    scratch.configure(document)
    assert scratch.run().returncode == 0
    proc = scratch.run("--check", strategy=None)
    assert proc.returncode == 0, proc.stderr
    scratch.dest("svc.conf").chmod(0o644)
    assert "%s is \"644 daemon daemon\", expected \"600 daemon daemon\"" % scratch.dest("svc.conf") in one_error(
        scratch.run("--check", strategy=None))
    scratch.dest("svc.conf").chmod(0o600)
    source.write_text("two")
    assert one_error(scratch.run("--check", strategy=None)).endswith(
        "config files in a bad state: %s content differs" % scratch.dest("svc.conf"))
    source.write_text("one")
    (scratch.dest("d") / "x.conf").unlink()
    assert one_error(scratch.run("--check", strategy=None)).endswith("%s missing" % (scratch.dest("d") / "x.conf"))
    assert scratch.run().returncode == 0
    document["command"] = "svc --other"
    scratch.configure(document)
    assert "command differs from the running one: 'svc --other' != 'svc'" in one_error(
        scratch.run("--check", strategy=None))


@pytest.mark.parametrize("document, expected", [
    ('{"command": "x",', "invalid JSON: "),
    ("", "holds 0 JSON documents, expected one object"),
    ('{"command": "a"} {"command": "b"}', "holds 2 JSON documents, expected one object"),
    ('["command"]', "holds a JSON array, expected an object"),
    ({"config_files": []}, "command: missing (the command kolla_start runs)"),
    ({"command": ""}, "command: must be a non-empty string"),
    ({"command": "x", "config_files": {}}, "config_files: must be a list"),
    ({"command": "x", "config_files": [{"dest": "/a", "owner": "daemon", "perm": "0600"}]},
     "config_files[0].source: missing or not a string"),
    ({"command": "x", "config_files": [{"source": "/a", "owner": "daemon", "perm": "0600"}]},
     "config_files[0].dest: missing or not a string"),
    ({"command": "x", "config_files": [{"source": "/a", "dest": "/b", "perm": "0600"}]},
     "config_files[0].owner: missing (give owner and perm, or preserve_properties)"),
    ({"command": "x", "config_files": [{"source": "/a", "dest": "/b", "owner": "daemon", "perm": "rw-r-----"}]},
     'config_files[0].perm: "rw-r-----" is not an octal mode such as "0640"'),
    ({"command": "x", "config_files": [{"source": "/a", "dest": "/b", "owner": "daemon", "perm": 600}]},
     'config_files[0].perm: 600 is not an octal mode such as "0640"'),
    ({"command": "x", "config_files": [{"source": "/a", "dest": "/b", "owner": "daemon", "perm": "0600",
                                        "optional": "yes"}]}, "config_files[0].optional: must be true or false"),
    ({"command": "x", "config_files": [{"source": "/a", "dest": "/b", "owner": "daemon", "perm": "0600",
                                        "mode": "0600"}]}, 'config_files[0]: unknown key "mode"'),
    ({"command": "x", "permissions": [{"path": "/a", "perm": "0600"}]}, "permissions[0].owner: missing"),
    ({"command": "x", "permissions": [{"path": "/a", "owner": "daemon", "exclude": "x"}]},
     "permissions[0].exclude: must be a list of regular expressions"),
    ({"command": "x", "directories": [{"path": "/a/*", "owner": "daemon", "perm": "0700"}]},
     "directories[0].path: /a/* is a pattern; directories takes plain paths"),
    ({"command": "x", "files": [{"path": "/a", "owner": "daemon"}]}, "files[0].perm: missing"),
])
def test_bad_config_is_one_line_and_exit_1(scratch, document, expected):
    scratch.configure(document)
    error = one_error(scratch.run())
    assert error.startswith("kolla_set_configs: %s: " % scratch.config)
    assert expected in error
    assert not (scratch.root / "run_command").exists()


def test_unknown_owner_fails_before_anything_changes(scratch):
    scratch.write("a.conf", "a")
    scratch.configure({"command": "true", "config_files": [
        {"source": str(scratch.src / "a.conf"), "dest": str(scratch.dest("a.conf")), "owner": "daemon", "perm": "0600"}],
        "permissions": [{"path": str(scratch.root), "owner": "no-such-user-cg"}]})
    assert one_error(scratch.run()) == "kolla_set_configs: %s: permissions[0].owner: unknown user no-such-user-cg" % (
        scratch.config)
    assert not scratch.dest("a.conf").exists()


def test_missing_config_and_bad_strategy(scratch):
    assert "config file not found" in one_error(scratch.run())
    scratch.configure({"command": "true"})
    assert one_error(scratch.run(strategy=None)) == (
        "kolla_set_configs: KOLLA_CONFIG_STRATEGY=: must be COPY_ALWAYS or COPY_ONCE")
    assert "KOLLA_CONFIG_STRATEGY=COPY_SOMETIMES" in one_error(scratch.run(strategy="COPY_SOMETIMES"))
    assert not (scratch.root / "run_command").exists()


def test_through_sudo_the_config_must_come_from_the_deployers_mount(scratch):
    """A service user runs it with sudo -E: its environment must not choose what root copies."""
    scratch.configure({"command": "true"})
    error = one_error(scratch.run(env={"SUDO_UID": "42436"}))
    assert error == ("kolla_set_configs: KOLLA_CONFIG_FILE=%s: must lie under /var/lib/kolla/config_files "
                     "when run through sudo" % scratch.config)
    assert not (scratch.root / "run_command").exists()
