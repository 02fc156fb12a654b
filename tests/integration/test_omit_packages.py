# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declared omissions for real: memcached Depends on perl (and perl:any) for memcached-tool only; an
image installing it with `tcib_omit_packages: {debian: {perl: ...}}` keeps memcached and loses perl,
the perl modules and what only perl pulled in, with dpkg and apt consistent: a stub provides perl,
`apt-get check` passes, and a child image installs the real perl on top with apt-get.

Nothing is stubbed: buildah builds on the debian13 profile's base. (perl-base is Essential and ships
/usr/bin/perl itself, so the image keeps that file: what goes is the `perl` package and its modules.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._contract import MANIFEST_LABEL  # noqa: E402
import image_helpers  # noqa: E402  pylint: disable=import-error
from image_helpers import write  # noqa: E402  pylint: disable=import-error

NAMESPACE = "localhost/cg-omit"
REASON = "memcached-tool only; the service never runs perl"
# Omitted in the root although the root does not install it: a stub at the candidate version, so
# that a child installing what depends on it (python3-netaddr) never gets it.
ABSENT_REASON = "MAC vendor registries, never read"

pytestmark = pytest.mark.integration


def in_image(ref, script):
    return image_helpers.in_image(ref, "/bin/sh", "-c", script)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("omit"))
    defs = os.path.join(work, "images")
    write(os.path.join(defs, "omitroot", "omitroot.yaml"), {
        "tcib_packages": {"common": ["memcached"]},
        "tcib_omit_packages": {"debian": {"perl": REASON, "ieee-data": ABSENT_REASON}},
        "tcib_actions": [{"run": "{{ tcib_install }}"}],
        "tcib_user": "nobody",  # the omission step runs as root all the same
    })
    write(os.path.join(defs, "omitroot", "omitchild", "omitchild.yaml"), {
        "tcib_actions": [{"run": "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                                 "apt-get install -y -qq --no-install-recommends perl python3-netaddr"}],
    })
    profiles = os.path.join(work, "vars", "profiles")
    os.makedirs(profiles)
    shutil.copy(os.path.join(REPO, "vars", "profiles", "debian13.yml"), profiles)
    common = {"definitions_path": defs, "profiles_path": profiles, "profile": "debian13"}
    try:
        plan = _pipeline.plan_images(_pipeline.PlanOptions(namespace=NAMESPACE, hoist=False, **common))
        options = _pipeline.BuildOptions(namespace=NAMESPACE, hoist=False, work_dir="/var/tmp/cg-omit/build",
                                         timeout=900, **common)
        summary = _pipeline.build_images(options)
        yield plan, summary
    finally:
        for name in ("omitchild", "omitroot"):
            subprocess.run(["podman", "rmi", "%s/%s:latest" % (NAMESPACE, name)], capture_output=True, check=False)


def test_the_plan_shows_the_omission(built):
    plan, dummy = built
    entry = {image["name"]: image for image in plan["images"]}["omitroot"]
    assert entry["omitted"] == {"perl": REASON, "ieee-data": ABSENT_REASON}
    assert entry["steps"][-2][0] == "run" and "containergen: omit packages" in entry["steps"][-2][1][2]
    # (yaml.safe_dump wrote the mapping's keys sorted)
    assert "omitted from omitroot: ieee-data (%s), perl (%s)" % (ABSENT_REASON, REASON) in plan["table"]


def test_perl_is_gone_and_apt_is_consistent(built):
    dummy, summary = built
    assert not summary["images_failed"], summary
    ref = NAMESPACE + "/omitroot:latest"
    result = in_image(ref, "set -e; dpkg -s containergen-omitted-perl | grep -q '^Status: install ok installed';"
                           " apt-get check; memcached -h >/dev/null; echo ok")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
    listed = in_image(ref, "dpkg-query -W -f '${Package}\\n'; ls -d /usr/share/perl /usr/lib/*/perl/5.* 2>/dev/null")
    names = listed.stdout.split()
    assert "perl" not in names and not [n for n in names if n.startswith(("perl-modules-", "libperl"))], names
    assert "/usr/share/perl" not in names
    assert "memcached" in names and "perl-base" in names
    labels = json.loads(subprocess.run(["podman", "image", "inspect", ref], capture_output=True, text=True,
                                       check=True).stdout)[0]["Labels"]
    manifest = json.loads(labels[MANIFEST_LABEL])
    assert "perl" not in manifest and "containergen-omitted-perl" in manifest and "memcached" in manifest
    # the absent one: stubbed at its candidate version, the lists fetched for it removed again
    assert "ieee-data" not in manifest and "containergen-omitted-ieee-data" in manifest
    lists = in_image(ref, "ls /var/lib/apt/lists | grep -v -x -e partial -e lock || true")
    assert lists.stdout.strip() == "", lists.stdout


def test_a_child_installs_perl_back(built):
    dummy, summary = built
    result = in_image(NAMESPACE + "/omitchild:latest",
                      "set -e; dpkg -s perl | grep -q '^Status: install ok installed'; /usr/bin/perl -MJSON::PP -e 1;"
                      " apt-get check; python3 -c 'import netaddr; netaddr.IPNetwork(\"10.0.0.0/8\")';"
                      " ! dpkg -s ieee-data >/dev/null 2>&1; test ! -e /usr/share/ieee-data; echo ok")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
