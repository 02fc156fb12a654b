# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _definitions: loading the TCIB tree, validation messages, packages, profiles."""

import pathlib

import pytest
import yaml

from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    DefinitionError, load_definitions, load_profile, resolve_packages,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]
PROFILES_DIR = REPO_ROOT / "vars" / "profiles"


def write(root, relpath, content):
    """Write content (a str written verbatim, anything else dumped as YAML) to root/relpath."""
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), encoding="utf-8")
    return path


def load_error(root):
    with pytest.raises(DefinitionError) as info:
        load_definitions(str(root))
    return info.value


def only_problem(error):
    assert len(error.problems) == 1, error.problems
    assert str(error) == error.problems[0]
    return error.problems[0]


def assert_names(message, path, image, key=None):
    assert str(path) in message, message
    assert "image %r" % image in message, message
    if key is not None:
        assert "key %r" % key in message, message


# ---- loading a tree -----------------------------------------------------------------------------

def test_nested_tree_parent_is_nearest_ancestor_with_yaml(tmp_path):
    write(tmp_path, "base/base.yaml", {"tcib_cmd": "base"})
    write(tmp_path, "base/os/os.yaml", {"tcib_cmd": "os"})
    write(tmp_path, "base/os/nova-base/nova-base.yaml", {"tcib_cmd": "nb"})
    write(tmp_path, "base/os/nova-base/nova-api/nova-api.yaml", {"tcib_cmd": "api"})
    # "group" holds no YAML: it is not an image and its children hang on "base".
    write(tmp_path, "base/group/README.txt", "not yaml")
    write(tmp_path, "base/group/cron/cron.yaml", {"tcib_cmd": "cron -f"})
    # hidden directories are ignored
    write(tmp_path, "base/.hidden/hidden/hidden.yaml", {"tcib_cmd": "x"})

    images = load_definitions(str(tmp_path))

    assert sorted(images) == ["base", "cron", "nova-api", "nova-base", "os"]
    assert {name: image.parent for name, image in images.items()} == {
        "base": None, "os": "base", "nova-base": "os", "nova-api": "nova-base", "cron": "base",
    }
    api = images["nova-api"]
    assert api.directory == str(tmp_path / "base/os/nova-base/nova-api")
    assert api.files == [str(tmp_path / "base/os/nova-base/nova-api/nova-api.yaml")]
    assert api.data == {"tcib_cmd": "api"}
    assert api.origin == {"tcib_cmd": str(tmp_path / "base/os/nova-base/nova-api/nova-api.yaml")}


def test_name_is_directory_name_not_file_name(tmp_path):
    write(tmp_path, "base/whatever.yml", {"tcib_user": "root"})
    images = load_definitions(str(tmp_path))
    assert list(images) == ["base"]
    assert images["base"].data == {"tcib_user": "root"}


def test_several_files_merged_in_sorted_order_later_replaces_whole_key(tmp_path):
    second = write(tmp_path, "base/20-override.yaml", {
        "tcib_packages": {"debian": ["b"]},
        "tcib_envs": {"B": "2"},
    })
    first = write(tmp_path, "base/10-main.yaml", {
        "tcib_packages": {"common": ["a"]},
        "tcib_envs": {"A": "1"},
        "tcib_cmd": "first",
    })
    empty = write(tmp_path, "base/15-empty.yaml", "---\n")

    image = load_definitions(str(tmp_path))["base"]

    assert image.files == [str(first), str(empty), str(second)]
    # a top-level key is replaced as a whole, not deep-merged
    assert image.data == {"tcib_packages": {"debian": ["b"]}, "tcib_envs": {"B": "2"}, "tcib_cmd": "first"}
    assert image.origin == {"tcib_packages": str(second), "tcib_envs": str(second), "tcib_cmd": str(first)}


