# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _sbom: the exact commands (podman mount, syft, unmount) and the annotations.
(syft on a real image: tests/integration/test_provenance.py.)"""

import json
import os

import pytest

from fakes import FakeRun  # pylint: disable=import-error
from ansible_collections.containergen.images.plugins.module_utils import _sbom
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner

REF = "localhost/containergen/keystone:latest"
LABELS = {"containergen.fingerprint": "fp1", "containergen.manifest.sha256": "m1"}


class SyftRun(FakeRun):
    """Answers podman's inspect and mount; 'runs' syft by writing the two documents it was asked for."""

    def __call__(self, argv, timeout=None, env=None, data=None, log=None):
        answer = super().__call__(argv, timeout=timeout, env=env, data=data, log=log)
        if argv[0] == "/opt/syft":
            for spec in [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]:
                path = spec.split("=", 1)[1]
                with open(path, "w", encoding="utf-8") as handle:
                    json.dump({"spdxVersion": "SPDX-2.3"} if "spdx" in spec else {"specVersion": "1.6"}, handle)
        return answer


def test_generate_exact_commands_and_annotations(tmp_path):
    fake = SyftRun((0, "abc123\n", ""), (0, "/var/lib/containers/storage/overlay/x/merged\n", ""))
    out = str(tmp_path / "sbom")
    paths = _sbom.generate(Runner(run=fake), REF, "keystone", LABELS, out, syft="/opt/syft")
    assert fake.argvs == [
        ["podman", "image", "inspect", "--format", "{{.Id}}", REF],
        ["podman", "image", "mount", REF],
        ["/opt/syft", "scan", "dir:/var/lib/containers/storage/overlay/x/merged", "--source-name", "keystone", "-q",
         "-o", "spdx-json@2.3=%s/.keystone.spdx.raw" % out, "-o", "cyclonedx-json@1.6=%s/.keystone.cdx.raw" % out],
        ["podman", "image", "unmount", REF],
    ]
    assert fake.calls[2]["env"]["SYFT_CHECK_FOR_APP_UPDATE"] == "false"
    assert sorted(os.listdir(out)) == ["keystone.cdx.json", "keystone.spdx.json"]
    with open(paths["spdx"], encoding="utf-8") as handle:
        spdx = json.load(handle)
    with open(paths["cyclonedx"], encoding="utf-8") as handle:
        cdx = json.load(handle)
    assert [a["comment"] for a in spdx["annotations"]] == [
        "containergen:fingerprint=fp1", "containergen:image=" + REF, "containergen:image-id=sha256:abc123",
        "containergen:manifest-digest=m1"]
    assert {a["annotationType"] for a in spdx["annotations"]} == {"OTHER"}
    assert {p["name"]: p["value"] for p in cdx["metadata"]["properties"]}["containergen:fingerprint"] == "fp1"


def test_image_is_unmounted_when_syft_fails(tmp_path):
    fake = FakeRun((0, "abc\n", ""), (0, "/mnt/x\n", ""), (1, "", "syft: boom"))
    with pytest.raises(CommandError):
        _sbom.generate(Runner(run=fake), REF, "keystone", LABELS, str(tmp_path), syft="/opt/syft")
    assert fake.argvs[-1] == ["podman", "image", "unmount", REF]
