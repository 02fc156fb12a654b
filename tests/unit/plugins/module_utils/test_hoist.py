# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _hoist: the decision from apt's resolution, the hoist file, the synthetic images in
the plan and their fingerprints."""

import pathlib

import pytest
import yaml

from ansible_collections.containergen.images.plugins.module_utils import _hoist, _pipeline
from ansible_collections.containergen.images.plugins.module_utils._command import Runner
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    DefinitionError, load_definitions,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import make_plan

from fakes import DEBIAN_PROFILE, INSTALL, FakeRun  # pylint: disable=import-error

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]

PROFILE = DEBIAN_PROFILE
MB = 10 ** 6

SIMULATION = """NOTE: This is only a simulation!
Reading package lists...
Inst libperl5.40 (5.40.1-6 Debian:13.2/stable [amd64])
Inst perl-modules-5.40 (5.40.1-6 Debian:13.2/stable [all])
Inst libc6 [2.41-11] (2.41-12 Debian:13.2/stable [amd64])
Conf libperl5.40 (5.40.1-6 Debian:13.2/stable [amd64])
"""
SHOW = """Package: libperl5.40
Version: 5.40.1-6
Installed-Size: 29322
Description: x

Package: perl-modules-5.40
Installed-Size: 19993
"""


def write(root, relpath, content):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path):
    """base ─┬─ mariadb, memcached (both install perl), cron ─ os ─ keystone"""
    root = tmp_path / "images"
    write(root, "base/base.yaml", {"tcib_packages": ["ca-certificates"], "tcib_actions": INSTALL})
    write(root, "base/mariadb/mariadb.yaml", {"tcib_packages": ["mariadb-server"], "tcib_actions": INSTALL,
                                              "tcib_user": "mysql"})
    write(root, "base/memcached/memcached.yaml", {"tcib_packages": ["memcached"], "tcib_actions": INSTALL})
    write(root, "base/cron/cron.yaml", {"tcib_packages": ["cron"], "tcib_actions": INSTALL})
    write(root, "base/os/os.yaml", {"tcib_packages": ["python3"], "tcib_actions": INSTALL})
    write(root, "base/os/keystone/keystone.yaml", {"tcib_packages": ["keystone"], "tcib_actions": INSTALL})
    return root


LAYER = {"name": "base-shared", "parent": "base", "children": ["memcached", "mariadb"],
         "packages": ["perl", "libperl5.40"], "saved_bytes": 50 * MB, "grown_bytes": 0, "reason": "perl twice"}


def decision(**layer):
    return {"enabled": True, "layers": [dict(LAYER, **layer)]}


# ---- apt's answers -----------------------------------------------------------------------------------

def test_parse_simulation_new_and_upgraded_packages():
    assert _hoist.parse_simulation(SIMULATION) == {"libc6": "2.41-12", "libperl5.40": "5.40.1-6",
                                                   "perl-modules-5.40": "5.40.1-6"}


def test_parse_sizes_kib_to_bytes():
    assert _hoist.parse_sizes(SHOW) == {"libperl5.40": 29322 * 1024, "perl-modules-5.40": 19993 * 1024}


def test_resolver_argvs_exact():
    run = FakeRun((0, "", ""), (0, SIMULATION, ""), (0, SHOW, ""))
    resolver = _hoist.Resolver(Runner(run), "debian", "/var/tmp/lists")
    resolver.fetch("localhost/x/base:latest")
    assert resolver.simulate("localhost/x/base:latest", ["memcached", "adduser"])["libperl5.40"] == "5.40.1-6"
    assert resolver.sizes("localhost/x/base:latest", ["perl-modules-5.40", "libperl5.40"])["libperl5.40"] == 29322 * 1024
    container = ["podman", "run", "--rm", "--pull=never", "--no-healthcheck", "--network", "host", "--user", "root",
                 "--volume"]
    dirs = ["-o", "Dir::State::Lists=/run/containergen-hoist-lists", "-o", "Dir::Cache::pkgcache=",
            "-o", "Dir::Cache::srcpkgcache="]
    assert run.argvs == [
        container + ["/var/tmp/lists:/run/containergen-hoist-lists:rw", "--entrypoint", "apt-get",
                     "localhost/x/base:latest", "-q"] + dirs + ["-o", "APT::Sandbox::User=root", "update"],
        container + ["/var/tmp/lists:/run/containergen-hoist-lists:ro", "--entrypoint", "apt-get",
                     "localhost/x/base:latest", "-s", "-q"] + dirs
        + ["-o", "Debug::NoLocking=1", "install", "--no-install-recommends", "adduser", "memcached"],
        container + ["/var/tmp/lists:/run/containergen-hoist-lists:ro", "--entrypoint", "apt-cache",
                     "localhost/x/base:latest", "-q"] + dirs
        + ["show", "--no-all-versions", "libperl5.40", "perl-modules-5.40"],
    ]


def test_resolver_refuses_other_families():
    with pytest.raises(ValueError, match="redhat"):
        _hoist.Resolver(Runner(FakeRun()), "redhat", "/x").fetch("img")


# ---- the decision ----------------------------------------------------------------------------------------

SIZES = {"perl": 1 * MB, "libperl": 30 * MB, "perl-modules": 20 * MB, "python3": 25 * MB, "libssl": 5 * MB,
         "mariadb-server": 100 * MB, "memcached": 1 * MB, "cron": MB}
INSTALLS = {
    "mariadb": {"mariadb-server": "1", "perl": "5", "libperl": "5", "perl-modules": "5", "libssl": "3"},
    "memcached": {"memcached": "1", "perl": "5", "libperl": "5", "perl-modules": "5"},
    "cron": {"cron": "3"},
    "os": {"python3": "3.13", "libssl": "3"},
}


def test_decide_hoists_what_saves_more_than_it_grows():
    layer = _hoist.decide("base", INSTALLS, SIZES, min_bytes=20 * MB)
    assert layer["name"] == "base-shared" and layer["children"] == ["mariadb", "memcached"]
    assert layer["packages"] == ["libperl", "perl", "perl-modules"]
    assert layer["saved_bytes"] == 51 * MB and layer["grown_bytes"] == 0
    assert layer["bytes"]["libperl"] == [30 * MB, 2]


def test_decide_growth_weight_zero_takes_every_shared_package():
    layer = _hoist.decide("base", INSTALLS, SIZES, min_bytes=0, growth_weight=0)
    # libssl (mariadb and os) is shared too; cron would save nothing, so the smaller group wins the tie
    assert layer["children"] == ["mariadb", "memcached", "os"]
    assert layer["packages"] == ["libperl", "libssl", "perl", "perl-modules"]
    assert layer["saved_bytes"] == 56 * MB


def test_decide_is_a_pure_function_of_its_input():
    shuffled = {name: dict(reversed(list(found.items()))) for name, found in reversed(list(INSTALLS.items()))}
    assert _hoist.decide("base", shuffled, SIZES) == _hoist.decide("base", INSTALLS, SIZES)


def test_decide_below_min_bytes_or_single_child_is_none():
    assert _hoist.decide("base", INSTALLS, SIZES, min_bytes=52 * MB) is None
    assert _hoist.decide("base", {"mariadb": INSTALLS["mariadb"]}, SIZES, min_bytes=0) is None


def test_decide_other_versions_are_not_shared():
    installs = {"a": {"libperl": "5"}, "b": {"libperl": "6"}}
    assert _hoist.decide("p", installs, SIZES, min_bytes=0) is None


def test_generate_resolves_each_child_in_its_parent(tree):
    definitions = load_definitions(str(tree))
    sims = {"mariadb-server": "Inst perl (5 D [amd64])\nInst libperl (5 D [amd64])\nInst mariadb-server (1 D [amd64])\n",
            "memcached": "Inst perl (5 D [amd64])\nInst libperl (5 D [amd64])\nInst memcached (1 D [amd64])\n",
            "cron": "Inst cron (3 D [amd64])\n", "python3": "Inst python3 (3 D [amd64])\n"}
    shows = "".join("Package: %s\nInstalled-Size: %d\n\n" % (name, SIZES.get(name, MB) // 1024)
                    for name in ["cron", "libperl", "mariadb-server", "memcached", "perl", "python3"])

    def answer(argv, timeout=None, env=None, data=None, log=None):
        answer.argvs.append(argv)
        if "install" in argv:
            return 0, sims[argv[-1]], ""
        return 0, shows if "show" in argv else "", ""
    answer.argvs = []
    refs = {"base": "localhost/flat/base:latest", "os": "localhost/flat/os:latest"}
    data = _hoist.generate(_hoist.Resolver(Runner(answer), "debian", "/l"), definitions, PROFILE, refs,
                           min_bytes=20 * MB)
    assert [layer["name"] for layer in data["layers"]] == ["base-shared"]  # os has one child only
    assert data["layers"][0]["packages"] == ["libperl", "perl"]
    assert data["layers"][0]["inputs"] == _hoist.inputs_digest(definitions, PROFILE, "base", ["mariadb", "memcached"])
    images = [argv[argv.index("--entrypoint") + 2] for argv in answer.argvs]
    assert set(images) == {"localhost/flat/base:latest"}
    assert [argv[-1] for argv in answer.argvs if "install" in argv] == ["cron", "mariadb-server", "memcached", "python3"]


# ---- the hoist file and the plan ---------------------------------------------------------------------

def test_apply_inserts_the_synthetic_image(tree):
    definitions = load_definitions(str(tree))
    hoisted, report = _hoist.apply(definitions, PROFILE, decision(), "/h/testdeb.yml")
    assert definitions["mariadb"].parent == "base" and "base-shared" not in definitions  # input untouched
    assert hoisted["mariadb"].parent == hoisted["memcached"].parent == "base-shared"
    assert hoisted["cron"].parent == "base" and hoisted["base-shared"].parent == "base"
    assert hoisted["base-shared"].data["tcib_packages"] == ["libperl5.40", "perl"]
    assert report[0]["status"] == "applied"
    assert _hoist.hoisted(hoisted) == report and _hoist.hoisted(hoisted, {"base", "cron"}) == []


def test_plan_with_the_synthetic_image_and_its_fingerprints(tree):
    definitions = load_definitions(str(tree))
    flat = {item.name: item for item in make_plan(definitions, PROFILE)}
    one = {item.name: item for item in make_plan(_hoist.apply(definitions, PROFILE, decision(), "/h")[0], PROFILE)}
    other = {item.name: item for item in make_plan(
        _hoist.apply(definitions, PROFILE, decision(packages=["perl"]), "/h")[0], PROFILE)}
    order = [item.name for item in make_plan(_hoist.apply(definitions, PROFILE, decision(), "/h")[0], PROFILE)]
    assert order.index("base-shared") < order.index("mariadb")
    assert one["base-shared"].packages == ["libperl5.40", "perl"]
    assert one["base-shared"].steps[-1] == ("run", "apt-get install -y libperl5.40 perl")
    assert one["mariadb"].from_ref.endswith("/base-shared:latest") and one["mariadb"].packages == ["mariadb-server"]
    # the parent and the images beside the decision keep their fingerprints; the hoisted subtree follows it
    for name in ("base", "cron", "os", "keystone"):
        assert flat[name].fingerprint == one[name].fingerprint == other[name].fingerprint
    for name in ("mariadb", "memcached"):
        assert len({flat[name].fingerprint, one[name].fingerprint, other[name].fingerprint}) == 3
    assert one["base-shared"].fingerprint != other["base-shared"].fingerprint
    assert ("user", "mysql") in one["mariadb"].steps


def test_nested_layers_generated_and_applied(tree):
    """A second layer under the first for the group of its children that still shares enough."""
    definitions = load_definitions(str(tree))
    write(tree, "base/redis/redis.yaml", {"tcib_packages": ["redis"], "tcib_actions": INSTALL})
    definitions = load_definitions(str(tree))
    sims = {"mariadb-server": ["perl", "libperl", "libssl", "mariadb-server"],
            "memcached": ["perl", "libperl", "libssl", "memcached"], "redis": ["perl", "libperl", "redis"],
            "cron": ["cron"], "python3": ["python3"]}
    sizes = dict(SIZES, redis=MB)

    def answer(argv, timeout=None, env=None, data=None, log=None):
        if "install" in argv:
            return 0, "".join("Inst %s (1 D [amd64])\n" % name for name in sims[argv[-1]]), ""
        if "show" in argv:
            return 0, "".join("Package: %s\nInstalled-Size: %d\n\n" % (name, sizes[name] // 1024)
                              for name in argv[argv.index("--no-all-versions") + 1:]), ""
        return 0, "", ""
    data = _hoist.generate(_hoist.Resolver(Runner(answer), "debian", "/l"), definitions, PROFILE,
                           {"base": "flat/base", "os": "flat/os"}, min_bytes=4 * MB)
    assert [(layer["name"], layer["parent"], layer["children"], layer["packages"]) for layer in data["layers"]] == [
        ("base-shared", "base", ["mariadb", "memcached", "redis"], ["libperl", "perl"]),
        ("base-shared-2", "base-shared", ["mariadb", "memcached"], ["libssl"]),
    ]
    hoisted, report = _hoist.apply(definitions, PROFILE, data, "/h")
    assert [entry["status"] for entry in report] == ["applied", "applied"]
    assert hoisted["base-shared-2"].parent == "base-shared" and hoisted["redis"].parent == "base-shared"
    assert hoisted["mariadb"].parent == hoisted["memcached"].parent == "base-shared-2"
    plan = [item.name for item in make_plan(hoisted, PROFILE)]
    assert plan.index("base-shared") < plan.index("base-shared-2") < plan.index("mariadb")
    assert _hoist.generate(_hoist.Resolver(Runner(answer), "debian", "/l"), definitions, PROFILE,
                           {"base": "flat/base", "os": "flat/os"}, min_bytes=4 * MB, max_layers=1)["layers"] == \
        data["layers"][:1]


def test_apply_skips_a_layer_that_does_not_fit_the_tree(tree):
    definitions = load_definitions(str(tree))
    hoisted, report = _hoist.apply(definitions, PROFILE, decision(children=["mariadb", "keystone"]), "/h")
    assert hoisted is not definitions and set(hoisted) == set(definitions)
    assert report[0]["status"] == "skipped: parent is not base: keystone"
    hoisted, report = _hoist.apply(definitions, PROFILE, decision(children=["mariadb", "nope"]), "/h")
    assert report[0]["status"] == "skipped: not images here: nope" and "base-shared" not in hoisted


def test_apply_disabled_or_absent_changes_nothing(tree):
    definitions = load_definitions(str(tree))
    assert _hoist.apply(definitions, PROFILE, dict(decision(), enabled=False), "/h") == (definitions, [])
    assert _hoist.apply(definitions, PROFILE, None, "/h") == (definitions, [])


def test_a_stale_decision_is_not_applied(tree):
    """Derived from other package lists (changed since, or another tree with the same names): skipped."""
    definitions = load_definitions(str(tree))
    fresh = _hoist.inputs_digest(definitions, PROFILE, "base", ["mariadb", "memcached"])
    assert _hoist.apply(definitions, PROFILE, decision(inputs=fresh), "/h")[1][0]["status"] == "applied"
    hoisted, report = _hoist.apply(definitions, PROFILE, decision(inputs="0" * 16), "/h")
    assert report[0]["status"] == ("skipped: stale (the package lists it was generated from changed: "
                                   "run bench/hoist.py)")
    assert set(hoisted) == set(definitions) and hoisted["mariadb"].parent == "base"
    assert _hoist.hoisted(hoisted, {"base", "mariadb"}) == report
    assert _hoist.describe(report) == ("\nnot hoisted into base-shared (under base) for mariadb, memcached: "
                                       + report[0]["status"])


def test_load_checks_the_file(tmp_path):
    assert _hoist.load(str(tmp_path / "none.yml")) is None
    path = tmp_path / "h.yml"
    layer = {"name": "x", "parent": "base", "children": [], "packages": ["perl"], "colour": 1}
    path.write_text(yaml.safe_dump({"enabled": "yes", "layers": [layer]}))
    with pytest.raises(DefinitionError) as info:
        _hoist.load(str(path))
    assert info.value.problems == [
        "%s: hoist file: key 'enabled': must be true or false" % path,
        "%s: hoist file: layers[0]: key 'colour': unknown key" % path,
        "%s: hoist file: layers[0]: key 'children': must be a non-empty list of names" % path,
        "%s: hoist file: layers[0]: key 'name': must be PARENT-shared or PARENT-shared-N" % path,
    ]


def test_pipeline_applies_the_profiles_hoist_file_unless_turned_off(tree, tmp_path):
    profiles = tmp_path / "vars" / "profiles"
    write(profiles, "testdeb.yml", PROFILE)
    write(tmp_path / "vars" / "hoist", "testdeb.yml", decision())
    options = _pipeline.PlanOptions(definitions_path=str(tree), profiles_path=str(profiles), profile="testdeb")
    plan = _pipeline.plan_images(options)
    assert plan["order"][:2] == ["base", "base-shared"] and plan["hoist"][0]["children"] == ["mariadb", "memcached"]
    flat = _pipeline.plan_images(_pipeline.PlanOptions(definitions_path=str(tree), profiles_path=str(profiles),
                                                       profile="testdeb", hoist=False))
    assert plan["table"].endswith("\nhoisted into base-shared (under base) for mariadb, memcached: perl twice")
    assert "base-shared" not in flat["order"] and flat["hoist"] == [] and "hoisted" not in flat["table"]
    only_cron = _pipeline.plan_images(_pipeline.PlanOptions(definitions_path=str(tree), profiles_path=str(profiles),
                                                            profile="testdeb", include=["cron"]))
    assert only_cron["order"] == ["base", "cron"] and only_cron["hoist"] == []


def test_describe_without_a_reason_counts_packages():
    entry = {"name": "p-shared", "parent": "p", "children": ["a", "b"], "packages": ["x", "y"], "reason": "",
             "status": "applied"}
    assert _hoist.describe([entry]) == "\nhoisted into p-shared (under p) for a, b: 2 packages"


def test_the_default_sets_hoist_file_fits_its_definitions():
    options = _pipeline.PlanOptions(profile="debian13")
    definitions, profile = _pipeline.load(options)
    report = _hoist.hoisted(definitions)
    assert report and all(entry["status"] == "applied" for entry in report), report
    plan = make_plan(definitions, profile)
    assert len(plan) == 19 + len(report)
    for entry in report:  # every synthetic image adds one layer: one RUN, the install
        item = next(i for i in plan if i.name == entry["name"])
        assert [verb for verb, dummy in item.steps] == ["user", "run"]
