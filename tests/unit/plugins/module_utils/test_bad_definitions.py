# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bad-definitions corpus: every case is refused at plan time with one line per problem that
names the file, the image and the key, reads nothing outside the tree, and finishes fast."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import yaml
from fakes import FakeRun  # pylint: disable=import-error

from ansible_collections.containergen.images.plugins.module_utils import _plan, _validate
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import Runner
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    DefinitionError, ImageDefinition, load_definitions, resolve_packages,
)

DEBIAN = {
    "name": "testdeb", "family": "debian", "distro": "debian", "release": "12",
    "base": {"method": "pull", "image": "example.org/base:12"},
    "package_manager": {"install": "apt-get install -y {{ packages }}", "cleanup": "apt-get clean",
                        "manifest": ["dpkg-query", "-W"]},
}
REDHAT = dict(DEBIAN, name="testrpm", family="redhat", distro="centos", release="9",
              package_manager={"install": "dnf -y install {{ packages }}", "manifest": ["rpm", "-qa"]})

# A file outside every tree, with content that must never appear in any output.
CANARY = "canary-%s" % uuid.uuid4().hex


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    path = tmp_path_factory.mktemp("outside") / "secret.yml"
    path.write_text(CANARY + "\n", encoding="utf-8")
    path.chmod(0o644)
    return str(path)


LINK = "->"  # a file whose content is LINK + target is made a symlink to target


def make_tree(root, files, canary):
    for relpath, content in files.items():
        path = os.path.join(str(root), relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, str) and content.startswith(LINK):
            os.symlink(content[len(LINK):].replace("CANARY", canary), path)
        elif isinstance(content, str):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content.replace("CANARY", canary))
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(yaml.safe_dump(content).replace("CANARY", canary))


def plan(root, profile=None, **kwargs):
    images = load_definitions(str(root))
    return _plan.make_plan(images, profile or DEBIAN, **kwargs)


def base(data):
    return {"base/base.yaml": data}


OK = {"tcib_cmd": "true"}

