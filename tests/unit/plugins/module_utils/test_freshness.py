# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The update check: dpkg's and rpm's version ordering (their own test vectors), the exact argv of
the fetch and the queries, the parsers, staleness through descendants, and the refresh salts carried
by labels. Only the command boundary is stubbed."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.containergen.images.plugins.module_utils import _freshness, _plan
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._definitions import load_definitions
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, MANIFEST_LABEL, REFRESH_LABEL, image_labels,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import LocalStore

# dpkg's scripts/t/Dpkg_Version.t table (A B A<=>B), plus the ordering of '~', the end, letters and
# non-letters, and versions as Debian's security archive writes them; every row checked against
# `dpkg --compare-versions` when it was written.
DPKG_VECTORS = """
1.0-1 2.0-2 -1
2.2~rc-4 2.2-1 -1
2.2-1 2.2~rc-4 1
1.0000-1 1.0-1 0
1 0:1 0
0 0:0-0 0
2:2.5 1:7.5 1
1:0foo 0foo 1
0:0foo 0foo 0
0foo 0foo 0
0foo-0 0foo 0
0foo 0foo-0 0
0foo 0fo 1
0foo-0 0foo+ -1
0foo~1 0foo -1
0foo~foo+Bar 0foo~foo+bar -1
0foo~~ 0foo~ -1
1~ 1 -1
12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
0foo-0 0foo-01 -1
0foo.bar 0foobar 1
0foo.bar 0foo1bar 1
0foo.bar 0foo0bar 1
0foo1bar-1 0foobar-1 -1
0foo2.0 0foo2 1
0foo2.0.0 0foo2.10.0 -1
0foo2.0 0foo2.0.0 -1
0foo2.0 0foo2.10 -1
0foo2.1 0foo2.10 -1
1.09 1.9 0
1.0.8+nmu1 1.0.8 1
3.11 3.10+nmu1 1
0.9j-20080306-4 0.9i-20070324-2 1
1.2.0~b7-1 1.2.0~b6-1 1
1.011-1 1.06-2 1
0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
4.6.99+svn6582-1 4.6.99+svn6496-1 1
53 52 1
0.9.9~pre122-1 0.9.9~pre111-1 1
2:2.3.2-2+lenny2 2:2.3.2-2 1
1:3.8.1-1 3.8.GA-1 1
1.0.1+gpl-1 1.0.1-2 1
1a 1000a -1
1.1-20080727-1 1.1-20080316-1 1
1.0~~ 1.0~~a -1
1.0~~a 1.0~ -1
1.0~ 1.0 -1
1.0 1.0a -1
1.0a 1.0+ -1
3.5.1-1 3.5.4-1~deb13u1 -1
3.5.4-1~deb13u1 3.5.4-1 -1
3.5.4-1+deb13u1 3.5.4-1 1
2:1.02.205-2 1:9.9 1
"""

