# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _plan: selection, build order, rendered steps, fingerprints, the real default set."""

import copy
import hashlib
import os
import pathlib

import pytest
import yaml

from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    DefinitionError, load_definitions, load_profile,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import (
    build_order, fingerprint, image_ref, make_plan, plan_table, render_steps, select,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]
IMAGES_DIR = REPO_ROOT / "vars" / "images"
PROFILES_DIR = REPO_ROOT / "vars" / "profiles"

PROFILE = {
    "name": "testdeb", "family": "debian", "distro": "debian", "release": "12",
    "description": "a test profile",
    "base": {"method": "pull", "image": "example.org/base:12"},
    "package_manager": {"install": "apt-get install -y {{ packages }}", "cleanup": "apt-get clean",
                        "manifest": ["dpkg-query", "-W"]},
    "transient_errors": ["Temporary failure"],
    "path": "/somewhere/testdeb.yml",
}


def write(root, relpath, content):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    return path


INSTALL = [{"run": "{{ tcib_install }}"}]


@pytest.fixture
def tree(tmp_path):
    """base ─┬─ os ─┬─ nova-base ─┬─ nova-api
             │      │             └─ nova-conductor
             │      └─ keystone
             └─ cron
    """
    root = tmp_path / "images"
    write(root, "base/base.yaml", {"tcib_packages": {"common": ["ca-certificates"], "debian": ["procps"]},
                                   "tcib_actions": INSTALL, "tcib_copies": ["files/motd /etc/motd"]})
    motd = write(root, "base/files/motd", "hello\n")
    motd.chmod(0o644)
    write(root, "base/os/os.yaml", {"tcib_packages": ["python3"], "tcib_actions": INSTALL})
    write(root, "base/os/nova-base/nova-base.yaml", {"tcib_packages": ["nova-common"], "tcib_actions": INSTALL})
    write(root, "base/os/nova-base/nova-api/nova-api.yaml", {"tcib_packages": ["nova-api"],
                                                             "tcib_actions": INSTALL, "tcib_cmd": "nova-api"})
    write(root, "base/os/nova-base/nova-conductor/nova-conductor.yaml",
          {"tcib_packages": ["nova-conductor"], "tcib_actions": INSTALL})
    write(root, "base/os/keystone/keystone.yaml", {"tcib_packages": ["keystone"], "tcib_actions": INSTALL})
    write(root, "base/cron/cron.yaml", {"tcib_packages": ["cron"], "tcib_actions": INSTALL})
    return root


def load(root):
    return load_definitions(str(root))


def fingerprints(images, profile=None, **kwargs):
    return {item.name: item.fingerprint for item in make_plan(images, profile or PROFILE, **kwargs)}


def single(tmp_path, data, name="img"):
    write(tmp_path, "%s/%s.yaml" % (name, name), data)
    return load(tmp_path)[name]


# ---- select / build_order ----------------------------------------------------------------------

ALL = {"base", "os", "nova-base", "nova-api", "nova-conductor", "keystone", "cron"}


def test_select_everything_by_default(tree):
    assert select(load(tree)) == ALL
    assert select(load(tree), include=[], exclude=[]) == ALL


def test_select_include_by_name_pulls_ancestors(tree):
    assert select(load(tree), include=["nova-api"]) == {"nova-api", "nova-base", "os", "base"}
    assert select(load(tree), include=["cron", "keystone"]) == {"cron", "keystone", "os", "base"}


def test_select_include_regex_full_match(tree):
    images = load(tree)
    assert select(images, include=["nova-.*"]) == {"nova-base", "nova-api", "nova-conductor", "os", "base"}
    assert select(images, include=["nova-(api|conductor)"]) == {
        "nova-api", "nova-conductor", "nova-base", "os", "base"}
    # full match: "nova" or "api" alone are not prefixes/substrings that match
    for pattern in ("nova", "api", "nova-a"):
        with pytest.raises(DefinitionError) as info:
            select(images, include=[pattern])
        assert str(info.value) == "selection: %r matches no image (known: base, cron, keystone, nova-api, " \
                                  "nova-base, nova-conductor, os)" % pattern


