# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Declared omissions (tcib_omit_packages): the script, its resolution and checks, the plan's last
step, and the hoist simulation that leaves omitted packages out."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.containergen.images.plugins.module_utils import _hoist, _omit, _pipeline
from ansible_collections.containergen.images.plugins.module_utils._command import Runner
from ansible_collections.containergen.images.plugins.module_utils._containerfile import render_containerfile
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    DefinitionError, ImageDefinition, load_definitions, resolve_omissions,
)
from ansible_collections.containergen.images.plugins.module_utils._plan import make_plan, plan_table
from ansible_collections.containergen.images.plugins.module_utils._progress import run_step_label

from fakes import DEBIAN_PROFILE, INSTALL, FakeRun  # pylint: disable=import-error

PROFILE = DEBIAN_PROFILE
REASON = "memcached-tool only"


def write(root, relpath, content):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def image(data):
    return ImageDefinition("svc", "/defs/svc", None, ["/defs/svc/svc.yaml"], data,
                           {key: "/defs/svc/svc.yaml" for key in data})


def plan_of(tmp_path, data, children=None):
    root = tmp_path / "images"
    write(root, "svc/svc.yaml", data)
    for name, child in (children or {}).items():
        write(root, "svc/%s/%s.yaml" % (name, name), child)
    return {item.name: item for item in make_plan(load_definitions(str(root)), PROFILE)}


# ---- the script ---------------------------------------------------------------------------------------

def test_script_stubs_then_purges_quoted_names():
    script = _omit.omit_script(["perl", "libstdc++6", "a'b"])
    assert script.startswith("# containergen: omit packages (tcib_omit_packages): perl libstdc++6 'a'\"'\"'b'\n")
    assert "for name in perl libstdc++6 'a'\"'\"'b'; do\n" in script
    for field in ('"Package: containergen-omitted-$1"', '"Version: $2"', '"Architecture: all"',
                  '"Multi-Arch: allowed"', '"Maintainer: containergen.images"',
                  '"Provides: $1 (= $2)${3:+, $3}"', "-f='${Provides}'"):
        assert field in script
    assert "dpkg-query -W -f='${db:Status-Status} ${Version}' \"$name\"" in script
    assert "dpkg-deb --root-owner-group -Zgzip --build" in script
    assert 'dpkg -i "$work"/*.deb' in script
    assert 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove "$@"\n' in script
    # not installed: a stub at the candidate version, from lists fetched for it and removed again
    assert 'absent="$absent $name"' in script and "apt-get update -qq >&2" in script
    assert "apt-cache show --no-all-versions \"$name\"" in script and "rm -rf /var/lib/apt/lists/*" in script
    assert "is neither installed nor available: nothing to omit\" >&2" in script
    assert script.index("dpkg -i") < script.index("apt-get purge") < script.index('rm -rf "$work"')
    assert script.startswith(_omit.OMIT_MARKER) and _omit.stub_name("perl") == "containergen-omitted-perl"


def test_script_refuses_to_take_a_manual_package_with_it():
    script = _omit.omit_script(["perl"])
    assert "manual=$(apt-mark showmanual)" in script and "cannot omit\" >&2\n      exit 1" in script


@pytest.mark.skipif(not shutil.which("sh"), reason="no POSIX shell")
@pytest.mark.parametrize("names", [["perl"], ["perl", "python3", "libstdc++6"]])
def test_scripts_are_valid_posix_sh(names):
    for script in (_omit.omit_script(names),
                   _omit.simulate_script(names, ["-o", "Dir::State::Lists=/l"], ["apt-get", "-s", "install", "x"])):
        assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_simulate_script_uses_candidate_versions_and_execs_the_simulation():
    script = _omit.simulate_script(["perl"], ["-o", "Dir::State::Lists=/run/x y"], ["apt-get", "-s", "install", "a b"])
    assert ("apt-cache -q -o 'Dir::State::Lists=/run/x y' show --no-all-versions \"$name\"" in script)
    assert "sed -n 's/^Version: //p' | head -n 1" in script
    assert 'dpkg -i "$work/$name.deb" >&2' in script  # its output must not mix with the simulation's
    assert script.endswith("exec apt-get -s install 'a b'\n")
    assert '"Multi-Arch: allowed"' in script  # the same stub as the build's


def test_progress_label():
    assert run_step_label(_omit.omit_step(["perl"]), "apt-get install", 3, 3) == "omit packages"
    assert run_step_label("echo hi", "apt-get install", 1, 3) == "run 1/3"


# ---- resolution and checks -----------------------------------------------------------------------------

