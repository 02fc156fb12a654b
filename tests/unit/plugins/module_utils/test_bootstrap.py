# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _bootstrap: mmdebstrap/dnf argv, the host's Debian mirror, the recipe hash, ensure_base."""

import copy
import hashlib
import pathlib

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _bootstrap
from ansible_collections.containergen.images.plugins.module_utils._bootstrap import (
    DEFAULT_DEBIAN_MIRROR, RECIPE_LABEL, dnf_argv, ensure_base, host_debian_mirror, mmdebstrap_argv, recipe,
    recipe_hash,
)
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError, load_profile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]
PROFILES_DIR = REPO_ROOT / "vars" / "profiles"

SETTINGS = {
    "tool": "mmdebstrap",
    "suite": "bookworm",
    "variant": "minbase",
    "mirror": "http://mirror.example/debian",
    "hook_dirs": ["/usr/share/mmdebstrap/hooks/merged-usr"],
    "include": ["ca-certificates", "dumb-init"],
    "dpkg_options": ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright"],
    "apt_options": ['APT::Install-Recommends "false"'],
    "customize_hooks": ['rm -rf "$1"/var/lib/apt/lists/*'],
}


# ---- mmdebstrap / dnf argv ----------------------------------------------------------------------

def test_mmdebstrap_argv_full():
    assert mmdebstrap_argv(SETTINGS, "/work/debian12-rootfs.tar") == [
        "mmdebstrap", "--mode=root", "--format=tar", "--variant=minbase",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        "--include=ca-certificates,dumb-init",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        '--aptopt=APT::Install-Recommends "false"',
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/*',
        "bookworm", "/work/debian12-rootfs.tar", "http://mirror.example/debian",
    ]


def test_mmdebstrap_argv_minimal():
    assert mmdebstrap_argv({"suite": "trixie", "mirror": "http://m/debian"}, "out.tar") == [
        "mmdebstrap", "--mode=root", "--format=tar", "--variant=minbase", "trixie", "out.tar", "http://m/debian"]


def test_mmdebstrap_argv_real_debian12_profile(monkeypatch):
    monkeypatch.setattr(_bootstrap, "host_debian_mirror", lambda: "http://host.mirror/debian")
    settings = recipe(load_profile(str(PROFILES_DIR), "debian12"))
    argv = mmdebstrap_argv(settings, "/tmp/x.tar")
    assert argv[:5] == ["mmdebstrap", "--mode=root", "--format=tar", "--variant=minbase",
                        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]
    assert argv[-3:] == ["bookworm", "/tmp/x.tar", "http://host.mirror/debian"]
    assert len([a for a in argv if a.startswith("--dpkgopt=")]) == 9
    assert len([a for a in argv if a.startswith("--aptopt=")]) == 5
    assert len([a for a in argv if a.startswith("--customize-hook=")]) == 2
    assert all(isinstance(a, str) for a in argv)


def test_dnf_argv():
    settings = {"releasever": "9", "repos": ["baseos,https://m/BaseOS", "appstream,https://m/AppStream"],
                "include": ["coreutils-single", "dnf"]}
    assert dnf_argv(settings, "/work/root") == [
        "dnf", "-y", "--installroot=/work/root", "--releasever=9", "--setopt=install_weak_deps=False",
        "--setopt=tsflags=nodocs", "--nodocs", "--repofrompath=baseos,https://m/BaseOS",
        "--repofrompath=appstream,https://m/AppStream", "install", "coreutils-single", "dnf"]


# ---- host_debian_mirror -------------------------------------------------------------------------

def test_mirror_from_deb822(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "# comment\n"
        "Types: deb\n"
        "URIs: http://ftp.example.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://security.debian.org/debian-security\n"
        "Suites: bookworm-security\n", encoding="utf-8")
    assert host_debian_mirror((str(sources),)) == "http://ftp.example.org/debian"


def test_mirror_from_one_line_sources_list(tmp_path):
    sources = tmp_path / "sources.list"
    sources.write_text("# deb http://commented.example/debian bookworm main\n"
                       "deb-src http://src.example/debian bookworm main\n"
                       "deb http://one.example/debian bookworm main contrib\n", encoding="utf-8")
    assert host_debian_mirror((str(sources),)) == "http://one.example/debian"


def test_mirror_one_line_with_options(tmp_path):
    sources = tmp_path / "sources.list"
    sources.write_text("deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://opt.example/debian "
                       "bookworm main\n", encoding="utf-8")
    assert host_debian_mirror((str(sources),)) == "https://opt.example/debian"


def test_mirror_first_file_with_an_entry_wins(tmp_path):
    empty = tmp_path / "debian.sources"
    empty.write_text("# nothing here\n", encoding="utf-8")
    listing = tmp_path / "sources.list"
    listing.write_text("deb http://second.example/debian bookworm main\n", encoding="utf-8")
    deb822 = tmp_path / "other.sources"
    deb822.write_text("URIs: http://first.example/debian\n", encoding="utf-8")
    assert host_debian_mirror((str(tmp_path / "missing"), str(empty), str(listing))) == \
        "http://second.example/debian"
    assert host_debian_mirror((str(deb822), str(listing))) == "http://first.example/debian"


def test_mirror_default_when_nothing_found(tmp_path):
    assert host_debian_mirror((str(tmp_path / "absent.sources"), str(tmp_path / "absent.list"))) == \
        DEFAULT_DEBIAN_MIRROR == "http://deb.debian.org/debian"


# ---- recipe / recipe_hash -----------------------------------------------------------------------

def test_recipe_hash_is_sha256_of_sorted_json():
    assert recipe_hash({"b": 1, "a": ["x"]}) == hashlib.sha256(b'{"a": ["x"], "b": 1}').hexdigest()


def test_recipe_hash_stable_and_sensitive():
    first = recipe_hash(copy.deepcopy(SETTINGS))
    assert recipe_hash(dict(reversed(list(SETTINGS.items())))) == first
    assert recipe_hash(dict(SETTINGS, mirror="http://other/debian")) != first
    assert recipe_hash(dict(SETTINGS, include=["ca-certificates"])) != first
    assert recipe_hash(dict(SETTINGS, include=["dumb-init", "ca-certificates"])) != first
    assert len({recipe_hash(dict(SETTINGS, suite=s)) for s in ("bookworm", "trixie", "sid")}) == 3


def test_recipe_fills_empty_mirror_from_host(monkeypatch):
    monkeypatch.setattr(_bootstrap, "host_debian_mirror", lambda: "http://host.mirror/debian")
    profile = {"base": {"bootstrap": {"suite": "bookworm", "mirror": ""}}}
    assert recipe(profile) == {"suite": "bookworm", "mirror": "http://host.mirror/debian"}
    assert profile["base"]["bootstrap"]["mirror"] == ""  # the profile is not modified


def test_recipe_keeps_explicit_mirror_and_dnf(monkeypatch):
    monkeypatch.setattr(_bootstrap, "host_debian_mirror", lambda: pytest.fail("must not look at the host"))
    assert recipe({"base": {"bootstrap": {"mirror": "http://set/debian"}}}) == {"mirror": "http://set/debian"}
    assert recipe({"base": {"bootstrap": {"tool": "dnf", "releasever": "9"}}}) == {"tool": "dnf", "releasever": "9"}


# ---- ensure_base (fake runner and engine) -------------------------------------------------------

class FakeRun(object):
    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def __call__(self, argv, capture=True, env=None, **kwargs):
        self.calls.append(list(argv))
        if argv[0] == "mmdebstrap":
            pathlib.Path(argv[-2]).write_bytes(b"tarball")  # what the real tool leaves behind
        answer = self.answers.get(argv[0], (0, "", ""))
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeEngine(BuildahEngine):
    """The real buildah engine (its argv goes to FakeRun) over a fixed image listing."""

    def __init__(self, images):
        BuildahEngine.__init__(self)
        self.images = images

    def list_images(self, run):
        return self.images


def pull_profile(**base):
    return {"name": "ubi8", "path": "/p/ubi8.yml",
            "base": dict({"method": "pull", "image": "registry.example/ubi8:latest"}, **base)}


def test_ensure_base_pull_present():
    run = FakeRun()
    images = {"registry.example/ubi8:latest": {"id": "abc", "labels": {}, "size": 1}}
    assert ensure_base(run, FakeEngine(images), pull_profile(), "/unused", images=images) == ("abc", "present")
    assert run.calls == []


def test_ensure_base_pull_missing_with_other_source():
    run = FakeRun()
    engine = FakeEngine({"registry.example/ubi8:latest": {"id": "new", "labels": {}, "size": 1}})
    result = ensure_base(run, engine, pull_profile(pull="mirror.example/ubi8:8.9"), "/unused", images={})
    assert result == ("new", "pulled")
    assert run.calls == [["podman", "pull", "--quiet", "mirror.example/ubi8:8.9"],
                         ["podman", "tag", "mirror.example/ubi8:8.9", "registry.example/ubi8:latest"]]


def test_ensure_base_bootstrap(tmp_path, monkeypatch):
    monkeypatch.setattr(_bootstrap, "host_debian_mirror", lambda: "http://host.mirror/debian")
    profile = {"name": "deb", "path": "/p/deb.yml",
               "base": {"method": "bootstrap", "image": "localhost/deb-rootfs:1",
                        "bootstrap": {"suite": "bookworm", "mirror": ""}}}
    digest = recipe_hash({"suite": "bookworm", "mirror": "http://host.mirror/debian", "image_config": {
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "cmd": ["/bin/bash"]}})
    run = FakeRun({"podman": (0, "Getting image\nsha256:0123abcd\n", "")})
    work = tmp_path / "work"

    assert ensure_base(run, FakeEngine({}), profile, str(work), images={}) == ("0123abcd", "bootstrapped")
    tarball = str(work / "deb-rootfs.tar")
    assert run.calls == [
        ["mmdebstrap", "--mode=root", "--format=tar", "--variant=minbase", "bookworm", tarball,
         "http://host.mirror/debian"],
        ["podman", "import", "--quiet", "--change", "LABEL %s=%s" % (RECIPE_LABEL, digest),
         "--change", "LABEL org.opencontainers.image.title=deb-base",
         "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "--change", 'CMD ["/bin/bash"]',
         tarball, "localhost/deb-rootfs:1"],
    ]
    assert not (work / "deb-rootfs.tar").exists()  # the tarball is removed once imported

    # same recipe already imported: nothing to do; a refresh makes it again
    images = {"localhost/deb-rootfs:1": {"id": "old", "labels": {RECIPE_LABEL: digest}, "size": 1}}
    run = FakeRun({"podman": (0, "sha256:fff\n", "")})
    assert ensure_base(run, FakeEngine(images), profile, str(work), images=images) == ("old", "present")
    assert run.calls == []
    assert ensure_base(run, FakeEngine(images), profile, str(work), images=images, refresh=True) == (
        "fff", "bootstrapped")
    # a changed recipe makes it again
    stale = {"localhost/deb-rootfs:1": {"id": "old", "labels": {RECIPE_LABEL: "other"}, "size": 1}}
    assert ensure_base(FakeRun({"podman": (0, "x\n", "")}), FakeEngine(stale), profile, str(work),
                       images=stale) == ("x", "bootstrapped")


def test_ensure_base_unknown_tool(tmp_path):
    profile = {"name": "deb", "path": "/p/deb.yml",
               "base": {"method": "bootstrap", "image": "localhost/x:1", "bootstrap": {"tool": "debootstrap"}}}
    with pytest.raises(DefinitionError) as info:
        ensure_base(FakeRun(), FakeEngine({}), profile, str(tmp_path), images={})
    assert str(info.value) == ("/p/deb.yml: profile 'deb': key 'base.bootstrap.tool': unknown tool 'debootstrap' "
                               "(mmdebstrap or dnf)")


def test_ensure_base_tarball_removed_when_import_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(_bootstrap, "host_debian_mirror", lambda: "http://host.mirror/debian")
    profile = {"name": "deb", "path": "/p/deb.yml",
               "base": {"method": "bootstrap", "image": "localhost/deb-rootfs:1",
                        "bootstrap": {"suite": "bookworm"}}}
    error = CommandError(["podman", "import"], 125, "Error: invalid tar")
    run = FakeRun({"podman": error})
    with pytest.raises(CommandError):
        ensure_base(run, FakeEngine({}), profile, str(tmp_path), images={})
    assert [c[0] for c in run.calls] == ["mmdebstrap", "podman"]
    assert list(tmp_path.iterdir()) == []