def test_select_exclude_removes_descendants(tree):
    assert select(load(tree), exclude=["nova-base"]) == {"base", "os", "keystone", "cron"}
    assert select(load(tree), exclude=["os"]) == {"base", "cron"}
    assert select(load(tree), exclude=["nova-api", "cron"]) == ALL - {"nova-api", "cron"}


def test_select_exclude_wins_over_include(tree):
    assert select(load(tree), include=["nova-api"], exclude=["nova-base"]) == {"os", "base"}
    assert select(load(tree), include=["keystone"], exclude=["keystone"]) == {"os", "base"}


def test_select_exclude_pattern_matching_nothing(tree):
    with pytest.raises(DefinitionError) as info:
        select(load(tree), exclude=["glance-.*"])
    assert info.value.problems == ["selection: 'glance-.*' matches no image (known: base, cron, keystone, "
                                   "nova-api, nova-base, nova-conductor, os)"]


def test_select_invalid_regex(tree):
    with pytest.raises(DefinitionError) as info:
        select(load(tree), include=["nova-("])
    assert str(info.value).startswith("selection: 'nova-(' is not a valid regular expression: ")


def test_build_order_parents_first_siblings_by_name(tree):
    images = load(tree)
    assert build_order(images, select(images)) == [
        ("base", 0), ("cron", 1), ("os", 1), ("keystone", 2), ("nova-base", 2), ("nova-api", 3),
        ("nova-conductor", 3),
    ]
    assert build_order(images, {"nova-api", "base", "os", "nova-base"}) == [
        ("base", 0), ("os", 1), ("nova-base", 2), ("nova-api", 3)]


def test_make_plan_follows_build_order_and_selection(tree):
    plan = make_plan(load(tree), PROFILE, include=["nova-api"])
    assert [(p.name, p.parent, p.depth) for p in plan] == [
        ("base", None, 0), ("os", "base", 1), ("nova-base", "os", 2), ("nova-api", "nova-base", 3)]
    assert [p.ref for p in plan] == ["localhost/containergen/%s:latest" % n for n in
                                     ("base", "os", "nova-base", "nova-api")]
    assert [p.from_ref for p in plan] == ["example.org/base:12", "localhost/containergen/base:latest",
                                          "localhost/containergen/os:latest",
                                          "localhost/containergen/nova-base:latest"]


def test_image_ref():
    assert image_ref("keystone", "quay.io/me/", "cg-", "1.0") == "quay.io/me/cg-keystone:1.0"
    assert image_ref("keystone", "localhost/containergen", "", "latest") == "localhost/containergen/keystone:latest"


# ---- render_steps -------------------------------------------------------------------------------

def file_hash(content, mode):
    return hashlib.sha256(content + b"mode:%o" % mode).hexdigest()