def test_resolution_first_occurrence_wins_in_key_order():
    data = {"tcib_omit_packages": {"testdeb": {"perl": "profile", "x": "profile"}, "common": {"python3": "common"},
                                   "debian": {"perl": "family", "bc": "family"}, "redhat": {"perl-base": "no"}}}
    expected = {"python3": "common", "perl": "family", "bc": "family", "x": "profile"}
    assert resolve_omissions(image(data), PROFILE) == expected
    assert list(resolve_omissions(image(data), PROFILE)) == ["python3", "perl", "bc", "x"]
    assert resolve_omissions(image({}), PROFILE) == {}


def test_type_errors_name_file_image_key(tmp_path):
    write(tmp_path, "svc/svc.yaml", {"tcib_omit_packages": {"debian": {"perl": ""}}})
    with pytest.raises(DefinitionError) as info:
        load_definitions(str(tmp_path))
    assert info.value.problems == ["%s: image 'svc': key 'tcib_omit_packages': entry 'debian': package 'perl': "
                                   "the reason must be a non-empty string (why it is omitted)"
                                   % (tmp_path / "svc" / "svc.yaml")]


def test_extra_config_may_set_omissions(tmp_path):
    write(tmp_path, "svc/svc.yaml", {"tcib_packages": ["memcached"]})
    from ansible_collections.containergen.images.plugins.module_utils._definitions import apply_extra_config
    images = load_definitions(str(tmp_path))
    extra = write(tmp_path / "extra", "extra.yml", {"tcib_omit_packages": {"common": {"perl": REASON}}})
    apply_extra_config(images, str(extra))
    assert resolve_omissions(images["svc"], PROFILE) == {"perl": REASON}


# ---- the plan -------------------------------------------------------------------------------------------

def test_last_step_after_the_actions_and_in_the_fingerprint(tmp_path):
    data = {"tcib_packages": ["memcached"], "tcib_actions": INSTALL + [{"run": "a2enmod x"}],
            "tcib_cmd": "memcached", "tcib_user": "memcache"}
    plain = plan_of(tmp_path / "a", data)["svc"]
    omitting = plan_of(tmp_path / "b", dict(data, tcib_omit_packages={"debian": {"perl": REASON}}))["svc"]
    assert omitting.steps[:-3] == plain.steps[:-2]  # up to and with the image's own actions
    assert omitting.steps[-3] == ("run", _omit.omit_step(["perl"]))
    assert omitting.steps[-2:] == plain.steps[-2:] == [("cmd", ["memcached"]), ("user", "memcache")]
    assert omitting.fingerprint != plain.fingerprint
    assert omitting.omitted == {"perl": REASON} and plain.omitted == {}
    assert omitting.as_dict()["omitted"] == {"perl": REASON} and "omitted" not in plain.as_dict()
    more = plan_of(tmp_path / "c", dict(data, tcib_omit_packages={"debian": {"perl": REASON, "bc": "x"}}))["svc"]
    assert more.fingerprint != omitting.fingerprint
    # the reason documents the omission: changing it does not rebuild the image
    reworded = plan_of(tmp_path / "d", dict(data, tcib_omit_packages={"debian": {"perl": "other words"}}))["svc"]
    assert reworded.fingerprint == omitting.fingerprint


def test_the_step_runs_as_root_and_gives_the_actions_user_back(tmp_path):
    data = {"tcib_packages": ["memcached"], "tcib_actions": INSTALL + [{"user": "memcache"}],
            "tcib_omit_packages": {"common": {"perl": REASON}}}
    steps = plan_of(tmp_path, data)["svc"].steps
    assert steps[-4:] == [("user", "memcache"), ("user", "root"), ("run", _omit.omit_step(["perl"])),
                          ("user", "memcache")]


def test_children_fingerprints_follow(tmp_path):
    child = {"tcib_packages": ["perl"], "tcib_actions": INSTALL}
    one = plan_of(tmp_path / "a", {"tcib_packages": ["memcached"], "tcib_actions": INSTALL}, {"kid": child})
    two = plan_of(tmp_path / "b", {"tcib_packages": ["memcached"], "tcib_actions": INSTALL,
                                   "tcib_omit_packages": {"debian": {"perl": REASON}}}, {"kid": child})
    assert one["kid"].fingerprint != two["kid"].fingerprint
    assert two["kid"].omitted == {}  # a child installs perl back: omissions are not inherited


def test_plan_table_and_module_result_show_omissions(tmp_path):
    root = tmp_path / "images"
    write(root, "memcached/memcached.yaml", {"tcib_packages": ["memcached"], "tcib_actions": INSTALL,
                                             "tcib_omit_packages": {"debian": {"perl": REASON, "bc": "unused"}}})
    profiles = tmp_path / "profiles"
    write(profiles, "testdeb.yml", PROFILE)
    result = _pipeline.plan_images(_pipeline.PlanOptions(definitions_path=str(root), profiles_path=str(profiles),
                                                         profile="testdeb", hoist=False))
    assert result["images"][0]["omitted"] == {"perl": REASON, "bc": "unused"}
    assert result["table"].endswith("\nomitted from memcached: bc (unused), perl (memcached-tool only)")  # file order
    json.dumps(result)