# rpm's tests/rpmvercmp.at table (A B rpmvercmp(A, B))
RPM_VECTORS = """
1.0 1.0 0
1.0 2.0 -1
2.0 1.0 1
2.0.1 2.0.1 0
2.0 2.0.1 -1
2.0.1 2.0 1
2.0.1a 2.0.1a 0
2.0.1a 2.0.1 1
2.0.1 2.0.1a -1
5.5p1 5.5p1 0
5.5p1 5.5p2 -1
5.5p2 5.5p1 1
5.5p10 5.5p10 0
5.5p1 5.5p10 -1
5.5p10 5.5p1 1
10xyz 10.1xyz -1
10.1xyz 10xyz 1
xyz10 xyz10 0
xyz10 xyz10.1 -1
xyz10.1 xyz10 1
xyz.4 xyz.4 0
xyz.4 8 -1
8 xyz.4 1
xyz.4 2 -1
2 xyz.4 1
5.5p2 5.6p1 -1
5.6p1 5.5p2 1
5.6p1 6.5p1 -1
6.5p1 5.6p1 1
6.0.rc1 6.0 1
6.0 6.0.rc1 -1
10b2 10a1 1
10a2 10b2 -1
1.0aa 1.0aa 0
1.0a 1.0aa -1
1.0aa 1.0a 1
10.0001 10.0001 0
10.0001 10.1 0
10.1 10.0001 0
10.0001 10.0039 -1
10.0039 10.0001 1
4.999.9 5.0 -1
5.0 4.999.9 1
20101121 20101121 0
20101121 20101122 -1
20101122 20101121 1
2_0 2_0 0
2.0 2_0 0
2_0 2.0 0
a a 0
a+ a+ 0
a+ a_ 0
a_ a+ 0
+a +a 0
+a _a 0
_a +a 0
+_ +_ 0
_+ +_ 0
_+ _+ 0
+ _ 0
_ + 0
1.0~rc1 1.0~rc1 0
1.0~rc1 1.0 -1
1.0 1.0~rc1 1
1.0~rc1 1.0~rc2 -1
1.0~rc2 1.0~rc1 1
1.0~rc1~git123 1.0~rc1~git123 0
1.0~rc1~git123 1.0~rc1 -1
1.0~rc1 1.0~rc1~git123 1
1.0^ 1.0^ 0
1.0^ 1.0 1
1.0 1.0^ -1
1.0^git1 1.0^git1 0
1.0^git1 1.0 1
1.0 1.0^git1 -1
1.0^git1 1.0^git2 -1
1.0^git2 1.0^git1 1
1.0^git1 1.01 -1
1.01 1.0^git1 1
1.0^20160101 1.0^20160101 0
1.0^20160101 1.0.1 -1
1.0.1 1.0^20160101 1
1.0^20160101^git1 1.0^20160101^git1 0
1.0^20160102 1.0^20160101^git1 1
1.0^20160101^git1 1.0^20160102 -1
1.0~rc1^git1 1.0~rc1^git1 0
1.0~rc1^git1 1.0~rc1 1
1.0~rc1 1.0~rc1^git1 -1
1.0^git1~pre 1.0^git1~pre 0
1.0^git1 1.0^git1~pre 1
1.0^git1~pre 1.0^git1 -1
"""


def sign(number):
    return (number > 0) - (number < 0)


@pytest.mark.parametrize("first,second,expected", [line.split() for line in DPKG_VECTORS.strip().splitlines()])
def test_dpkg_ordering(first, second, expected):
    assert sign(_freshness.dpkg_compare(first, second)) == int(expected)
    assert sign(_freshness.dpkg_compare(second, first)) == -int(expected)  # antisymmetric
    assert sign(_freshness.compare("debian", first, second)) == int(expected)


@pytest.mark.parametrize("left,right,expected", [line.split() for line in RPM_VECTORS.strip().splitlines()])
def test_rpmvercmp(left, right, expected):
    assert _freshness.rpmvercmp(left, right) == int(expected)


def test_rpm_evr_ordering():
    assert _freshness.rpm_compare("1:3.0.7-27.el9", "3.0.7-28.el9") == 1  # the epoch first
    assert _freshness.rpm_compare("0:3.0.7-28.el9", "3.0.7-28.el9") == 0  # no epoch is epoch 0
    assert _freshness.rpm_compare("3.0.7-28.el9", "3.0.7-27.el9_2") == 1
    assert _freshness.rpm_compare("3.0.7", "3.0.7-27.el9") == 0  # a missing release matches any
    assert _freshness.compare("redhat", "2.0-1", "10.0-1") == -1


def test_bad_versions_and_families():
    with pytest.raises(ValueError, match="not a Debian version"):
        _freshness.dpkg_compare("x:1.0", "1.0")
    with pytest.raises(ValueError, match="family 'suse'"):
        _freshness.compare("suse", "1", "2")
    with pytest.raises(ValueError, match="family 'suse'"):
        _freshness.fetch_argv("suse")