def test_problem_in_first_file_names_that_file(tmp_path):
    first = write(tmp_path, "base/10-main.yaml", {"tcib_bogus": 1})
    second = write(tmp_path, "base/20-more.yaml", {"tcib_cmd": "x"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, first, "base", "tcib_bogus")
    assert str(second) not in message


def test_tcib_parent_overrides_directory_parent(tmp_path):
    write(tmp_path, "base/base.yaml", {"tcib_cmd": "base"})
    write(tmp_path, "base/os/os.yaml", {"tcib_cmd": "os"})
    write(tmp_path, "base/other/other.yaml", {"tcib_cmd": "other"})
    write(tmp_path, "base/os/api/api.yaml", {"tcib_parent": "other"})
    images = load_definitions(str(tmp_path))
    assert images["api"].parent == "other"
    assert images["os"].parent == "base"


def test_tcib_parent_can_be_a_root_image_in_another_tree(tmp_path):
    write(tmp_path, "one/one.yaml", {"tcib_cmd": "1"})
    write(tmp_path, "two/two.yaml", {"tcib_parent": "one"})
    images = load_definitions(str(tmp_path))
    assert (images["one"].parent, images["two"].parent) == (None, "one")


# ---- errors -------------------------------------------------------------------------------------

def test_unknown_key(tmp_path):
    path = write(tmp_path, "base/api/api.yaml", {"tcib_cmd": "x", "tcib_packagez": ["a"]})
    write(tmp_path, "base/base.yaml", {"tcib_cmd": "x"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, path, "api", "tcib_packagez")
    assert "unknown key" in message
    assert "tcib_packages" in message  # lists the known keys


@pytest.mark.parametrize("key, value, expected", [
    ("tcib_user", ["a"], "must be a string"),
    ("tcib_cmd", 42, "must be a string"),
    ("tcib_runs", "echo not a list", "must be a list of strings"),
    ("tcib_runs", ["ok", 3], "must be a list of strings"),
    ("tcib_envs", {"A": [1]}, "must be a mapping of names to strings, numbers or booleans"),
    ("tcib_envs", ["A=1"], "must be a mapping of names to strings, numbers or booleans"),
    ("tcib_labels", {"a": {"b": "c"}}, "must be a mapping of names to strings, numbers or booleans"),
    ("tcib_packages", "curl", "must be a list of package names or a mapping of distro keys to lists"),
    ("tcib_packages", ["curl", 1], "must be a list of package names"),
    ("tcib_packages", {"debian": "curl"}, "entry 'debian' must be a list of package names"),
    ("tcib_actions", {"run": "x"}, "must be a list of one-key mappings such as {run: COMMAND}"),
    ("tcib_actions", [{"run": "a", "user": "b"}], "item 0 must be a mapping with exactly one verb"),
    ("tcib_actions", [{"run": "a"}, "run b"], "item 1 must be a mapping with exactly one verb"),
    ("tcib_actions", [{"frobnicate": "x"}], "item 0: unknown verb 'frobnicate'"),
    ("tcib_actions", [{"run": {"a": 1}}], "item 0 (run) must be a string, a whole number or a list of strings"),
    ("tcib_actions", [{"user": True}], "item 0 (user) must be a string, a whole number or a list of strings"),
    ("tcib_actions", [{"user": 1.5}], "item 0 (user) must be a string, a whole number or a list of strings"),
    ("tcib_actions", [{"run": ["a", 1]}], "item 0 (run) must be a string, a whole number or a list of strings"),
])
def test_wrong_type(tmp_path, key, value, expected):
    path = write(tmp_path, "base/base.yaml", {key: value})
    message = only_problem(load_error(tmp_path))
    assert message.startswith("%s: image 'base': key %r: %s" % (path, key, expected)), message


def test_accepted_types(tmp_path):
    data = {
        "tcib_actions": [{"run": "a"}, {"copy": ["f", "/f"]}, {"user": "x"}, {"user": 1001}],
        "tcib_envs": {"A": 1, "B": True, "C": 1.5, "D": "d"},
        "tcib_packages": {"common": ["a"], "modules": [{"disable": "x"}]},
        "tcib_exposes": ["80"],
    }
    write(tmp_path, "base/base.yaml", data)
    assert load_definitions(str(tmp_path))["base"].data == data


def test_all_problems_reported_together(tmp_path):
    a = write(tmp_path, "a/a.yaml", {"tcib_user": 1})
    b = write(tmp_path, "b/b.yaml", {"tcib_bogus": 1})
    error = load_error(tmp_path)
    assert len(error.problems) == 2
    assert_names(error.problems[0], a, "a", "tcib_user")
    assert_names(error.problems[1], b, "b", "tcib_bogus")


def test_unknown_parent(tmp_path):
    write(tmp_path, "base/base.yaml", {"tcib_cmd": "x"})
    path = write(tmp_path, "base/api/api.yaml", {"tcib_parent": "nope"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, path, "api", "tcib_parent")
    assert message.endswith("unknown parent image 'nope'")


def test_parent_cycle(tmp_path):
    a = write(tmp_path, "a/a.yaml", {"tcib_parent": "b"})
    write(tmp_path, "b/b.yaml", {"tcib_parent": "a"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, a, "a", "tcib_parent")
    assert message.endswith("parent cycle: a -> b -> a")


def test_parent_cycle_through_directory_parent_is_reported(tmp_path):
    # "child" sits under "top" (directory parent); "top" names "child" as its parent.
    write(tmp_path, "top/top.yaml", {"tcib_parent": "child"})
    write(tmp_path, "top/child/child.yaml", {"tcib_cmd": "x"})
    message = only_problem(load_error(tmp_path))
    assert message.endswith(": parent cycle: child -> top -> child")


def test_parent_cycle_names_the_file_that_sets_tcib_parent(tmp_path):
    top = write(tmp_path, "top/top.yaml", {"tcib_parent": "child"})
    write(tmp_path, "top/child/child.yaml", {"tcib_cmd": "x"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, top, "top", "tcib_parent")


def test_self_parent_is_a_cycle(tmp_path):
    path = write(tmp_path, "a/a.yaml", {"tcib_parent": "a"})
    message = only_problem(load_error(tmp_path))
    assert_names(message, path, "a", "tcib_parent")
    assert message.endswith("parent cycle: a -> a")


def test_duplicate_image_name(tmp_path):
    write(tmp_path, "base/base.yaml", {"tcib_cmd": "x"})
    write(tmp_path, "base/one/cron/cron.yaml", {"tcib_cmd": "a"})
    write(tmp_path, "base/two/cron/cron.yaml", {"tcib_cmd": "b"})
    message = only_problem(load_error(tmp_path))
    # the message names both places (directories), the image and what is wrong
    assert message.startswith(str(tmp_path / "base/two/cron") + ": image 'cron': duplicate image name")
    assert message.endswith("(also defined in %s)" % (tmp_path / "base/one/cron"))


def test_broken_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "base/base.yaml", "tcib_cmd: [unclosed\n")
    message = only_problem(load_error(tmp_path))
    assert message.startswith(str(path) + ": invalid YAML: ")
    assert "\n" not in message


def test_broken_yaml_in_one_file_still_reports_others(tmp_path):
    broken = write(tmp_path, "a/a.yaml", "key: : :\n  - [\n")
    bad = write(tmp_path, "b/b.yaml", {"tcib_user": ["x"]})
    error = load_error(tmp_path)
    assert len(error.problems) == 2
    assert error.problems[0].startswith(str(broken) + ": invalid YAML: ")
    assert_names(error.problems[1], bad, "b", "tcib_user")


def test_file_holding_a_list(tmp_path):
    path = write(tmp_path, "base/base.yaml", "- tcib_cmd: x\n")
    message = only_problem(load_error(tmp_path))
    assert message == "%s: image 'base': the file must hold a mapping of tcib_* keys" % path


def test_empty_root(tmp_path):
    (tmp_path / "empty-dir").mkdir()
    write(tmp_path, "notes/readme.txt", "no yaml here")
    message = only_problem(load_error(tmp_path))
    assert message == "%s: no image definitions (no directory holds a .yaml file)" % tmp_path


def test_missing_root(tmp_path):
    message = only_problem(load_error(tmp_path / "absent"))
    assert message == "%s: image definitions directory does not exist" % (tmp_path / "absent")


# ---- resolve_packages ---------------------------------------------------------------------------

DEBIAN12 = {"name": "debian12", "family": "debian", "distro": "debian"}
UBI8 = {"name": "ubi8", "family": "redhat", "distro": "rhel"}


def one_image(tmp_path, data):
    write(tmp_path, "img/img.yaml", data)
    return load_definitions(str(tmp_path))["img"]


def test_packages_common_family_profile_merged_and_deduplicated(tmp_path):
    image = one_image(tmp_path, {"tcib_packages": {
        "common": ["ca-certificates", "curl"],
        "debian": ["procps", "curl"],
        "debian12": ["libssl3", "procps", "ca-certificates"],
        "redhat": ["procps-ng"],
        "ubi8": ["microdnf-extra"],
        "modules": [{"enable": "x"}],
    }})
    assert resolve_packages(image, DEBIAN12) == ["ca-certificates", "curl", "procps", "libssl3"]
    assert resolve_packages(image, UBI8) == ["ca-certificates", "curl", "procps-ng", "microdnf-extra"]


def test_packages_plain_list_applies_to_all(tmp_path):
    image = one_image(tmp_path, {"tcib_packages": ["a", "b"]})
    assert resolve_packages(image, DEBIAN12) == ["a", "b"]
    assert resolve_packages(image, UBI8) == ["a", "b"]


def test_packages_absent_or_only_modules(tmp_path):
    assert resolve_packages(one_image(tmp_path / "1", {"tcib_cmd": "x"}), DEBIAN12) == []
    assert resolve_packages(one_image(tmp_path / "2", {"tcib_packages": {"modules": []}}), DEBIAN12) == []


def test_packages_missing_for_distro(tmp_path):
    image = one_image(tmp_path, {"tcib_packages": {"redhat": ["openstack-keystone"]}})
    with pytest.raises(DefinitionError) as info:
        resolve_packages(image, DEBIAN12)
    message = only_problem(info.value)
    assert_names(message, tmp_path / "img/img.yaml", "img", "tcib_packages")
    assert message.endswith("no package list for distro 'debian12' (has: redhat; expected one of: "
                            "common, debian, debian12)")
    assert resolve_packages(image, UBI8) == ["openstack-keystone"]


# ---- profiles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, family, distro, release, method", [
    ("debian12", "debian", "debian", "12", "bootstrap"),
    ("debian13", "debian", "debian", "13", "bootstrap"),
    ("ubi8", "redhat", "rhel", "8", "pull"),
    ("centos9", "redhat", "centos", "9", "pull"),
])
def test_real_profiles_load(name, family, distro, release, method):
    profile = load_profile(str(PROFILES_DIR), name)
    assert (profile["name"], profile["family"], profile["distro"], profile["release"]) == (
        name, family, distro, release)
    assert profile["base"]["method"] == method
    assert profile["path"] == str(PROFILES_DIR / (name + ".yml"))
    assert "{{ packages }}" in profile["package_manager"]["install"]
    assert isinstance(profile["package_manager"]["manifest"], list)


def test_unknown_profile_lists_known_ones():
    with pytest.raises(DefinitionError) as info:
        load_profile(str(PROFILES_DIR), "nope")
    assert only_problem(info.value) == "%s: unknown distro profile 'nope' (known: centos9, debian12, debian13, ubi8)" % (
        PROFILES_DIR)


def test_unknown_profile_in_missing_directory(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_profile(str(tmp_path / "none"), "x")
    assert only_problem(info.value) == "%s: unknown distro profile 'x' (known: none)" % (tmp_path / "none")


def valid_profile(name="p"):
    return {
        "name": name, "family": "debian", "distro": "debian", "release": "12",
        "base": {"method": "pull", "image": "example/base:1"},
        "package_manager": {"install": "apt-get install -y {{ packages }}", "manifest": ["dpkg-query", "-W"]},
    }


def profile_error(tmp_path, data, name="p", ext=".yml"):
    path = write(tmp_path, name + ext, data)
    with pytest.raises(DefinitionError) as info:
        load_profile(str(tmp_path), name)
    return path, info.value


def test_minimal_valid_profile(tmp_path):
    path = write(tmp_path, "p.yaml", valid_profile())
    profile = load_profile(str(tmp_path), "p")
    assert profile == dict(valid_profile(), path=str(path))


def test_yml_preferred_over_yaml(tmp_path):
    write(tmp_path, "p.yaml", dict(valid_profile(), distro="from-yaml"))
    yml = write(tmp_path, "p.yml", dict(valid_profile(), distro="from-yml"))
    profile = load_profile(str(tmp_path), "p")
    assert (profile["distro"], profile["path"]) == ("from-yml", str(yml))


def test_profile_unknown_key(tmp_path):
    path, error = profile_error(tmp_path, dict(valid_profile(), bogus=1))
    assert only_problem(error) == "%s: profile 'p': key 'bogus': unknown key" % path


def test_profile_bad_family(tmp_path):
    path, error = profile_error(tmp_path, dict(valid_profile(), family="arch"))
    assert only_problem(error) == "%s: profile 'p': key 'family': must be one of debian, redhat" % path


@pytest.mark.parametrize("key", ["name", "family", "distro", "release", "base", "package_manager"])
def test_profile_missing_required_key(tmp_path, key):
    data = valid_profile()
    del data[key]
    path, error = profile_error(tmp_path, data)
    assert only_problem(error) == "%s: profile 'p': key %r: required" % (path, key)


def test_profile_wrong_type(tmp_path):
    path, error = profile_error(tmp_path, dict(valid_profile(), release=12, transient_errors="x"))
    assert error.problems == [
        "%s: profile 'p': key 'release': must be a string" % path,
        "%s: profile 'p': key 'transient_errors': must be a list of strings" % path,
    ]


def test_profile_name_must_match_file(tmp_path):
    path, error = profile_error(tmp_path, valid_profile(name="other"))
    assert only_problem(error) == "%s: profile 'p': key 'name': must match the file name" % path


def test_profile_nested_keys(tmp_path):
    data = valid_profile()
    data["base"] = {"method": "download", "image": "x", "colour": "red"}
    data["package_manager"] = dict(data["package_manager"], manifest="dpkg -l", extra="y")
    path, error = profile_error(tmp_path, data)
    assert error.problems == [
        "%s: profile 'p': key 'base.colour': unknown key" % path,
        "%s: profile 'p': key 'package_manager.extra': unknown key" % path,  # the file lists keys sorted
        "%s: profile 'p': key 'package_manager.manifest': must be a list of strings" % path,
        "%s: profile 'p': key 'base.method': must be pull or bootstrap" % path,
    ]


def test_profile_base_image_required(tmp_path):
    data = valid_profile()
    data["base"] = {"method": "pull"}
    path, error = profile_error(tmp_path, data)
    assert only_problem(error) == "%s: profile 'p': key 'base.image': required" % path


def test_profile_not_a_mapping(tmp_path):
    path, error = profile_error(tmp_path, "- a\n- b\n")
    assert only_problem(error) == "%s: profile 'p': the file must hold a mapping" % path


def test_profile_broken_yaml(tmp_path):
    path, error = profile_error(tmp_path, "name: [p\n")
    assert only_problem(error).startswith(str(path) + ": invalid YAML: ")


def test_profile_empty_base_mapping_is_rejected(tmp_path):
    data = valid_profile()
    data["base"] = {}
    path, error = profile_error(tmp_path, data)
    assert "%s: profile 'p': key 'base.image': required" % path in error.problems


def test_profile_package_manager_install_required(tmp_path):
    data = valid_profile()
    data["package_manager"] = {"manifest": ["dpkg-query", "-W"]}
    path, error = profile_error(tmp_path, data)
    assert "%s: profile 'p': key 'package_manager.install': required" % path in error.problems