def test_describe_without_omissions_is_empty(tmp_path):
    plan = plan_of(tmp_path, {"tcib_packages": ["memcached"], "tcib_actions": INSTALL})
    assert _omit.describe(plan.values()) == ""
    assert "omitted" not in plan_table(list(plan.values()))


def test_containerfile_runs_the_step_as_root(tmp_path):
    planned = plan_of(tmp_path, {"tcib_packages": ["memcached"], "tcib_actions": INSTALL, "tcib_user": "memcache",
                                 "tcib_omit_packages": {"debian": {"perl": REASON}}})["svc"]
    text = render_containerfile(planned, PROFILE, str(tmp_path / "images" / "svc"), "containergen-manifest-0")[0]
    runs = [line for line in text.splitlines() if line.startswith("RUN ")]
    script = json.loads(runs[0][4:])[2]
    assert "apt-get install -y memcached" in script and "# containergen: omit packages" in script
    assert script.index("apt-get install -y memcached") < script.index("apt-get purge") < script.index("apt-get clean")
    assert text.index("RUN ") < text.index("USER memcache")


# ---- shared layers ---------------------------------------------------------------------------------------

def test_simulate_argv_runs_the_stub_script_with_the_same_apt_options():
    run = FakeRun((0, "Inst libevent (2 D [amd64])\nInst perl (5 D [amd64])\nInst memcached (1 D [amd64])\n", ""))
    resolver = _hoist.Resolver(Runner(run), "debian", "/var/tmp/lists")
    assert resolver.simulate("localhost/x/base:latest", ["memcached"], ["perl"]) == {"libevent": "2", "memcached": "1"}
    dirs = ["-o", "Dir::State::Lists=/run/containergen-hoist-lists", "-o", "Dir::Cache::pkgcache=",
            "-o", "Dir::Cache::srcpkgcache="]
    simulation = ["apt-get", "-s", "-q"] + dirs + ["-o", "Debug::NoLocking=1", "install", "--no-install-recommends",
                                                   "memcached"]
    assert run.argvs == [["podman", "run", "--rm", "--pull=never", "--no-healthcheck", "--network", "host", "--user",
                          "root", "--volume", "/var/tmp/lists:/run/containergen-hoist-lists:ro", "--entrypoint", "sh",
                          "localhost/x/base:latest", "-c", _omit.simulate_script(["perl"], dirs, simulation)]]
    assert "apt-cache -q -o Dir::State::Lists=/run/containergen-hoist-lists -o Dir::Cache::pkgcache= " in run.argvs[0][-1]
    assert _hoist.simulate_argv(["memcached"]) == simulation


def test_generate_passes_each_childs_omissions_and_digests_them(tmp_path):
    root = tmp_path / "images"
    write(root, "base/base.yaml", {"tcib_packages": ["ca-certificates"], "tcib_actions": INSTALL})
    write(root, "base/a/a.yaml", {"tcib_packages": ["memcached"], "tcib_actions": INSTALL,
                                  "tcib_omit_packages": {"debian": {"perl": REASON}}})
    write(root, "base/b/b.yaml", {"tcib_packages": ["mariadb-server"], "tcib_actions": INSTALL})
    definitions = load_definitions(str(root))
    seen = []

    class Resolver(object):
        def fetch(self, image):
            pass

        def simulate(self, image, packages, omitted=()):
            seen.append((list(packages), list(omitted)))
            return {"perl": "5", "libperl": "5"} if not omitted else {"libevent": "2"}

        def sizes(self, image, packages):
            return {name: 30 * 10 ** 6 for name in packages}

    data = _hoist.generate(Resolver(), definitions, PROFILE, {"base": "localhost/flat/base:latest"}, min_bytes=1)
    assert seen == [(["memcached"], ["perl"]), (["mariadb-server"], [])]
    assert data["layers"] == []  # perl is not shared: the child installing memcached leaves it out
    plain = load_definitions(str(root))
    plain["a"].data.pop("tcib_omit_packages")
    assert _hoist.inputs_digest(definitions, PROFILE, "base", ["a", "b"]) != \
        _hoist.inputs_digest(plain, PROFILE, "base", ["a", "b"])


def test_inputs_digest_without_omissions_is_unchanged(tmp_path):
    """Hoist files generated before omissions existed stay current."""
    root = tmp_path / "images"
    write(root, "base/base.yaml", {"tcib_packages": ["ca-certificates"]})
    write(root, "base/a/a.yaml", {"tcib_packages": ["less"]})
    definitions = load_definitions(str(root))
    import hashlib
    lists = {"base": ["ca-certificates"], "a": ["less"]}
    assert _hoist.inputs_digest(definitions, PROFILE, "base", ["a"]) == \
        hashlib.sha256(json.dumps(lists, sort_keys=True).encode("utf-8")).hexdigest()[:16]