def test_render_steps_order_follows_tcib_template(tmp_path):
    image = single(tmp_path, {
        # keys deliberately written in a scrambled order
        "tcib_user": "nova",
        "tcib_cmd": "nova-api --debug",
        "tcib_entrypoint": "dumb-init --single-child --",
        "tcib_stopsignal": "SIGTERM",
        "tcib_healthcheck": "CMD true",
        "tcib_actions": [{"run": "echo action"}, {"env": "X=1"}, {"copy": "act.txt /act"}],
        "tcib_runs": ["echo run"],
        "tcib_shell": "/bin/bash -c",
        "tcib_copies": ["copy.txt /c"],
        "tcib_exposes": ["80"],
        "tcib_adds": ["add.txt /a"],
        "tcib_workdir": "/w",
        "tcib_volumes": ["/v"],
        "tcib_onbuilds": ["RUN x"],
        "tcib_args": {"V": 1},
        "tcib_envs": {"LANG": "C", "N": 2},
        "tcib_labels": {"b": 2, "a": "x"},
        "tcib_description": "not a step",
    })
    for name in ("add.txt", "copy.txt", "act.txt"):
        path = write(tmp_path, "img/" + name, name)
        path.chmod(0o600)

    steps, files = render_steps(image, PROFILE, [])

    assert steps == [
        ("label", {"a": "x", "b": "2"}),
        ("env", "LANG=C"), ("env", "N=2"),
        ("arg", "V=1"),
        ("user", "root"),
        ("onbuild", "RUN x"),
        ("volume", "/v"),
        ("workdir", "/w"),
        ("add", "add.txt /a"),
        ("expose", "80"),
        ("copy", "copy.txt /c"),
        ("shell", "/bin/bash -c"),
        ("run", "echo run"),
        ("run", "echo action"), ("env", "X=1"), ("copy", "act.txt /act"),
        ("healthcheck", "CMD true"),
        ("stopsignal", "SIGTERM"),
        ("entrypoint", ["dumb-init", "--single-child", "--"]),
        ("cmd", ["nova-api", "--debug"]),
        ("user", "nova"),
    ]
    assert files == {name: file_hash(name.encode(), 0o600) for name in ("add.txt", "copy.txt", "act.txt")}


def test_render_steps_minimal_image(tmp_path):
    image = single(tmp_path, {"tcib_description": "nothing"})
    assert render_steps(image, PROFILE, []) == ([("user", "root")], {})


def test_extra_labels_added_to_label_step(tmp_path):
    image = single(tmp_path, {"tcib_labels": {"a": "1", "b": "2"}})
    steps, dummy = render_steps(image, PROFILE, [], extra_labels={"b": "override", "c": "3"})
    assert steps[0] == ("label", {"a": "1", "b": "override", "c": "3"})
    image = single(tmp_path / "2", {"tcib_cmd": "x"})
    assert render_steps(image, PROFILE, [], extra_labels={"c": "3"})[0][0] == ("label", {"c": "3"})


def test_entrypoint_and_cmd_split_into_words(tmp_path):
    image = single(tmp_path, {"tcib_entrypoint": "sh -c 'exec \"$0\" \"$@\"'", "tcib_cmd": "  kolla_start  "})
    steps, dummy = render_steps(image, PROFILE, [])
    assert steps[-2:] == [("entrypoint", ["sh", "-c", 'exec "$0" "$@"']), ("cmd", ["kolla_start"])]


def test_entrypoint_unbalanced_quote(tmp_path):
    image = single(tmp_path, {"tcib_entrypoint": "sh -c 'oops"})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert str(info.value).startswith("%s: image 'img': key 'tcib_entrypoint': cannot split into words: "
                                      % (tmp_path / "img/img.yaml"))


def test_tcib_install_renders_profile_install_command(tmp_path):
    image = single(tmp_path, {"tcib_actions": INSTALL + [{"run": "echo {{ tcib_package_list }}"}]})
    steps, dummy = render_steps(image, PROFILE, ["curl", "ca-certificates"])
    assert steps[1:] == [("run", "apt-get install -y curl ca-certificates"), ("run", "echo curl ca-certificates")]


def test_tcib_install_without_packages_is_true(tmp_path):
    image = single(tmp_path, {"tcib_actions": INSTALL})
    assert render_steps(image, PROFILE, [])[0] == [("user", "root"), ("run", "true")]


def test_tcib_style_package_expression(tmp_path):
    image = single(tmp_path, {
        "tcib_packages": {"common": ["httpd", "mod_ssl"], "debian": ["apache2"]},
        "tcib_actions": [{"run": "dnf -y install {{ tcib_packages['common'] | join(' ') }} && dnf clean all"}],
    })
    steps, dummy = render_steps(image, PROFILE, [])
    assert steps[1] == ("run", "dnf -y install httpd mod_ssl && dnf clean all")