APT_POLICY = """cgfresh-hello:
  Installed: (none)
  Candidate: 2.0
  Version table:
     2.0 500
        500 http://127.0.0.1:8473 ./ Packages
libssl3t64:amd64:
  Installed: 3.5.1-1
  Candidate: 3.5.4-1~deb13u1
  Version table:
     3.5.4-1~deb13u1 500
        500 http://security.debian.org/debian-security trixie-security/main amd64 Packages
 *** 3.5.1-1 500
        100 /var/lib/dpkg/status
local-only:
  Installed: 1.0
  Candidate: (none)
  Version table:
"""


def test_parse_apt_policy():
    assert _freshness.parse_apt_policy(APT_POLICY) == {"cgfresh-hello": "2.0", "libssl3t64": "3.5.4-1~deb13u1"}
    assert _freshness.parse_apt_policy("") == {}


def test_parse_repoquery_keeps_the_newest_and_drops_epoch_0():
    text = "openssl-libs\t1:3.0.7-28.el9\nopenssl-libs\t1:3.0.7-29.el9\nbash\t0:5.1.8-9.el9\nbad line\n"
    assert _freshness.parse_repoquery(text) == {"openssl-libs": "1:3.0.7-29.el9", "bash": "5.1.8-9.el9"}


def test_updates_of_only_newer_candidates():
    manifest = {"a": "1.0", "b": "2.0", "c": "1.0~rc1", "d": "1:1.0", "e": "1.0", "f": ""}
    candidates = {"a": "1.0", "b": "1.9", "c": "1.0", "d": "2.0", "e": "1.0+deb13u1", "f": "1.0", "g": "9"}
    assert _freshness.updates_of("debian", manifest, candidates) == {"c": ["1.0~rc1", "1.0"],
                                                                     "e": ["1.0", "1.0+deb13u1"]}


def test_argv_per_family():
    mount = _freshness.LISTS_MOUNT
    dirs = ["-o", "Dir::State::Lists=" + mount, "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="]
    assert _freshness.fetch_argv("debian") == ["apt-get", "-q"] + dirs + ["-o", "APT::Sandbox::User=root", "update"]
    assert _freshness.candidates_argv("debian", ["b", "a"]) == ["apt-cache", "-q"] + dirs + ["policy", "b", "a"]
    assert _freshness.fetch_argv("redhat") == [
        "dnf", "-q", "--setopt=cachedir=" + mount, "--setopt=keepcache=True", "makecache"]
    assert _freshness.candidates_argv("redhat", ["bash"]) == [
        "dnf", "-q", "-C", "--setopt=cachedir=" + mount, "repoquery", "--latest-limit=1", "--queryformat",
        "%{name}\t%{epoch}:%{version}-%{release}\n", "bash"]


def planned(name, parent=None, fingerprint=None):
    return _plan.PlannedImage(name, parent, "localhost/t/%s:latest" % name, "base:1" if parent is None else
                              "localhost/t/%s:latest" % parent, [], [], {}, fingerprint or "fp-" + name, 0)


def stored(item, manifest=None, fingerprint=None, extra=None):
    labels = {FINGERPRINT_LABEL: fingerprint or item.fingerprint, MANIFEST_LABEL: json.dumps(manifest or {})}
    labels.update(extra or {})
    return {"id": "id-" + item.name, "labels": labels, "size": 1}


QUERY = ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"]


class Recorder(object):
    """The command boundary: records argv; answers the base's package list and apt-cache policy."""

    def __init__(self, installed="", policy="", rc=0):
        self.calls, self.installed, self.policy, self.rc = [], installed, policy, rc

    def __call__(self, argv, check=True, **kwargs):
        assert check is False
        self.calls.append(list(argv))
        if argv[-1] == "update":
            return 0, "", ""
        if argv[-len(QUERY) + 1:] == QUERY[1:]:
            return 0, self.installed, ""
        return self.rc, self.policy, "E: broken\n  index" if self.rc else ""


def chain():
    base, mid, leaf, sib = planned("base"), planned("mid", "base"), planned("leaf", "mid"), planned("sib", "base")
    return [base, mid, sib, leaf]


