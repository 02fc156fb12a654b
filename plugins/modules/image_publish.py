#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_publish
short_description: Publish images to a registry with tag revisions and write a lock file
version_added: 0.1.0
description:
  - For each local image, reads its labels and the registry's latest revision of O(tag) (C(TAG-N)) with
    C(skopeo inspect), without pulling. When the content differs (content fingerprint or version-manifest digest)
    or there is no revision yet, pushes C(TAG-(N+1)), verifies it, and only then moves the floating O(tag).
    Otherwise nothing is pushed.
  - Static (release) tags such as C(4.0.0) are pushed once and never overwritten; publishing other content under an
    existing static tag is an error.
  - Publishers of one registry take an exclusive lock (a file in O(lock_dir)), so two publishes at once never mint
    the same revision; each pushed revision is also verified to hold the pushed content.
  - All or nothing for the floating tags of one run. Every changed revision is pushed and verified first; only then
    do the floating tags move and the lock file get written. A failure before that moves no floating tag, leaves the
    lock file as it was, and names the revisions already pushed (harmless; a rerun reuses them). If moving the
    floating tags itself fails, the message names which moved and which did not.
  - Writes the lock file, C(registry/namespace/name -> registry/namespace/name:tag-N@sha256:digest), as YAML and
    JSON. Entries are keyed by repository, so sets of several namespaces or registries share one lock file; the
    read, merge and write happen under a lock, through a temporary file of its own. Lock files keyed by image name
    (written by older versions) are read and migrated.
  - Every option is checked (tag, namespaces, prefix, image names, registry C(HOST[:PORT])) before anything runs;
    the error names the option.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._registry
  - containergen.images._engine
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be pushed; nothing is pushed and no lock file is written.
  diff_mode:
    support: none
    details:
      - The results list every image's action, revision and digest.
  idempotent:
    support: full
    details:
      - Republishing an unchanged set pushes nothing and sends no blob.
options:
  tag:
    description: Floating tag (revisions are C(TAG-N)), or a static release tag such as C(4.0.0).
    type: str
    default: latest
  images:
    description: Image names to publish. Empty means every containergen image under O(local_namespace).
    type: list
    elements: str
    default: []
  local_namespace:
    description: Namespace of the local images.
    type: str
    default: localhost/containergen
  local_prefix:
    description: Prefix of the local image names.
    type: str
    default: ""
  local_tag:
    description: Tag of the local images.
    type: str
    default: latest
  lock_dir:
    description: Directory of the per-registry publish lock file.
    type: path
    default: /run/lock
  lock_file:
    description:
      - Lock file path without extension; C(.yaml) and C(.json) are written. Empty writes none.
      - Entries of other repositories already in the file are kept.
      - Its C(provenance) section records, per repository, the digest, whether a signature exists and the digests
        of the SBOM artifacts.
    type: path
  sbom_dir:
    description:
      - Directory of the SBOMs (C(NAME.spdx.json), C(NAME.cdx.json)), as O(containergen.images.image_build#module:sbom)
        writes them next to the build summary. Each image's pair is pushed as two OCI artifacts whose C(subject) is the
        image manifest (artifact types C(application/spdx+json) and C(application/vnd.cyclonedx+json)). Registries with
        the OCI 1.1 referrers API index them; on the others (CNCF distribution 2.8) an image index tagged
        C(sha256-<hex>) lists them (the spec's tag-schema fallback).
      - A missing SBOM, or one made from another image, is made there first with syft (buildah engine only).
      - An SBOM is not sent again for a digest that has one. Empty pushes no SBOM.
    type: path
  events_file:
    description:
      - A file that gets the progress events of the pushes, one JSON object a line (each image's start, its
        C(push) step and its finish with the action); the C(containergen) command line shows them. Unset, none.
    type: path
notes:
  - Requires podman (to read the local images) besides skopeo.
  - Credentials come from O(authfile) only; they are never put on a command line.
"""

EXAMPLES = r"""
- name: Publish the default set to the local registry
  containergen.images.image_publish:
    registry: localhost:5000
    namespace: openstack
    tag: zed
    authfile: /root/.config/containergen/auth.json
    lock_file: /var/tmp/containergen/images.lock
  register: published

- name: Publish a release under a static tag
  containergen.images.image_publish:
    registry: registry.example.com:5000
    tag: 4.0.0
    authfile: /root/.config/containergen/auth.json
"""

RETURN = r"""
images:
  description: One result per image.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Image name.
      type: str
    action:
      description:
        - V(pushed), V(unchanged), V(retagged) (only the floating tag was moved back to the latest revision) or
          V(signed) (an unchanged revision published before signing got its signature; no blob sent).
      type: str
    revision:
      description: Revision number (null for static tags).
      type: int
    ref:
      description: Registry reference of the published revision.
      type: str
    digest:
      description: Manifest digest in the registry.
      type: str
    bytes_sent:
      description: Compressed bytes of the layers really uploaded (layers the registry had are not sent; the small config and manifest are not counted).
      type: int
    signed:
      description: Whether the digest has a sigstore signature in the registry (made now or found).
      type: bool
    floating:
      description: The revision tag the floating tag was moved to in this run, or null when it did not move.
      type: str
    sbom:
      description: With O(sbom_dir), the digests of the SBOM artifacts (C(spdx), C(cyclonedx)) referring to the digest.
      type: dict
    sbom_bytes_sent:
      description: Bytes of SBOM artifacts uploaded (0 when the registry had them); included in RV(images[].bytes_sent).
      type: int
pushed:
  description: Images pushed as a new revision.
  returned: always
  type: list
  elements: str
unchanged:
  description: Images whose latest revision already holds the same content.
  returned: always
  type: list
  elements: str
signed:
  description: Images whose published digest carries a signature.
  returned: always
  type: list
  elements: str
sbom_attached:
  description: Images whose SBOM artifacts were pushed in this run.
  returned: always
  type: list
  elements: str
bytes_sent:
  description: Total compressed bytes of the layers (and SBOM artifacts) uploaded; configs and manifests are not counted.
  returned: always
  type: int
blobs_sent:
  description: Number of layer blobs uploaded.
  returned: always
  type: int
lock:
  description: The lock file content, repository C(registry/namespace/name) to C(registry/namespace/name:tag-N@sha256:digest).
  returned: always
  type: dict
lock_files:
  description: Paths of the lock files written.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError
from ansible_collections.containergen.images.plugins.module_utils._pipeline import publish_images
from ansible_collections.containergen.images.plugins.module_utils._publish import PublishError
from ansible_collections.containergen.images.plugins.module_utils._spec import publish_argument_spec
from ansible_collections.containergen.images.plugins.module_utils._stage_options import PublishOptions


def main():
    module = AnsibleModule(
        argument_spec=publish_argument_spec(),
        supports_check_mode=True,
    )
    if not module.params["tls_verify"]:
        module.warn("TLS verification of %s is OFF (tls_verify: false): anyone on the path can read or change "
                    "what is published" % module.params["registry"])
    try:
        summary = publish_images(PublishOptions.from_params(module.params), check_mode=module.check_mode)
    except (PublishError, OptionError) as exc:
        module.fail_json(msg=str(exc))
    except CommandError as exc:  # before the first push (reading the local images)
        module.fail_json(msg="publishing failed before any push, nothing was moved: %s" % exc, command=exc.argv)
    changed = bool(summary["pushed"] or summary["sbom_attached"]) or any(
        r["action"] in ("retagged", "signed") for r in summary["images"])
    module.exit_json(changed=changed, **summary)


if __name__ == "__main__":
    main()