def test_template_variables_available(tmp_path):
    image = single(tmp_path, {
        "tcib_user": "svc",
        "tcib_actions": [{"run": "echo {{ tcib_distro }} {{ tcib_release }} {{ tcib_family }} {{ tcib_profile }} "
                                 "{{ tcib_meta.name }} {{ tcib_user }} [{{ tcib_workdir }}]"}],
        "tcib_runs": ["echo {{ tcib_distro }}-{{ tcib_release }}"],
        "tcib_cmd": "{{ tcib_meta.name }} --flag",
    })
    steps, dummy = render_steps(image, PROFILE, [])
    assert steps == [("user", "root"), ("run", "echo debian-12"), ("run", "echo debian 12 debian testdeb img svc []"),
                     ("cmd", ["img", "--flag"]), ("user", "svc")]


def test_action_list_argument_items_rendered(tmp_path):
    image = single(tmp_path, {"tcib_actions": [{"run": ["echo", "{{ tcib_distro }}"]}]})
    assert render_steps(image, PROFILE, [])[0][1] == ("run", ["echo", "debian"])


def test_integer_action_argument_used_as_text(tmp_path):
    image = single(tmp_path, {"tcib_actions": [{"user": 1001}, {"expose": 8080}]})
    assert render_steps(image, PROFILE, [])[0] == [("user", "root"), ("user", "1001"), ("expose", "8080")]


@pytest.mark.parametrize("template, expected", [
    ("{{ tcib_release is version('12', '==') | ternary('new', 'old') }}", "new"),
    ("{{ tcib_release is version('8', '==') | ternary('', '.10.5') }}", ".10.5"),
    ("{{ tcib_release is version('9', '>=') }}", "True"),
    ("{{ tcib_release is version('13', 'lt') }}", "True"),
    ("{{ tcib_release is version_compare('12', 'ne') }}", "False"),
    ("{{ tcib_release is version('12.0', '<') }}", "True"),  # like Ansible's default (loose) comparison
    ("{{ none_var | ternary('yes', 'no', 'none') }}", "none"),
    ("{{ '' | ternary('yes', 'no') }}", "no"),
    ("{{ tcib_user | to_json }}", '"svc"'),
    ("{{ 'Yes' | bool }} {{ 'off' | bool }} {{ 1 | bool }}", "True False True"),
])
def test_ansible_filters_and_tests(tmp_path, template, expected):
    image = single(tmp_path, {"tcib_user": "svc", "tcib_actions": [{"run": template}]})
    image.data["none_var"] = None  # not a tcib_* key, but visible to templates like any other value
    assert render_steps(image, PROFILE, [])[0][1] == ("run", expected)


def test_undefined_variable_in_action(tmp_path):
    image = single(tmp_path, {"tcib_actions": [{"run": "echo {{ no_such_var }}"}]})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert info.value.problems == ["%s: image 'img': key 'tcib_actions': template error: 'no_such_var' is undefined"
                                   % (tmp_path / "img/img.yaml")]


def test_undefined_variable_in_other_key_names_that_key(tmp_path):
    image = single(tmp_path, {"tcib_runs": ["echo {{ nope }}"]})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert str(info.value) == "%s: image 'img': key 'tcib_runs': template error: 'nope' is undefined" % (
        tmp_path / "img/img.yaml")


def test_template_syntax_error(tmp_path):
    image = single(tmp_path, {"tcib_actions": [{"run": "echo {{ oops"}]})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert str(info.value).startswith("%s: image 'img': key 'tcib_actions': template error: "
                                      % (tmp_path / "img/img.yaml"))


@pytest.mark.parametrize("key, value", [
    ("tcib_copies", ["missing.txt /dest"]),
    ("tcib_adds", ["missing.txt /dest"]),
    ("tcib_actions", [{"copy": "missing.txt /dest"}]),
    ("tcib_actions", [{"add": ["missing.txt", "/dest"]}]),
])
def test_copy_with_missing_source(tmp_path, key, value):
    image = single(tmp_path, {key: value})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert info.value.problems == ["%s: image 'img': key %r: source 'missing.txt' does not exist (looked in %s)"
                                   % (tmp_path / "img/img.yaml", key, tmp_path / "img/missing.txt")]


