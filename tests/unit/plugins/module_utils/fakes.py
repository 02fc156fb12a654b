# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles shared by the unit tests."""

from __future__ import annotations

# A Debian profile pulled from a registry, and the one action that installs an image's packages.
DEBIAN_PROFILE = {
    "name": "testdeb", "family": "debian", "distro": "debian", "release": "13",
    "base": {"method": "pull", "image": "example.org/base:13"},
    "package_manager": {"install": "apt-get install -y {{ packages }}", "cleanup": "apt-get clean",
                        "manifest": ["dpkg-query", "-W"]},
}
INSTALL = [{"run": "{{ tcib_install }}"}]


class FakeRun(object):
    """The run seam: records every call and answers from a queue (default: success, no output)."""

    def __init__(self, *answers):
        self.calls = []
        self.answers = list(answers)

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), argv
        self.calls.append({"argv": argv, "timeout": timeout, "env": env, "data": data, "log": log})
        return self.answers.pop(0) if self.answers else (0, "", "")

    @property
    def argvs(self):
        return [call["argv"] for call in self.calls]
