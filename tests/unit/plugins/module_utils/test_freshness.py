# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The update check: exact argv of the fetch and the per-image check, the parsers, staleness
through descendants, and the refresh salts carried by labels. Only the command boundary is stubbed."""

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

APT_SIM = """NOTE: This is only a simulation!
Reading package lists...
Building dependency tree...
Calculating upgrade...
The following packages will be upgraded:
  cghello libssl3t64
2 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
Inst libnew1 (1.0 Debian:13 [amd64])
Inst cghello [1.0] (2.0 localhost [all])
Inst libssl3t64:amd64 [3.5.1-1] (3.5.4-1~deb13u1 Debian-Security:13/stable-security [amd64])
Conf cghello (2.0 localhost [all])
"""

DNF_OUT = """
openssl-libs.x86_64            1:3.0.7-28.el9          baseos
python3-nova.noarch            27.1.0-1.el9            openstack
Obsoleting Packages
foo.noarch                     2-1                     baseos
"""


def test_parse_apt_simulation_upgrades_only():
    assert _freshness.parse_apt_simulation(APT_SIM) == {
        "cghello": ["1.0", "2.0"], "libssl3t64": ["3.5.1-1", "3.5.4-1~deb13u1"]}
    assert _freshness.parse_apt_simulation("0 upgraded, 0 newly installed\n") == {}


def test_parse_dnf_check_update_takes_installed_from_the_manifest():
    assert _freshness.parse_dnf_check_update(DNF_OUT, {"openssl-libs": "1:3.0.7-27.el9"}) == {
        "openssl-libs": ["1:3.0.7-27.el9", "1:3.0.7-28.el9"], "python3-nova": ["", "27.1.0-1.el9"]}


def test_argv_per_family():
    mount = _freshness.LISTS_MOUNT
    dirs = ["-o", "Dir::State::Lists=" + mount, "-o", "Dir::Cache::srcpkgcache=%s/srcpkgcache.bin" % mount,
            "-o", "Dir::Cache::pkgcache="]
    assert _freshness.fetch_argvs("debian") == [
        ["apt-get", "-q"] + dirs + ["-o", "APT::Sandbox::User=root", "update"], ["apt-cache", "-q"] + dirs + ["gencaches"]]
    assert _freshness.check_argv("debian") == ["apt-get", "-s", "-q"] + dirs + ["-o", "Debug::NoLocking=1", "dist-upgrade"]
    assert _freshness.fetch_argvs("redhat") == [[
        "dnf", "-q", "--setopt=cachedir=" + mount, "--setopt=keepcache=True", "makecache"]]
    assert _freshness.check_argv("redhat") == ["dnf", "-q", "-C", "--setopt=cachedir=" + mount, "check-update"]
    with pytest.raises(ValueError, match="family 'suse'"):
        _freshness.check_argv("suse")


def planned(name, parent=None, fingerprint=None):
    return _plan.PlannedImage(name, parent, "localhost/t/%s:latest" % name, "base:1" if parent is None else
                              "localhost/t/%s:latest" % parent, [], [], {}, fingerprint or "fp-" + name, 0)


def stored(item, manifest=None, fingerprint=None, extra=None):
    labels = {FINGERPRINT_LABEL: fingerprint or item.fingerprint, MANIFEST_LABEL: json.dumps(manifest or {})}
    labels.update(extra or {})
    return {"id": "id-" + item.name, "labels": labels, "size": 1}


class Recorder(object):
    """The command boundary: records argv, answers the apt-get -s of each image from a table."""

    def __init__(self, answers, rc=0):
        self.calls, self.answers, self.rc = [], answers, rc

    def __call__(self, argv, check=True, **kwargs):
        self.calls.append(list(argv))
        image = argv[argv.index("--entrypoint") + 2]
        if argv[-1] in ("update", "gencaches"):
            return 0, "", ""
        return self.rc, self.answers.get(image, ""), "E: broken" if self.rc else ""


def chain():
    base, mid, leaf, sib = planned("base"), planned("mid", "base"), planned("leaf", "mid"), planned("sib", "base")
    return [base, mid, sib, leaf]


def test_check_plan_fetches_once_and_marks_stale_images_and_descendants(tmp_path):
    plan = chain()
    base, mid, sib, leaf = plan
    store = LocalStore({item.ref: stored(item) for item in plan})
    store.images["base:1"] = {"id": "b", "labels": {}, "size": 1}
    answers = {mid.ref: "Inst cghello [1.0] (2.0 localhost [all])\n"}
    run = Recorder(answers)
    checker = _freshness.Checker(run, "debian", str(tmp_path), threads=1)
    result = _freshness.check_plan(checker, plan, store, "base:1")
    lists = str(tmp_path / "base")
    fetches = [argv for argv in run.calls if argv[-1] in ("update", "gencaches")]
    assert fetches == [["podman", "run", "--rm", "--pull=never", "--no-healthcheck", "--network", "host", "--user",
                        "root", "--volume", "%s:%s" % (lists, _freshness.LISTS_MOUNT), "--entrypoint", argv[0],
                        base.ref] + argv[1:] for argv in _freshness.fetch_argvs("debian")]
    checks = sorted(argv[argv.index("--entrypoint") + 2] for argv in run.calls if argv[-1] == "dist-upgrade")
    assert checks == sorted([base.ref, mid.ref, sib.ref, leaf.ref, "base:1"])
    assert ["podman", "run", "--rm", "--pull=never", "--no-healthcheck", "--network", "host", "--user", "root", "--volume",
            "%s:%s:ro" % (lists, _freshness.LISTS_MOUNT), "--entrypoint", "apt-get", mid.ref] \
        + _freshness.check_argv("debian")[1:] in run.calls
    status = {name: entry["status"] for name, entry in result["images"].items()}
    assert status == {"base": "up to date", "mid": "stale", "leaf": "stale (parent)", "sib": "up to date"}
    assert result["salts"] == {"mid": ["cghello=2.0"]}
    assert result["base"]["updates"] == {}
    assert _freshness.describe(result["images"]["mid"]) == "stale (1 package: cghello 1.0 → 2.0)"


def test_check_plan_asks_only_images_up_to_date_by_fingerprint(tmp_path):
    plan = chain()
    base, mid, sib, leaf = plan
    store = LocalStore({base.ref: stored(base), mid.ref: stored(mid, fingerprint="old")})
    run = Recorder({})
    result = _freshness.check_plan(_freshness.Checker(run, "debian", str(tmp_path)), plan, store, "base:1")
    assert {name: entry["status"] for name, entry in result["images"].items()} == {
        "base": "up to date", "mid": "changed definition", "sib": "absent", "leaf": "absent"}
    assert [argv[argv.index("--entrypoint") + 2] for argv in run.calls if argv[-1] == "dist-upgrade"] == [base.ref]


def test_a_failed_check_names_the_image(tmp_path):
    plan = [planned("base")]
    store = LocalStore({plan[0].ref: stored(plan[0])})
    with pytest.raises(CommandError, match="apt-get -s"):
        try:
            _freshness.check_plan(_freshness.Checker(Recorder({}, rc=100), "debian", str(tmp_path)), plan, store, "b")
        except CommandError as exc:
            assert "update check of localhost/t/base:latest" in exc.output
            raise CommandError(["apt-get", "-s"], exc.rc, exc.output)


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