def test_copy_needs_source_and_destination(tmp_path):
    image = single(tmp_path, {"tcib_copies": ["--chown=1:1 /dest"]})
    with pytest.raises(DefinitionError) as info:
        render_steps(image, PROFILE, [])
    assert str(info.value) == "%s: image 'img': key 'tcib_copies': tcib_copies needs at least one source and a " \
                              "destination" % (tmp_path / "img/img.yaml")


def test_copy_records_file_and_directory_hashes(tmp_path):
    image = single(tmp_path, {"tcib_copies": ["--chown=root:root conf/app.conf /etc/app.conf",
                                              "tree /opt/tree"]})
    conf = write(tmp_path, "img/conf/app.conf", "key=value\n")
    conf.chmod(0o640)
    one = write(tmp_path, "img/tree/one", "1")
    two = write(tmp_path, "img/tree/sub/two", "2")
    one.chmod(0o644)
    two.chmod(0o755)
    tree_digest = hashlib.sha256()
    for rel, content, mode in (("one", b"1", 0o644), ("sub/two", b"2", 0o755)):
        tree_digest.update(rel.encode() + b"\0")
        tree_digest.update(file_hash(content, mode).encode())

    steps, files = render_steps(image, PROFILE, [])

    assert steps[1:] == [("copy", "--chown=root:root conf/app.conf /etc/app.conf"), ("copy", "tree /opt/tree")]
    assert files == {os.path.join("conf", "app.conf"): file_hash(b"key=value\n", 0o640),
                     "tree": tree_digest.hexdigest()}


# ---- fingerprints -------------------------------------------------------------------------------

def test_fingerprint_canonical_json():
    assert fingerprint({"b": 1, "a": [1, "x"]}) == hashlib.sha256(b'{"a":[1,"x"],"b":1}').hexdigest()
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_fingerprints_stable(tree):
    first = fingerprints(load(tree))
    second = fingerprints(load(tree))
    assert first == second
    assert sorted(first) == sorted(ALL)
    assert len(set(first.values())) == len(ALL)
    assert all(len(fp) == 64 for fp in first.values())


def changed(before, after):
    return {name for name in before if before[name] != after[name]}


DESCENDANTS_OF_BASE = ALL
DESCENDANTS_OF_OS = {"os", "nova-base", "nova-api", "nova-conductor", "keystone"}


def test_fingerprint_changes_with_a_package(tree):
    before = fingerprints(load(tree))
    images = load(tree)
    images["keystone"].data["tcib_packages"] = ["keystone", "python3-keystone"]
    assert changed(before, fingerprints(images)) == {"keystone"}


def test_fingerprint_changes_with_a_package_via_profile_key(tree):
    before = fingerprints(load(tree))
    images = load(tree)
    images["base"].data["tcib_packages"] = {"common": ["ca-certificates"], "debian": ["procps"],
                                            "testdeb": ["extra"]}
    assert changed(before, fingerprints(images)) == DESCENDANTS_OF_BASE


def test_fingerprint_changes_with_an_action(tree):
    before = fingerprints(load(tree))
    images = load(tree)
    images["nova-api"].data["tcib_actions"] = INSTALL + [{"run": "mkdir /x"}]
    assert changed(before, fingerprints(images)) == {"nova-api"}


def test_fingerprint_changes_with_copied_file_content(tree):
    before = fingerprints(load(tree))
    (tree / "base/files/motd").write_text("hello, world\n", encoding="utf-8")
    assert changed(before, fingerprints(load(tree))) == DESCENDANTS_OF_BASE


def test_fingerprint_changes_with_copied_file_mode(tree):
    before = fingerprints(load(tree))
    (tree / "base/files/motd").chmod(0o755)
    assert changed(before, fingerprints(load(tree))) == DESCENDANTS_OF_BASE