# (case id, files, where the problem is reported: file (relative), image, key or None, a word of the reason)
CASES = [
    # ---- reading outside the tree ------------------------------------------------------------
    ("copy-etc-shadow", base({"tcib_actions": [{"copy": "/etc/shadow /y"}]}),
     ("base/base.yaml", "base", "tcib_actions", "outside the definitions tree")),
    ("copy-dotdot-escape", base({"tcib_actions": [{"copy": "../../../../../../../../../../etc/shadow /y"}]}),
     ("base/base.yaml", "base", "tcib_actions", "outside the definitions tree")),
    ("copy-absolute-canary", base({"tcib_actions": [{"copy": "CANARY /leak.yml"}]}),
     ("base/base.yaml", "base", "tcib_actions", "outside the definitions tree")),
    ("copy-root", base({"tcib_actions": [{"copy": "/ /hostroot"}]}),
     ("base/base.yaml", "base", "tcib_actions", "outside the definitions tree")),
    ("add-absolute", base({"tcib_actions": [{"add": ["CANARY", "/x"]}]}),
     ("base/base.yaml", "base", "tcib_actions", "outside the definitions tree")),
    ("tcib-copies-escape", base({"tcib_copies": ["../../x /x"]}),
     ("base/base.yaml", "base", "tcib_copies", "outside the definitions tree")),
    ("tcib-adds-absolute", base({"tcib_adds": ["CANARY /x"]}),
     ("base/base.yaml", "base", "tcib_adds", "outside the definitions tree")),
    ("gather-files-outside", base({"tcib_gather_files": ["CANARY"]}),
     ("base/base.yaml", "base", "tcib_gather_files", "outside the definitions tree")),
    ("add-url", base({"tcib_actions": [{"add": "https://example.com/x.tar /x"}]}),
     ("base/base.yaml", "base", "tcib_actions", "URLs are not allowed")),
    ("copy-symlink-file-outside", dict(base({"tcib_copies": ["leak.yml /x"]}), **{"base/leak.yml": LINK + "CANARY"}),
     ("base/leak.yml", None, None, "leaves the definitions tree")),
    ("copy-dir-with-symlink-outside", dict(base({"tcib_copies": ["conf /etc/conf"]}), **{
        "base/conf/a.conf": "a=1\n", "base/conf/sub/leak": LINK + "CANARY"}),
     ("base/conf/sub/leak", None, None, "leaves the definitions tree")),
    ("symlink-dir-to-root", dict(base(OK), **{"base/svc/svc.yaml": OK, "base/svc/root": LINK + "/"}),
     ("base/svc/root", None, None, "leaves the definitions tree")),
    ("symlink-dir-to-parent-outside", dict(base(OK), **{"base/up": LINK + "../.."}),
     ("base/up", None, None, "leaves the definitions tree")),
    ("symlink-loop-file", dict(base(OK), **{"base/loop": LINK + "loop"}),
     ("base/loop", None, None, "symlink loop")),
    ("symlink-loop-pair", dict(base(OK), **{"base/a": LINK + "b", "base/b": LINK + "a"}),
     ("base/a", None, None, "symlink loop")),
    ("symlink-dir-loop-in-tree", dict(base(OK), **{"base/svc/svc.yaml": OK, "base/svc/again": LINK + ".."}),
     ("base/svc/again", None, None, "symlink loop")),
    ("symlink-dir-loop-in-files", dict(base(OK), **{"base/files/self": LINK + "."}),
     ("base/files/self", None, None, "symlink loop")),
    ("symlink-second-path-to-image", dict(base(OK), **{"base/svc/svc.yaml": OK, "base/other/alias": LINK + "../svc"}),
     ("base/other/alias", None, None, "defined twice")),
    ("yaml-symlink-outside", {"base/base.yaml": LINK + "CANARY"},
     ("base/base.yaml", None, None, "leaves the definitions tree")),
    ("copy-fifo", dict(base({"tcib_copies": ["fifo /x"]}), **{"base/fifo": "FIFO"}),
     ("base/base.yaml", "base", "tcib_copies", "not a regular file")),
    ("copy-missing", base({"tcib_copies": ["nothere.txt /x"]}),
     ("base/base.yaml", "base", "tcib_copies", "does not exist")),
    ("copy-no-destination", base({"tcib_copies": ["only"]}),
     ("base/base.yaml", "base", "tcib_copies", "at least one source")),
    ("copy-unknown-option", dict(base({"tcib_copies": ["--from=other f /f"]}), **{"base/f": "x"}),
     ("base/base.yaml", "base", "tcib_copies", "not supported")),
    ("copy-bad-chown", dict(base({"tcib_copies": ["--chown=a;b f /f"]}), **{"base/f": "x"}),
     ("base/base.yaml", "base", "tcib_copies", "--chown")),
    # ---- directory names -----------------------------------------------------------------------
    ("dir-name-space", dict(base(OK), **{"base/my svc/s.yaml": OK}),
     ("base/my svc/s.yaml", "my svc", None, "directory name")),
    ("dir-name-uppercase", dict(base(OK), **{"base/NovaApi/n.yaml": OK}),
     ("base/NovaApi/n.yaml", "NovaApi", None, "directory name")),
    ("dir-name-dotdot", dict(base(OK), **{"base/..svc/s.yaml": OK}),
     ("base/..svc/s.yaml", "..svc", None, "starts with a dot")),
    ("dir-name-hidden", dict(base(OK), **{"base/.svc/s.yaml": OK}),
     ("base/.svc/s.yaml", ".svc", None, "starts with a dot")),
    ("dir-name-trailing-dash", dict(base(OK), **{"base/svc-/s.yaml": OK}),
     ("base/svc-/s.yaml", "svc-", None, "directory name")),
    ("dir-name-double-dot", dict(base(OK), **{"base/a..b/s.yaml": OK}),
     ("base/a..b/s.yaml", "a..b", None, "directory name")),
    # ---- values that reach an engine ---------------------------------------------------------------
    ("from-invalid", base({"tcib_from": "not a valid ref!!"}), ("base/base.yaml", "base", "tcib_from", "reference")),
    ("from-uppercase-path", base({"tcib_from": "Example/Base"}), ("base/base.yaml", "base", "tcib_from", "reference")),
    ("from-template-invalid", base({"tcib_from": "{{ tcib_distro }} x"}),
     ("base/base.yaml", "base", "tcib_from", "reference")),
    ("parent-invalid-name", dict(base(OK), **{"other/other.yaml": {"tcib_parent": "Base!"}}),
     ("other/other.yaml", "other", "tcib_parent", "lower case")),
    ("expose-name", base({"tcib_exposes": ["http"]}), ("base/base.yaml", "base", "tcib_exposes", "port")),
    ("expose-zero", base({"tcib_exposes": ["0"]}), ("base/base.yaml", "base", "tcib_exposes", "port")),
    ("expose-too-big", base({"tcib_exposes": ["70000/tcp"]}), ("base/base.yaml", "base", "tcib_exposes", "port")),
    ("expose-action-proto", base({"tcib_actions": [{"expose": "80/icmp"}]}),
     ("base/base.yaml", "base", "tcib_actions", "port")),
    ("stopsignal-bogus", base({"tcib_stopsignal": "SIGBOGUS"}), ("base/base.yaml", "base", "tcib_stopsignal", "signal")),
    ("stopsignal-action-number", base({"tcib_actions": [{"stopsignal": "99"}]}),
     ("base/base.yaml", "base", "tcib_actions", "signal")),
    ("volume-relative", base({"tcib_volumes": ["var/lib/mysql"]}), ("base/base.yaml", "base", "tcib_volumes", "absolute")),
    ("volume-action-relative", base({"tcib_actions": [{"volume": "data"}]}),
     ("base/base.yaml", "base", "tcib_actions", "absolute")),
    ("workdir-relative", base({"tcib_workdir": "srv"}), ("base/base.yaml", "base", "tcib_workdir", "absolute")),
    ("workdir-action-relative", base({"tcib_actions": [{"workdir": "srv"}]}),
     ("base/base.yaml", "base", "tcib_actions", "absolute")),
    ("user-spec-shell", base({"tcib_user": "nova; id"}), ("base/base.yaml", "base", "tcib_user", "USER:GROUP")),
    ("user-spec-colons", base({"tcib_user": "a:b:c"}), ("base/base.yaml", "base", "tcib_user", "USER:GROUP")),
    ("user-action-bad", base({"tcib_actions": [{"user": "Root User"}]}),
     ("base/base.yaml", "base", "tcib_actions", "USER:GROUP")),
    ("user-template-bad", base({"tcib_envs": {"U": "x"}, "tcib_user": "{{ tcib_envs.U }} y"}),
     ("base/base.yaml", "base", "tcib_user", "USER:GROUP")),
    ("label-key-space", base({"tcib_labels": {"bad key": "x"}}), ("base/base.yaml", "base", "tcib_labels", "label key")),
    ("label-key-empty", base({"tcib_labels": {"": "x"}}), ("base/base.yaml", "base", "tcib_labels", "label key")),
    ("label-action-key", base({"tcib_actions": [{"label": "-bad=1"}]}),
     ("base/base.yaml", "base", "tcib_actions", "label key")),
    ("label-action-no-equals", base({"tcib_actions": [{"label": "novalue"}]}),
     ("base/base.yaml", "base", "tcib_actions", "KEY=VALUE")),
    ("env-key-digit", base({"tcib_envs": {"1X": "y"}}), ("base/base.yaml", "base", "tcib_envs", "variable name")),
    ("env-key-dash", base({"tcib_envs": {"MY-VAR": "y"}}), ("base/base.yaml", "base", "tcib_envs", "variable name")),
    ("arg-key-space", base({"tcib_args": {"A B": "y"}}), ("base/base.yaml", "base", "tcib_args", "variable name")),
    ("env-action-no-equals", base({"tcib_actions": [{"env": "JUSTNAME"}]}),
     ("base/base.yaml", "base", "tcib_actions", "NAME=VALUE")),
    ("healthcheck-bad-form", base({"tcib_healthcheck": "CURL http://x"}),
     ("base/base.yaml", "base", "tcib_healthcheck", "CMD COMMAND")),
    ("healthcheck-empty-cmd", base({"tcib_healthcheck": "CMD"}),
     ("base/base.yaml", "base", "tcib_healthcheck", "needs a command")),
    ("healthcheck-bad-option", base({"tcib_healthcheck": "--every=5s CMD true"}),
     ("base/base.yaml", "base", "tcib_healthcheck", "unknown HEALTHCHECK option")),
    ("healthcheck-bad-duration", base({"tcib_healthcheck": "--interval=soon CMD true"}),
     ("base/base.yaml", "base", "tcib_healthcheck", "duration")),
    ("entrypoint-empty", base({"tcib_entrypoint": "   "}),
     ("base/base.yaml", "base", "tcib_entrypoint", "non-empty words")),
    ("cmd-empty-list-action", base({"tcib_actions": [{"cmd": []}]}),
     ("base/base.yaml", "base", "tcib_actions", "non-empty words")),
    ("cmd-unbalanced-quote", base({"tcib_cmd": "sh -c 'x"}), ("base/base.yaml", "base", "tcib_cmd", "words")),
    ("run-empty", base({"tcib_runs": [" "]}), ("base/base.yaml", "base", "tcib_runs", "must not be empty")),
    # ---- package names ---------------------------------------------------------------------------
    ("package-empty", base({"tcib_packages": {"common": [""]}}), ("base/base.yaml", "base", "tcib_packages", "''")),
    ("package-semicolon", base({"tcib_packages": {"common": ["less; touch /pwned"]}}),
     ("base/base.yaml", "base", "tcib_packages", "less; touch /pwned")),
    ("package-command-substitution", base({"tcib_packages": {"common": ["less$(touch /pwned2)"]}}),
     ("base/base.yaml", "base", "tcib_packages", "$(touch")),
    ("package-backticks", base({"tcib_packages": ["a`id`"]}), ("base/base.yaml", "base", "tcib_packages", "`id`")),
    ("package-option", base({"tcib_packages": {"debian": ["--allow-unauthenticated"]}}),
     ("base/base.yaml", "base", "tcib_packages", "--allow-unauthenticated")),
    ("package-space", base({"tcib_packages": ["a b"]}), ("base/base.yaml", "base", "tcib_packages", "'a b'")),
    ("package-uppercase-debian", base({"tcib_packages": ["Python3"]}),
     ("base/base.yaml", "base", "tcib_packages", "Debian package name")),
    # ---- structure (already strict; kept in the corpus) ----------------------------------------------
    ("unknown-key", base({"tcib_usr": "nova"}), ("base/base.yaml", "base", "tcib_usr", "unknown key")),
    ("wrong-type-list", base({"tcib_exposes": "80"}), ("base/base.yaml", "base", "tcib_exposes", "list of strings")),
    ("wrong-type-mapping", base({"tcib_envs": ["A=1"]}), ("base/base.yaml", "base", "tcib_envs", "mapping")),
    ("wrong-action-verb", base({"tcib_actions": [{"frobnicate": "x"}]}),
     ("base/base.yaml", "base", "tcib_actions", "unknown verb")),
    ("unknown-parent", dict(base(OK), **{"other/other.yaml": {"tcib_parent": "nosuch"}}),
     ("other/other.yaml", "other", "tcib_parent", "unknown parent")),
    ("parent-cycle", {"a/a.yaml": {"tcib_parent": "b"}, "b/b.yaml": {"tcib_parent": "a"}},
     ("a/a.yaml", "a", "tcib_parent", "cycle")),
    ("duplicate-name", dict(base(OK), **{"base/x/svc/svc.yaml": OK, "base/y/svc/svc.yaml": OK}),
     ("base/y/svc", "svc", None, "duplicate image name")),
    ("broken-yaml", {"base/base.yaml": "tcib_cmd: [unclosed\n"}, ("base/base.yaml", None, None, "invalid YAML")),
    ("yaml-not-mapping", {"base/base.yaml": "- a\n- b\n"}, ("base/base.yaml", "base", None, "mapping")),
    ("undefined-template-variable", base({"tcib_runs": ["echo {{ nope }}"]}),
     ("base/base.yaml", "base", "tcib_runs", "'nope' is undefined")),
    ("template-syntax", base({"tcib_cmd": "{{ oops"}), ("base/base.yaml", "base", "tcib_cmd", "template error")),
    ("no-package-list-for-distro", base({"tcib_packages": {"redhat": ["httpd"]}}),
     ("base/base.yaml", "base", "tcib_packages", "no package list")),
    # ---- declared omissions (tcib_omit_packages) -------------------------------------------------
    ("omit-not-a-mapping", base({"tcib_omit_packages": ["perl"]}),
     ("base/base.yaml", "base", "tcib_omit_packages", "must be a mapping")),
    ("omit-entry-list", base({"tcib_omit_packages": {"debian": ["perl"]}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "entry 'debian' must be a mapping")),
    ("omit-empty-reason", base({"tcib_omit_packages": {"debian": {"perl": " "}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "non-empty string")),
    ("omit-no-reason", base({"tcib_omit_packages": {"common": {"perl": None}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "reason")),
    ("omit-name-not-string", base({"tcib_omit_packages": {"common": {5: "x"}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "name must be a string")),
    ("omit-name-semicolon", base({"tcib_omit_packages": {"debian": {"perl; touch /pwned": "x"}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "perl; touch /pwned")),
    ("omit-name-option", base({"tcib_omit_packages": {"common": {"--force-all": "x"}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "--force-all")),
    ("omit-name-uppercase", base({"tcib_omit_packages": {"testdeb": {"Perl": "x"}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "Debian package name")),
    ("omit-also-installed", base({"tcib_packages": ["memcached", "perl"],
                                  "tcib_omit_packages": {"debian": {"perl": "not needed"}}}),
     ("base/base.yaml", "base", "tcib_omit_packages", "also in the image's tcib_packages")),
]


def special(root, files):
    for relpath, content in files.items():
        if content == "FIFO":
            path = os.path.join(str(root), relpath)
            os.unlink(path)
            os.mkfifo(path)


@pytest.mark.parametrize("case, files, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_definition_refused_with_one_line_naming_file_image_key(tmp_path, canary, case, files, expected):
    root = tmp_path / "defs"
    make_tree(root, files, canary)
    special(root, files)
    start = time.monotonic()
    with pytest.raises(DefinitionError) as info:
        plan(root)
    assert time.monotonic() - start < 5
    relpath, image, key, reason = expected
    problems = info.value.problems
    assert problems, case
    for line in problems:
        assert "\n" not in line
    text = str(info.value)
    assert CANARY not in text
    found = [line for line in problems if line.startswith(str(root / relpath)) and reason in line]
    assert found, "%s: no line starts with %s and says %r:\n%s" % (case, relpath, reason, text)
    if image is not None:
        assert any("image %r" % image in line for line in found), text
    if key is not None:
        assert any("key %r" % key in line for line in found), text


def test_corpus_has_at_least_sixty_cases():
    assert len({case[0] for case in CASES}) == len(CASES) >= 60


def test_every_problem_of_an_image_is_reported_together(tmp_path, canary):
    make_tree(tmp_path, base({
        "tcib_exposes": ["http"], "tcib_stopsignal": "SIGBOGUS", "tcib_volumes": ["rel"], "tcib_user": "a b",
        "tcib_labels": {"bad key": "x"}, "tcib_envs": {"1X": "y"}, "tcib_from": "not a valid ref!!",
        "tcib_packages": ["ok", "", "x;y"], "tcib_actions": [{"copy": "CANARY /leak"}, {"run": "{{ tcib_install }}"}],
    }), canary)
    with pytest.raises(DefinitionError) as info:
        plan(tmp_path)
    keys = sorted({line.split("key ")[1].split(":")[0] for line in info.value.problems})
    assert keys == ["'tcib_actions'", "'tcib_envs'", "'tcib_exposes'", "'tcib_from'", "'tcib_labels'",
                    "'tcib_packages'", "'tcib_stopsignal'", "'tcib_user'", "'tcib_volumes'"]
    assert len([line for line in info.value.problems if "'tcib_packages'" in line]) == 2
    assert CANARY not in str(info.value)


def test_symlink_to_root_does_not_walk_the_host(tmp_path):
    make_tree(tmp_path, {"base/base.yaml": OK, "base/svc/svc.yaml": OK, "base/svc/root": LINK + "/"}, "")
    start = time.monotonic()
    with pytest.raises(DefinitionError) as info:
        load_definitions(str(tmp_path))
    assert time.monotonic() - start < 1
    assert info.value.problems == ["%s: symlink to / leaves the definitions tree %s"
                                   % (tmp_path / "base/svc/root", tmp_path)]


# ---- what is allowed ----------------------------------------------------------------------------

def test_symlinks_inside_the_tree_and_plain_directories_are_fine(tmp_path):
    make_tree(tmp_path, {
        "base/base.yaml": {"tcib_copies": ["files/conf /etc/conf", "motd /etc/motd"]},
        "base/files/conf/a.conf": "a=1\n", "base/files/conf/b.conf": LINK + "a.conf",
        "base/files/real-motd": "hi\n", "base/motd": LINK + "files/real-motd",
        "base/scripts/start.sh": "#!/bin/sh\n", "base/.git/config": "x",
        "base/svc/svc.yaml": OK, "base/svc/files": LINK + "../files",  # a shared files/ directory, linked
    }, "")
    planned = plan(tmp_path)[0]
    assert planned.transfer_sources("motd /etc/motd", "/ignored") == [str(tmp_path / "base/files/real-motd")]
    assert planned.transfer_sources("files/conf /etc/conf", "/ignored") == [str(tmp_path / "base/files/conf")]
    assert sorted(planned.files) == ["files/conf", "motd"]


def test_extra_roots_allow_a_source_outside_the_tree(tmp_path, canary):
    make_tree(tmp_path / "defs", base({"tcib_copies": ["%s /etc/x.yml" % canary]}), canary)
    with pytest.raises(DefinitionError):
        plan(tmp_path / "defs")
    planned = plan(tmp_path / "defs", extra_roots=[os.path.dirname(canary)])[0]
    assert planned.transfer_sources("%s /etc/x.yml" % canary, "/ignored") == [canary]


@pytest.mark.parametrize("roots, reason", [(["/"], "every file of the host"), (["/no/such/dir"], "not a directory"),
                                           ([""], "not a directory")])
def test_extra_roots_refused(tmp_path, roots, reason):
    make_tree(tmp_path, base(OK), "")
    with pytest.raises(DefinitionError) as info:
        plan(tmp_path, extra_roots=roots)
    assert info.value.problems[0].startswith("extra_roots: ") and reason in info.value.problems[0]


def test_bad_extra_label_key_refused(tmp_path):
    make_tree(tmp_path, base(OK), "")
    with pytest.raises(DefinitionError) as info:
        plan(tmp_path, extra_labels={"bad key": "1"})
    assert info.value.problems == ["labels: key 'bad key': " + _validate.label_key("bad key")]


def test_good_values_pass_and_healthcheck_cmd_shell_is_written_as_cmd(tmp_path):
    make_tree(tmp_path, base({
        "tcib_exposes": ["80", "443/tcp", "8000-8010/udp"], "tcib_stopsignal": "SIGRTMIN+3",
        "tcib_volumes": ["/var/lib/x"], "tcib_workdir": "/srv", "tcib_user": "42436:42436",
        "tcib_healthcheck": "--interval=5s --retries=3 CMD-SHELL curl -f http://localhost/ || exit 1",
        "tcib_labels": {"org.example/team": "x"}, "tcib_envs": {"_A1": "v"},
        "tcib_actions": [{"label": "a=1 'b.c=two words'"}, {"arg": "ONLY_NAME"}, {"healthcheck": "NONE"}],
        "tcib_packages": ["python3-oslo.config", "libstdc++6", "g++"],
    }), "")
    steps = plan(tmp_path)[0].steps
    assert [arg for verb, arg in steps if verb == "healthcheck"] == [
        "NONE", "--interval=5s --retries=3 CMD curl -f http://localhost/ || exit 1"]
    assert ("label", {"a": "1", "b.c": "two words"}) in steps


# ---- the build reads only what the plan checked ------------------------------------------------------

def test_build_side_uses_planned_sources_only(tmp_path, canary):
    make_tree(tmp_path, base({"tcib_copies": ["motd /etc/motd"]}), "")
    (tmp_path / "base/motd").write_text("hi\n", encoding="utf-8")
    planned = plan(tmp_path)[0]
    with pytest.raises(ValueError, match="did not check"):
        planned.transfer_sources("../../etc/shadow /x", str(tmp_path / "base"))
    # swapped for a symlink to a file outside after the plan: refused, never read
    os.unlink(str(tmp_path / "base/motd"))
    os.symlink(canary, str(tmp_path / "base/motd"))
    with pytest.raises(ValueError, match="changed into a symlink"):
        planned.transfer_sources("motd /etc/motd", str(tmp_path / "base"))


def test_hand_made_planned_image_is_checked_against_its_directory(tmp_path):
    item = _plan.PlannedImage("solo", None, "r", "b", [("copy", "../x /x")], [], {}, "fp", 0)
    with pytest.raises(ValueError, match="outside the definitions tree"):
        item.transfer_sources("../x /x", str(tmp_path))
    assert item.transfer_sources("f /f", str(tmp_path)) == [os.path.join(os.path.realpath(str(tmp_path)), "f")]


# ---- packages: quoted words, linear time --------------------------------------------------------

def test_package_names_are_quoted_words_in_the_install_command(tmp_path, monkeypatch):
    make_tree(tmp_path, base({"tcib_packages": ["curl", "a b"], "tcib_actions": [{"run": "{{ tcib_install }}"}]}), "")
    images = load_definitions(str(tmp_path))
    monkeypatch.setattr(_validate, "package_name", lambda name, family: None)  # the first wall down
    steps = _plan.make_plan(images, DEBIAN)[0].steps
    assert ("run", "apt-get install -y curl 'a b'") in steps


def big_image(tmp_path, names):
    os.makedirs(str(tmp_path / "base"))
    return {"base": ImageDefinition("base", str(tmp_path / "base"), None, [str(tmp_path / "base/base.yaml")],
                                    {"tcib_packages": {"common": names, "debian": names[:1000]},
                                     "tcib_actions": [{"run": "{{ tcib_install }}"}]},
                                    {"tcib_packages": str(tmp_path / "base/base.yaml")})}


def test_hundred_thousand_packages_plan_in_linear_time(tmp_path):
    names = ["pkg%d" % i for i in range(100000)]
    images = big_image(tmp_path, names + names[:5000])
    start = time.monotonic()
    planned = _plan.make_plan(images, DEBIAN)[0]
    assert time.monotonic() - start < 5
    assert planned.packages == names
    assert resolve_packages(images["base"], DEBIAN) == names


def test_hundred_thousand_packages_with_invalid_ones_report_each(tmp_path):
    names = ["pkg%d" % i for i in range(100000)]
    bad = {7: "x;y", 500: "", 99999: "--force-yes", 4242: "Upper"}
    for index, name in bad.items():
        names[index] = name
    images = big_image(tmp_path, names)
    start = time.monotonic()
    with pytest.raises(DefinitionError) as info:
        _plan.make_plan(images, DEBIAN)
    assert time.monotonic() - start < 5
    assert len(info.value.problems) == len(bad)
    for name in bad.values():
        assert any("package %r:" % name in line for line in info.value.problems)


@pytest.mark.parametrize("name", ["python3-PyMySQL", "openstack-nova-api", "perl-Net-SSLeay", "libstdc++", "mod_ssl",
                                  "python3-oslo-config", "java-11-openjdk-headless", "NetworkManager"])
def test_rpm_names_pass_the_redhat_grammar(name):
    assert _validate.package_name(name, "redhat") is None


def test_redhat_family_grammar_in_the_plan(tmp_path):
    make_tree(tmp_path, base({"tcib_packages": {"redhat": ["python3-PyMySQL", "mod_ssl", "x;y", "-y"]},
                              "tcib_actions": [{"run": "{{ tcib_install }}"}]}), "")
    with pytest.raises(DefinitionError) as info:
        plan(tmp_path, profile=REDHAT)
    assert [line.split("package ")[1].split(":")[0] for line in info.value.problems] == ["'x;y'", "'-y'"]


def test_omissions_refused_on_the_redhat_family(tmp_path):
    make_tree(tmp_path, base({"tcib_packages": ["httpd"], "tcib_omit_packages": {"common": {"perl": "x"}}}), "")
    with pytest.raises(DefinitionError) as info:
        plan(tmp_path, profile=REDHAT)
    assert info.value.problems == ["%s: image 'base': key 'tcib_omit_packages': not supported for the redhat family "
                                   "(apt only)" % (tmp_path / "base" / "base.yaml")]


def test_both_engines_copy_exactly_the_planned_paths(tmp_path):
    from ansible_collections.containergen.images.plugins.module_utils import _build, _containerfile

    make_tree(tmp_path, {"base/base.yaml": {"tcib_copies": ["--chown=1:1 motd /etc/motd"]},
                         "base/files/real-motd": "hi\n", "base/motd": LINK + "files/real-motd"}, "")
    planned = plan(tmp_path)[0]
    real = str(tmp_path / "base/files/real-motd")
    dummy, files, dummy = _containerfile.render_containerfile(planned, DEBIAN, "/elsewhere", "containergen-manifest-0")
    assert files == {"files/0/motd": real}  # named as the definition names it, read where the plan resolved

    fake = FakeRun((0, "1700000000\n", ""))  # podman image inspect: the created time of the base
    run = Runner(run=fake)
    BuildahEngine().build_image(run, planned, DEBIAN, "/elsewhere", _build.BuildOptions(log_dir=str(tmp_path)))
    copies = [argv for argv in fake.argvs if argv[:2] == ["buildah", "copy"]]
    assert copies == [["buildah", "copy", "--chown", "1:1", copies[0][4], real, "/etc/motd"]]