def container(prefix, image, argv, mount=None):
    volume = ["--volume", mount] if mount else []
    return prefix + ["run", "--rm", "--pull=never", "--no-healthcheck", "--network", "host", "--user", "root"] \
        + volume + ["--entrypoint", argv[0], image] + argv[1:]


POLICY = """cghello:
  Installed: (none)
  Candidate: 2.0
curl:
  Installed: 8.14.1-2
  Candidate: 8.14.1-2+deb13u1
libc6:
  Installed: 2.41-12
  Candidate: 2.41-12
"""


@pytest.mark.parametrize("prefix", [["podman"], ["docker", "--host", "unix:///run/d.sock"]])
def test_check_plan_runs_three_containers_and_marks_stale_images_and_descendants(tmp_path, prefix):
    plan = chain()
    base, mid, sib, leaf = plan
    manifests = {"base": {"libc6": "2.41-12"}, "mid": {"libc6": "2.41-12", "cghello": "1.0"},
                 "leaf": {"libc6": "2.41-12", "cghello": "1.0"}, "sib": {"libc6": "2.41-12"}}
    store = LocalStore({item.ref: stored(item, manifests[item.name]) for item in plan})
    store.images["base:1"] = {"id": "b", "labels": {}, "size": 1}
    run = Recorder(installed="libc6\t2.41-12\ncurl\t8.14.1-2\n", policy=POLICY)
    checker = _freshness.Checker(run, "debian", str(tmp_path), manifest_query=QUERY, container=prefix, threads=1)
    result = _freshness.check_plan(checker, plan, store, "base:1")
    lists = str(tmp_path / "base")
    assert sorted(run.calls) == sorted([
        container(prefix, base.ref, _freshness.fetch_argv("debian"), "%s:%s" % (lists, _freshness.LISTS_MOUNT)),
        container(prefix, "base:1", QUERY),
        container(prefix, base.ref, _freshness.candidates_argv("debian", ["cghello", "curl", "libc6"]),
                  "%s:%s:ro" % (lists, _freshness.LISTS_MOUNT)),
    ])
    assert (tmp_path / "base" / "partial").is_dir()
    status = {name: entry["status"] for name, entry in result["images"].items()}
    assert status == {"base": "up to date", "mid": "stale", "leaf": "stale", "sib": "up to date"}
    assert result["salts"] == {"mid": ["cghello=2.0"], "leaf": ["cghello=2.0"]}
    assert result["base"] == {"ref": "base:1", "updates": {"curl": ["8.14.1-2", "8.14.1-2+deb13u1"]}}
    assert result["containers"] == 3
    assert _freshness.describe(result["images"]["mid"]) == "stale (1 package: cghello 1.0 → 2.0)"


def test_a_stale_parent_makes_its_children_stale(tmp_path):
    plan = chain()
    manifests = {"base": {"libc6": "2.41-11"}, "mid": {}, "leaf": {}, "sib": {}}
    store = LocalStore({item.ref: stored(item, manifests[item.name]) for item in plan})
    run = Recorder(policy=POLICY)
    result = _freshness.check_plan(_freshness.Checker(run, "debian", str(tmp_path), QUERY), plan, store, "base:1")
    assert {name: entry["status"] for name, entry in result["images"].items()} == {
        "base": "stale", "mid": "stale (parent)", "sib": "stale (parent)", "leaf": "stale (parent)"}
    assert result["salts"] == {"base": ["libc6=2.41-12"]}
    # no base image in the store: it is not asked
    assert [argv for argv in run.calls if "dpkg-query" in argv] == []


def test_check_plan_asks_only_images_up_to_date_by_fingerprint(tmp_path):
    plan = chain()
    base, mid, sib, leaf = plan
    store = LocalStore({base.ref: stored(base, {"libc6": "2.41-12"}),
                        mid.ref: stored(mid, {"cghello": "1.0"}, fingerprint="old")})
    run = Recorder(policy=POLICY)
    result = _freshness.check_plan(_freshness.Checker(run, "debian", str(tmp_path), QUERY), plan, store, "base:1")
    assert {name: entry["status"] for name, entry in result["images"].items()} == {
        "base": "up to date", "mid": "changed definition", "sib": "absent", "leaf": "absent"}
    queries = [argv for argv in run.calls if "policy" in argv]
    assert len(queries) == 1 and queries[0][queries[0].index("policy") + 1:] == ["libc6"]