def test_fingerprint_changes_with_profile(tree):
    images = load(tree)
    before = fingerprints(images)
    other = copy.deepcopy(PROFILE)
    other["package_manager"]["cleanup"] = "apt-get clean && rm -rf /var/lib/apt/lists/*"
    assert changed(before, fingerprints(images, other)) == ALL
    other = dict(PROFILE, release="13")
    assert changed(before, fingerprints(images, other)) == ALL


def test_fingerprint_ignores_profile_path_description_transient_errors(tree):
    images = load(tree)
    before = fingerprints(images)
    other = dict(PROFILE, path="/elsewhere/testdeb.yml", description="changed", transient_errors=["x"])
    assert fingerprints(images, other) == before


def test_fingerprint_changes_with_base_image_id(tree):
    images = load(tree)
    absent = fingerprints(images)
    one = fingerprints(images, base_ids={"example.org/base:12": "sha256:1111"})
    two = fingerprints(images, base_ids={"example.org/base:12": "sha256:2222"})
    unrelated = fingerprints(images, base_ids={"example.org/other:1": "sha256:3333"})
    assert changed(absent, one) == ALL
    assert changed(one, two) == ALL
    assert unrelated == absent
    assert fingerprints(images, base_ids={"example.org/base:12": "sha256:1111"}) == one


def test_child_changes_with_parent_sibling_does_not(tree):
    before = fingerprints(load(tree))
    images = load(tree)
    images["os"].data["tcib_envs"] = {"PYTHONUNBUFFERED": "1"}
    assert changed(before, fingerprints(images)) == DESCENDANTS_OF_OS  # not base, not cron

    images = load(tree)
    images["nova-base"].data["tcib_user"] = "nova"
    assert changed(before, fingerprints(images)) == {"nova-base", "nova-api", "nova-conductor"}


def test_fingerprint_independent_of_tag_namespace_prefix(tree):
    images = load(tree)
    default = make_plan(images, PROFILE)
    other = make_plan(images, PROFILE, namespace="quay.io/someone", prefix="cg-", tag="2024.1")
    assert [p.fingerprint for p in other] == [p.fingerprint for p in default]
    assert [p.ref for p in other] == ["quay.io/someone/cg-%s:2024.1" % p.name for p in other]
    assert other[1].from_ref == "quay.io/someone/cg-%s:2024.1" % other[1].parent


def test_fingerprint_independent_of_selection(tree):
    images = load(tree)
    full = fingerprints(images)
    partial = fingerprints(images, include=["nova-api"])
    assert partial == {name: full[name] for name in ("base", "os", "nova-base", "nova-api")}


def test_fingerprint_changes_with_extra_labels(tree):
    images = load(tree)
    before = fingerprints(images)
    assert changed(before, fingerprints(images, extra_labels={"release": "x"})) == ALL


def test_tcib_from_overrides_parent_image(tree):
    images = load(tree)
    images["cron"].data["tcib_from"] = "docker.io/library/debian:12"
    plan = {p.name: p for p in make_plan(images, PROFILE)}
    assert plan["cron"].from_ref == "docker.io/library/debian:12"
    assert plan["cron"].parent == "base"
    before = plan["cron"].fingerprint
    after = fingerprints(images, base_ids={"docker.io/library/debian:12": "sha256:abc"})["cron"]
    assert after != before


def test_make_plan_reports_every_rendering_problem(tree):
    images = load(tree)
    images["keystone"].data["tcib_actions"] = [{"run": "{{ nope1 }}"}]
    images["cron"].data["tcib_actions"] = [{"run": "{{ nope2 }}"}]
    images["nova-base"].data["tcib_packages"] = {"redhat": ["x"]}
    with pytest.raises(DefinitionError) as info:
        make_plan(images, PROFILE)
    assert info.value.problems == [
        "%s: image 'cron': key 'tcib_actions': template error: 'nope2' is undefined" % (tree / "base/cron/cron.yaml"),
        "%s: image 'keystone': key 'tcib_actions': template error: 'nope1' is undefined"
        % (tree / "base/os/keystone/keystone.yaml"),
        "%s: image 'nova-base': key 'tcib_packages': no package list for distro 'testdeb' (has: redhat; expected "
        "one of: common, debian, testdeb)" % (tree / "base/os/nova-base/nova-base.yaml"),
    ]


def test_planned_image_as_dict(tree):
    plan = make_plan(load(tree), PROFILE, include=["os"])
    assert plan[1].as_dict() == {
        "name": "os", "parent": "base", "ref": "localhost/containergen/os:latest",
        "from": "localhost/containergen/base:latest", "depth": 1, "fingerprint": plan[1].fingerprint,
        "packages": ["python3"], "steps": [["user", "root"], ["run", "apt-get install -y python3"]], "files": {},
    }


def test_plan_table(tree):
    plan = make_plan(load(tree), PROFILE, include=["nova-base"])
    fp = [p.fingerprint[:12] for p in plan]
    assert plan_table(plan, {"os": "build"}) == "\n".join([
        "#  image          parent                 fingerprint   packages  status",
        "-  -------------  ---------------------  ------------  --------  ------",
        "1  base           (example.org/base:12)  %s  2" % fp[0],
        "2    os           base                   %s  1         build" % fp[1],
        "3      nova-base  os                     %s  1" % fp[2],
    ])


# ---- the real default set -----------------------------------------------------------------------

REAL_NAMES = sorted([
    "base", "chrony", "cron", "haproxy", "mariadb", "memcached", "os", "glance-api", "keystone", "neutron-base",
    "neutron-server", "nova-base", "nova-api", "nova-conductor", "nova-scheduler", "placement-api", "rabbitmq", "redis",
    "rsyslog",
])


@pytest.fixture(scope="module")
def real_images():
    return load_definitions(str(IMAGES_DIR))


@pytest.mark.parametrize("profile_name", ["debian13", "debian12", "ubi8", "centos9"])
def test_real_set_plans_on_every_profile(real_images, profile_name):
    profile = load_profile(str(PROFILES_DIR), profile_name)
    plan = make_plan(real_images, profile)
    assert len(plan) == 19
    assert sorted(p.name for p in plan) == REAL_NAMES
    assert plan[0].name == "base" and plan[0].from_ref == profile["base"]["image"]
    position = {p.name: i for i, p in enumerate(plan)}
    for item in plan[1:]:
        assert position[item.parent] < position[item.name]
    assert all(p.packages for p in plan)


def test_real_keystone_rendering_differs_between_debian12_and_ubi8(real_images):
    steps = {}
    for name in ("debian12", "ubi8"):
        plan = make_plan(real_images, load_profile(str(PROFILES_DIR), name), include=["keystone"])
        assert [p.name for p in plan] == ["base", "os", "keystone"]
        steps[name] = plan[-1].steps
    assert steps["debian12"][1] == ("run", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install "
                                           "-y -qq --no-install-recommends python3-keystone apache2 "
                                           "libapache2-mod-wsgi-py3")
    assert steps["ubi8"][1] == ("run", "microdnf -y --nodocs --setopt=install_weak_deps=0 install "
                                       "openstack-keystone httpd mod_ssl python3-mod_wsgi")
    # apache's own setup differs (Debian's apache2 layout, Red Hat's httpd); the rest is the same
    assert "a2enmod -q wsgi" in steps["debian12"][3][1] and "a2enmod" not in steps["ubi8"][3][1]
    assert "/etc/httpd/conf/httpd.conf" in steps["ubi8"][3][1]
    # Debian's keystone omits declared dependencies it never runs (perl, ...) in one last step
    assert steps["debian12"][4][0] == "run" and "omit packages (tcib_omit_packages): perl " in steps["debian12"][4][1][2]
    assert steps["debian12"][:1] + steps["debian12"][2:3] + steps["debian12"][5:] == \
        steps["ubi8"][:1] + steps["ubi8"][2:3] + steps["ubi8"][4:] == [
            ("user", "root"), ("copy", "extend_start.sh /usr/local/bin/kolla_extend_start"),
            ("healthcheck", "CMD healthcheck_openstack api apache")]