def test_nothing_current_asks_the_base_alone(tmp_path):
    plan = chain()
    store = LocalStore({"base:1": {"id": "b", "labels": {}, "size": 1}})
    run = Recorder(installed="curl\t8.14.1-2\n", policy=POLICY)
    result = _freshness.check_plan(_freshness.Checker(run, "debian", str(tmp_path), QUERY), plan, store, "base:1")
    assert result["base"]["updates"] == {"curl": ["8.14.1-2", "8.14.1-2+deb13u1"]}
    assert {argv[argv.index("--entrypoint") + 2] for argv in run.calls} == {"base:1"}
    assert [argv[-1] for argv in run.calls if "policy" in argv] == ["curl"]


def test_a_failed_query_names_the_image_and_what_was_asked(tmp_path):
    plan = [planned("base")]
    store = LocalStore({plan[0].ref: stored(plan[0], {"libc6": "1"})})
    checker = _freshness.Checker(Recorder(rc=100), "debian", str(tmp_path), QUERY)
    with pytest.raises(CommandError) as caught:
        _freshness.check_plan(checker, plan, store, "b")
    assert caught.value.rc == 100
    assert caught.value.output == "update check, candidate versions in localhost/t/base:latest: E: broken index"


def test_the_base_query_needs_the_profiles_manifest_query(tmp_path):
    with pytest.raises(ValueError, match="package_manager.manifest"):
        _freshness.Checker(Recorder(), "debian", str(tmp_path)).installed("base:1")


class LabelOptions(object):
    created, source_revision, source_url, version = "2026-01-01T00:00:00Z", "", "", ""


def test_refresh_label_is_keyed_by_the_image_and_carried_by_the_next_plan():
    item = planned("mid", "base")
    item.refresh = ["cghello=2.0"]
    labels = image_labels(item, {"name": "p"}, {}, LabelOptions())
    assert json.loads(labels[REFRESH_LABEL]) == {"mid": ["cghello=2.0"]}
    child = planned("leaf", "mid")
    assert REFRESH_LABEL not in image_labels(child, {"name": "p"}, {}, LabelOptions())
    store = LocalStore({item.ref: {"id": "1", "labels": labels, "size": 1},
                        # a child inherits its parent's label: it is not the child's salt
                        child.ref: {"id": "2", "labels": dict(labels), "size": 1}})
    assert _freshness.carried_salts([item, child], store) == {"mid": ["cghello=2.0"]}


def test_a_salt_changes_the_fingerprint_of_its_image_and_descendants_only(tmp_path):
    root = tmp_path / "images"
    install = [{"run": "{{ tcib_install }}"}]
    for relpath, packages in (("base/base.yaml", ["procps"]), ("base/mid/mid.yaml", ["cghello"]),
                              ("base/mid/leaf/leaf.yaml", ["curl"]), ("base/sib/sib.yaml", ["cron"])):
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"tcib_packages": packages, "tcib_actions": install}), encoding="utf-8")
    profile = {"name": "testdeb", "family": "debian", "distro": "debian", "release": "12",
               "base": {"method": "pull", "image": "example.org/base:12"},
               "package_manager": {"install": "apt-get install -y {{ packages }}", "manifest": ["dpkg-query", "-W"]}}
    images = load_definitions(str(root))
    before = {item.name: item.fingerprint for item in _plan.make_plan(images, profile)}
    plan = _plan.make_plan(images, profile, refresh={"mid": ["cghello=2.0"]})
    after = {item.name: item.fingerprint for item in plan}
    assert sorted(name for name in before if before[name] != after[name]) == ["leaf", "mid"]
    assert {item.name: item.refresh for item in plan}["mid"] == ["cghello=2.0"]
    assert {item.name: item.fingerprint for item in _plan.make_plan(images, profile, refresh={})} == before