@pytest.mark.parametrize("profile_name", ["debian13", "debian12"])
def test_real_base_rendering_carries_the_kolla_contract(real_images, profile_name):
    plan = make_plan(real_images, load_profile(str(PROFILES_DIR), profile_name), include=["base"])
    assert plan[0].packages == ["ca-certificates", "dumb-init", "sudo", "jq", "procps", "curl"]
    # the value of tcib_managed (a YAML boolean) is left out: see test_boolean_label_and_env_values_render_like_tcib
    assert plan[0].steps[0][0] == "label"
    assert sorted(plan[0].steps[0][1]) == ["maintainer", "tcib_managed"]
    assert plan[0].steps[0][1]["maintainer"] == "containergen.images"
    steps = plan[0].steps[1:]
    assert steps[:4] == [
        ("env", "LANG=C.UTF-8"), ("env", "container=oci"),
        ("user", "root"),
        ("run", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                "--no-install-recommends ca-certificates dumb-init sudo jq procps curl"),
    ]
    assert [step for step in steps if step[0] == "copy"] == [
        ("copy", "files/users /tmp/kolla_users"), ("copy", "files/bin/ /usr/local/bin/"),
        ("copy", "files/lib/ /usr/local/lib/kolla/"), ("copy", "files/sudoers /etc/sudoers.d/kolla_sudoers")]
    # users before anything that could create them; the sudoers mode as kolla's
    users = next(arg for verb, arg in steps if verb == "run" and "useradd" in arg)
    assert users.startswith("groupadd -g 42400 kolla && ")
    assert 'useradd -l -M -d "/var/lib/$name" -s /usr/sbin/nologin -u "$uid" -g "$gid" -G kolla "$name"' in users
    assert "chmod 0440 /etc/sudoers.d/kolla_sudoers" in steps[-4][1]
    assert "install -d -o root -g kolla -m 2775 /var/log/kolla" in steps[-4][1]
    assert steps[-3:] == [
        ("stopsignal", "SIGTERM"),
        ("entrypoint", ["dumb-init", "--single-child", "--"]),
        ("cmd", ["kolla_start"]),
    ]
    assert sorted(plan[0].files) == sorted(
        ["files/users", "files/bin", "files/lib", "files/sudoers"])


def test_real_base_users_table_holds_kollas_ids():
    table = {}
    for line in (IMAGES_DIR / "base" / "files" / "users").read_text().splitlines():
        if line and not line.startswith("#"):
            name, uid, gid, group = line.split()
            table[name] = (int(uid), int(gid), group)
    expected = {"kolla": 42400, "glance": 42415, "keystone": 42425, "mysql": 42434, "neutron": 42435,
                "nova": 42436, "rabbitmq": 42439, "haproxy": 42454, "memcached": 42457, "redis": 42460,
                "placement": 42482, "valkey": 42494}
    assert {name: table[name][0] for name in expected} == expected
    assert all(uid == gid for uid, gid, dummy in table.values())
    assert table["hacluster"] == (42486, 42486, "haclient")
    assert len({uid for uid, dummy, dummy2 in table.values()}) == len(table) == 85


# ---- suspected bugs -----------------------------------------------------------------------------

def test_templates_in_mapping_values_are_rendered(tmp_path):
    image = single(tmp_path, {"tcib_envs": {"DISTRO": "{{ tcib_distro }}"},
                              "tcib_labels": {"release": "{{ tcib_release }}"}})
    steps, dummy = render_steps(image, PROFILE, [])
    assert steps[:2] == [("label", {"release": "12"}), ("env", "DISTRO=debian")]


def test_boolean_label_and_env_values_render_like_tcib(tmp_path):
    image = single(tmp_path, {"tcib_labels": {"tcib_managed": True}, "tcib_envs": {"DEBUG": False}})
    steps, dummy = render_steps(image, PROFILE, [])
    assert steps[:2] == [("label", {"tcib_managed": "true"}), ("env", "DEBUG=false")]
